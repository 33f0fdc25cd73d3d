//! The status as a compact terminal table (for `sgevents status`), and shared value formatting.

use jiff::Timestamp;

use super::{PluginState, PluginStatus, StatusSnapshot};

/// A moment as `2026-11-22 09:43:42 UTC (12 s ago)`.
pub fn when(now: Timestamp, at: Timestamp) -> String {
    format!(
        "{} ({})",
        at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        ago(now, at)
    )
}

/// How long ago `at` was: `just now`, `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
pub fn ago(now: Timestamp, at: Timestamp) -> String {
    let seconds = now.duration_since(at).as_secs();
    match seconds {
        i64::MIN..=0 => "just now".to_owned(),
        1..=89 => format!("{seconds} s ago"),
        90..=5399 => format!("{} min ago", seconds / 60),
        5400..=172_799 => format!("{} h ago", seconds / 3600),
        _ => format!("{} d ago", seconds / 86_400),
    }
}

/// A plugin's lag as `3 events, 12.5 s`, `caught up`, or `-` when unknown.
pub fn lag_text(events: Option<u64>, seconds: Option<f64>) -> String {
    match (events, seconds) {
        (Some(0), _) => "caught up".to_owned(),
        (Some(events), Some(seconds)) => format!("{events} events, {seconds:.1} s"),
        (Some(events), None) => format!("{events} events"),
        (None, Some(seconds)) => format!("{seconds:.1} s"),
        (None, None) => "-".to_owned(),
    }
}

/// An optional event id, `-` when unknown.
pub fn opt_id(id: Option<i64>) -> String {
    id.map_or_else(|| "-".to_owned(), |id| id.to_string())
}

/// The whole status: a header about the daemon and the site, then the plugin table.
pub fn render_table(snapshot: &StatusSnapshot) -> String {
    let now = snapshot.generated_at;
    let daemon = &snapshot.daemon;
    let site = &snapshot.site;
    let mut out = format!(
        "sgevents {} (pid {}), started {}\nsite {} (api {})",
        daemon.version,
        daemon.pid,
        ago(now, daemon.started_at),
        site.url,
        site.api.as_str()
    );
    match (site.last_poll_at, site.last_poll_ok) {
        (Some(at), Some(true)) => out.push_str(&format!(
            ", last poll {}: ok, {} event(s)",
            ago(now, at),
            site.last_poll_events.unwrap_or(0)
        )),
        (Some(at), Some(false)) => out.push_str(&format!(
            ", last poll {}: FAILED ({} in a row)",
            ago(now, at),
            site.consecutive_failures
        )),
        _ => out.push_str(", not polled yet"),
    }
    if let Some(error) = &site.last_error {
        out.push_str(&format!(
            "\nlast site error {}: {}",
            ago(now, error.at),
            first_line(&error.message, 100)
        ));
    }
    if let Some(cluster) = &snapshot.cluster {
        out.push_str(&format!(
            "\ncluster: leader {}, live nodes {}",
            cluster.leader.as_deref().unwrap_or("(none)"),
            if cluster.nodes.is_empty() {
                "(none)".to_owned()
            } else {
                cluster.nodes.join(", ")
            }
        ));
    }
    out.push_str("\n\n");
    out.push_str(&plugin_table(
        &snapshot.plugins,
        now,
        snapshot.cluster.is_some(),
    ));
    out
}

/// The plugin table alone (also used from the state store when the daemon is down); with a
/// NODE column when some plugin has a node (cluster mode).
pub fn render_plugins(plugins: &[PluginStatus], now: Timestamp) -> String {
    let nodes = plugins.iter().any(|plugin| plugin.node.is_some());
    plugin_table(plugins, now, nodes)
}

/// The plugin table; `nodes`: with the NODE column, after STATE.
fn plugin_table(plugins: &[PluginStatus], now: Timestamp, nodes: bool) -> String {
    if plugins.is_empty() {
        return "no plugins\n".to_owned();
    }
    let mut header = vec![
        "PLUGIN",
        "STATE",
        "NOW",
        "CURSOR",
        "LAG",
        "BACKLOG",
        "DISPATCHED",
        "FAILURES",
        "LAST ERROR",
    ];
    if nodes {
        header.insert(2, "NODE");
    }
    let rows: Vec<Vec<String>> = plugins
        .iter()
        .map(|plugin| {
            let mut row = vec![
                plugin.name.clone(),
                plugin.state.as_str().to_owned(),
                now_text(plugin, now),
                opt_id(plugin.cursor),
                lag_text(plugin.lag_events, plugin.lag_seconds),
                plugin.backlog.to_string(),
                plugin.counts.dispatched.to_string(),
                plugin.counts.failures.to_string(),
                plugin.last_error.as_ref().map_or_else(
                    || "-".to_owned(),
                    |error| format!("{}: {}", ago(now, error.at), first_line(&error.message, 60)),
                ),
            ];
            if nodes {
                row.insert(2, plugin.node.clone().unwrap_or_else(|| "-".to_owned()));
            }
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|name| name.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let last = cells.len() - 1;
        for (index, cell) in cells.iter().enumerate() {
            if index == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[index]));
            }
        }
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&cells);
    }
    out
}

/// What the plugin is doing now: `event 123 for 4 min 3 s`, `idle`, or `-` when not running.
fn now_text(plugin: &PluginStatus, now: Timestamp) -> String {
    match (&plugin.running, plugin.state) {
        (Some(running), _) => format!(
            "event {} for {}",
            running.id,
            span(now.duration_since(running.since).as_secs())
        ),
        (None, PluginState::Active) => "idle".to_owned(),
        (None, _) => "-".to_owned(),
    }
}

/// A duration in seconds as `12 s`, `4 min 3 s`, `2 h 5 min`.
pub(crate) fn span(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
    }
}

/// The first line of `text`, cut to `max` characters with an ellipsis.
fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.chars().count() <= max {
        return line.to_owned();
    }
    let cut: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}
