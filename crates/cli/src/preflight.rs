//! The checks `sgevents run` makes before it starts, which `sgevents config check` reports:
//! one list, so that "OK" from `check` means `run` starts.
//!
//! The config crate validates the file itself (keys, values, plugin directories). This adds
//! what needs the machine: the site client can be built from the URL and key, the state
//! database and the log directory can be written, the mailer can be set up, the plugin
//! directories can be read, and each interpreter starts and imports shotgun_api3. Nothing is
//! created or written here.

use std::path::{Path, PathBuf};

use nix::unistd::{AccessFlags, access};
use sgevents_config::{ConfigFormat, ConfigProblem, Settings};
use sgevents_daemon::setup;

/// What the checks found: the problems, each interpreter that started with its Python
/// version (so `run` need not start it again to say which Python plugins run with), and
/// the site client they built (so `run` does not build a second one, and load the TLS
/// roots again, before its first read).
pub(crate) struct Checked {
    pub(crate) problems: Vec<ConfigProblem>,
    pub(crate) pythons: Vec<(PathBuf, String)>,
    pub(crate) client: Option<sgevents_api::Client>,
}

/// Everything wrong with starting `run` on `settings` with `default_python` for folders
/// that set no interpreter.
pub(crate) async fn check(settings: &Settings, default_python: &Path) -> Vec<ConfigProblem> {
    check_all(settings, default_python, None).await.problems
}

/// [`check`], with the interpreters' versions. With `fork_env` (a daemon about to run, and
/// the environment its plugin processes get) each interpreter is asked through the fork
/// server its plugins will use, so that no Python starts only for the check.
pub(crate) async fn check_all(
    settings: &Settings,
    default_python: &Path,
    fork_env: Option<&[(String, String)]>,
) -> Checked {
    let mut out = Problems {
        settings,
        list: Vec::new(),
        pythons: Vec::new(),
    };
    let client = match setup::client(settings) {
        Ok(client) => Some(client),
        Err(setup::SetupError::Client {
            source: sgevents_api::ClientError::Config { field, message },
            ..
        }) => {
            let message = sgevents_config::redact_url(&message);
            let (message, fix) = message.split_once("; ").unwrap_or((&message, "fix it"));
            let toml = match field {
                "name" => "site.script_name",
                "key" => "site.script_key",
                "proxy_server" => "site.proxy_server",
                _ => "site.server",
            };
            let ini = toml
                .replace("site.script_", "shotgun.")
                .replace("site.", "shotgun.");
            out.push_at(toml, &ini, message.to_owned(), fix.to_owned());
            None
        }
        Err(err) => {
            out.push(
                ("site.server", "shotgun.server"),
                sgevents_config::redact_url(&err.to_string()),
                "fix the site settings".to_owned(),
            );
            None
        }
    };
    state_db(&mut out);
    log_dir(&mut out);
    emails(&mut out).await;
    for (index, dir) in settings.plugins.iter().enumerate() {
        if !may(&dir.path, AccessFlags::R_OK | AccessFlags::X_OK) {
            out.push_at(
                &format!("plugins[{index}].path"),
                "plugins.paths",
                format!("plugin directory {} cannot be read", dir.path.display()),
                "give the daemon's user read access to it".to_owned(),
            );
        }
    }
    interpreters(&mut out, default_python, fork_env).await;
    Checked {
        problems: out.list,
        pythons: out.pythons,
        client,
    }
}

struct Problems<'a> {
    settings: &'a Settings,
    list: Vec<ConfigProblem>,
    pythons: Vec<(PathBuf, String)>,
}

impl Problems<'_> {
    fn push(&mut self, (toml, ini): (&str, &str), message: String, fix: String) {
        self.push_at(toml, ini, message, fix);
    }

    fn push_at(&mut self, toml: &str, ini: &str, message: String, fix: String) {
        let key = match self.settings.format {
            ConfigFormat::Toml => toml,
            ConfigFormat::Ini => ini,
        };
        self.list.push(ConfigProblem {
            file: self.settings.source.clone(),
            line: None,
            key: Some(key.to_owned()),
            message,
            fix,
        });
    }
}

fn may(path: &Path, flags: AccessFlags) -> bool {
    access(path, flags).is_ok()
}

/// The state database: an existing file must be readable and writable; a new one needs a
/// writable directory (the store creates the file, not its directory).
fn state_db(out: &mut Problems<'_>) {
    let db = &out.settings.daemon.state_db;
    let key = ("daemon.state_db", "daemon.eventIdFile");
    if db.exists() {
        if !db.is_file() {
            out.push(
                key,
                format!("state database {} is not a file", db.display()),
                "point state_db at a file path".to_owned(),
            );
        } else if !may(db, AccessFlags::R_OK | AccessFlags::W_OK) {
            out.push(
                key,
                format!("state database {} cannot be written", db.display()),
                "give the daemon's user write access to it".to_owned(),
            );
        }
        return;
    }
    let dir = parent(db);
    if !dir.is_dir() {
        out.push(
            key,
            format!(
                "the directory of the state database, {}, does not exist",
                dir.display()
            ),
            format!("create it (mkdir -p {}) or change the path", dir.display()),
        );
    } else if !may(&dir, AccessFlags::W_OK | AccessFlags::X_OK) {
        out.push(
            key,
            format!(
                "the state database cannot be created: {} is not writable",
                dir.display()
            ),
            "give the daemon's user write access to the directory".to_owned(),
        );
    }
}

