//! Prometheus metrics: one [`Telemetry`] value with an explicit registry and typed methods.
//!
//! The loop calls the `record_*`/`set_*` methods; the status server calls [`Telemetry::encode`].
//! Every metric name starts with `sgevents_`. Labels stay low-cardinality: `plugin` (a plugin
//! name), `method` (an api3 method such as `read`) and `result` (`ok`/`error`).

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// One plugin's series that change with every event it handles (see
/// [`Telemetry::plugin_metrics`]).
#[derive(Debug, Clone)]
pub struct PluginMetrics {
    dispatched: Counter,
    duration: Histogram,
    failures: Counter,
}

impl PluginMetrics {
    /// The plugin handled one event in `duration`; `failures` of its callbacks failed.
    pub fn record(&self, duration: Duration, failures: u64) {
        self.dispatched.inc();
        self.duration.observe(duration.as_secs_f64());
        if failures > 0 {
            self.failures.inc_by(failures);
        }
    }
}

/// The label of per-plugin series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PluginLabel {
    plugin: String,
}

/// The labels of the plugin state series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabel {
    plugin: String,
    state: &'static str,
}

/// The plugin states [`Telemetry::set_plugin_state`] exports, one series each.
pub const PLUGIN_STATES: [&str; 7] = [
    "loading",
    "active",
    "failed",
    "reloading",
    "inactive",
    "paused",
    "hung",
];

/// The labels of operator actions (`sgevents plugin ...`, the status page's buttons).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ActionLabel {
    plugin: String,
    action: String,
    result: &'static str,
}

/// The label of per-method API series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

/// The label of poll outcomes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn callback_histogram() -> Histogram {
    // 1 ms to about 2 minutes.
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

