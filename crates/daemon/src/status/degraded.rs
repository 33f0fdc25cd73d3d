//! The degraded state: any plugin failed, paused, hung or lagging beyond a threshold. `/readyz`
//! stays about the site; this is for alerting on plugins.

use std::time::Duration;

use super::{PluginState, StatusSnapshot};

impl StatusSnapshot {
    /// Sets [`StatusSnapshot::degraded`] and its reasons from the plugins: any failed, paused
    /// or hung, or lagging more than `max_lag` (`None`: lag never counts).
    pub fn mark_degraded(&mut self, max_lag: Option<Duration>) {
        let limit = max_lag.map_or(f64::INFINITY, |lag| lag.as_secs_f64());
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
                    None => format!("plugin {} hangs while loading its file", plugin.name),
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
        self.degraded = !reasons.is_empty();
        self.degraded_reasons = reasons;
    }
}
