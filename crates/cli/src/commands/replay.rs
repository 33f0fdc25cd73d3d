//! `sgevents replay`: runs one plugin's callbacks over a range of the site's events in a fresh
//! plugin process, with the plugin's own filters; never touches its cursor.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use sgevents_daemon::PluginDir;
use sgevents_daemon::alerts::PluginRecipients;
use sgevents_daemon::setup;
use sgevents_plugin_api::{Plugin, matching_callbacks};

use super::events::{Range, each_event, load_settings};

/// Arguments of `sgevents replay`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The daemon's config file (default: upstream's search order): the site, the plugin
    /// folders and their settings.
    #[arg(long, env = "SGEVENTS_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// The plugin: its name (file name without `.py`), or `FOLDER/NAME` when several folders
    /// have it.
    pub(crate) plugin: String,
    #[command(flatten)]
    pub(crate) range: Range,
    /// Only list which events and callbacks would run.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// The Python interpreter for plugin folders that set none.
    #[arg(long, env = "SGEVENTS_PYTHON", default_value = "python3")]
    pub(crate) python: PathBuf,
}

/// What a replay did, for the summary line.
#[derive(Debug, Default)]
struct Tally {
    seen: u64,
    ran: u64,
    failed: u64,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = load_settings(args.config.as_ref())?;
    // The plugin's own log lines (its `logger`) go to stderr; the report goes to stdout.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    let runtime = super::run::runtime()?;
    runtime.block_on(async {
        let client = setup::client(&settings)?;
        let own_users = if settings
            .plugins
            .iter()
            .any(|dir| dir.filters.skip_own_events)
        {
            setup::api_user_ids(&client, std::slice::from_ref(&settings.site.script_name))
                .await
                .context("looking up the daemon's ApiUser for skip_own_events")?
        } else {
            BTreeSet::new()
        };
        let dirs = setup::plugin_dirs(
            &settings,
            &args.python,
            &own_users,
            &[],
            &PluginRecipients::new(),
        );
        let (dir, file) = find_plugin(&dirs, &args.plugin)?;
        let mut plugin = dir
            .loader
            .load(&file)
            .await
            .map_err(|err| anyhow::anyhow!("{}: {err}", file.display()))?;
        let result = replay(&client, dir, plugin.as_mut(), &args).await;
        plugin.shutdown().await;
        let tally = result?;
        let verb = if args.dry_run { "would run" } else { "ran" };
        println!(
            "{} event(s) in range, {verb} on {}, {} failed; the cursor of {} was not moved",
            tally.seen, tally.ran, tally.failed, args.plugin
        );
        Ok(if tally.failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}

async fn replay(
    client: &sgevents_api::Client,
    dir: &PluginDir,
    plugin: &mut dyn Plugin,
    args: &Args,
) -> anyhow::Result<Tally> {
    // Read the range first: callbacks run one at a time, and a slow one must not hold a read.
    let mut events = Vec::new();
    each_event(client, args.range, |event| {
        events.push(Arc::new(event.clone()));
        Ok(())
    })
    .await?;
    let mut tally = Tally::default();
    for event in events {
        tally.seen += 1;
        if !dir.filters.accepts(&event) {
            continue;
        }
        let callbacks = matching_callbacks(plugin.callbacks(), &event);
        if callbacks.is_empty() {
            continue;
        }
        let names: Vec<&str> = callbacks
            .iter()
            .map(|idx| plugin.callbacks()[*idx].name.as_str())
            .collect();
        let head = format!("{} {} [{}]", event.id, event.event_type, names.join(", "));
        tally.ran += 1;
        if args.dry_run {
            println!("{head} would run");
            continue;
        }
        let outcome = plugin.handle(&event, &callbacks).await;
        if outcome.failures.is_empty() {
            println!("{head} ok");
        } else {
            tally.failed += 1;
            let errors: Vec<String> = outcome
                .failures
                .iter()
                .map(|failure| {
                    let stop = if failure.stop {
                        " (stopOnError: the daemon stops the plugin here)"
                    } else {
                        ""
                    };
                    format!("{} failed: {}{stop}", failure.callback, failure.message)
                })
                .collect();
            println!("{head} FAILED {}", errors.join("; "));
        }
    }
    Ok(tally)
}

/// The folder and file of the plugin named `spec` (`NAME` or `FOLDER/NAME`).
fn find_plugin<'a>(dirs: &'a [PluginDir], spec: &str) -> anyhow::Result<(&'a PluginDir, PathBuf)> {
    let (folder, name) = match spec.rsplit_once('/') {
        Some((folder, name)) => (Some(folder), name),
        None => (None, spec),
    };
    let file_name = format!("{name}.py");
    let found: Vec<(&PluginDir, PathBuf)> = dirs
        .iter()
        .filter(|dir| folder.is_none_or(|folder| dir.collection == folder))
        .map(|dir| (dir, dir.path.join(&file_name)))
        .filter(|(_, file)| file.is_file())
        .collect();
    if found.len() > 1 {
        let names: Vec<String> = found
            .iter()
            .map(|(dir, _)| format!("{}/{name}", dir.collection))
            .collect();
        bail!(
            "`{name}` is in several plugin folders; give one of: {}",
            names.join(", ")
        );
    }
    match found.into_iter().next() {
        Some(one) => Ok(one),
        None => {
            let folders: Vec<&str> = dirs.iter().map(|dir| dir.collection.as_str()).collect();
            bail!(
                "no plugin file {file_name} in the plugin folders of the config ({})",
                folders.join(", ")
            )
        }
    }
}
