//! Cluster mode: the node's own loop. It says the node is alive, places every plugin on the
//! live nodes by rendezvous hashing and runs the ones it owns ([`plugin`]), while the
//! [`leader`] task polls the site whenever this node holds the lease. Entry point: [`run`].

pub mod admin;
mod leader;
mod plugin;
mod records;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sgevents_cluster::lease::Lease;
use sgevents_cluster::members::Members;
use sgevents_cluster::state::Shared;
use sgevents_cluster::stream::EventStream;
use sgevents_cluster::{Cluster, ClusterSettings, place};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cursor::CursorRules;
use crate::watch::PluginEntry;
use crate::{DaemonError, Deps, Options, PluginDir, PluginKey, discovery};
use plugin::{PluginTask, ViewReport};

/// A plugin file found in the configured folders.
struct Found {
    key: PluginKey,
    path: PathBuf,
    /// Its modification time, in nanoseconds since 1970.
    file: String,
    dir: usize,
}

/// A plugin this node runs.
struct Running {
    file: String,
    release: CancellationToken,
    task: JoinHandle<()>,
}

/// Runs this node in its cluster until `shutdown`: plugins it runs finish their event in
/// flight (within `shutdown_grace`), the lease is released and the node leaves the member list.
///
/// # Errors
/// [`DaemonError::Cluster`] when NATS cannot be reached or its stream and buckets cannot be
/// opened.
pub async fn run(
    options: Options,
    deps: Deps,
    settings: ClusterSettings,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let Deps {
        client,
        saved,
        plugin_dirs,
        watch,
        telemetry,
        status,
        control,
        ..
    } = deps;
    let mut control = control.0;
    let fail = |err: sgevents_cluster::ClusterError| DaemonError::Cluster(err.to_string());
    let node = settings.node.clone();
    let lease_time = settings.lease;
    // Three or more servers listed: a NATS cluster, so three copies of everything.
    let replicas = if settings.nats_urls.len() >= 3 { 3 } else { 1 };
    tracing::info!(
        logger = "engine",
        "Node {node} joining cluster {} at {}",
        settings.name,
        settings.nats_urls.join(",")
    );
    let cluster = Cluster::connect(settings).await.map_err(fail)?;
    // A NATS cluster that has just started elects its JetStream leader first: keep trying.
    let Some((stream, lease, members, shared)) = open_all(&cluster, replicas, &shutdown).await
    else {
        return Ok(());
    };
    let shared = Arc::new(shared);
    watch.update_site(|site| {
        site.url = client.endpoint().to_owned();
        site.degraded_lag = Some(options.degraded_lag);
    });
    let mut status_task = None;
    if let Some(endpoint) = status {
        let source = Arc::new(crate::status::WatchStatus::new(watch.clone()));
        status_task = Some(tokio::spawn(crate::status_server::serve_with(
            endpoint.listener,
            source,
            telemetry.clone(),
            endpoint.policy,
            endpoint.page,
            shutdown.clone(),
        )));
    }
    let options = Arc::new(options);
    let found = scan(&plugin_dirs);
    let (leader_tx, leader_rx) = tokio::sync::watch::channel(None);
    let leader = leader::Leader {
        node: node.clone(),
        lease,
        lease_time,
        shared: shared.clone(),
        stream: stream.clone(),
        client,
        options: options.clone(),
        saved,
        plugins: found.iter().map(|found| found.key.clone()).collect(),
        watch: watch.clone(),
        telemetry: telemetry.clone(),
        leader_tx,
    };
    let leader_task = tokio::spawn(leader.run(shutdown.clone()));
    let ack_wait = (lease_time * 2).max(Duration::from_secs(4));
    let mine = Members::key_of(&node);
    let (views_tx, mut views_rx) = mpsc::unbounded_channel::<ViewReport>();
    let mut views: BTreeMap<PluginKey, PluginEntry> = BTreeMap::new();
    let mut running: BTreeMap<PluginKey, Running> = BTreeMap::new();
    let mut leaving: Vec<(PluginKey, JoinHandle<()>)> = Vec::new();
    let mut tick = tokio::time::interval(Lease::renew_every(lease_time));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(report) = views_rx.recv() => {
                views.insert(report.key.clone(), PluginEntry { key: report.key, path: Some(report.path), view: report.view });
                watch.set_plugins(views.values().cloned().collect());
                continue;
            }
            Some(request) = control.recv() => {
                tokio::spawn(operator(shared.clone(), scan(&plugin_dirs), request));
                continue;
            }
            _ = tick.tick() => {}
        }
        watch.update_site(|site| site.heartbeat = Some(jiff::Timestamp::now()));
        if let Err(err) = members.beat(&node).await {
            tracing::warn!(logger = "engine", "{err}");
            continue;
        }
        let live = match members.live_with_about().await {
            Ok(live) => live,
            Err(err) => {
                tracing::warn!(logger = "engine", "{err}");
                continue;
            }
        };
        leaving.retain(|(_, task)| !task.is_finished());
        let found = scan(&plugin_dirs);
        let leader_name = leader_rx.borrow().clone();
        let names: Vec<String> = live.iter().map(|(_, name)| name.clone()).collect();
        telemetry.set_cluster(names.len(), leader_name.as_deref() == Some(node.as_str()));
        // Every node shows lag against the poller's position, wherever the poller runs.
        if let Ok(Some(read)) = shared
            .read::<records::PollerRecord>(&records::poller_key())
            .await
        {
            let position = crate::Cursor::from(read.value.cursor).position();
            watch.update_site(|site| {
                site.high_water = Some(site.high_water.unwrap_or(0).max(position));
            });
        }
        watch.update_site(|site| {
            site.cluster = Some(crate::status::ClusterStatus {
                leader: leader_name,
                nodes: names,
            });
        });
        let live: Vec<String> = live.into_iter().map(|(key, _)| key).collect();
        for found in &found {
            let owns = place::owner(&found.key.to_string(), &live) == Some(mine.as_str());
            let current = running.get(&found.key).map(|run| run.file.clone());
            let stale = current
                .as_ref()
                .is_some_and(|file| *file != found.file || !owns);
            if stale && let Some(run) = running.remove(&found.key) {
                if !owns {
                    tracing::info!(
                        logger = "engine",
                        "Plugin {} moves to another node",
                        found.key
                    );
                }
                run.release.cancel();
                leaving.push((found.key.clone(), run.task));
                continue;
            }
            // A plugin starts once its previous task here has let go of its event.
            if owns && current.is_none() && !leaving.iter().any(|(key, _)| *key == found.key) {
                let release = CancellationToken::new();
                let dir: &PluginDir = &plugin_dirs[found.dir];
                let task = PluginTask {
                    key: found.key.clone(),
                    path: found.path.clone(),
                    file: found.file.clone(),
                    node: node.clone(),
                    loader: dir.loader.clone(),
                    filters: dir.filters.clone(),
                    stream: stream.clone(),
                    shared: shared.clone(),
                    ack_wait,
                    telemetry: telemetry.clone(),
                    views: views_tx.clone(),
                };
                running.insert(
                    found.key.clone(),
                    Running {
                        file: found.file.clone(),
                        release: release.clone(),
                        task: tokio::spawn(task.run(release)),
                    },
                );
            }
        }
        let gone: Vec<PluginKey> = running
            .keys()
            .filter(|key| !found.iter().any(|found| &found.key == *key))
            .cloned()
            .collect();
        for key in gone {
            if let Some(run) = running.remove(&key) {
                run.release.cancel();
                leaving.push((key.clone(), run.task));
            }
            views.remove(&key);
        }
        // Plugins other nodes run: their standing from the shared state.
        for found in &found {
            if running.contains_key(&found.key) {
                continue;
            }
            let entry = elsewhere(&shared, found).await;
            views.insert(found.key.clone(), entry);
        }
        watch.set_plugins(views.values().cloned().collect());
    }
    for run in running.values() {
        run.release.cancel();
    }
    leaving.extend(running.into_iter().map(|(key, run)| (key, run.task)));
    let grace = options.shutdown_grace;
    let finished = tokio::time::timeout(grace, async {
        for (_, task) in leaving {
            let _ = task.await;
        }
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            logger = "engine",
            "Plugins still running after {grace:?} stopped without finishing their event"
        );
    }
    let _ = leader_task.await;
    if let Err(err) = members.leave().await {
        tracing::warn!(logger = "engine", "{err}");
    }
    if let Some(task) = status_task {
        let _ = task.await;
    }
    watch.set_plugins(Vec::new());
    Ok(())
}

