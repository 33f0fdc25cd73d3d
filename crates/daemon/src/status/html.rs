//! The HTML status page (askama template `templates/status.html`, auto-escaped, no JavaScript):
//! what each plugin is doing now, folded tracebacks, inline SVG charts of the last hour, and
//! action buttons for stopped plugins when the server enables them.

use askama::Template;
use jiff::Timestamp;

use super::charts::{compact, sparkline};
use super::history::{Sample, rates};
use super::text::{lag_text, opt_id, span, when};
use super::{CallbackStatus, HealthPolicy, PluginState, PluginStatus, StatusSnapshot};

/// How often the page reloads itself.
const REFRESH_SECS: u64 = 5;

/// What the page shows besides the snapshot.
#[derive(Debug, Clone, Default)]
pub struct PageExtras {
    /// The last hour of samples, oldest first, for the charts.
    pub samples: Vec<Sample>,
    /// The token the action buttons post; `None` keeps the page read-only.
    pub control_token: Option<String>,
}

#[derive(Template)]
#[template(path = "status.html")]
struct Page {
    refresh_secs: u64,
    generated: String,
    version: String,
    pid: u32,
    started: String,
    alive_class: &'static str,
    alive_word: &'static str,
    alive_reason: String,
    ready_class: &'static str,
    ready_word: &'static str,
    ready_reason: String,
    degraded: bool,
    degraded_reasons: Vec<String>,
    site_url: String,
    api: &'static str,
    last_poll: String,
    last_success: String,
    latest_event_id: String,
    site_error: Option<ErrorRow>,
    events_chart: Chart,
    errors_chart: Chart,
    active_count: usize,
    failed_count: usize,
    attention_count: usize,
    plugins: Vec<PluginRow>,
    control_token: Option<String>,
    read_only_note: &'static str,
}

struct ErrorRow {
    when: String,
    /// The line that says what went wrong (a traceback's last line).
    summary: String,
    /// The whole text, when it has more than the summary.
    details: Option<String>,
}

/// An inline SVG and its caption (numbers only).
struct Chart {
    svg: String,
    caption: String,
}

struct PluginRow {
    name: String,
    collection: String,
    location: String,
    state: &'static str,
    doing: String,
    doing_class: &'static str,
    cursor: String,
    lag: String,
    lag_chart: Chart,
    handled_chart: Chart,
    backlog: u64,
    dispatched: u64,
    failures: u64,
    restarts: u64,
    last_error: Option<ErrorRow>,
    callbacks: Vec<CallbackStatus>,
    actions: Vec<(&'static str, &'static str)>,
}

/// The status page for `snapshot`, without charts or actions. Every value is HTML-escaped by
/// the template.
pub fn render_html(snapshot: &StatusSnapshot, policy: &HealthPolicy) -> String {
    render_page(snapshot, policy, &PageExtras::default())
}

/// The status page for `snapshot` with `extras` (charts, degraded threshold, actions).
pub fn render_page(
    snapshot: &StatusSnapshot,
    policy: &HealthPolicy,
    extras: &PageExtras,
) -> String {
    let now = snapshot.generated_at;
    let page = page(snapshot, policy, extras, now);
    page.render().unwrap_or_else(|err| {
        // Only a template bug gets here; still answer with a page, never a crash.
        format!(
            "<!DOCTYPE html><title>sgevents status</title><p>The status page could not be rendered: {}</p>",
            escape(&err.to_string())
        )
    })
}

fn page(
    snapshot: &StatusSnapshot,
    policy: &HealthPolicy,
    extras: &PageExtras,
    now: Timestamp,
) -> Page {
    let alive = snapshot.liveness(now, policy);
    let ready = snapshot.readiness(now, policy);
    let site = &snapshot.site;
    let last_poll = match (site.last_poll_at, site.last_poll_ok) {
        (Some(at), Some(true)) => match site.last_poll_events {
            Some(events) => format!("{} — ok, {events} event(s)", when(now, at)),
            None => format!("{} — ok", when(now, at)),
        },
        (Some(at), Some(false)) => format!(
            "{} — failed ({} in a row)",
            when(now, at),
            site.consecutive_failures
        ),
        _ => "not yet".to_owned(),
    };
    let samples = &extras.samples;
    let site_series = |value: &dyn Fn(&Sample) -> Option<f64>| -> Vec<(Timestamp, f64)> {
        samples
            .iter()
            .filter_map(|sample| Some((sample.at, value(sample)?)))
            .collect()
    };
    let events_per_min = rates(&site_series(&|s| s.latest_event_id.map(|id| id as f64)));
    let errors_per_min = rates(&site_series(&|s| Some(s.api_errors as f64)));
    let plugins: Vec<PluginRow> = snapshot
        .plugins
        .iter()
        .map(|plugin| plugin_row(plugin, samples, extras, now))
        .collect();
    let count = |state| {
        snapshot
            .plugins
            .iter()
            .filter(|plugin| plugin.state == state)
            .count()
    };
    let attention_count = snapshot
        .plugins
        .iter()
        .filter(|plugin| matches!(plugin.state, PluginState::Paused | PluginState::Hung))
        .count();
    Page {
        refresh_secs: REFRESH_SECS,
        generated: when(now, now),
        version: snapshot.daemon.version.clone(),
        pid: snapshot.daemon.pid,
        started: when(now, snapshot.daemon.started_at),
        alive_class: if alive.ok { "ok" } else { "bad" },
        alive_word: if alive.ok { "alive" } else { "stalled" },
        alive_reason: alive.reason,
        ready_class: if ready.ok { "ok" } else { "bad" },
        ready_word: if ready.ok { "ready" } else { "not ready" },
        ready_reason: ready.reason,
        degraded: snapshot.degraded,
        degraded_reasons: snapshot.degraded_reasons.clone(),
        site_url: site.url.clone(),
        api: site.api.as_str(),
        last_poll,
        last_success: site
            .last_success_at
            .map_or_else(|| "never".to_owned(), |at| when(now, at)),
        latest_event_id: opt_id(site.latest_event_id),
        site_error: site.last_error.as_ref().map(|error| error_row(now, error)),
        events_chart: chart(&events_per_min, "events", "events/min"),
        errors_chart: chart(&errors_per_min, "errors", "errors/min"),
        active_count: count(PluginState::Active),
        failed_count: count(PluginState::Failed),
        attention_count,
        plugins,
        control_token: extras.control_token.clone(),
        read_only_note: if extras.control_token.is_some() {
            ""
        } else {
            "Read-only: actions need `control_token` in the config and a loopback `http` address; or use `sgevents plugin resume|skip|pause|unpause`."
        },
    }
}

