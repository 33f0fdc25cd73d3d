//! `sgevents status`: each plugin's state, live from the daemon's HTTP endpoint, or from the
//! state store when the daemon is down.

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use jiff::Timestamp;
use sgevents_daemon::status::client::{self, StatusClientError};
use sgevents_daemon::status::text::{render_plugins, render_table};
use sgevents_daemon::status::{PluginState, PluginStatus};
use sgevents_store::Store;

/// Arguments of `sgevents status`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The daemon's status endpoint (its `--http` address); default: the config's `http`.
    /// Without either, the state store is read.
    #[arg(long, value_name = "URL")]
    pub(crate) url: Option<String>,
    /// The state database, read when the daemon does not answer; default: the config's `state_db`.
    #[arg(long, value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,
    /// The daemon's config file (default: upstream's search order), for `http` and `state_db`.
    #[arg(long, env = "SGEVENTS_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// How long to wait for the daemon, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3.0)]
    pub(crate) timeout: f64,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let text = runtime.block_on(report(&args))?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// What `sgevents status` prints for `args`.
///
/// The daemon is asked only at `--url` or the config's `http` address: never at a default
/// port, which may belong to another daemon. Without an endpoint, or when the endpoint does
/// not answer or is not sgevents, the state store is read instead, and the output says why.
pub(crate) async fn report(args: &Args) -> anyhow::Result<String> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!(
            "--timeout must be a positive number of seconds, not {}",
            args.timeout
        );
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    // The config fills in what the flags leave out.
    let settings = if args.url.is_none() || args.db.is_none() {
        config_settings(args.config.as_deref())?
    } else {
        None
    };
    let url = args.url.clone().or_else(|| {
        let addr = settings.as_ref()?.daemon.http?;
        Some(format!("http://{addr}"))
    });
    let db = args.db.clone().or_else(|| {
        settings
            .as_ref()
            .map(|settings| settings.daemon.state_db.clone())
    });
    let why = match &url {
        None => match &settings {
            Some(settings) => format!(
                "no status endpoint is configured (no `http` setting in {}), so no running daemon was asked",
                settings.source.display()
            ),
            None => "no status endpoint to ask (give --url, or --config for its `http` setting)"
                .to_owned(),
        },
        Some(url) => match client::fetch(url, timeout).await {
            Ok(snapshot) => {
                return Ok(if args.json {
                    format!("{}\n", serde_json::to_string_pretty(&snapshot)?)
                } else {
                    render_table(&snapshot)
                });
            }
            Err(err @ StatusClientError::BadUrl { .. }) => return Err(err.into()),
            Err(err) if err.is_unreachable() => {
                format!("daemon not reachable ({})", crate::error_text(&err.into()))
            }
            Err(err) => format!(
                "{url} is not an sgevents status endpoint ({})",
                crate::error_text(&err.into())
            ),
        },
    };
    let Some(db) = &db else {
        bail!("{why}; give --db PATH to read the state store");
    };
    let plugins = from_store(db)?;
    if args.json {
        let value = serde_json::json!({
            "source": "store",
            "db": db.display().to_string(),
            "daemon_error": why,
            "plugins": plugins,
        });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&value)?));
    }
    Ok(format!(
        "{why};\nshowing the cursors saved in {}\n\n{}",
        db.display(),
        render_plugins(&plugins, Timestamp::now())
    ))
}

/// The settings of `--config`, or of the file upstream's search finds. A named file that
/// cannot be used is an error; finding none is not.
fn config_settings(explicit: Option<&Path>) -> anyhow::Result<Option<sgevents_config::Settings>> {
    let path = match sgevents_config::find_config(explicit) {
        Ok(path) => path,
        Err(sgevents_config::ConfigError::NotFound { .. }) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let settings = sgevents_config::load_without_secrets(&path)
        .with_context(|| format!("reading {} for its `http` and `state_db`", path.display()))?;
    Ok(Some(settings))
}

/// The plugins as the state store knows them: cursor and backlog, nothing live.
fn from_store(db: &Path) -> anyhow::Result<Vec<PluginStatus>> {
    if !db.exists() {
        bail!(
            "no state database at {}; check --db (the daemon creates it on first start)",
            db.display()
        );
    }
    let store = Store::open(db)?;
    let cursors = store
        .load()
        .with_context(|| format!("cannot read the cursors in {}", db.display()))?;
    Ok(cursors
        .into_iter()
        .map(|(key, cursor)| {
            let mut plugin = PluginStatus::new(key.plugin, key.collection);
            plugin.state = PluginState::Inactive;
            plugin.cursor = cursor.last_id;
            plugin.backlog = cursor.backlog.len() as u64;
            plugin
        })
        .collect())
}
