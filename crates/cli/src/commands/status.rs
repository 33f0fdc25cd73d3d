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
    /// The daemon's status endpoint (its `--http` address); default: the config's `http`,
    /// else http://127.0.0.1:9090.
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
pub(crate) async fn report(args: &Args) -> anyhow::Result<String> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!(
            "--timeout must be a positive number of seconds, not {}",
            args.timeout
        );
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    // The config fills in what the flags leave out; without flags or a config, the defaults.
    let settings = if args.url.is_none() || args.db.is_none() {
        sgevents_config::find_config(args.config.as_deref())
            .ok()
            .and_then(|path| sgevents_config::load(&path).ok())
    } else {
        None
    };
    let url = args.url.clone().unwrap_or_else(|| {
        let http = settings.as_ref().and_then(|settings| settings.daemon.http);
        format!(
            "http://{}",
            http.map_or_else(|| "127.0.0.1:9090".to_owned(), |addr| addr.to_string())
        )
    });
    let db = args
        .db
        .clone()
        .or_else(|| settings.map(|settings| settings.daemon.state_db));
    let live_error = match client::fetch(&url, timeout).await {
        Ok(snapshot) => {
            return Ok(if args.json {
                format!("{}\n", serde_json::to_string_pretty(&snapshot)?)
            } else {
                render_table(&snapshot)
            });
        }
        Err(err @ StatusClientError::BadUrl { .. }) => return Err(err.into()),
        Err(err) => err,
    };
    let Some(db) = &db else {
        return Err(anyhow::Error::new(live_error).context(
            "the daemon did not answer; start it with --http, check --url, or give --db PATH to read the state store",
        ));
    };
    let live_error = format!("{:#}", anyhow::Error::new(live_error));
    let plugins = from_store(db)?;
    if args.json {
        let value = serde_json::json!({
            "source": "store",
            "db": db.display().to_string(),
            "daemon_error": live_error,
            "plugins": plugins,
        });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&value)?));
    }
    Ok(format!(
        "daemon not reachable ({live_error});\nshowing the cursors saved in {}\n\n{}",
        db.display(),
        render_plugins(&plugins, Timestamp::now())
    ))
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
