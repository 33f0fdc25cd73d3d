//! The degraded state: any plugin failed, paused, hung or lagging beyond a threshold. `/readyz`
//! stays about the site; this is for alerting on plugins.

use std::time::Duration;

use serde::Serialize;

use super::{PluginState, StatusSnapshot};

/// Whether the daemon is degraded, and why (one sentence per plugin).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Degraded {
    /// True when any reason applies.
    pub degraded: bool,
    /// One line per plugin that makes it so.
    pub reasons: Vec<String>,
}

impl StatusSnapshot {
    /// The degraded state, with `lag_alert` as the lag beyond which a plugin counts.
    pub fn degraded(&self, lag_alert: Duration) -> Degraded {
        let limit = lag_alert.as_secs_f64();
        let reasons: Vec<String> = self
            .plugins
            .iter()
            .filter_map(|plugin| match plugin.state {
                PluginState::Failed => Some(format!("plugin {} failed", plugin.name)),
                PluginState::Paused => Some(format!("plugin {} is paused", plugin.name)),
                PluginState::Hung => Some(match &plugin.running {
                    Some(running) => {
                        format!("plugin {} hangs on event {}", plugin.name, running.id)
                    }
                    None => format!("plugin {} hangs", plugin.name),
                }),
                _ => match plugin.lag_seconds {
                    Some(lag) if lag > limit => Some(format!(
                        "plugin {} lags {lag:.0} s (limit {limit:.0} s)",
                        plugin.name
                    )),
                    _ => None,
                },
            })
            .collect();
        Degraded {
            degraded: !reasons.is_empty(),
            reasons,
        }
    }
}
