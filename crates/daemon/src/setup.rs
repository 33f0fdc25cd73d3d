//! Turns validated [`Settings`] into what [`crate::run`] takes: loop options, the cursor store
//! (importing upstream's state file once), the site client and the plugin folders.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use sgevents_api::{Client, ClientConfig, ClientError};
use sgevents_config::Settings;
use sgevents_plugin_api::{BoxFuture, Plugin};
use sgevents_plugin_host::{Emails, HostConfig, PluginHost};
use sgevents_store::{LegacyError, LegacyState, Store, StoreError, legacy};

use crate::alerts::{EmailConfig, PluginRecipients, Recipients};
use crate::{
    Cursor, LoadError, Options, PluginDir, PluginFilters, PluginKey, PluginLoader, StartAt,
};

/// Why the daemon cannot start with these settings.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The cursor store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Upstream's state file could not be imported.
    #[error(
        "{0}\nFix or remove the file named in `eventIdFile` (the daemon never skips ahead on its own), or start with --start-at ID|latest."
    )]
    Legacy(#[from] LegacyError),
    /// The site client could not be built from the settings.
    #[error("the [shotgun] settings in {config}: {source}")]
    Client {
        /// The config file.
        config: PathBuf,
        /// What is wrong.
        #[source]
        source: ClientError,
    },
}

/// The persisted cursors, and where plugins without one start.
pub struct State {
    /// The open store.
    pub store: Store,
    /// Cursors by plugin.
    pub saved: BTreeMap<PluginKey, Cursor>,
    /// Set when upstream's old single-id state file was imported: every plugin starts after it.
    pub start_at: Option<StartAt>,
    /// Upstream's state file, when this start imported it.
    pub imported_from: Option<PathBuf>,
}

/// The loop options from the settings, upstream's keys and ours.
pub fn options(settings: &Settings, start_at: StartAt) -> Options {
    let daemon = &settings.daemon;
    Options {
        fetch_interval: daemon.fetch_interval,
        max_event_batch_size: daemon.max_event_batch_size.max(1) as usize,
        max_conn_retries: daemon.max_conn_retries,
        conn_retry_sleep: daemon.conn_retry_sleep,
        backlog_timeout: daemon.backlog_timeout,
        dispatch: daemon.dispatch,
        queue_size: daemon.queue_size,
        shutdown_grace: daemon.shutdown_grace,
        start_at,
        scan_interval: daemon.fetch_interval,
        timing_log: daemon.log.timing,
        load_timeout: daemon.load_timeout,
        degraded_lag: daemon.lag_alert,
        imported_from: None,
        pages: Some(sgevents_store::page::pages_dir(&daemon.state_db)),
    }
}

/// Opens the cursor store. On the very first start it imports upstream's `eventIdFile` (left
/// untouched); a corrupt file stops the daemon rather than silently skipping ahead. A store
/// that exists but is empty (zero bytes, or emptied after cursors were saved) stops it too,
/// unless `start_at_given` (`--start-at`) says where every plugin starts.
///
/// # Errors
/// [`SetupError::Store`] or [`SetupError::Legacy`], each naming the file and the fix.
pub fn open_state(settings: &Settings, start_at_given: bool) -> Result<State, SetupError> {
    let path = &settings.daemon.state_db;
    let mut store = if start_at_given {
        Store::open_even_empty(path)?
    } else {
        Store::open(path)?
    };
    let mut saved = store.load()?;
    if saved.is_empty() && store.started() && !start_at_given {
        return Err(StoreError::NoCursors { path: path.clone() }.into());
    }
    let first_start =
        saved.is_empty() && !store.started() && store.get_meta("imported_from")?.is_none();
    let mut imported_from = None;
    if let Some(path) = settings
        .daemon
        .event_id_file
        .as_ref()
        .filter(|path| first_start && path.exists())
    {
        saved = import_legacy(&mut store, path)?;
        imported_from = Some(path.clone());
    }
    let single_id = store
        .get_meta("legacy_single_id")?
        .and_then(|id| id.parse::<i64>().ok());
    let start_at = single_id
        .filter(|_| saved.is_empty())
        .map(|id| StartAt::Id(id + 1));
    Ok(State {
        store,
        saved,
        start_at,
        imported_from,
    })
}