/// The log directory: created by `run` when missing, so its nearest existing ancestor must
/// be a writable directory; an existing main log file must be writable.
fn log_dir(out: &mut Problems<'_>) {
    let log = &out.settings.daemon.log;
    let main = log.main_log();
    let dir = log.path.clone().unwrap_or_else(|| parent(&main));
    let key = ("daemon.log_path", "daemon.logPath");
    let mut existing = dir.as_path();
    while !existing.exists() {
        match existing.parent() {
            Some(up) if !up.as_os_str().is_empty() => existing = up,
            _ => {
                existing = Path::new(".");
                break;
            }
        }
    }
    if !existing.is_dir() {
        out.push(
            key,
            format!(
                "log directory {} cannot be created: {} is not a directory",
                dir.display(),
                existing.display()
            ),
            "point the log path at a directory".to_owned(),
        );
    } else if !may(existing, AccessFlags::W_OK | AccessFlags::X_OK) {
        let what = if existing == dir {
            format!("log directory {} is not writable", dir.display())
        } else {
            format!(
                "log directory {} cannot be created: {} is not writable",
                dir.display(),
                existing.display()
            )
        };
        out.push(
            key,
            what,
            "give the daemon's user write access, or change the log path".to_owned(),
        );
    } else if main.exists() && !may(&main, AccessFlags::W_OK) {
        out.push(
            ("daemon.log_file", "daemon.logFile"),
            format!("log file {} is not writable", main.display()),
            "give the daemon's user write access to it".to_owned(),
        );
    }
}

/// The mailer `run` starts for `[emails]`: built the same way, then closed unused.
async fn emails(out: &mut Problems<'_>) {
    let Some(emails) = &out.settings.emails else {
        return;
    };
    match sgevents_daemon::alerts::Alerts::spawn(setup::email_config(emails)) {
        Ok((sender, task)) => {
            sender.close();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        }
        Err(err) => out.push(
            ("emails.server", "emails.server"),
            err.to_string(),
            "fix the [emails] settings".to_owned(),
        ),
    }
}

/// The directory `path` is in (`.` for a bare file name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Starts each distinct interpreter once (or asks its fork server, with `fork_env`) and
/// has it import shotgun_api3.
async fn interpreters(
    out: &mut Problems<'_>,
    default_python: &Path,
    fork_env: Option<&[(String, String)]>,
) {
    let mut seen: Vec<PathBuf> = Vec::new();
    for (index, dir) in out.settings.plugins.iter().enumerate() {
        let python = dir
            .python
            .clone()
            .unwrap_or_else(|| default_python.to_owned());
        if seen.contains(&python) {
            continue;
        }
        seen.push(python.clone());
        let checked = match fork_env {
            Some(env) => {
                let host = setup::interpreter_host(out.settings, python.clone(), env);
                sgevents_plugin_host::check_plugin_interpreter(&host).await
            }
            None => sgevents_plugin_host::check_interpreter(&python).await,
        };
        if let Ok(version) = &checked {
            out.pythons.push((python.clone(), version.clone()));
        }
        if let Err(err) = checked {
            let (toml, ini) = match dir.python {
                Some(_) => (format!("plugins[{index}].python"), "plugins.python"),
                None => ("--python".to_owned(), "--python"),
            };
            // The error says what to do after its first sentence.
            let text = err.to_string();
            let (message, fix) = text
                .split_once(". ")
                .unwrap_or((&text, "plugins need a Python 3 with shotgun_api3"));
            out.push_at(&toml, ini, message.to_owned(), fix.to_owned());
        }
    }
}

/// The interpreter for plugin folders that set none: `--python` (or `$SGEVENTS_PYTHON`),
/// else the `python` beside the `sgevents` executable (a virtualenv's `bin/`, where pip put
/// the wheel), else `python3` on `PATH`.
pub(crate) fn default_python(explicit: Option<PathBuf>) -> PathBuf {
    explicit
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            python_beside(&exe)
        })
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// `python` in the directory of `exe`, when it is there and executable. The directory is
/// not resolved through symlinks: a venv's `bin/python` is itself a symlink, and so may be
/// a `sgevents` linked into the venv.
pub(crate) fn python_beside(exe: &Path) -> Option<PathBuf> {
    let python = exe.parent()?.join("python");
    may(&python, AccessFlags::X_OK).then_some(python)
}

#[cfg(test)]
mod tests;
