//! Plugin files: discovery, reload on change, and stopOnError resuming at the failed event
//! once the file changes. A loader reads each file as a tiny recipe, so no Python is needed.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sgevents_daemon::{
    Deps, LoadError, PluginDir, PluginFilters, PluginLoader, PluginState, Watch,
};
use sgevents_plugin_api::{BoxFuture, Plugin};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::support::*;

/// `ok` loads a recorder; `fail_on=ID` one that fails (stopOnError) on that event; `hang`
/// never finishes loading; `gate` finishes loading once a file `<name>.open` is beside it;
/// anything else fails to load.
struct RecipeLoader {
    ledger: Ledger,
}

impl PluginLoader for RecipeLoader {
    fn load<'a>(&'a self, path: &'a Path) -> BoxFuture<'a, Result<Box<dyn Plugin>, LoadError>> {
        Box::pin(async move {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let recipe =
                std::fs::read_to_string(path).map_err(|err| LoadError::Other(err.to_string()))?;
            let mut recorder = Recorder::new(&name, &self.ledger);
            match recipe.trim() {
                "ok" => {}
                "hang" => std::future::pending::<()>().await,
                "gate" => {
                    while !path.with_extension("open").exists() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                other => match other.strip_prefix("fail_on=") {
                    Some(id) => {
                        recorder.fail_on = Some(
                            id.parse()
                                .map_err(|_| LoadError::Other("bad id".to_owned()))?,
                        )
                    }
                    None => {
                        return Err(LoadError::Other(format!("cannot load recipe {other:?}")));
                    }
                },
            }
            Ok(Box::new(recorder) as Box<dyn Plugin>)
        })
    }
}

/// Writes `recipe` and moves the mtime forward, as an editor saving the file would.
fn write_recipe(path: &Path, recipe: &str, bump: u64) {
    std::fs::write(path, recipe).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(bump))
        .unwrap();
}

fn state_of(watch: &Watch, plugin: &str) -> Option<PluginState> {
    watch
        .plugins()
        .into_iter()
        .find(|(key, _, _)| key.plugin == plugin)
        .map(|(_, _, view)| view.state)
}