/// Imports upstream's state file into the store and records that it did.
fn import_legacy(
    store: &mut Store,
    path: &Path,
) -> Result<BTreeMap<PluginKey, Cursor>, SetupError> {
    let mut saved = BTreeMap::new();
    match legacy::read(path)? {
        LegacyState::SingleId(id) => {
            tracing::info!(
                logger = "engine",
                "Imported last event id {id} from {}",
                path.display()
            );
            store.set_meta("legacy_single_id", &id.to_string())?;
        }
        LegacyState::Collections(collections) => {
            let (updates, unknown): (Vec<(PluginKey, Cursor)>, Vec<_>) = collections
                .into_iter()
                .flat_map(|(collection, plugins)| {
                    plugins.into_iter().map(move |(plugin, cursor)| {
                        (PluginKey::new(collection.clone(), plugin), cursor)
                    })
                })
                .partition(|(_, cursor)| cursor.last_id.is_some());
            // Upstream's `None` / `(None, {})`: no position. Such a plugin starts where
            // upstream would start it (the loop's rules), never at event 1.
            for (key, _) in &unknown {
                tracing::info!(
                    logger = "engine",
                    "{} has no position for plugin {key}; it starts as upstream would start it",
                    path.display()
                );
            }
            for (key, cursor) in &updates {
                tracing::info!(
                    logger = "engine",
                    "Imported plugin {key} at event {} from {}",
                    cursor.last_id.unwrap_or_default(),
                    path.display()
                );
            }
            tracing::info!(
                logger = "engine",
                "Imported {} plugin cursors from {}",
                updates.len(),
                path.display()
            );
            store.save(&updates)?;
            saved = updates.into_iter().collect();
        }
    }
    store.set_meta("imported_from", &path.display().to_string())?;
    Ok(saved)
}

/// The engine's site client.
///
/// # Errors
/// [`SetupError::Client`] for a bad URL or proxy.
pub fn client(settings: &Settings) -> Result<Client, SetupError> {
    let site = &settings.site;
    let mut config = ClientConfig::new(&site.server, &site.script_name, site.script_key.expose());
    config.proxy.clone_from(&site.proxy_server);
    config.timeout = site.timeout;
    Client::new(config).map_err(|source| SetupError::Client {
        config: settings.source.clone(),
        source,
    })
}

/// Resolves the ApiUser ids of `script_names`, for `skip_own_events`.
///
/// # Errors
/// The client's error when the site cannot be asked.
pub async fn api_user_ids(
    client: &Client,
    script_names: &[String],
) -> Result<BTreeSet<i64>, ClientError> {
    let payload = json!({
        "type": "ApiUser",
        "return_fields": ["id"],
        "filters": {"logical_operator": "and", "conditions": [
            {"path": "firstname", "relation": "in", "values": script_names}
        ]},
        "return_only": "active",
        "paging": {"entities_per_page": 500, "current_page": 1},
    });
    let result = client.call("read", Some(payload)).await?;
    Ok(result
        .get("entities")
        .and_then(|entities| entities.as_array())
        .map(|entities| {
            entities
                .iter()
                .filter_map(|entity| entity.get("id")?.as_i64())
                .collect()
        })
        .unwrap_or_default())
}

/// Starts, in the background, the fork server of each interpreter the plugin folders use
/// (the same ones [`plugin_dirs`] will fork from), so that plugin processes come quickly once
/// the daemon knows where plugins start. Needs a tokio runtime.
pub fn warm_up_plugin_processes(
    settings: &Settings,
    default_python: &Path,
    extra_env: &[(String, String)],
) {
    for host in interpreter_hosts(settings, default_python, extra_env) {
        sgevents_plugin_host::warm_up(&host);
    }
}

