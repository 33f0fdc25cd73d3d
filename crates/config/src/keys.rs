//! The key table: each setting's TOML path and, where upstream has it, its INI section and name.

use crate::ConfigFormat;

/// How an INI value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Int,
    /// Python `getboolean`: 1/yes/true/on, 0/no/false/off.
    Bool,
    /// Upstream `timing_log`: exactly `on` enables, anything else disables.
    OnOff,
    Secret,
    /// Comma-separated strings.
    StrList,
    /// Comma-separated integers.
    IntList,
    /// One of a fixed set of words, given by serde.
    Word,
}

/// One setting.
pub(crate) struct Key {
    /// Path in TOML: `section.field` (plugin fields are per `[[plugins]]` table).
    pub(crate) toml: &'static str,
    /// INI section and option name.
    pub(crate) ini: (&'static str, &'static str),
    pub(crate) kind: Kind,
}

const fn key(toml: &'static str, section: &'static str, name: &'static str, kind: Kind) -> Key {
    Key {
        toml,
        ini: (section, name),
        kind,
    }
}

/// Every key both formats know. INI `[plugins]` options apply to each path of `paths`.
pub(crate) const KEYS: &[Key] = &[
    key("daemon.pid_file", "daemon", "pidFile", Kind::Str),
    key("daemon.event_id_file", "daemon", "eventIdFile", Kind::Str),
    key("daemon.state_db", "daemon", "state_db", Kind::Str),
    key("daemon.log_mode", "daemon", "logMode", Kind::Int),
    key("daemon.log_path", "daemon", "logPath", Kind::Str),
    key("daemon.log_file", "daemon", "logFile", Kind::Str),
    key("daemon.log_level", "daemon", "logging", Kind::Int),
    key("daemon.log_format", "daemon", "log_format", Kind::Word),
    key("daemon.timing_log", "daemon", "timing_log", Kind::OnOff),
    key(
        "daemon.conn_retry_sleep_secs",
        "daemon",
        "conn_retry_sleep",
        Kind::Int,
    ),
    key(
        "daemon.max_conn_retries",
        "daemon",
        "max_conn_retries",
        Kind::Int,
    ),
    key(
        "daemon.fetch_interval_secs",
        "daemon",
        "fetch_interval",
        Kind::Int,
    ),
    key(
        "daemon.max_event_batch_size",
        "daemon",
        "max_event_batch_size",
        Kind::Int,
    ),
    key(
        "daemon.backlog_timeout_secs",
        "daemon",
        "backlog_timeout_secs",
        Kind::Int,
    ),
    key("daemon.dispatch", "daemon", "dispatch", Kind::Word),
    key("daemon.queue_size", "daemon", "queue_size", Kind::Int),
    key(
        "daemon.shutdown_grace_secs",
        "daemon",
        "shutdown_grace_secs",
        Kind::Int,
    ),
    key(
        "daemon.load_timeout_secs",
        "daemon",
        "load_timeout_secs",
        Kind::Int,
    ),
    key(
        "daemon.heartbeat_timeout_secs",
        "daemon",
        "heartbeat_timeout_secs",
        Kind::Int,
    ),
    key("daemon.http", "daemon", "http", Kind::Str),
    key(
        "daemon.control_socket",
        "daemon",
        "control_socket",
        Kind::Str,
    ),
    key(
        "daemon.control_token",
        "daemon",
        "control_token",
        Kind::Secret,
    ),
    key(
        "daemon.lag_alert_secs",
        "daemon",
        "lag_alert_secs",
        Kind::Int,
    ),
    key("site.server", "shotgun", "server", Kind::Str),
    key("site.script_name", "shotgun", "name", Kind::Str),
    key("site.script_key", "shotgun", "key", Kind::Secret),
    key("site.script_key_env", "shotgun", "key_env", Kind::Str),
    key("site.script_key_file", "shotgun", "key_file", Kind::Str),
    key("site.proxy_server", "shotgun", "proxy_server", Kind::Str),
    key(
        "site.use_session_uuid",
        "shotgun",
        "use_session_uuid",
        Kind::Bool,
    ),
    key("site.timeout_secs", "shotgun", "timeout_secs", Kind::Int),
    key("plugins.path", "plugins", "paths", Kind::StrList),
    key("plugins.python", "plugins", "python", Kind::Str),
    key("plugins.process", "plugins", "process", Kind::Word),
    key(
        "plugins.callback_timeout_secs",
        "plugins",
        "callback_timeout_secs",
        Kind::Int,
    ),
    key(
        "plugins.limit_to_projects",
        "plugins",
        "limit_to_projects",
        Kind::IntList,
    ),
    key(
        "plugins.ignore_projects",
        "plugins",
        "ignore_projects",
        Kind::IntList,
    ),
    key(
        "plugins.skip_own_events",
        "plugins",
        "skip_own_events",
        Kind::Bool,
    ),
    key("plugins.run_ahead", "plugins", "run_ahead", Kind::Bool),
    key("emails.enabled", "emails", "enabled", Kind::Bool),
    key("emails.server", "emails", "server", Kind::Str),
    key("emails.port", "emails", "port", Kind::Int),
    key("emails.from", "emails", "from", Kind::Str),
    key("emails.to", "emails", "to", Kind::StrList),
    key("emails.subject", "emails", "subject", Kind::Str),
    key("emails.use_tls", "emails", "useTLS", Kind::Bool),
    key("emails.username", "emails", "username", Kind::Str),
    key("emails.password", "emails", "password", Kind::Secret),
    key("emails.password_env", "emails", "password_env", Kind::Str),
    key("emails.password_file", "emails", "password_file", Kind::Str),
    key(
        "emails.digest_window_secs",
        "emails",
        "digest_window_secs",
        Kind::Int,
    ),
    key(
        "emails.max_per_window",
        "emails",
        "max_per_window",
        Kind::Int,
    ),
    key("cluster.nats_url", "cluster", "nats_url", Kind::Str),
    key("cluster.name", "cluster", "name", Kind::Str),
    key("cluster.node", "cluster", "node", Kind::Str),
    key("cluster.lease_secs", "cluster", "lease_secs", Kind::Int),
    key(
        "cluster.stream_max_age_days",
        "cluster",
        "stream_max_age_days",
        Kind::Int,
    ),
];

