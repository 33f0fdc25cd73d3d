//! A ring buffer of status samples for the page's charts (the last hour), taken by a sampler
//! task next to the status server, never by the loop.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::{StatusSnapshot, StatusSource};
use crate::telemetry::Telemetry;

/// How often the sampler records a sample.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(15);
/// How much history the charts show.
pub const SPAN: Duration = Duration::from_secs(3600);

/// One moment's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// When.
    pub at: Timestamp,
    /// The site's highest event id then.
    pub latest_event_id: Option<i64>,
    /// api3 requests that had failed by then (a running total).
    pub api_errors: u64,
    /// Per plugin name: lag in seconds and events handed to it (a running total).
    pub plugins: BTreeMap<String, PluginSample>,
}

/// One plugin's figures in a [`Sample`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PluginSample {
    /// Lag in seconds (0 when caught up or unknown).
    pub lag_seconds: f64,
    /// Events handed to it since the daemon started.
    pub dispatched: u64,
}

/// The last hour of samples. Share it as `Arc<History>`.
#[derive(Debug, Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Records `snapshot` (taken at `at`) and drops samples older than [`SPAN`].
    pub fn record(&self, at: Timestamp, snapshot: &StatusSnapshot, api_errors: u64) {
        let sample = Sample {
            at,
            latest_event_id: snapshot.site.latest_event_id,
            api_errors,
            plugins: snapshot
                .plugins
                .iter()
                .map(|plugin| {
                    (
                        plugin.name.clone(),
                        PluginSample {
                            lag_seconds: plugin.lag_seconds.unwrap_or(0.0),
                            dispatched: plugin.counts.dispatched,
                        },
                    )
                })
                .collect(),
        };
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        samples.push_back(sample);
        let span = jiff::SignedDuration::try_from(SPAN).unwrap_or(jiff::SignedDuration::ZERO);
        while samples
            .front()
            .is_some_and(|oldest| at.duration_since(oldest.at) > span)
        {
            samples.pop_front();
        }
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

/// Records a sample of `status` every [`SAMPLE_INTERVAL`] until `shutdown`.
pub async fn worker(
    history: Arc<History>,
    status: Arc<dyn StatusSource>,
    telemetry: Arc<Telemetry>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let snapshot = status.snapshot();
                history.record(Timestamp::now(), &snapshot, telemetry.api_errors_total());
            }
        }
    }
}

/// The per-minute rate between consecutive samples of a running total.
pub fn rates(points: &[(Timestamp, f64)]) -> Vec<f64> {
    points
        .windows(2)
        .map(|pair| {
            let minutes = pair[1].0.duration_since(pair[0].0).as_secs_f64() / 60.0;
            if minutes <= 0.0 {
                0.0
            } else {
                ((pair[1].1 - pair[0].1) / minutes).max(0.0)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;
    use crate::status::{PluginStatus, StatusBoard};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH
            .checked_add(SignedDuration::from_secs(1_000_000 + seconds))
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn keeps_one_hour_and_rates_are_per_minute() {
        let board = StatusBoard::new("https://site.example.com");
        let mut plugin = PluginStatus::new("p", "/plugins");
        let history = History::new();
        for step in 0..300_i64 {
            board.poll_succeeded(1, Some(100 + step * 30));
            plugin.counts.dispatched = step.unsigned_abs() * 5;
            board.set_plugins(vec![plugin.clone()]);
            history.record(at(step * 15), &board.snapshot(), 0);
        }
        let samples = history.samples();
        // 300 samples every 15 s span 74:45; only the last hour (241 samples) stays.
        assert_eq!(samples.len(), 241);
        assert_eq!(samples[0].at, at(59 * 15));
        let ids: Vec<(Timestamp, f64)> = samples
            .iter()
            .map(|s| (s.at, s.latest_event_id.unwrap_or(0) as f64))
            .collect();
        // 30 ids every 15 s = 120 a minute; 5 events handled every 15 s = 20 a minute.
        assert!(rates(&ids).iter().all(|rate| (*rate - 120.0).abs() < 1e-9));
        let handled: Vec<(Timestamp, f64)> = samples
            .iter()
            .map(|s| (s.at, s.plugins["p"].dispatched as f64))
            .collect();
        assert!(
            rates(&handled)
                .iter()
                .all(|rate| (*rate - 20.0).abs() < 1e-9)
        );
    }
}
