//! Progress pages with real Python plugins: a reload during catch-up runs no event twice,
//! and `--start-at` empties the pages, so the events they list run again.

use std::collections::BTreeMap;
use std::path::Path;

use sgevents_sim::{Sim, SimConfig};

use super::support::{LEDGER_PLUGIN, Running, config_with, ledger};

const SCRIPT: (&str, &str) = ("ledger", "ledger-key");

struct Bed {
    runtime: tokio::runtime::Runtime,
    sim: Sim,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Bed {
    fn new(events: u64, plugins: &[&str]) -> Bed {
        Bed::with(events, plugins, "")
    }

    /// With `plugin_extra` lines in the `[[plugins]]` table.
    fn with(events: u64, plugins: &[&str], plugin_extra: &str) -> Bed {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let sim = runtime
            .block_on(sgevents_sim::spawn(SimConfig {
                scripts: vec![(SCRIPT.0.to_owned(), SCRIPT.1.to_owned())],
                prefill: events,
                ..SimConfig::default()
            }))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("plugins");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::create_dir_all(dir.path().join("ledgers")).unwrap();
        for name in plugins {
            std::fs::write(folder.join(format!("{name}.py")), LEDGER_PLUGIN).unwrap();
        }
        let config = config_with(dir.path(), &sim.url(), SCRIPT, &folder, "", plugin_extra);
        Bed {
            runtime,
            sim,
            dir,
            config,
        }
    }

    fn ledgers(&self) -> std::path::PathBuf {
        self.dir.path().join("ledgers")
    }

    fn start(&self, args: &[&str]) -> Running {
        Running::start(&self.config, &self.ledgers(), args)
    }

    fn all_ids(&self) -> Vec<i64> {
        (1..=self.sim.latest_event_id().unwrap()).collect()
    }

    fn pages(&self) -> std::path::PathBuf {
        self.dir.path().join("state.sqlite3.pages")
    }
}

fn counts(ids: &[i64]) -> BTreeMap<i64, usize> {
    let mut counts = BTreeMap::new();
    for id in ids {
        *counts.entry(*id).or_default() += 1;
    }
    counts
}

fn page_lines(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| {
                    std::fs::read(entry.path())
                        .map(|bytes| bytes.iter().filter(|b| **b == b'\n').count())
                        .unwrap_or(0)
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_reload_during_catch_up_runs_no_event_twice() {
    let bed = Bed::new(30_000, &["ledger_a", "ledger_b"]);
    reload_during_catch_up(&bed, 2_000);
    bed.runtime.block_on(bed.sim.shutdown());
}

#[test]
fn a_reload_during_catch_up_runs_no_event_twice_in_a_shared_process() {
    let bed = Bed::with(30_000, &["ledger_a", "ledger_b"], "process = \"per_path\"");
    reload_during_catch_up(&bed, 2_000);
    bed.runtime.block_on(bed.sim.shutdown());
}

fn reload_during_catch_up(bed: &Bed, after: usize) {
    let expected = bed.all_ids();
    let mut daemon = bed.start(&["--start-at", "1"]);
    daemon.wait_until("ledger_a is under way", 60, |_| {
        ledger(&bed.ledgers(), "ledger_a").len() > after
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    daemon.wait_for("Reloaded plugin ledger_a", 60);
    let at_reload = ledger(&bed.ledgers(), "ledger_a").len();
    daemon.wait_until("both ledgers have every event", 180, |_| {
        ["ledger_a", "ledger_b"]
            .iter()
            .all(|plugin| ledger(&bed.ledgers(), plugin).len() >= expected.len())
    });
    // At rest the pages are emptied, by the processes that keep them mapped: events after
    // that go on the emptied pages (a page shortened under a process's mapping would kill it).
    daemon.wait_until("the pages are empty", 60, |_| page_lines(&bed.pages()) == 0);
    bed.sim.prefill(50).unwrap();
    let expected = bed.all_ids();
    daemon.wait_until("both ledgers have the later events", 60, |_| {
        ["ledger_a", "ledger_b"]
            .iter()
            .all(|plugin| ledger(&bed.ledgers(), plugin).len() >= expected.len())
    });
    assert!(daemon.terminate(30).success());
    let output = daemon.output();
    assert!(
        !output.contains("crashed") && !output.contains("signal"),
        "a plugin process died: {output}"
    );
    assert!(
        at_reload < expected.len(),
        "the reload came after the catch-up ({at_reload} events): raise the events"
    );
    for plugin in ["ledger_a", "ledger_b"] {
        let seen = ledger(&bed.ledgers(), plugin);
        let counts = counts(&seen);
        assert_eq!(
            counts.keys().copied().collect::<Vec<_>>(),
            expected,
            "{plugin} lost events"
        );
        let twice: Vec<i64> = counts
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| *id)
            .collect();
        assert!(
            twice.is_empty(),
            "{plugin} ran {twice:?} twice across the reload"
        );
    }
}

/// [`LEDGER_PLUGIN`] taking 5 ms per event, so that a reload finds events shipped and not run.
fn slow_ledger() -> String {
    LEDGER_PLUGIN
        .replace("import os\n", "import os\nimport time\n")
        .replace(
            "def record(sg, logger, event, args):\n",
            "def record(sg, logger, event, args):\n    time.sleep(0.005)\n",
        )
}

#[test]
fn a_reload_of_slow_plugins_in_a_shared_process_runs_no_event_twice() {
    let bed = Bed::with(1_500, &[], "process = \"per_path\"");
    for name in ["ledger_a", "ledger_b"] {
        let path = bed.dir.path().join("plugins").join(format!("{name}.py"));
        std::fs::write(path, slow_ledger()).unwrap();
    }
    reload_during_catch_up(&bed, 200);
    bed.runtime.block_on(bed.sim.shutdown());
}

/// [`LEDGER_PLUGIN`] that, while the file `hold` is in its ledger folder, stops after
/// recording event [`HELD_AT`] and writes its pid to `hold.pid`: the worker then holds an
/// event and never comes to rest, so its page keeps what it finished.
fn held_ledger() -> String {
    let hold = format!(
        r#"        os.close(fd)
    hold = os.path.join(os.environ["LEDGER_DIR"], "hold")
    if event["id"] == {HELD_AT} and os.path.exists(hold):
        with open(hold + ".part", "w") as out:
            out.write(str(os.getpid()))
        os.replace(hold + ".part", hold + ".pid")
        time.sleep(3600)
"#
    );
    LEDGER_PLUGIN
        .replace("import os\n", "import os\nimport time\n")
        .replace("        os.close(fd)\n", &hold)
}

/// Mid-way through a page of the site's events, so that the worker does not come to rest
/// (and empty its page) just before it.
const HELD_AT: i64 = 3_250;

#[test]
fn start_at_empties_the_progress_pages_so_their_events_run_again() {
    let bed = Bed::new(20_000, &[]);
    let plugin = bed.dir.path().join("plugins").join("ledger_a.py");
    std::fs::write(plugin, held_ledger()).unwrap();
    let expected = bed.all_ids();
    std::fs::write(bed.ledgers().join("hold"), "").unwrap();
    let held_pid = bed.ledgers().join("hold.pid");
    let mut daemon = bed.start(&["--start-at", "1"]);
    daemon.wait_until(
        "the plugin holds an event and the page lists finished ones",
        60,
        |_| held_pid.exists() && page_lines(&bed.pages()) > 0,
    );
    daemon.child.kill().unwrap(); // SIGKILL: the page keeps what the cursor does not show
    daemon.child.wait().unwrap();
    // The held plugin's process is its own group and sleeps on: it goes too.
    let pid: i32 = std::fs::read_to_string(&held_pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    std::fs::remove_file(bed.ledgers().join("hold")).unwrap();
    let first_run = ledger(&bed.ledgers(), "ledger_a").len();
    assert_eq!(
        first_run, HELD_AT as usize,
        "the first run stopped at the held event"
    );
    assert!(page_lines(&bed.pages()) > 0, "the killed run left no page");

    let mut daemon = bed.start(&["--start-at", "1"]);
    daemon.wait_until("the second run has every event", 90, |_| {
        ledger(&bed.ledgers(), "ledger_a").len() >= first_run + expected.len()
    });
    assert!(daemon.terminate(30).success());
    let mut second_run = ledger(&bed.ledgers(), "ledger_a")[first_run..].to_vec();
    second_run.sort_unstable();
    assert_eq!(
        second_run, expected,
        "--start-at 1 runs every event again, once"
    );
    bed.runtime.block_on(bed.sim.shutdown());
}
