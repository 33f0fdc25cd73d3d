//! Turns a raw config into [`Settings`]: required keys, defaults, ranges, paths, secrets.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ConfigProblem, Locations};
use crate::ini::Environment;
use crate::keys::display_name;
use crate::raw::{RawCluster, RawConfig, RawDaemon, RawEmails, RawPluginPath, RawSite};
use crate::{
    ClusterConfig, ConfigFormat, DaemonSettings, DispatchMode, EmailSettings, LogFormat, LogMode,
    LogSettings, PluginFilters, PluginPathSettings, ProcessMode, Secret, Settings, SiteSettings,
};

/// File name of the state store next to `event_id_file`.
pub const STATE_DB_NAME: &str = "sgevents-state.sqlite3";

/// The control socket's file name when `control_socket` is not set: next to `state_db`.
pub const CONTROL_SOCKET_NAME: &str = "sgevents-control.sock";

/// Days an event stays in the cluster's stream when `stream_max_age_days` is not set.
pub const DEFAULT_STREAM_MAX_AGE_DAYS: i64 = 7;
/// The longest `stream_max_age_days` accepted (ten years).
const MAX_STREAM_MAX_AGE_DAYS: i64 = 3650;

/// Everything validation needs besides the raw config.
pub(crate) struct Context<'a> {
    pub(crate) source: &'a Path,
    pub(crate) format: ConfigFormat,
    pub(crate) locations: &'a Locations,
    pub(crate) env: &'a Environment,
}

/// Validates `raw`, collecting every problem.
pub(crate) fn validate(
    raw: &RawConfig,
    ctx: &Context<'_>,
    mut warnings: Vec<String>,
) -> Result<Settings, Vec<ConfigProblem>> {
    let mut v = Validator {
        ctx,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let daemon = v.daemon(&raw.daemon);
    let site = v.site(&raw.site);
    let plugins = v.plugins(&raw.plugins);
    let emails = v.emails(raw.emails.as_ref());
    let cluster = v.cluster(raw.cluster.as_ref());
    if !v.problems.is_empty() {
        return Err(v.problems);
    }
    warnings.append(&mut v.warnings);
    match (daemon, site, plugins, emails, cluster) {
        (Some(daemon), Some(site), Some(plugins), Some(emails), Some(cluster)) => Ok(Settings {
            source: ctx.source.to_owned(),
            format: ctx.format,
            daemon,
            site,
            plugins,
            emails,
            cluster,
            warnings,
        }),
        // Every `None` above comes with a problem here or, for a misspelt key, from reading
        // the file: no problem of its own (the caller names one if there is none at all).
        _ => Err(Vec::new()),
    }
}

struct Validator<'a> {
    ctx: &'a Context<'a>,
    problems: Vec<ConfigProblem>,
    warnings: Vec<String>,
}