fn api_histogram() -> Histogram {
    // 5 ms to about 40 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The daemon's metrics. Share it as `Arc<Telemetry>`; every method takes `&self`.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    events_fetched: Counter,
    polls: Family<ResultLabel, Counter>,
    events_dispatched: Family<PluginLabel, Counter>,
    plugin_failures: Family<PluginLabel, Counter>,
    plugin_deactivations: Family<PluginLabel, Counter>,
    plugin_restarts: Family<PluginLabel, Counter>,
    callback_duration: Histograms<PluginLabel>,
    lag_events: Family<PluginLabel, Gauge>,
    lag_seconds: Family<PluginLabel, Gauge<f64, AtomicU64>>,
    backlog: Family<PluginLabel, Gauge>,
    plugin_state: Family<StateLabel, Gauge>,
    api_requests: Family<MethodLabel, Counter>,
    api_errors: Family<MethodLabel, Counter>,
    api_duration: Histograms<MethodLabel>,
    operator_actions: Family<ActionLabel, Counter>,
    degraded: Gauge,
    /// Cluster mode: live nodes, and 1 on the node that polls.
    cluster_nodes: Gauge,
    cluster_leader: Gauge,
    /// All api3 errors, for the status page's chart (a family cannot be summed).
    api_errors_total: AtomicU64,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

impl Telemetry {
    /// A fresh registry with every metric registered (and `sgevents_build_info`).
    pub fn new() -> Telemetry {
        let mut registry = Registry::with_prefix("sgevents");
        registry.register(
            "build",
            "The daemon's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let telemetry = Telemetry {
            events_fetched: Counter::default(),
            polls: Family::default(),
            events_dispatched: Family::default(),
            plugin_failures: Family::default(),
            plugin_deactivations: Family::default(),
            plugin_restarts: Family::default(),
            callback_duration: Family::new_with_constructor(callback_histogram as fn() -> _),
            lag_events: Family::default(),
            lag_seconds: Family::default(),
            backlog: Family::default(),
            plugin_state: Family::default(),
            api_requests: Family::default(),
            api_errors: Family::default(),
            api_duration: Family::new_with_constructor(api_histogram as fn() -> _),
            operator_actions: Family::default(),
            degraded: Gauge::default(),
            cluster_nodes: Gauge::default(),
            cluster_leader: Gauge::default(),
            api_errors_total: AtomicU64::new(0),
            registry: Registry::default(),
        };
        telemetry.register_all(registry)
    }

    fn register_all(mut self, mut registry: Registry) -> Telemetry {
        let r = &mut registry;
        r.register(
            "events_fetched",
            "Events read from the site's EventLogEntry table",
            self.events_fetched.clone(),
        );
        r.register("polls", "Polls of the site, by result", self.polls.clone());
        r.register(
            "events_dispatched",
            "Events handed to a plugin",
            self.events_dispatched.clone(),
        );
        r.register(
            "plugin_failures",
            "Failed callback runs (exception, timeout or crash)",
            self.plugin_failures.clone(),
        );
        r.register(
            "plugin_deactivations",
            "Times a plugin was stopped by a stopOnError failure or a load error",
            self.plugin_deactivations.clone(),
        );
        r.register(
            "plugin_restarts",
            "Plugin process restarts",
            self.plugin_restarts.clone(),
        );
        r.register_with_unit(
            "callback_duration",
            "Time a plugin took to handle one event",
            Unit::Seconds,
            self.callback_duration.clone(),
        );
        r.register(
            "plugin_lag_events",
            "Events the site has that the plugin has not handled yet",
            self.lag_events.clone(),
        );
        r.register_with_unit(
            "plugin_lag",
            "Age of the newest event the plugin has not handled (0 when caught up)",
            Unit::Seconds,
            self.lag_seconds.clone(),
        );
        r.register(
            "plugin_backlog",
            "Missing event ids the plugin still waits for",
            self.backlog.clone(),
        );
        r.register(
            "plugin_state",
            "1 for the plugin's current state (loading, active, failed, reloading, inactive, paused, hung), else 0",
            self.plugin_state.clone(),
        );
        r.register(
            "api_requests",
            "api3 requests sent to the site, by method",
            self.api_requests.clone(),
        );
        r.register(
            "api_errors",
            "api3 requests that failed, by method",
            self.api_errors.clone(),
        );
        r.register_with_unit(
            "api_request_duration",
            "api3 request latency, by method",
            Unit::Seconds,
            self.api_duration.clone(),
        );
        r.register(
            "operator_actions",
            "Operator requests (resume, skip, pause, unpause), by plugin, action and result (done, refused, error)",
            self.operator_actions.clone(),
        );
        r.register(
            "degraded",
            "1 while any plugin is failed, paused, hung or lagging beyond lag_alert_secs, else 0",
            self.degraded.clone(),
        );
        r.register(
            "cluster_nodes",
            "Cluster mode: the live nodes this node sees (0 on a single node)",
            self.cluster_nodes.clone(),
        );
        r.register(
            "cluster_leader",
            "Cluster mode: 1 on the node that polls the site, else 0",
            self.cluster_leader.clone(),
        );
        self.registry = registry;
        self
    }

    /// An operator asked to `action` (`resume`, `skip`, ...) `plugin`; `result` is `done`,
    /// `refused` or `error`.
    pub fn record_operator_action(&self, plugin: &str, action: &str, result: &'static str) {
        self.operator_actions
            .get_or_create(&ActionLabel {
                plugin: plugin.to_owned(),
                action: action.to_owned(),
                result,
            })
            .inc();
    }

    /// api3 requests that failed since start, over every method.
    pub fn api_errors_total(&self) -> u64 {
        self.api_errors_total.load(Ordering::Relaxed)
    }

    /// Cluster mode: how many nodes are live and whether this one polls.
    pub fn set_cluster(&self, nodes: usize, leader: bool) {
        self.cluster_nodes
            .set(i64::try_from(nodes).unwrap_or(i64::MAX));
        self.cluster_leader.set(i64::from(leader));
    }

    /// Whether the daemon is degraded (see the `degraded` metric's help).
    pub fn set_degraded(&self, degraded: bool) {
        self.degraded.set(i64::from(degraded));
    }

    /// `count` events were fetched by one poll.
    pub fn record_events_fetched(&self, count: u64) {
        self.events_fetched.inc_by(count);
    }

    /// One poll finished, successfully or not.
    pub fn record_poll(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.polls.get_or_create(&ResultLabel { result }).inc();
    }

    /// `plugin`'s per-event series, to record into without a look-up each time. Take them
    /// again after [`Telemetry::forget_plugin`], which drops them from the export.
    pub fn plugin_metrics(&self, plugin: &str) -> PluginMetrics {
        let label = plugin_label(plugin);
        PluginMetrics {
            dispatched: self.events_dispatched.get_or_create(&label).clone(),
            duration: self.callback_duration.get_or_create(&label).clone(),
            failures: self.plugin_failures.get_or_create(&label).clone(),
        }
    }

    /// One event was handed to `plugin`.
    pub fn record_dispatched(&self, plugin: &str) {
        self.events_dispatched
            .get_or_create(&plugin_label(plugin))
            .inc();
    }

    /// `plugin` handled one event in `duration`; `failures` of its callbacks failed.
    pub fn record_callback(&self, plugin: &str, duration: Duration, failures: u64) {
        let label = plugin_label(plugin);
        self.callback_duration
            .get_or_create(&label)
            .observe(duration.as_secs_f64());
        if failures > 0 {
            self.plugin_failures.get_or_create(&label).inc_by(failures);
        }
    }

    /// `plugin` had `count` failures outside a timed callback (for example a crash).
    pub fn record_failures(&self, plugin: &str, count: u64) {
        self.plugin_failures
            .get_or_create(&plugin_label(plugin))
            .inc_by(count);
    }

    /// `plugin` was deactivated (stopOnError, or its file failed to load).
    pub fn record_deactivation(&self, plugin: &str) {
        self.plugin_deactivations
            .get_or_create(&plugin_label(plugin))
            .inc();
    }

    /// `plugin`'s process was restarted.
    pub fn record_restart(&self, plugin: &str) {
        self.plugin_restarts
            .get_or_create(&plugin_label(plugin))
            .inc();
    }

    /// How far `plugin` is behind: in events, and the age in seconds of the oldest event it
    /// has not handled yet (0 when caught up).
    pub fn set_lag(&self, plugin: &str, events: u64, seconds: f64) {
        let label = plugin_label(plugin);
        self.lag_events
            .get_or_create(&label)
            .set(i64::try_from(events).unwrap_or(i64::MAX));
        self.lag_seconds.get_or_create(&label).set(seconds.max(0.0));
    }

    /// How many missing ids `plugin` waits for.
    pub fn set_backlog(&self, plugin: &str, size: u64) {
        self.backlog
            .get_or_create(&plugin_label(plugin))
            .set(i64::try_from(size).unwrap_or(i64::MAX));
    }

    /// `plugin` is now in `state` (one of [`PLUGIN_STATES`]): its series for `state` is 1,
    /// the others 0.
    pub fn set_plugin_state(&self, plugin: &str, state: &str) {
        for known in PLUGIN_STATES {
            let label = StateLabel {
                plugin: plugin.to_owned(),
                state: known,
            };
            self.plugin_state
                .get_or_create(&label)
                .set(i64::from(known == state));
        }
    }

    /// One api3 request of `method` took `duration`; `ok` is false when it failed.
    pub fn record_api_request(&self, method: &str, duration: Duration, ok: bool) {
        let label = MethodLabel {
            method: method.to_owned(),
        };
        self.api_requests.get_or_create(&label).inc();
        if !ok {
            self.api_errors.get_or_create(&label).inc();
            self.api_errors_total.fetch_add(1, Ordering::Relaxed);
        }
        self.api_duration
            .get_or_create(&label)
            .observe(duration.as_secs_f64());
    }

    /// Drops `plugin`'s series (the plugin was removed), so they stop being exported.
    pub fn forget_plugin(&self, plugin: &str) {
        let label = plugin_label(plugin);
        self.events_dispatched.remove(&label);
        self.plugin_failures.remove(&label);
        self.plugin_deactivations.remove(&label);
        self.plugin_restarts.remove(&label);
        self.callback_duration.remove(&label);
        self.lag_events.remove(&label);
        self.lag_seconds.remove(&label);
        self.backlog.remove(&label);
        for state in PLUGIN_STATES {
            self.plugin_state.remove(&StateLabel {
                plugin: plugin.to_owned(),
                state,
            });
        }
    }

    /// Every metric in the OpenMetrics text format (ending in `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The `Content-Type` of [`Telemetry::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn plugin_label(plugin: &str) -> PluginLabel {
    PluginLabel {
        plugin: plugin.to_owned(),
    }
}
