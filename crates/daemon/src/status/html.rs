//! The HTML status page (askama template `templates/status.html`, auto-escaped, no JavaScript).

use askama::Template;
use jiff::Timestamp;

use super::text::{lag_text, opt_id, when};
use super::{CallbackStatus, HealthPolicy, PluginState, StatusSnapshot};

/// How often the page reloads itself.
const REFRESH_SECS: u64 = 5;

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
    site_url: String,
    api: &'static str,
    last_poll: String,
    last_success: String,
    latest_event_id: String,
    site_error: Option<ErrorRow>,
    active_count: usize,
    failed_count: usize,
    plugins: Vec<PluginRow>,
}

struct ErrorRow {
    when: String,
    message: String,
}

struct PluginRow {
    name: String,
    location: String,
    state: &'static str,
    cursor: String,
    lag: String,
    backlog: u64,
    dispatched: u64,
    failures: u64,
    restarts: u64,
    last_error: Option<ErrorRow>,
    callbacks: Vec<CallbackStatus>,
}

/// The status page for `snapshot`. Every value is HTML-escaped by the template.
pub fn render_html(snapshot: &StatusSnapshot, policy: &HealthPolicy) -> String {
    let now = snapshot.generated_at;
    let page = page(snapshot, policy, now);
    page.render().unwrap_or_else(|err| {
        // Only a template bug gets here; still answer with a page, never a crash.
        format!(
            "<!DOCTYPE html><title>sgevents status</title><p>The status page could not be rendered: {}</p>",
            escape(&err.to_string())
        )
    })
}

fn page(snapshot: &StatusSnapshot, policy: &HealthPolicy, now: Timestamp) -> Page {
    let alive = snapshot.liveness(now, policy);
    let ready = snapshot.readiness(now, policy);
    let site = &snapshot.site;
    let last_poll = match (site.last_poll_at, site.last_poll_ok) {
        (Some(at), Some(true)) => format!(
            "{} — ok, {} event(s)",
            when(now, at),
            site.last_poll_events.unwrap_or(0)
        ),
        (Some(at), Some(false)) => format!(
            "{} — failed ({} in a row)",
            when(now, at),
            site.consecutive_failures
        ),
        _ => "not yet".to_owned(),
    };
    let plugins: Vec<PluginRow> = snapshot
        .plugins
        .iter()
        .map(|plugin| PluginRow {
            name: plugin.name.clone(),
            location: plugin
                .path
                .clone()
                .unwrap_or_else(|| plugin.collection.clone()),
            state: plugin.state.as_str(),
            cursor: opt_id(plugin.cursor),
            lag: lag_text(plugin.lag_events, plugin.lag_seconds),
            backlog: plugin.backlog,
            dispatched: plugin.counts.dispatched,
            failures: plugin.counts.failures,
            restarts: plugin.counts.restarts,
            last_error: plugin.last_error.as_ref().map(|error| ErrorRow {
                when: when(now, error.at),
                message: error.message.clone(),
            }),
            callbacks: plugin.callbacks.clone(),
        })
        .collect();
    let count = |state| {
        snapshot
            .plugins
            .iter()
            .filter(|plugin| plugin.state == state)
            .count()
    };
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
        site_url: site.url.clone(),
        api: site.api.as_str(),
        last_poll,
        last_success: site
            .last_success_at
            .map_or_else(|| "never".to_owned(), |at| when(now, at)),
        latest_event_id: opt_id(site.latest_event_id),
        site_error: site.last_error.as_ref().map(|error| ErrorRow {
            when: when(now, error.at),
            message: error.message.clone(),
        }),
        active_count: count(PluginState::Active),
        failed_count: count(PluginState::Failed),
        plugins,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
