//! A temp dir with a plugin directory, and upstream-style config texts to write into it.

use std::path::{Path, PathBuf};

use sgevents_config::Environment;

pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        std::fs::create_dir(dir.path().join("more_plugins")).unwrap();
        Self { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` (with `{DIR}` replaced by the temp dir) to `name`.
    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(
            &path,
            text.replace("{DIR}", &self.dir.path().display().to_string()),
        )
        .unwrap();
        path
    }
}

/// The environment upstream's example file refers to.
pub(crate) fn site_env() -> Environment {
    Environment::from_pairs([
        ("SG_ED_SITE_URL", "https://studio.example.com"),
        ("SG_ED_SCRIPT_NAME", "shotgunEventDaemon"),
        ("SG_ED_API_KEY", "0123456789abcdef"),
        ("SG_ED_EMAIL_PASSWORD", "mail-secret"),
    ])
}

/// Upstream's example configuration, shaped like `shotgunEventDaemon.conf.example`.
pub(crate) const UPSTREAM_INI: &str = "\
[daemon]
# General daemon operational settings
pidFile: {DIR}/shotgunEventDaemon.pid
eventIdFile: {DIR}/shotgunEventDaemon.id
logMode: 1
logPath: {DIR}/logs
logFile: shotgunEventDaemon
logging: 20
timing_log: off
conn_retry_sleep = 60
max_conn_retries = 5
fetch_interval = 5
max_event_batch_size = 500

[shotgun]
server: %(SG_ED_SITE_URL)s
name: %(SG_ED_SCRIPT_NAME)s
key: %(SG_ED_API_KEY)s
proxy_server:
use_session_uuid: True

[plugins]
paths: {DIR}/plugins, {DIR}/more_plugins

[emails]
enabled: True
server: smtp.example.com
from: support@example.com
to: one@example.com, two@example.com
subject: [SG]
#port: 587
#useTLS: True
username: mailer
password: %(SG_ED_EMAIL_PASSWORD)s
";

/// A minimal valid native TOML configuration.
pub(crate) const NATIVE_TOML: &str = r#"
[daemon]
event_id_file = "{DIR}/shotgunEventDaemon.id"
log_path = "{DIR}/logs"
log_file = "sgevents"

[site]
server = "https://studio.example.com"
script_name = "shotgunEventDaemon"
script_key_env = "SG_ED_API_KEY"

[[plugins]]
path = "{DIR}/plugins"
"#;