/// The cluster crate's settings from the `[cluster]` section; the node defaults to the host name.
pub fn settings(config: &sgevents_config::ClusterConfig) -> ClusterSettings {
    let node = config.node.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "sgevents".to_owned())
    });
    ClusterSettings {
        nats_urls: config.nats_urls.clone(),
        name: config.name.clone(),
        node,
        lease: config.lease,
        stream_max_age: config.stream_max_age,
    }
}

/// Opens the stream and buckets, retrying every second (a NATS cluster elects its JetStream
/// leader before it answers); `None` on shutdown.
async fn open_all(
    cluster: &Cluster,
    replicas: usize,
    shutdown: &CancellationToken,
) -> Option<(EventStream, Lease, Members, Shared)> {
    let mut attempts = 0u32;
    loop {
        let opened = async {
            Ok::<_, sgevents_cluster::ClusterError>((
                EventStream::open(cluster, replicas).await?,
                Lease::open(cluster, replicas).await?,
                Members::open(cluster, replicas).await?,
                Shared::open(cluster, replicas).await?,
            ))
        };
        match opened.await {
            Ok(all) => return Some(all),
            Err(err) => {
                attempts += 1;
                if attempts % 10 == 1 {
                    tracing::warn!(logger = "engine", "{err}; trying again");
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// An operator's request from this node's control socket (or status page): recorded in the
/// plugin's shared record, so it holds on every node, then answered.
async fn operator(shared: Arc<Shared>, found: Vec<Found>, request: crate::control::Request) {
    let crate::control::Request {
        plugin,
        collection,
        action,
        uid,
        reply,
    } = request;
    let matches: Vec<&Found> = found
        .iter()
        .filter(|found| {
            found.key.plugin == plugin
                && collection
                    .as_deref()
                    .is_none_or(|wanted| found.key.collection == wanted)
        })
        .collect();
    let answer = match matches.as_slice() {
        [] => Err(crate::control::Refusal::UnknownPlugin(plugin)),
        [one] => match admin::act(&shared, &one.key, action).await {
            Ok(answer) => {
                if let Ok(done) = &answer {
                    tracing::info!(logger = "engine", "Operator (uid {uid}): {done}");
                }
                answer
            }
            Err(err) => Err(crate::control::Refusal::Cannot(format!(
                "{err}; nothing was changed, try again"
            ))),
        },
        _ => Err(crate::control::Refusal::Ambiguous(plugin)),
    };
    // The requester may have gone; the action stands either way.
    let _ = reply.send(answer);
}

/// How a plugin run by another node (or by nobody yet) stands, from its shared record.
async fn elsewhere(shared: &Shared, found: &Found) -> PluginEntry {
    let mut view = crate::watch::SlotView::new(crate::Cursor::default());
    match shared
        .read::<records::PluginRecord>(&records::plugin_key(&found.key))
        .await
    {
        Ok(Some(read)) => {
            view.cursor.last_id = read.value.last_id;
            view.node = read.value.node;
            view.state = match read.value.stopped {
                Some(stopped) => {
                    view.last_error = Some((jiff::Timestamp::now(), stopped.error));
                    crate::watch::PluginState::Failed
                }
                None if read.value.paused => crate::watch::PluginState::Paused,
                None => crate::watch::PluginState::Active,
            };
        }
        Ok(None) => view.state = crate::watch::PluginState::Inactive,
        Err(err) => tracing::debug!(logger = "engine", "{err}"),
    }
    PluginEntry {
        key: found.key.clone(),
        path: Some(found.path.clone()),
        view,
    }
}

/// The plugins of the configured folders, as keys (for `sgevents state` in cluster mode).
pub fn plugin_keys(settings: &sgevents_config::Settings) -> Vec<PluginKey> {
    let mut keys = Vec::new();
    for dir in &settings.plugins {
        if let Ok(files) = discovery::scan(&dir.path) {
            let collection = dir.path.display().to_string();
            keys.extend(
                files
                    .into_iter()
                    .map(|file| PluginKey::new(collection.clone(), file.name)),
            );
        }
    }
    keys
}

/// Every plugin file of the configured folders (a folder that cannot be read is skipped).
fn scan(dirs: &[PluginDir]) -> Vec<Found> {
    let mut found = Vec::new();
    for (idx, dir) in dirs.iter().enumerate() {
        match discovery::scan(&dir.path) {
            Ok(files) => found.extend(files.into_iter().map(|file| {
                Found {
                    key: PluginKey::new(dir.collection.clone(), file.name),
                    path: file.path,
                    file: file
                        .mtime
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map(|since| since.as_nanos().to_string())
                        .unwrap_or_default(),
                    dir: idx,
                }
            })),
            Err(err) => tracing::warn!(
                logger = "engine",
                "Cannot read plugin folder {}: {err}",
                dir.path.display()
            ),
        }
    }
    found
}
