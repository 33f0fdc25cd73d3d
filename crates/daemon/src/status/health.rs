//! Liveness and readiness, decided from a snapshot (for `/healthz` and `/readyz`).

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::StatusSnapshot;

/// How fresh the loop's signs of life must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    /// The loop is alive if its last heartbeat (or, before the first one, its start) is
    /// younger than this.
    pub heartbeat_timeout: Duration,
    /// The daemon is ready if its last poll succeeded and is younger than this.
    pub ready_timeout: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            heartbeat_timeout: Duration::from_secs(60),
            ready_timeout: Duration::from_secs(120),
        }
    }
}

/// The answer of one check, as `/healthz` and `/readyz` return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Whether the check passed.
    pub ok: bool,
    /// Why, in a sentence.
    pub reason: String,
}

fn age(now: Timestamp, then: Timestamp) -> Duration {
    now.duration_since(then).unsigned_abs()
}

fn secs(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

impl StatusSnapshot {
    /// Whether the loop is alive at `now`.
    pub fn liveness(&self, now: Timestamp, policy: &HealthPolicy) -> Check {
        let limit = policy.heartbeat_timeout;
        match self.daemon.heartbeat_at {
            Some(beat) if age(now, beat) <= limit => Check {
                ok: true,
                reason: format!("loop heartbeat {} ago", secs(age(now, beat))),
            },
            Some(beat) => Check {
                ok: false,
                reason: format!(
                    "no loop heartbeat for {} (limit {})",
                    secs(age(now, beat)),
                    secs(limit)
                ),
            },
            None if age(now, self.daemon.started_at) <= limit => Check {
                ok: true,
                reason: "starting: no loop heartbeat yet".to_owned(),
            },
            None => Check {
                ok: false,
                reason: format!(
                    "no loop heartbeat since the start {} ago",
                    secs(age(now, self.daemon.started_at))
                ),
            },
        }
    }

    /// Whether the daemon is ready at `now`: its last poll succeeded, recently.
    pub fn readiness(&self, now: Timestamp, policy: &HealthPolicy) -> Check {
        let site = &self.site;
        match (site.last_poll_ok, site.last_success_at) {
            (None, _) | (Some(true), None) => Check {
                ok: false,
                reason: "no poll has finished yet".to_owned(),
            },
            (Some(false), _) => Check {
                ok: false,
                reason: format!(
                    "the last {} poll(s) failed: {}",
                    site.consecutive_failures,
                    site.last_error
                        .as_ref()
                        .map_or("unknown error", |error| error.message.as_str())
                ),
            },
            (Some(true), Some(at)) if age(now, at) > policy.ready_timeout => Check {
                ok: false,
                reason: format!(
                    "no successful poll for {} (limit {})",
                    secs(age(now, at)),
                    secs(policy.ready_timeout)
                ),
            },
            (Some(true), Some(at)) => Check {
                ok: true,
                reason: format!("last poll succeeded {} ago", secs(age(now, at))),
            },
        }
    }
}
