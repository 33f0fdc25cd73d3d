//! `sgevents plugin resume|skip|pause|unpause`: asks the running daemon over its control
//! socket; with no daemon running, changes the state store directly where that applies.

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use sgevents_daemon::control::Action;
use sgevents_daemon::control_socket::{self, WireReply, WireRequest};
use sgevents_store::{Cursor, PluginKey, Store};

/// Subcommands of `sgevents plugin`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Run a plugin stopped by a stopOnError failure again, retrying the failed event.
    Resume(Args),
    /// Move a plugin stopped by a stopOnError failure past the failed event, and run it again.
    Skip(Args),
    /// Stop handing events to a plugin (its cursor stays) until `unpause`.
    Pause(Args),
    /// Hand events to a paused plugin again, from its cursor.
    Unpause(Args),
}

/// What every `sgevents plugin` action takes.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The plugin: its name, or `FOLDER/NAME` when several plugin folders have it.
    pub(crate) plugin: String,
    /// The daemon's config file (default: upstream's search order), for `control_socket`
    /// and `state_db`.
    #[arg(long, env = "SGEVENTS_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// The control socket (default: the config's `control_socket`).
    #[arg(long, value_name = "PATH")]
    pub(crate) socket: Option<PathBuf>,
    /// The state database, changed when no daemon runs (default: the config's `state_db`).
    #[arg(long, value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,
    /// With no daemon running, `skip` needs the failed event's id (from the plugin's log line
    /// "Plugin stopped at event N ..."); the running daemon knows it.
    #[arg(long, value_name = "ID")]
    pub(crate) event: Option<i64>,
}

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    let (action, args) = match command {
        Command::Resume(args) => (Action::Resume, args),
        Command::Skip(args) => (Action::Skip, args),
        Command::Pause(args) => (Action::Pause, args),
        Command::Unpause(args) => (Action::Unpause, args),
    };
    if args.socket.is_none()
        && args.db.is_none()
        && let Ok(path) = sgevents_config::find_config(args.config.as_deref())
        && let Ok(settings) = sgevents_config::load_without_secrets(&path)
        && let Some(cluster) = &settings.cluster
    {
        return cluster_action(action, &args, &settings, cluster);
    }
    let (socket, db) = locate(&args)?;
    let (collection, name) = split_spec(&args.plugin)?;
    let request = WireRequest {
        plugin: name.to_owned(),
        collection: collection.map(str::to_owned),
        action,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match runtime.block_on(control_socket::request(&socket, &request)) {
        Ok(WireReply::Done(done)) => {
            println!("{done}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(WireReply::Refused(refusal)) => {
            eprintln!("sgevents: the daemon refused: {refusal}");
            Ok(ExitCode::FAILURE)
        }
        Ok(WireReply::Error(error)) => {
            eprintln!("sgevents: the daemon answered: {error}");
            Ok(ExitCode::FAILURE)
        }
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            let Some(db) = db else {
                bail!(
                    "no daemon answers on {} and no state database is known: give --db PATH or --config PATH",
                    socket.display()
                );
            };
            let message = offline(&db, collection, name, action, args.event)?;
            println!(
                "No daemon answers on {}; changed the state store {} directly.\n{message}",
                socket.display(),
                db.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => Err(anyhow::Error::new(err)
            .context(format!("talking to the daemon on {}", socket.display()))),
    }
}

/// The control socket and the state database, from the flags or the config.
fn locate(args: &Args) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    let settings = if args.socket.is_none() || args.db.is_none() {
        let path = sgevents_config::find_config(args.config.as_deref());
        match (path, &args.socket) {
            (Ok(path), _) => Some(sgevents_config::load(&path)?),
            (Err(err), None) => {
                return Err(anyhow::Error::new(err).context(
                    "give the control socket with --socket PATH, or the config with --config PATH",
                ));
            }
            (Err(_), Some(_)) => None,
        }
    } else {
        None
    };
    let socket = match (&args.socket, &settings) {
        (Some(socket), _) => socket.clone(),
        (None, Some(settings)) => settings.daemon.control_socket.clone(),
        (None, None) => bail!("give the control socket with --socket PATH"),
    };
    let db = args
        .db
        .clone()
        .or_else(|| settings.map(|settings| settings.daemon.state_db));
    Ok((socket, db))
}

/// `NAME` or `FOLDER/NAME` (split at the last `/`, since folders are paths).
fn split_spec(spec: &str) -> anyhow::Result<(Option<&str>, &str)> {
    match spec.rsplit_once('/') {
        Some((folder, name)) if !folder.is_empty() && !name.is_empty() => Ok((Some(folder), name)),
        Some(_) => bail!("`{spec}` is not NAME or FOLDER/NAME"),
        None if spec.is_empty() => bail!("the plugin name is empty"),
        None => Ok((None, spec)),
    }
}

/// Does, in the store at `db`, the part of `action` that is persisted, and says what it did.
///
/// The store keeps cursors only: a plugin's stopped (stopOnError) or paused state lives in the
/// running daemon. A stopped plugin starts again at its cursor, retrying the failed event, when
/// the daemon next starts; so offline `resume` has nothing to change, `skip` moves the cursor
/// past the given event, and `pause`/`unpause` cannot be done.
pub(crate) fn offline(
    db: &Path,
    collection: Option<&str>,
    name: &str,
    action: Action,
    event: Option<i64>,
) -> anyhow::Result<String> {
    if !db.exists() {
        bail!(
            "no state database at {}; check --db (the daemon creates it on first start)",
            db.display()
        );
    }
    let mut store = Store::open(db)?;
    let cursors = store
        .load()
        .with_context(|| format!("reading the cursors in {}", db.display()))?;
    let keys: Vec<&PluginKey> = cursors
        .keys()
        .filter(|key| key.plugin == name && collection.is_none_or(|c| key.collection == c))
        .collect();
    let key = match keys.as_slice() {
        [one] => (*one).clone(),
        [] => bail!(
            "no plugin named `{name}` in {}; `sgevents state show` lists them",
            db.display()
        ),
        many => {
            let names: Vec<String> = many.iter().map(ToString::to_string).collect();
            bail!(
                "`{name}` is in several folders; give one of: {}",
                names.join(", ")
            )
        }
    };
    let cursor = cursors.get(&key).cloned().unwrap_or_default();
    let next = cursor.last_id.map_or_else(
        || "the site's latest event".to_owned(),
        |id| format!("event {}", id + 1),
    );
    let uid = nix::unistd::getuid();
    match action {
        Action::Resume => Ok(format!(
            "{key}: nothing to change. The store keeps no stopped state: the daemon runs the plugin again when it starts, from {next} (retrying a failed event)."
        )),
        Action::Pause | Action::Unpause => bail!(
            "no daemon answers, and pause/unpause is not kept in the state store: it lasts while the daemon runs. Start the daemon, then `sgevents plugin {} {}`.",
            action.verb(),
            key.plugin
        ),
        Action::Skip => {
            let Some(event) = event else {
                bail!(
                    "no daemon answers, so the failed event is not known: give --event ID, the id in the plugin's log line \"Plugin stopped at event ID ...\" ({key} resumes at {next})"
                );
            };
            let (updated, what) = skip_event(&cursor, event)
                .with_context(|| format!("cannot skip event {event} of {key}"))?;
            store
                .save(&[(key.clone(), updated.clone())])
                .with_context(|| format!("saving the cursor of {key}"))?;
            let message = format!(
                "{key}: skipped event {event} ({what}); it resumes at event {} when the daemon starts",
                updated.last_id.map_or(event, |id| id) + 1
            );
            // No daemon log is open here: the record goes to stderr, the answer to stdout.
            eprintln!("Operator (uid {uid}) offline skip: {message}");
            Ok(message)
        }
    }
}

/// The cursor after skipping `event`: an awaited id leaves the backlog; an id ahead of the
/// cursor becomes the last processed one.
pub(crate) fn skip_event(cursor: &Cursor, event: i64) -> anyhow::Result<(Cursor, String)> {
    let mut updated = cursor.clone();
    if updated.backlog.remove(&event).is_some() {
        return Ok((
            updated,
            "it was an awaited missing id; removed from the backlog".to_owned(),
        ));
    }
    match cursor.last_id {
        Some(last) if event <= last => {
            bail!("the plugin is already past it (last processed event {last}); nothing to skip")
        }
        Some(last) if event > last + 1 => {
            // Backlog ids below the skipped one stay awaited.
            updated.last_id = Some(event);
            Ok((
                updated,
                format!(
                    "events {}..{} are passed over too: a plugin stopped at an event had handled or not matched every event before it",
                    last + 1,
                    event - 1
                ),
            ))
        }
        _ => {
            updated.last_id = Some(event);
            Ok((updated, "the cursor was just before it".to_owned()))
        }
    }
}

/// An operator action in cluster mode: written into the plugin's shared record, which every
/// node reads, so it holds whichever node runs the plugin.
fn cluster_action(
    action: Action,
    args: &Args,
    settings: &sgevents_config::Settings,
    cluster: &sgevents_config::ClusterConfig,
) -> anyhow::Result<ExitCode> {
    use sgevents_daemon::cluster;
    let keys = cluster::plugin_keys(settings);
    let (collection, name) = split_spec(&args.plugin)?;
    let matching: Vec<&PluginKey> = keys
        .iter()
        .filter(|key| key.plugin == name && collection.is_none_or(|c| key.collection == c))
        .collect();
    let key = match matching.as_slice() {
        [one] => (*one).clone(),
        [] => bail!("no plugin `{}` in the configured folders", args.plugin),
        many => {
            let names: Vec<String> = many.iter().map(ToString::to_string).collect();
            bail!(
                "`{name}` is in several folders; give one of: {}",
                names.join(", ")
            )
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let answer = runtime.block_on(async {
        let admin = super::state::cluster_admin(cluster).await?;
        anyhow::Ok(admin.act(&key, action).await?)
    })?;
    match answer {
        Ok(done) => {
            println!("{done} (cluster {})", cluster.name);
            Ok(ExitCode::SUCCESS)
        }
        Err(refusal) => {
            eprintln!("sgevents: the cluster refused: {refusal}");
            Ok(ExitCode::FAILURE)
        }
    }
}
