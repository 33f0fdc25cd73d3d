//! Request counters the client keeps for metrics: totals and per api3 method.

use std::collections::BTreeMap;
use std::time::Duration;

/// Counters for one api3 method, or for all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MethodStats {
    /// HTTP requests sent.
    pub requests: u64,
    /// Requests that ended in any [`crate::ClientError`].
    pub errors: u64,
    /// Time from sending a request to having its whole reply, summed.
    pub total_latency: Duration,
    /// The slowest single request.
    pub max_latency: Duration,
}

/// A snapshot of the client's counters since it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// All methods together.
    pub total: MethodStats,
    /// Per api3 method name (`read`, `info`, ...).
    pub per_method: BTreeMap<String, MethodStats>,
}

impl MethodStats {
    fn record(&mut self, latency: Duration, failed: bool) {
        self.requests += 1;
        if failed {
            self.errors += 1;
        }
        self.total_latency += latency;
        self.max_latency = self.max_latency.max(latency);
    }
}

impl ClientStats {
    pub(crate) fn record(&mut self, method: &str, latency: Duration, failed: bool) {
        self.total.record(latency, failed);
        self.per_method
            .entry(method.to_owned())
            .or_default()
            .record(latency, failed);
    }
}