/// One host configuration per interpreter (and environment) the plugin folders use, in
/// the order of the interpreters' paths: what [`warm_up_plugin_processes`] starts and the
/// daemon checks once at start-up (`sgevents_plugin_host::check_plugin_interpreter`).
pub fn interpreter_hosts(
    settings: &Settings,
    default_python: &Path,
    extra_env: &[(String, String)],
) -> Vec<HostConfig> {
    let mut pythons: Vec<PathBuf> = settings
        .plugins
        .iter()
        .map(|dir| {
            dir.python
                .clone()
                .unwrap_or_else(|| default_python.to_owned())
        })
        .collect();
    pythons.sort();
    pythons.dedup();
    pythons
        .into_iter()
        .map(|python| interpreter_host(settings, python, extra_env))
        .collect()
}

/// The host configuration whose fork server [`warm_up_plugin_processes`] starts for
/// `python`: the one its plugins fork from.
pub fn interpreter_host(
    settings: &Settings,
    python: PathBuf,
    extra_env: &[(String, String)],
) -> HostConfig {
    let mut host = HostConfig::new(python, settings.site.server.clone());
    host.extra_env = extra_env.to_vec();
    host
}

/// The plugin folders, each with a Python host configured from the settings.
/// `default_python` is used where a folder sets no `python`; `extra_env` is added to every
/// plugin process's environment.
pub fn plugin_dirs(
    settings: &Settings,
    default_python: &Path,
    own_users: &BTreeSet<i64>,
    extra_env: &[(String, String)],
    recipients: &PluginRecipients,
) -> Vec<PluginDir> {
    settings
        .plugins
        .iter()
        .map(|dir| {
            let mut host = HostConfig::new(
                dir.python
                    .clone()
                    .unwrap_or_else(|| default_python.to_owned()),
                settings.site.server.clone(),
            );
            host.proxy.clone_from(&settings.site.proxy_server);
            host.use_session_uuid = settings.site.use_session_uuid;
            host.callback_timeout = dir.callback_timeout;
            host.log_level = settings.daemon.log.level;
            host.extra_env = extra_env.to_vec();
            host.run_ahead = dir.run_ahead;
            host.process = dir.process;
            let filters = PluginFilters {
                settings: dir.filters.clone(),
                own_users: own_users.clone(),
            };
            PluginDir {
                collection: dir.path.display().to_string(),
                path: dir.path.clone(),
                loader: Arc::new(PythonLoader::new(PluginHost::new(host), recipients.clone())),
                filters,
            }
        })
        .collect()
}

/// Loads `*.py` plugin files into Python processes, and records each plugin's `setEmails`
/// choice for the alerts.
pub struct PythonLoader {
    host: PluginHost,
    recipients: PluginRecipients,
}

impl PythonLoader {
    /// A loader over `host` that records email choices in `recipients`.
    pub fn new(host: PluginHost, recipients: PluginRecipients) -> PythonLoader {
        PythonLoader { host, recipients }
    }
}

impl PluginLoader for PythonLoader {
    fn load<'a>(&'a self, path: &'a Path) -> BoxFuture<'a, Result<Box<dyn Plugin>, LoadError>> {
        Box::pin(async move {
            let plugin = self.host.load(path).await?;
            let recipients = match plugin.emails() {
                Emails::Default => Recipients::Default,
                Emails::Disabled => Recipients::Nobody,
                Emails::To(addresses) => Recipients::List(addresses.clone()),
            };
            self.recipients.set(plugin.name(), recipients);
            Ok(Box::new(plugin) as Box<dyn Plugin>)
        })
    }
}

/// The alert settings from the `[emails]` section.
pub fn email_config(emails: &sgevents_config::EmailSettings) -> EmailConfig {
    EmailConfig {
        server: emails.server.clone(),
        port: emails.port,
        from: emails.from.clone(),
        to: emails.to.clone(),
        subject: emails.subject.clone(),
        use_tls: emails.use_tls,
        username: emails.username.clone(),
        password: emails.password.clone(),
        digest_window: emails.digest_window,
        max_per_window: emails.max_per_window,
        ..EmailConfig::default()
    }
}
