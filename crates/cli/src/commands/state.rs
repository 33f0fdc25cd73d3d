//! `sgevents state show|set`: inspect and change the persisted plugin cursors.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use sgevents_store::{Cursor, PluginKey, Store, page};

/// Subcommands of `sgevents state`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Show each plugin's last processed event id and its backlog of awaited ids.
    Show {
        #[command(flatten)]
        db: DbArg,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Set a plugin's last processed event id; it resumes at ID+1 and its backlog is cleared.
    /// Stop the daemon first: a running daemon overwrites the cursor after its next event.
    Set {
        #[command(flatten)]
        db: DbArg,
        /// The plugin: its name when only one collection has it, else `COLLECTION/NAME`.
        plugin: String,
        /// The event id to treat as the last one processed.
        id: i64,
    },
}

/// Where the state database is.
#[derive(Debug, clap::Args)]
pub(crate) struct DbArg {
    /// The state database file.
    #[arg(long, value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,
    /// The daemon's config file, to find its `state_db` (default: upstream's search order).
    #[arg(long, env = "SGEVENTS_CONFIG", conflicts_with = "db")]
    pub(crate) config: Option<PathBuf>,
}

impl DbArg {
    /// `--db`, else the `state_db` of the config (given or found).
    pub(crate) fn resolve(&self) -> anyhow::Result<PathBuf> {
        if let Some(db) = &self.db {
            return Ok(db.clone());
        }
        let config = sgevents_config::find_config(self.config.as_deref())
            .context("give the state database with --db PATH, or the config with --config PATH")?;
        Ok(sgevents_config::load_without_secrets(&config)?
            .daemon
            .state_db)
    }
}

impl Command {
    fn db(&self) -> &DbArg {
        match self {
            Command::Show { db, .. } | Command::Set { db, .. } => db,
        }
    }
}

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    if command.db().db.is_none()
        && let Ok(config) = sgevents_config::find_config(command.db().config.as_deref())
        && let Ok(settings) = sgevents_config::load_without_secrets(&config)
        && let Some(cluster) = &settings.cluster
    {
        return cluster_state(command, &settings, cluster);
    }
    let db_path = command.db().resolve()?;
    run_with_db(command, &db_path)
}