#[tokio::test]
async fn a_stopped_plugin_resumes_at_its_failed_event_when_its_file_changes() {
    let sim = sim().await;
    write_shots(&sim, 10);
    let expected = all_event_ids(&sim).await;
    let failing_id = expected[expected.len() / 2];
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    write_recipe(
        &plugins.join("stopper.py"),
        &format!("fail_on={failing_id}"),
        0,
    );
    write_recipe(&plugins.join("broken.py"), "syntax error", 0);
    std::fs::write(plugins.join(".hidden.py"), "ok").unwrap();

    let (ledger, watch, deps) = recipe_deps(
        &sim,
        dir.path(),
        &plugins,
        Arc::new(sgevents_daemon::clock::SystemClock),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(sgevents_daemon::run(options(), deps, shutdown.clone()));

    wait_until(
        "the stopper stopped and the broken file failed to load",
        || {
            state_of(&watch, "stopper") == Some(PluginState::Failed)
                && state_of(&watch, "broken") == Some(PluginState::Failed)
        },
    )
    .await;
    assert_eq!(state_of(&watch, "hidden"), None, "dotfiles are not plugins");
    let before: Vec<i64> = expected
        .iter()
        .copied()
        .filter(|id| *id < failing_id)
        .collect();
    assert_eq!(
        per_plugin(&ledger).remove("stopper").unwrap_or_default(),
        before
    );

    // Fixing the files brings both back; the stopper resumes exactly at the failed event.
    write_recipe(&plugins.join("stopper.py"), "ok", 5);
    write_recipe(&plugins.join("broken.py"), "ok", 5);
    wait_until("both plugins caught up", || {
        count(&ledger, "stopper") >= expected.len() && count(&ledger, "broken") >= expected.len()
    })
    .await;
    assert_eq!(per_plugin(&ledger)["stopper"], expected);
    assert_eq!(state_of(&watch, "stopper"), Some(PluginState::Active));

    // A removed file drops the plugin.
    std::fs::remove_file(plugins.join("broken.py")).unwrap();
    wait_until("the removed plugin is gone", || {
        state_of(&watch, "broken").is_none()
    })
    .await;

    shutdown.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_hung_load_stalls_only_its_plugin_and_is_retried_when_its_file_changes() {
    let sim = sim().await;
    write_shots(&sim, 5);
    let expected = all_event_ids(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    write_recipe(&plugins.join("hanger.py"), "hang", 0);
    write_recipe(&plugins.join("good.py"), "ok", 0);
    let t1: jiff::Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
    let clock = Arc::new(sgevents_daemon::clock::ManualClock::new(t1));
    let (ledger, watch, deps) = recipe_deps(&sim, dir.path(), &plugins, clock.clone());
    let mut options = options();
    options.load_timeout = Duration::from_millis(300);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(sgevents_daemon::run(options, deps, shutdown.clone()));

    // The heartbeat follows the loop's rounds, on the clock it was given.
    wait_until("the heartbeat is the clock's time", || {
        watch.site().heartbeat == Some(t1)
    })
    .await;
    let t2 = t1 + Duration::from_secs(60);
    clock.set(t2);
    wait_until("the heartbeat moved on", || {
        watch.site().heartbeat == Some(t2)
    })
    .await;

    wait_until("the good plugin got everything", || {
        count(&ledger, "good") >= expected.len()
    })
    .await;
    wait_until("the hanging load is marked hung", || {
        state_of(&watch, "hanger") == Some(PluginState::Hung)
    })
    .await;
    assert_eq!(per_plugin(&ledger)["good"], expected);
    write_recipe(&plugins.join("hanger.py"), "ok", 5);
    wait_until("the fixed plugin loaded and caught up", || {
        count(&ledger, "hanger") >= expected.len()
    })
    .await;
    assert_eq!(per_plugin(&ledger)["hanger"], expected);
    assert_eq!(state_of(&watch, "hanger"), Some(PluginState::Active));
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_plugin_that_loads_after_another_caught_up_gets_the_history_from_memory() {
    const EVENTS: u64 = 4_500;
    const BATCH: usize = 500;
    let sim = sgevents_sim::spawn(sgevents_sim::SimConfig {
        scripts: vec![(SCRIPT.to_owned(), KEY.to_owned())],
        prefill: EVENTS,
        ..sgevents_sim::SimConfig::default()
    })
    .await
    .unwrap();
    let expected = all_event_ids(&sim).await;
    let reads = || sim.request_counts().get("read").copied().unwrap_or(0);
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    write_recipe(&plugins.join("early.py"), "ok", 0);
    write_recipe(&plugins.join("late.py"), "gate", 0);
    let (ledger, watch, deps) = recipe_deps(
        &sim,
        dir.path(),
        &plugins,
        Arc::new(sgevents_daemon::clock::SystemClock),
    );
    let mut options = options();
    options.fetch_interval = Duration::from_secs(1);
    options.max_event_batch_size = BATCH;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(sgevents_daemon::run(options, deps, shutdown.clone()));

    wait_until("the early plugin caught up", || {
        count(&ledger, "early") >= expected.len()
    })
    .await;
    assert_eq!(state_of(&watch, "late"), Some(PluginState::Loading));
    let before = reads();
    let opened = std::time::Instant::now();
    std::fs::write(plugins.join("late.open"), "").unwrap();
    wait_until("the late plugin caught up", || {
        count(&ledger, "late") >= expected.len()
    })
    .await;
    assert_eq!(per_plugin(&ledger)["late"], expected);
    // Reading the history again would take one read per batch; what may happen meanwhile
    // is the loop's own few reads per interval (the latest id, new events, missing ids).
    let intervals = opened.elapsed().as_secs() + 1;
    let again = reads() - before;
    assert!(
        again <= 3 * intervals,
        "{again} reads in {intervals} s while the late plugin took {} events the window held \
         (reading them again is {} reads)",
        expected.len(),
        expected.len() / BATCH
    );
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

/// The daemon's dependencies for one folder of recipe plugins, with the state in `dir`, and
/// the ledger its plugins write and the watch it shows them in.
fn recipe_deps(
    sim: &sgevents_sim::Sim,
    dir: &std::path::Path,
    plugins: &std::path::Path,
    clock: Arc<dyn sgevents_daemon::clock::Clock>,
) -> (Ledger, Arc<Watch>, Deps) {
    let ledger = Ledger::default();
    let watch = Arc::new(Watch::default());
    let store = sgevents_store::Store::open(&dir.join("state.db")).unwrap();
    let deps = Deps {
        client: client(sim),
        saved: store.load().unwrap(),
        store: Box::new(store),
        plugin_dirs: vec![PluginDir {
            path: plugins.to_path_buf(),
            collection: plugins.display().to_string(),
            loader: Arc::new(RecipeLoader {
                ledger: ledger.clone(),
            }),
            filters: PluginFilters::default(),
        }],
        native_plugins: Vec::new(),
        reload: Arc::new(Notify::new()),
        watch: watch.clone(),
        telemetry: Arc::new(sgevents_daemon::telemetry::Telemetry::new()),
        control: sgevents_daemon::control::channel().1,
        status: None,
        tasks: Vec::new(),
        clock,
    };
    (ledger, watch, deps)
}