/// How `toml_path` (`plugins[2].path` is looked up as `plugins.path`) is spelled in `format`.
pub(crate) fn display_name(format: ConfigFormat, toml_path: &str) -> String {
    match format {
        ConfigFormat::Toml => toml_path.to_owned(),
        ConfigFormat::Ini => {
            let canonical = canonical(toml_path);
            KEYS.iter()
                .find(|k| k.toml == canonical)
                .map(|k| format!("{}.{}", k.ini.0, k.ini.1))
                .unwrap_or_else(|| toml_path.to_owned())
        }
    }
}

/// `plugins[2].path` -> `plugins.path`.
pub(crate) fn canonical(toml_path: &str) -> String {
    match (toml_path.find('['), toml_path.find(']')) {
        (Some(open), Some(close)) if open < close => {
            format!("{}{}", &toml_path[..open], &toml_path[close + 1..])
        }
        _ => toml_path.to_owned(),
    }
}

/// The known name closest to `written`, when `written` looks like a misspelling of it:
/// case-insensitive edit distance of at most 1 for names of up to 4 letters, 2 up to 10,
/// 3 beyond; ties go to the first candidate.
pub(crate) fn suggest<'a>(
    written: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let written = written.to_lowercase();
    let limit = match written.chars().count() {
        0..=4 => 1,
        5..=10 => 2,
        _ => 3,
    };
    known
        .into_iter()
        .map(|name| (edit_distance(&written, &name.to_lowercase()), name))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance over chars. Written here (a dozen lines) rather than taken from a
/// crate: it runs on a handful of short key names, once per unknown key.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The INI option names of `section`.
pub(crate) fn ini_names(section: &str) -> impl Iterator<Item = &'static str> + '_ {
    KEYS.iter()
        .filter(move |k| k.ini.0 == section)
        .map(|k| k.ini.1)
}

/// The TOML field names of `section` (`daemon`, `site`, `plugins`, `emails`).
pub(crate) fn toml_fields(section: &str) -> impl Iterator<Item = &'static str> + '_ {
    KEYS.iter().filter_map(move |k| {
        let (table, field) = k.toml.split_once('.')?;
        (table == section).then_some(field)
    })
}

#[cfg(test)]
mod tests {
    use super::{edit_distance, suggest};

    #[test]
    fn near_misses_are_suggested_and_strangers_are_not() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        let known = ["fetch_interval", "max_event_batch_size", "logMode"];
        assert_eq!(suggest("fetch_intervl", known), Some("fetch_interval"));
        assert_eq!(suggest("Fetch_Interval", known), Some("fetch_interval"));
        assert_eq!(suggest("logmod", known), Some("logMode"));
        assert_eq!(
            suggest("max_event_batch_siz", known),
            Some("max_event_batch_size")
        );
        assert_eq!(suggest("my_plugin_setting", known), None);
    }
}