/// Runs `command` against the database at `db_path` (however the caller found it).
pub(crate) fn run_with_db(command: Command, db_path: &Path) -> anyhow::Result<ExitCode> {
    match command {
        Command::Show { json, .. } => {
            let store = open_existing(db_path)?;
            let cursors = store.load()?;
            let imported_from = store.get_meta("imported_from")?;
            let pages = pages_beyond(db_path, &cursors);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&show_json(&cursors, &pages))?
                );
            } else {
                print!("{}", show_table(&cursors));
                for (key, count) in &pages {
                    println!(
                        "({key}: {count} event(s) after its cursor are finished, on its progress page; the daemon counts them as done when it starts)"
                    );
                }
                if let Some(from) = imported_from {
                    println!("(imported from upstream state file {from})");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Set { plugin, id, .. } => {
            let message = set_cursor(db_path, &plugin, id)?;
            println!("{message}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Sets one cursor and says what changed.
fn set_cursor(db_path: &Path, spec: &str, id: i64) -> anyhow::Result<String> {
    if id < 0 {
        bail!("the event id must be 0 or more, not {id}");
    }
    let mut store = if db_path.exists() || spec.contains('/') {
        Store::open(db_path)?
    } else {
        open_existing(db_path)?
    };
    let keys = store.keys()?;
    let key = resolve(&keys, spec)?;
    // Read only this plugin's old value, so a damaged record elsewhere does not block a repair.
    let old = store
        .load()
        .ok()
        .and_then(|cursors| cursors.get(&key).cloned());
    // The page first: a page left behind would count its ids as finished after the new
    // cursor, skipping events the operator asked for again.
    let page = page::page_file(&page::pages_dir(db_path), &key);
    let on_page = page::read(&page).map(|read| read.ids.len()).unwrap_or(0);
    // Blanked, not shortened: should the daemon run after all, its plugin process keeps
    // the page mapped, and a shortened file would kill it.
    page::blank(&page).with_context(|| {
        format!(
            "cannot empty the progress page {} of {key}; remove the file, then try again",
            page.display()
        )
    })?;
    store
        .save(&[(key.clone(), Cursor::at(id))])
        .with_context(|| format!("cannot set the cursor of {key}"))?;
    let before = match &old {
        Some(cursor) => format!(
            "was {} with {} backlog id(s)",
            fmt_last_id(cursor.last_id),
            cursor.backlog.len()
        ),
        None if keys.contains(&key) => "its old record was unreadable".to_owned(),
        None => "new entry".to_owned(),
    };
    let page_note = if on_page > 0 {
        format!("; its progress page of {on_page} finished id(s) was emptied")
    } else {
        String::new()
    };
    Ok(format!(
        "{key}: last processed event set to {id}, backlog cleared ({before}){page_note}; it resumes at event {}",
        id + 1
    ))
}

/// Finds the plugin named by `spec`: `NAME` if unambiguous, or `COLLECTION/NAME` (split at the
/// last `/`, since collections are paths). An unknown `COLLECTION/NAME` is a new entry.
fn resolve(keys: &[PluginKey], spec: &str) -> anyhow::Result<PluginKey> {
    if let Some((collection, name)) = spec.rsplit_once('/') {
        if name.is_empty() || collection.is_empty() {
            bail!("`{spec}` is not NAME or COLLECTION/NAME");
        }
        return Ok(PluginKey::new(collection, name));
    }
    let matches: Vec<&PluginKey> = keys.iter().filter(|key| key.plugin == spec).collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            let known: Vec<String> = keys.iter().map(ToString::to_string).collect();
            if known.is_empty() {
                bail!(
                    "no plugin named `{spec}`: the database has no cursors yet; give COLLECTION/{spec}"
                );
            }
            bail!(
                "no plugin named `{spec}`; known plugins: {}; give COLLECTION/{spec} to add one",
                known.join(", ")
            )
        }
        many => {
            let names: Vec<String> = many.iter().map(ToString::to_string).collect();
            bail!(
                "`{spec}` is in several collections; give one of: {}",
                names.join(", ")
            )
        }
    }
}

fn open_existing(db_path: &Path) -> anyhow::Result<Store> {
    if !db_path.exists() {
        bail!(
            "no state database at {}; check --db (the daemon creates it on first start)",
            db_path.display()
        );
    }
    Ok(Store::open(db_path)?)
}

fn show_table(cursors: &BTreeMap<PluginKey, Cursor>) -> String {
    if cursors.is_empty() {
        return "no plugin cursors stored yet\n".to_owned();
    }
    let header = [
        "COLLECTION",
        "PLUGIN",
        "LAST ID",
        "BACKLOG",
        "OLDEST DEADLINE",
    ]
    .map(String::from);
    let mut rows = vec![header];
    for (key, cursor) in cursors {
        rows.push([
            key.collection.clone(),
            key.plugin.clone(),
            fmt_last_id(cursor.last_id),
            cursor.backlog.len().to_string(),
            cursor
                .oldest_deadline()
                .map_or_else(|| "-".to_owned(), |t| t.to_string()),
        ]);
    }
    let mut widths = [0_usize; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (idx, (cell, width)) in row.iter().zip(widths).enumerate() {
            if idx > 0 {
                line.push_str("  ");
            }
            // Numbers right-aligned, text left-aligned.
            if matches!(idx, 2 | 3) {
                let _ = write!(line, "{cell:>width$}");
            } else {
                let _ = write!(line, "{cell:<width$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// For each plugin whose progress page lists events its cursor does not cover yet, how many.
fn pages_beyond(
    db_path: &Path,
    cursors: &BTreeMap<PluginKey, Cursor>,
) -> BTreeMap<PluginKey, usize> {
    let dir = page::pages_dir(db_path);
    cursors
        .iter()
        .filter_map(|(key, cursor)| {
            let read = page::read(&page::page_file(&dir, key)).ok()?;
            let count = read
                .ids
                .iter()
                .filter(|id| {
                    cursor.last_id.is_none_or(|last| **id > last) || cursor.backlog.contains_key(id)
                })
                .count();
            (count > 0).then(|| (key.clone(), count))
        })
        .collect()
}

fn show_json(
    cursors: &BTreeMap<PluginKey, Cursor>,
    pages: &BTreeMap<PluginKey, usize>,
) -> serde_json::Value {
    cursors
        .iter()
        .map(|(key, cursor)| {
            serde_json::json!({
                "collection": key.collection,
                "plugin": key.plugin,
                "last_id": cursor.last_id,
                "finished_on_page": pages.get(key).copied().unwrap_or(0),
                "backlog_size": cursor.backlog.len(),
                "oldest_deadline": cursor.oldest_deadline().map(|t| t.to_string()),
                "backlog": cursor.backlog.iter()
                    .map(|(id, deadline)| serde_json::json!({"id": id, "deadline": deadline.to_string()}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect()
}

fn fmt_last_id(last_id: Option<i64>) -> String {
    last_id.map_or_else(|| "none".to_owned(), |id| id.to_string())
}

/// `state show|set` against the cluster's shared state (a config with `[cluster]`).
fn cluster_state(
    command: Command,
    settings: &sgevents_config::Settings,
    cluster: &sgevents_config::ClusterConfig,
) -> anyhow::Result<ExitCode> {
    use sgevents_daemon::cluster;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let keys = cluster::plugin_keys(settings);
    runtime.block_on(async {
        let admin = cluster_admin(cluster).await?;
        match command {
            Command::Show { json, .. } => {
                let standing = admin.show(&keys).await?;
                let poller = standing.poller.as_ref().and_then(|cursor| cursor.last_id);
                if json {
                    let plugins: Vec<serde_json::Value> = standing
                        .plugins
                        .iter()
                        .map(|(key, plugin)| {
                            serde_json::json!({
                                "collection": key.collection, "plugin": key.plugin,
                                "last_id": plugin.last_id, "node": plugin.node,
                                "stopped_at": plugin.stopped_at, "paused": plugin.paused,
                            })
                        })
                        .collect();
                    let value = serde_json::json!({
                        "cluster": {"leader": standing.leader, "poller_last_id": poller},
                        "plugins": plugins,
                    });
                    println!("{}", serde_json::to_string_pretty(&value)?);
                } else {
                    println!(
                        "cluster {}: leader {}, poller after event {}",
                        cluster.name,
                        standing.leader.as_deref().unwrap_or("(none)"),
                        fmt_last_id(poller)
                    );
                    for (key, plugin) in &standing.plugins {
                        let stopped = plugin
                            .stopped_at
                            .map(|id| format!(" (stopped at {id})"))
                            .unwrap_or_default();
                        let paused = if plugin.paused { " (paused)" } else { "" };
                        println!(
                            "{key}  last {}  on {}{stopped}{paused}",
                            fmt_last_id(plugin.last_id),
                            plugin.node.as_deref().unwrap_or("-")
                        );
                    }
                }
            }
            Command::Set { plugin, id, .. } => {
                if id < 0 {
                    bail!("the event id must be 0 or more, not {id}");
                }
                let key = resolve(&keys, &plugin)?;
                let old = admin.set(&key, id).await?;
                println!(
                    "{key}: last event {} -> {id} in cluster {}",
                    fmt_last_id(old),
                    cluster.name
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Connects to the cluster for an operator command, giving up after 10 s without NATS.
pub(crate) async fn cluster_admin(
    cluster: &sgevents_config::ClusterConfig,
) -> anyhow::Result<sgevents_daemon::cluster::admin::Admin> {
    use sgevents_daemon::cluster;
    let connect = cluster::admin::Admin::connect(cluster::settings(cluster));
    Ok(
        tokio::time::timeout(std::time::Duration::from_secs(10), connect)
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "no NATS server answered at {} within 10 s",
                    cluster.nats_urls.join(",")
                )
            })??,
    )
}