fn plugin_row(
    plugin: &PluginStatus,
    samples: &[Sample],
    extras: &PageExtras,
    now: Timestamp,
) -> PluginRow {
    let series = |value: fn(&super::history::PluginSample) -> f64| -> Vec<(Timestamp, f64)> {
        samples
            .iter()
            .filter_map(|sample| Some((sample.at, value(sample.plugins.get(&plugin.name)?))))
            .collect()
    };
    let lag: Vec<f64> = series(|p| p.lag_seconds)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let handled = rates(&series(|p| p.dispatched as f64));
    let (doing, doing_class) = doing(plugin, now);
    let actions = match (&extras.control_token, plugin.state) {
        (Some(_), PluginState::Failed) => {
            vec![("resume", "Resume (retry)"), ("skip", "Skip event")]
        }
        (Some(_), PluginState::Paused) => vec![("unpause", "Unpause")],
        _ => Vec::new(),
    };
    PluginRow {
        name: plugin.name.clone(),
        collection: plugin.collection.clone(),
        location: plugin
            .path
            .clone()
            .unwrap_or_else(|| plugin.collection.clone()),
        state: plugin.state.as_str(),
        doing,
        doing_class,
        cursor: opt_id(plugin.cursor),
        lag: lag_text(plugin.lag_events, plugin.lag_seconds),
        lag_chart: chart(&lag, "lag", "s lag"),
        handled_chart: chart(&handled, "handled", "events/min"),
        backlog: plugin.backlog,
        dispatched: plugin.counts.dispatched,
        failures: plugin.counts.failures,
        restarts: plugin.counts.restarts,
        last_error: plugin
            .last_error
            .as_ref()
            .map(|error| error_row(now, error)),
        callbacks: plugin.callbacks.clone(),
        actions,
    }
}

/// What the plugin is doing now, in words, and a class for its colour.
fn doing(plugin: &PluginStatus, now: Timestamp) -> (String, &'static str) {
    let running = plugin.running.as_ref().map(|running| {
        format!(
            "running event {} ({}) for {}",
            running.id,
            running.event_type,
            span(now.duration_since(running.since).as_secs())
        )
    });
    match (plugin.state, running) {
        (PluginState::Hung, Some(running)) => (format!("hung: {running}"), "bad"),
        (PluginState::Hung, None) => ("hung".to_owned(), "bad"),
        (PluginState::Failed, _) => match plugin.cursor {
            Some(cursor) => (
                format!("stopped: retries from event {} on resume", cursor + 1),
                "bad",
            ),
            None => (
                "stopped until resumed or its file changes".to_owned(),
                "bad",
            ),
        },
        (PluginState::Paused, _) => ("paused by an operator".to_owned(), "warn"),
        (_, Some(running)) => (running, "busy"),
        (PluginState::Active, None) => ("idle".to_owned(), "muted"),
        (state, None) => (state.as_str().to_owned(), "muted"),
    }
}

fn error_row(now: Timestamp, error: &super::ErrorInfo) -> ErrorRow {
    let lines: Vec<&str> = error
        .message
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
        .collect();
    // A Python traceback says what went wrong on its last line; anything else on its first.
    let summary = if lines
        .first()
        .is_some_and(|line| line.starts_with("Traceback"))
    {
        lines.last()
    } else {
        lines.first()
    };
    let summary = summary.map_or_else(String::new, |line| line.trim().to_owned());
    ErrorRow {
        when: when(now, error.at),
        details: (lines.len() > 1).then(|| error.message.clone()),
        summary,
    }
}

fn chart(values: &[f64], class: &str, unit: &str) -> Chart {
    let caption = match values.last() {
        None => "no data yet".to_owned(),
        Some(last) => {
            let max = values.iter().copied().fold(0.0_f64, f64::max);
            format!("now {} {unit}, max {}", compact(*last), compact(max))
        }
    };
    Chart {
        svg: sparkline(values, class),
        caption,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
