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
    key("daemon.http", "daemon", "http", Kind::Str),
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