impl Validator<'_> {
    fn problem(
        &self,
        path: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigProblem {
        let located = self.ctx.locations.get(path);
        let key = match located {
            Some((_, written)) => Some(written.clone()),
            None if path.is_empty() => None,
            None => Some(display_name(self.ctx.format, path)),
        };
        ConfigProblem {
            file: self.ctx.source.to_owned(),
            line: located.map(|(line, _)| *line),
            key,
            message: message.into(),
            fix: fix.into(),
        }
    }

    fn report(&mut self, path: &str, message: impl Into<String>, fix: impl Into<String>) {
        let problem = self.problem(path, message, fix);
        self.problems.push(problem);
    }

    fn is_ini(&self) -> bool {
        self.ctx.format == ConfigFormat::Ini
    }

    /// A value that upstream requires in INI files; TOML files fall back to `default`.
    fn upstream_required<T: Clone>(
        &mut self,
        path: &str,
        value: &Option<T>,
        default: Option<T>,
    ) -> Option<T> {
        match (value, self.is_ini(), default) {
            (Some(value), _, _) => Some(value.clone()),
            (None, false, Some(default)) => Some(default),
            (None, _, _) => {
                self.missing(path);
                None
            }
        }
    }

    fn missing(&mut self, path: &str) {
        if self.ctx.locations.is_broken(path) {
            return;
        }
        let name = display_name(self.ctx.format, path);
        let (section, key) = name.split_once('.').unwrap_or(("", &name));
        let fix = match self.ctx.format {
            ConfigFormat::Ini => format!("add `{key}: ...` to the [{section}] section"),
            ConfigFormat::Toml => format!("add `{key} = ...` to the [{section}] table"),
        };
        self.report(path, "this required setting is missing", fix);
    }

    fn non_empty(&mut self, path: &str, value: Option<String>) -> Option<String> {
        match value {
            Some(value) if value.trim().is_empty() => {
                self.report(path, "the value is empty", "give a value or remove the key");
                None
            }
            other => other,
        }
    }

    fn range(&mut self, path: &str, value: Option<i64>, min: i64, max: i64) -> Option<i64> {
        let value = value?;
        if (min..=max).contains(&value) {
            Some(value)
        } else {
            self.report(
                path,
                format!("{value} is out of range"),
                format!("use a whole number from {min} to {max}"),
            );
            None
        }
    }

    fn secs(&mut self, path: &str, value: Option<i64>, default: i64, min: i64) -> Option<Duration> {
        let value = self.upstream_required(path, &value, Some(default))?;
        self.range(path, Some(value), min, i64::from(u32::MAX))
            .map(|secs| Duration::from_secs(secs.unsigned_abs()))
    }

    /// A setting only sgevents has: optional in both formats.
    fn ours_secs(
        &mut self,
        path: &str,
        value: Option<i64>,
        default: i64,
        min: i64,
    ) -> Option<Duration> {
        self.range(
            path,
            Some(value.unwrap_or(default)),
            min,
            i64::from(u32::MAX),
        )
        .map(|secs| Duration::from_secs(secs.unsigned_abs()))
    }

    fn daemon(&mut self, raw: &RawDaemon) -> Option<DaemonSettings> {
        let pid_file = match self.is_ini() {
            true => self.upstream_required("daemon.pid_file", &raw.pid_file, None),
            false => raw.pid_file.clone(),
        };
        let pid_file = self
            .non_empty("daemon.pid_file", pid_file)
            .map(PathBuf::from);
        let event_id_file = match self.is_ini() {
            true => self.upstream_required("daemon.event_id_file", &raw.event_id_file, None),
            false => raw.event_id_file.clone(),
        };
        let event_id_file = self
            .non_empty("daemon.event_id_file", event_id_file)
            .map(PathBuf::from);
        let state_db = match (
            self.non_empty("daemon.state_db", raw.state_db.clone()),
            &event_id_file,
        ) {
            (Some(path), _) => Some(PathBuf::from(path)),
            (None, Some(id_file)) => Some(
                id_file
                    .parent()
                    .unwrap_or(Path::new(""))
                    .join(STATE_DB_NAME),
            ),
            (None, None) => {
                if raw.state_db.is_none() && !self.is_ini() {
                    self.report(
                        "daemon.state_db",
                        "no state store is configured",
                        "set `state_db = \"/var/lib/sgevents/state.sqlite3\"` (or `event_id_file`, and the store goes next to it)",
                    );
                }
                None
            }
        };
        let log = self.log(raw);
        let conn_retry_sleep = self.secs(
            "daemon.conn_retry_sleep_secs",
            raw.conn_retry_sleep_secs,
            60,
            0,
        );
        let max_conn_retries =
            self.upstream_required("daemon.max_conn_retries", &raw.max_conn_retries, Some(5));
        let max_conn_retries = self.range(
            "daemon.max_conn_retries",
            max_conn_retries,
            1,
            i64::from(u32::MAX),
        );
        let fetch_interval = self.secs("daemon.fetch_interval_secs", raw.fetch_interval_secs, 5, 0);
        let batch = self.range(
            "daemon.max_event_batch_size",
            Some(raw.max_event_batch_size.unwrap_or(500)),
            1,
            1_000_000,
        );
        let backlog_timeout = self.ours_secs(
            "daemon.backlog_timeout_secs",
            raw.backlog_timeout_secs,
            300,
            0,
        );
        let queue_size = self.range(
            "daemon.queue_size",
            Some(raw.queue_size.unwrap_or(1000)),
            1,
            10_000_000,
        );
        let shutdown_grace =
            self.ours_secs("daemon.shutdown_grace_secs", raw.shutdown_grace_secs, 30, 0);
        let load_timeout = self.ours_secs("daemon.load_timeout_secs", raw.load_timeout_secs, 60, 1);
        let heartbeat_timeout = self.ours_secs(
            "daemon.heartbeat_timeout_secs",
            raw.heartbeat_timeout_secs,
            60,
            1,
        );
        let http = match raw.http.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(text) => match text.parse::<SocketAddr>() {
                Ok(addr) => Some(Some(addr)),
                Err(_) => {
                    self.report(
                        "daemon.http",
                        format!("`{text}` is not a listen address"),
                        "write an IP address and port such as 127.0.0.1:9090 (or remove the key to turn the endpoint off)",
                    );
                    None
                }
            },
        };
        let control_socket =
            match self.non_empty("daemon.control_socket", raw.control_socket.clone()) {
                Some(path) => Some(PathBuf::from(path)),
                None => state_db.as_ref().map(|db| {
                    db.parent()
                        .unwrap_or(Path::new(""))
                        .join(CONTROL_SOCKET_NAME)
                }),
            };
        let lag_alert = self.ours_secs("daemon.lag_alert_secs", raw.lag_alert_secs, 600, 1);
        Some(DaemonSettings {
            pid_file,
            event_id_file,
            state_db: state_db?,
            log: log?,
            conn_retry_sleep: conn_retry_sleep?,
            max_conn_retries: u32::try_from(max_conn_retries?).ok()?,
            fetch_interval: fetch_interval?,
            max_event_batch_size: u32::try_from(batch?).ok()?,
            backlog_timeout: backlog_timeout?,
            dispatch: raw.dispatch.unwrap_or(DispatchMode::Concurrent),
            queue_size: usize::try_from(queue_size?).ok()?,
            shutdown_grace: shutdown_grace?,
            load_timeout: load_timeout?,
            heartbeat_timeout: heartbeat_timeout?,
            http: http?,
            control_socket: control_socket?,
            control_token: raw
                .control_token
                .clone()
                .filter(|token| !token.expose().is_empty()),
            lag_alert: lag_alert?,
        })
    }

    fn log(&mut self, raw: &RawDaemon) -> Option<LogSettings> {
        let mode = self.upstream_required("daemon.log_mode", &raw.log_mode, Some(1));
        let mode = match mode {
            Some(0) => Some(LogMode::Single),
            Some(1) => Some(LogMode::PerPlugin),
            Some(other) => {
                self.report(
                    "daemon.log_mode",
                    format!("{other} is not a log mode"),
                    "use 0 (everything in one file) or 1 (one file for the engine, one per plugin)",
                );
                None
            }
            None => None,
        };
        let path = match raw.log_path.as_deref() {
            Some(text) if text.trim().is_empty() => {
                self.report(
                    "daemon.log_path",
                    "the value is empty",
                    "give a directory or remove the key",
                );
                None
            }
            Some(text) => {
                let dir = PathBuf::from(text);
                if dir.exists() && !dir.is_dir() {
                    self.report(
                        "daemon.log_path",
                        format!("{} exists and is not a directory", dir.display()),
                        "point it at a directory (it is created if missing)",
                    );
                }
                Some(Some(dir))
            }
            None => Some(None),
        };
        let file = self.upstream_required("daemon.log_file", &raw.log_file, None);
        let file = self.non_empty("daemon.log_file", file);
        let level = self.upstream_required("daemon.log_level", &raw.log_level, Some(20));
        let level = self.range("daemon.log_level", level, 0, 50);
        Some(LogSettings {
            mode: mode?,
            path: path?,
            file: file?,
            level: u8::try_from(level?).ok()?,
            timing: raw.timing_log.unwrap_or(false),
            format: raw.log_format.unwrap_or(LogFormat::Text),
        })
    }

    fn site(&mut self, raw: &RawSite) -> Option<SiteSettings> {
        let server = self.upstream_required("site.server", &raw.server, None);
        let server = self.non_empty("site.server", server);
        if let Some(url) = &server
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            self.report(
                "site.server",
                format!("`{}` is not a site URL", crate::redact_url(url)),
                "write the full URL, e.g. https://yoursite.shotgrid.autodesk.com",
            );
        }
        let script_name = self.upstream_required("site.script_name", &raw.script_name, None);
        let script_name = self.non_empty("site.script_name", script_name);
        let script_key = self.secret(
            "site.script_key",
            raw.script_key.as_ref(),
            raw.script_key_env.as_deref(),
            raw.script_key_file.as_deref(),
        );
        let script_key = match script_key {
            Some(Some(key)) => Some(key),
            Some(None) => {
                self.missing("site.script_key");
                None
            }
            None => None,
        };
        let use_session_uuid =
            self.upstream_required("site.use_session_uuid", &raw.use_session_uuid, Some(false));
        let timeout = self.ours_secs("site.timeout_secs", raw.timeout_secs, 60, 1);
        let proxy_server = raw
            .proxy_server
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
        Some(SiteSettings {
            server: server?,
            script_name: script_name?,
            script_key: script_key?,
            proxy_server,
            use_session_uuid: use_session_uuid?,
            timeout: timeout?,
        })
    }

    /// Resolves a secret from its value, `_env` or `_file` form. `Some(None)` = not given.
    fn secret(
        &mut self,
        path: &str,
        value: Option<&Secret>,
        env: Option<&str>,
        file: Option<&str>,
    ) -> Option<Option<Secret>> {
        let given = [value.is_some(), env.is_some(), file.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            let field = path.rsplit('.').next().unwrap_or(path);
            self.report(
                path,
                "the secret is given more than once",
                format!("keep exactly one of `{field}`, `{field}_env`, `{field}_file`"),
            );
            return None;
        }
        if let Some(secret) = value {
            return Some(Some(secret.clone()));
        }
        if let Some(name) = env {
            let env_path = format!("{path}_env");
            return match self.ctx.env.var_ignore_case(name) {
                Some(found) if !found.is_empty() => Some(Some(Secret::new(found))),
                _ if self.ctx.env.secrets_optional() => Some(Some(Secret::new(""))),
                _ => {
                    self.report(
                        &env_path,
                        format!("environment variable {name} is not set or empty"),
                        format!("export {name} before starting sgevents"),
                    );
                    None
                }
            };
        }
        if let Some(file) = file {
            let file_path = format!("{path}_file");
            if self.ctx.env.secrets_optional() {
                let text = std::fs::read_to_string(file).unwrap_or_default();
                return Some(Some(Secret::new(text.trim_end_matches(['\n', '\r']))));
            }
            return match std::fs::read_to_string(file) {
                Ok(text) => {
                    let text = text.strip_suffix('\n').unwrap_or(&text);
                    let text = text.strip_suffix('\r').unwrap_or(text);
                    if text.is_empty() {
                        self.report(
                            &file_path,
                            format!("secret file {file} is empty"),
                            "write the secret into it",
                        );
                        None
                    } else {
                        Some(Some(Secret::new(text)))
                    }
                }
                Err(err) => {
                    self.report(
                        &file_path,
                        format!("cannot read secret file {file}: {err}"),
                        "check the path and that the daemon's user may read it",
                    );
                    None
                }
            };
        }
        Some(None)
    }

    fn plugins(&mut self, raw: &[RawPluginPath]) -> Option<Vec<PluginPathSettings>> {
        if raw.is_empty() {
            if self.ctx.locations.is_broken("plugins.path") {
                return None;
            }
            let fix = match self.ctx.format {
                ConfigFormat::Ini => "add `paths: /path/to/plugins` to the [plugins] section",
                ConfigFormat::Toml => "add a [[plugins]] table with `path = \"/path/to/plugins\"`",
            };
            self.report("plugins.path", "no plugin directory is configured", fix);
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (index, plugin) in raw.iter().enumerate() {
            match self.plugin(index, plugin) {
                Some(settings) => out.push(settings),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn plugin(&mut self, index: usize, raw: &RawPluginPath) -> Option<PluginPathSettings> {
        let at = |field: &str| format!("plugins[{index}].{field}");
        let path = match raw.path.as_deref().map(str::trim) {
            None => {
                self.report(
                    &at("path"),
                    "this plugin table has no path",
                    "add `path = \"/path/to/plugins\"`",
                );
                None
            }
            Some("") => {
                self.report(
                    &at("path"),
                    format!("plugin path number {} is empty", index + 1),
                    "remove the extra comma or give the directory",
                );
                None
            }
            Some(text) => {
                let dir = PathBuf::from(text);
                if dir.is_dir() {
                    Some(dir)
                } else {
                    let what = if dir.exists() {
                        "is not a directory"
                    } else {
                        "does not exist"
                    };
                    self.report(
                        &at("path"),
                        format!("plugin path {} {what}", dir.display()),
                        "create the directory or fix the path (upstream also refuses to start)",
                    );
                    None
                }
            }
        };
        let callback_timeout = self.ours_secs(
            &at("callback_timeout_secs"),
            raw.callback_timeout_secs,
            600,
            1,
        );
        let python = match raw.python.as_deref().map(str::trim) {
            Some("") => {
                self.report(
                    &at("python"),
                    "the value is empty",
                    "give an interpreter path or remove the key",
                );
                None
            }
            other => Some(other.map(PathBuf::from)),
        };
        Some(PluginPathSettings {
            path: path?,
            python: python?,
            process: raw.process.unwrap_or(ProcessMode::PerPlugin),
            callback_timeout: callback_timeout?,
            filters: PluginFilters {
                limit_to_projects: raw.limit_to_projects.clone().unwrap_or_default(),
                ignore_projects: raw.ignore_projects.clone().unwrap_or_default(),
                skip_own_events: raw.skip_own_events.unwrap_or(false),
            },
            run_ahead: raw.run_ahead.unwrap_or(true),
        })
    }

    fn emails(&mut self, raw: Option<&RawEmails>) -> Option<Option<EmailSettings>> {
        let Some(raw) = raw else {
            if self.is_ini() {
                // Upstream reads emails.enabled unconditionally and crashes without it.
                self.missing("emails.enabled");
                return None;
            }
            return Some(None);
        };
        let enabled = self.upstream_required("emails.enabled", &raw.enabled, Some(true));
        let port = self.range("emails.port", Some(raw.port.unwrap_or(25)), 1, 65535);
        let password = self.secret(
            "emails.password",
            raw.password.as_ref(),
            raw.password_env.as_deref(),
            raw.password_file.as_deref(),
        );
        let digest_window =
            self.ours_secs("emails.digest_window_secs", raw.digest_window_secs, 300, 1);
        let max_per_window = self.range(
            "emails.max_per_window",
            Some(raw.max_per_window.unwrap_or(5)),
            1,
            1_000_000,
        );
        let (enabled, port, password, digest_window, max_per_window) =
            (enabled?, port?, password?, digest_window?, max_per_window?);
        if !enabled {
            return Some(None);
        }
        let text = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_owned();
        let (server, from, subject) = (text(&raw.server), text(&raw.from), text(&raw.subject));
        let to: Vec<String> = raw
            .to
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if server.is_empty() || from.is_empty() || to.is_empty() || subject.is_empty() {
            self.warnings.push(format!(
                "{}: emails are enabled but server, from, to and subject are not all set, so no alert mail will be sent (as upstream)",
                self.ctx.source.display()
            ));
            return Some(None);
        }
        Some(Some(EmailSettings {
            server,
            port: u16::try_from(port).ok()?,
            from,
            to,
            subject,
            use_tls: raw.use_tls.unwrap_or(false),
            username: raw.username.clone().filter(|u| !u.trim().is_empty()),
            password: password.filter(|p| !p.expose().is_empty()),
            digest_window,
            max_per_window: u32::try_from(max_per_window).ok()?,
        }))
    }

    fn cluster(&mut self, raw: Option<&RawCluster>) -> Option<Option<ClusterConfig>> {
        let Some(raw) = raw else {
            return Some(None);
        };
        let urls = ClusterConfig::split_urls(raw.nats_url.as_deref().unwrap_or(""));
        if urls.is_empty() {
            self.missing("cluster.nats_url");
        }
        let lease = self.ours_secs("cluster.lease_secs", raw.lease_secs, 10, 2);
        let max_age_days = self.range(
            "cluster.stream_max_age_days",
            Some(
                raw.stream_max_age_days
                    .unwrap_or(DEFAULT_STREAM_MAX_AGE_DAYS),
            ),
            1,
            MAX_STREAM_MAX_AGE_DAYS,
        );
        let name = raw
            .name
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .unwrap_or("sgevents")
            .to_owned();
        let node = raw
            .node
            .as_deref()
            .map(str::trim)
            .filter(|node| !node.is_empty())
            .map(str::to_owned);
        let lease = lease?;
        let stream_max_age = Duration::from_secs(max_age_days?.unsigned_abs() * 86_400);
        if urls.is_empty() {
            return None;
        }
        Some(Some(ClusterConfig {
            nats_urls: urls,
            name,
            node,
            lease,
            stream_max_age,
        }))
    }
}
