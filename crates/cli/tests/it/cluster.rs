//! Cluster mode end to end: real `nats-server` processes, three `sgevents run` nodes against
//! `sgevents sim` with ledger plugins, during a catch-up plus activity with late and lost rows.
//! Nodes are SIGKILLed (the leader first), restarted, and the NATS server is restarted; every
//! visible event reaches every plugin, at most one repeat per plugin per killed node, in order
//! apart from late arrivals.

mod aged;
mod cut;
#[path = "../../../cluster/tests/it/nats.rs"]
#[allow(dead_code)]
mod nats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sgevents_sim::{GapProfile, SimConfig};

use super::support::{LEDGER_PLUGIN, Running, config_with, free_port, ledger};

const SCRIPT: (&str, &str) = ("ledger", "ledger-key");
const PLUGINS: [&str; 3] = ["ledger_a", "ledger_b", "ledger_c"];
const PREFILL: u64 = 3_000;

/// One node's folder and config.
struct Node {
    name: String,
    config: PathBuf,
    port: u16,
}

fn node(root: &Path, name: &str, site: &str, plugins: &Path, nats: &str) -> Node {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let http = format!("http = \"127.0.0.1:{port}\"");
    let config = config_with(dir.as_path(), site, SCRIPT, plugins, &http, "");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[cluster]\nnats_url = {nats:?}\nname = \"itest\"\nnode = {name:?}\nlease_secs = 2\n"
    ));
    std::fs::write(&config, text).unwrap();
    Node {
        name: name.to_owned(),
        config,
        port,
    }
}

/// Creates a shot waiting to start: one `Shotgun_Shot_New` (and its field changes) on the site.
fn new_shot(sim: &sgevents_sim::Sim, code: &str) {
    sim.create(
        SCRIPT.0,
        "Shot",
        serde_json::json!({"code": code, "sg_status_list": "wtg"}),
    )
    .unwrap();
}

fn start(node: &Node, ledgers: &Path) -> Running {
    Running::start(&node.config, ledgers, &["--start-at", "1"])
}

/// Every event id the site shows now, read through the client as the daemon reads them.
fn visible_ids(runtime: &tokio::runtime::Runtime, site: &str) -> Vec<i64> {
    let client =
        sgevents_api::Client::new(sgevents_api::ClientConfig::new(site, SCRIPT.0, SCRIPT.1))
            .unwrap();
    let mut ids = Vec::new();
    let mut after = 0;
    loop {
        let events = runtime.block_on(client.events_after(after, 500)).unwrap();
        let Some(last) = events.last() else {
            return ids;
        };
        after = last.id;
        ids.extend(events.iter().map(|event| event.id));
    }
}

/// Waits until `done`; on a timeout the nodes' output is shown.
fn wait_nodes(what: &str, secs: u64, nodes: &[Running], mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        if Instant::now() >= deadline {
            let outputs: Vec<String> = nodes.iter().map(Running::output).collect();
            panic!(
                "timed out waiting until {what}:\n{}",
                outputs.join("\n-----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The node whose output says it polls the site last, of those alive.
fn leader(nodes: &[(String, Option<Running>)]) -> usize {
    let mut best = None;
    for (idx, (_, run)) in nodes.iter().enumerate() {
        if let Some(run) = run
            && run.output().contains("polls the site now")
        {
            best = Some(idx);
        }
    }
    best.unwrap_or(0)
}

fn progress(ledgers: &Path) -> usize {
    PLUGINS.iter().map(|p| ledger(ledgers, p).len()).sum()
}

#[test]
fn three_nodes_lose_nothing_through_kills_restarts_and_a_nats_restart() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(sgevents_sim::spawn(SimConfig {
            scripts: vec![(SCRIPT.0.to_owned(), SCRIPT.1.to_owned())],
            prefill: PREFILL,
            ..SimConfig::default()
        }))
        .unwrap();
    sim.set_gap_profile(GapProfile {
        late: 0.05,
        never: 0.01,
        ..GapProfile::default()
    })
    .unwrap();
    let mut server = nats::Server::single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (plugins, ledgers) = (dir.path().join("plugins"), dir.path().join("ledgers"));
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(&ledgers).unwrap();
    for name in PLUGINS {
        std::fs::write(plugins.join(format!("{name}.py")), LEDGER_PLUGIN).unwrap();
    }
    let site = sim.url();
    let nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|name| node(dir.path(), name, &site, &plugins, &server.url()))
        .collect();
    let mut running: Vec<(String, Option<Running>)> = nodes
        .iter()
        .map(|node| (node.name.clone(), Some(start(node, &ledgers))))
        .collect();
    wait_until("every plugin ran", 60, || {
        PLUGINS.iter().all(|p| !ledger(&ledgers, p).is_empty())
    });

    // Activity with late and lost rows throughout.
    let mut shot = 0;
    let mut activity = |n: u64| {
        for _ in 0..n * 5 {
            shot += 1;
            new_shot(&sim, &format!("sh{shot:05}"));
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let mut kills = 0;
    for round in 0..2 {
        if round == 1 {
            // The first kill was the leader: another node polls now.
            wait_until("another node polls", 30, || {
                running.iter().any(|(_, run)| {
                    run.as_ref()
                        .is_some_and(|run| run.output().contains("polls the site now"))
                })
            });
        }
        activity(5);
        let lead = leader(&running);
        let victim = if round == 0 {
            lead
        } else {
            (0..running.len())
                .find(|idx| *idx != lead && running[*idx].1.is_some())
                .unwrap()
        };
        let before = progress(&ledgers);
        let mut run = running[victim].1.take().unwrap();
        run.child.kill().unwrap(); // SIGKILL
        run.child.wait().unwrap();
        kills += 1;
        activity(5);
        wait_until("the others carry on", 60, || {
            progress(&ledgers) > before + 100
        });
    }
    for (idx, slot) in running.iter_mut().enumerate() {
        if slot.1.is_none() {
            slot.1 = Some(start(&nodes[idx], &ledgers));
        }
    }
    activity(5);
    // NATS itself stops and comes back with its data.
    let before = progress(&ledgers);
    wait_until("events flow after the restarts", 60, || {
        progress(&ledgers) > before + 50
    });
    server.kill();
    activity(5);
    server.start().unwrap();
    activity(5);

    // Late rows show within 5 s of their write; then every visible event must be in every ledger.
    std::thread::sleep(Duration::from_secs(6));
    let expected = visible_ids(&runtime, &site);
    assert!(
        expected.len() as u64 > PREFILL,
        "the activity wrote nothing"
    );
    wait_until("every plugin has every visible event", 180, || {
        PLUGINS.iter().all(|p| {
            let seen: std::collections::BTreeSet<i64> = ledger(&ledgers, p).into_iter().collect();
            expected.iter().all(|id| seen.contains(id))
        })
    });
    // Every node's `sgevents status --json` shows the cluster: one leader, three live nodes,
    // and a node for each plugin.
    for node in &nodes {
        let mut json: serde_json::Value;
        // After the NATS restart a node may take a few lease periods to see the others again.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !{
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_sgevents"))
                .args(["status", "--json", "--url"])
                .arg(format!("http://127.0.0.1:{}", node.port))
                .output()
                .unwrap();
            json = serde_json::from_slice(&out.stdout).unwrap_or_default();
            json["cluster"]["nodes"]
                .as_array()
                .is_some_and(|nodes| nodes.len() == 3)
                && json["cluster"]["leader"].is_string()
                && json["plugins"].as_array().is_some_and(|plugins| {
                    plugins.len() == PLUGINS.len() && plugins.iter().all(|p| p["node"].is_string())
                })
        } {
            assert!(
                Instant::now() < deadline,
                "the status on port {} never showed three live nodes, a leader and a node per plugin: {json}",
                node.port
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(
            json["cluster"]["nodes"],
            serde_json::json!(["n1", "n2", "n3"]),
            "{json}"
        );
        // /metrics shows the cluster view too: every plugin's lag, on every node.
        let mut metrics = String::new();
        wait_until("/metrics shows every plugin's lag", 120, || {
            metrics = super::support::http_get(node.port, "/metrics")
                .map(|(_, body)| body)
                .unwrap_or_default();
            metrics.contains("sgevents_cluster_nodes 3")
                && PLUGINS.iter().all(|plugin| {
                    metrics.contains(&format!(
                        "sgevents_plugin_lag_events{{plugin=\"{plugin}\"}}"
                    ))
                })
        });
    }
    let leaders = nodes
        .iter()
        .filter_map(|node| super::support::http_get(node.port, "/metrics"))
        .filter(|(_, metrics)| metrics.contains("sgevents_cluster_leader 1"))
        .count();
    assert_eq!(leaders, 1, "exactly one node says it polls");
    let mut pollers = 0;
    let mut hosts: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, run) in &mut running {
        if let Some(run) = run {
            let status = run.terminate(30);
            let output = run.output();
            assert!(
                status.success(),
                "node {name} did not stop cleanly:\n{output}"
            );
            pollers += usize::from(output.contains("polls the site now"));
            for plugin in PLUGINS {
                if output.contains(&format!(
                    "Plugin {}/{plugin} runs on this node",
                    plugins.display()
                )) {
                    *hosts.entry(plugin).or_default() += 1;
                }
            }
        }
    }
    // The leader was killed, so another node took over; plugins moved with the kills.
    assert!(pollers >= 1, "no surviving node ever polled the site");
    eprintln!("kills {kills}, plugin hosts among the last run of each node: {hosts:?}");
    runtime.block_on(sim.shutdown());

    for plugin in PLUGINS {
        let seen = ledger(&ledgers, plugin);
        let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
        for id in &seen {
            *counts.entry(*id).or_default() += 1;
        }
        let missing: Vec<&i64> = expected
            .iter()
            .filter(|id| !counts.contains_key(id))
            .collect();
        assert!(missing.is_empty(), "{plugin} lost events {missing:?}");
        let repeats: usize = counts.values().map(|n| n - 1).sum();
        assert!(
            repeats <= kills + 1,
            "{plugin} repeated {repeats} events over {kills} node kills and one NATS restart"
        );
        // In order apart from late arrivals: an id below one seen before must be a late row.
        let mut highest = 0;
        let mut behind = 0;
        for id in &seen {
            if *id < highest {
                behind += 1;
            }
            highest = highest.max(*id);
        }
        eprintln!(
            "{plugin}: {} events, {repeats} repeats, {behind} out of order",
            seen.len()
        );
        let late_budget = expected.len() / 10;
        assert!(
            behind <= late_budget,
            "{plugin} saw {behind} events out of order, more than the late rows could explain"
        );
    }
}

/// The `read` requests the site has answered so far.
fn reads(sim: &sgevents_sim::Sim) -> u64 {
    sim.request_counts().get("read").copied().unwrap_or(0)
}

fn caught_up(ledgers: &Path, expected: &[i64]) -> bool {
    PLUGINS.iter().all(|p| {
        let seen: std::collections::BTreeSet<i64> = ledger(ledgers, p).into_iter().collect();
        expected.iter().all(|id| seen.contains(id))
    })
}

#[test]
fn a_nats_cluster_survives_a_dead_server_and_the_site_sees_one_daemons_reads() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(sgevents_sim::spawn(SimConfig {
            scripts: vec![(SCRIPT.0.to_owned(), SCRIPT.1.to_owned())],
            prefill: PREFILL,
            ..SimConfig::default()
        }))
        .unwrap();
    let site = sim.url();
    let expected = visible_ids(&runtime, &site);
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for name in PLUGINS {
        std::fs::write(plugins.join(format!("{name}.py")), LEDGER_PLUGIN).unwrap();
    }

    // One node alone catches up: its reads are the yardstick.
    let alone_ledgers = dir.path().join("alone-ledgers");
    std::fs::create_dir_all(&alone_ledgers).unwrap();
    let alone_dir = dir.path().join("alone");
    std::fs::create_dir_all(&alone_dir).unwrap();
    let alone_config = config_with(&alone_dir, &site, SCRIPT, &plugins, "", "");
    let before = reads(&sim);
    let clock = Instant::now();
    let mut alone = Running::start(&alone_config, &alone_ledgers, &["--start-at", "1"]);
    wait_until("one node caught up", 120, || {
        caught_up(&alone_ledgers, &expected)
    });
    let alone_reads = reads(&sim) - before;
    let alone_secs = clock.elapsed().as_secs_f64();
    assert!(alone.terminate(30).success());

    // Two nodes on a three-server NATS cluster catch up the same history.
    let mut servers = nats::cluster_of_three().unwrap();
    let urls = servers
        .iter()
        .map(nats::Server::url)
        .collect::<Vec<_>>()
        .join(",");
    let ledgers = dir.path().join("ledgers");
    std::fs::create_dir_all(&ledgers).unwrap();
    let nodes: Vec<Node> = ["m1", "m2"]
        .iter()
        .map(|name| node(dir.path(), name, &site, &plugins, &urls))
        .collect();
    let before = reads(&sim);
    let mut running: Vec<Running> = nodes.iter().map(|node| start(node, &ledgers)).collect();
    // A NATS cluster that has just started takes a while to elect its JetStream leader.
    wait_nodes("a node polls", 120, &running, || {
        running
            .iter()
            .any(|run| run.output().contains("polls the site now"))
    });
    let clock = Instant::now();
    wait_nodes("the cluster caught up", 120, &running, || {
        caught_up(&ledgers, &expected)
    });
    let cluster_reads = reads(&sim) - before;
    let cluster_secs = clock.elapsed().as_secs_f64();
    eprintln!(
        "catch-up of {} events: one node {alone_reads} reads in {alone_secs:.1} s, cluster {cluster_reads} reads in {cluster_secs:.1} s",
        expected.len()
    );
    // Once it has read everything, the leader polls once per fetch_interval (1 s), as a
    // caught-up single node does: those polls aside, the site sees one daemon's reads.
    let idle_polls = cluster_secs.ceil() as u64;
    assert!(
        cluster_reads <= alone_reads + idle_polls + 5,
        "the cluster read the site {cluster_reads} times, one node {alone_reads}"
    );

    // One NATS server dies during activity: nothing is lost.
    sim.set_gap_profile(GapProfile {
        late: 0.05,
        ..GapProfile::default()
    })
    .unwrap();
    let write = |from: usize, n: usize| {
        for i in from..from + n {
            new_shot(&sim, &format!("c{i:05}"));
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    write(0, 30);
    servers[0].kill();
    write(30, 60);
    std::thread::sleep(Duration::from_secs(6));
    let expected = visible_ids(&runtime, &site);
    wait_until(
        "every plugin has every event after the server died",
        120,
        || caught_up(&ledgers, &expected),
    );
    for run in &mut running {
        assert!(run.terminate(30).success(), "{}", run.output());
    }
    for plugin in PLUGINS {
        let seen = ledger(&ledgers, plugin);
        let distinct: std::collections::BTreeSet<i64> = seen.iter().copied().collect();
        let repeats = seen.len() - distinct.len();
        eprintln!("{plugin}: {} events, {repeats} repeats", seen.len());
        assert!(
            repeats <= 1,
            "{plugin} repeated {repeats} events when one NATS server died"
        );
    }
    runtime.block_on(sim.shutdown());
}

const PICKY_PLUGIN: &str = r#"
import os

LEDGER = os.path.join(os.environ["LEDGER_DIR"], "picky")
FLAG = os.path.join(os.environ["LEDGER_DIR"], "fail")
FLAG_30 = os.path.join(os.environ["LEDGER_DIR"], "fail-30")

def record(sg, logger, event, args):
    if event["id"] == 25 and os.path.exists(FLAG):
        raise RuntimeError("refusing event 25")
    if event["id"] == 30 and os.path.exists(FLAG_30):
        raise RuntimeError("refusing event 30")
    fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, ("%d\n" % event["id"]).encode())
    finally:
        os.close(fd)

def registerCallbacks(reg):
    reg.registerCallback("ledger", "ledger-key", record, stopOnError=True)
"#;

fn sgevents(args: &[&str], config: &Path) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sgevents"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sgevents {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&out.stdout).into()))
}

/// What most cluster tests start from: a sim with `prefill` events, one NATS server, and empty
/// plugin and ledger folders in a temporary directory.
struct Bed {
    runtime: tokio::runtime::Runtime,
    sim: sgevents_sim::Sim,
    server: nats::Server,
    dir: tempfile::TempDir,
    plugins: PathBuf,
    ledgers: PathBuf,
}

impl Bed {
    fn new(prefill: u64) -> Bed {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let sim = runtime
            .block_on(sgevents_sim::spawn(SimConfig {
                scripts: vec![(SCRIPT.0.to_owned(), SCRIPT.1.to_owned())],
                prefill,
                ..SimConfig::default()
            }))
            .unwrap();
        let server = nats::Server::single().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (plugins, ledgers) = (dir.path().join("plugins"), dir.path().join("ledgers"));
        std::fs::create_dir_all(&plugins).unwrap();
        std::fs::create_dir_all(&ledgers).unwrap();
        Bed {
            runtime,
            sim,
            server,
            dir,
            plugins,
            ledgers,
        }
    }
}

#[test]
fn a_stop_on_error_holds_on_every_node_until_resume_and_state_shows_the_cluster() {
    let Bed {
        runtime,
        sim,
        server,
        dir,
        plugins,
        ledgers,
    } = Bed::new(60);
    std::fs::write(plugins.join("picky.py"), PICKY_PLUGIN).unwrap();
    std::fs::write(ledgers.join("fail"), "").unwrap();
    std::fs::write(ledgers.join("fail-30"), "").unwrap();
    let site = sim.url();
    let expected = visible_ids(&runtime, &site);
    let nodes: Vec<Node> = ["s1", "s2"]
        .iter()
        .map(|name| node(dir.path(), name, &site, &plugins, &server.url()))
        .collect();
    let mut running: Vec<Running> = nodes.iter().map(|node| start(node, &ledgers)).collect();
    wait_nodes("the plugin stops at event 25", 60, &running, || {
        running
            .iter()
            .any(|run| run.output().contains("Plugin stopped at event 25"))
    });
    let mut state = serde_json::Value::Null;
    wait_nodes("state show says it stopped at 25", 30, &running, || {
        state = sgevents(&["state", "show", "--json"], &nodes[1].config);
        state["plugins"][0]["stopped_at"] == 25
    });
    assert!(state["cluster"]["leader"].is_string(), "{state}");
    // Its position is the last event it finished before 25 (24, unless 24 arrived late).
    let last_id = state["plugins"][0]["last_id"].as_i64();
    assert!(last_id.is_some_and(|id| id < 25), "{state}");
    assert_eq!(
        last_id,
        ledger(&ledgers, "picky").iter().copied().max(),
        "{state}"
    );
    // The node that ran it dies: the other takes it over and keeps it stopped, although the
    // event would now succeed.
    std::fs::remove_file(ledgers.join("fail")).unwrap();
    let owner = running
        .iter()
        .position(|run| run.output().contains("Plugin stopped at event 25"))
        .unwrap();
    running[owner].child.kill().unwrap();
    running[owner].child.wait().unwrap();
    let other = 1 - owner;
    let url = format!("http://127.0.0.1:{}", nodes[other].port);
    wait_nodes(
        "the other node holds the plugin, stopped",
        30,
        &running[other..=other],
        || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_sgevents"))
                .args(["status", "--json", "--url", &url])
                .output()
                .unwrap();
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let plugin = &json["plugins"][0];
            plugin["node"] == nodes[other].name.as_str() && plugin["state"] == "failed"
        },
    );
    let seen = ledger(&ledgers, "picky");
    assert_eq!(seen, (1..25).collect::<Vec<i64>>(), "it ran past its stop");

    let resumed = sgevents(&["plugin", "resume", "picky"], &nodes[other].config);
    assert!(
        resumed.to_string().contains("resumed at event 25"),
        "{resumed}"
    );
    // It runs 25 now and stops again at 30; a skip through the node's control socket passes
    // over exactly that event.
    wait_nodes(
        "the plugin stops at event 30",
        60,
        &running[other..=other],
        || {
            running[other]
                .output()
                .contains("Plugin stopped at event 30")
        },
    );
    wait_nodes(
        "state show says it stopped at 30",
        30,
        &running[other..=other],
        || {
            state = sgevents(&["state", "show", "--json"], &nodes[other].config);
            state["plugins"][0]["stopped_at"] == 30
        },
    );
    let skipped = plugin_via_socket("skip", "picky", &nodes[other].config);
    assert!(skipped.contains("skipped event 30"), "{skipped}");
    let expected: Vec<i64> = expected.into_iter().filter(|id| *id != 30).collect();
    wait_nodes(
        "the plugin caught up after resume and skip",
        60,
        &running[other..=other],
        || ledger(&ledgers, "picky").len() >= expected.len(),
    );
    assert_eq!(
        ledger(&ledgers, "picky"),
        expected,
        "lost or repeated events, or ran the skipped one"
    );
    assert!(running[other].terminate(30).success());
    runtime.block_on(sim.shutdown());
}

/// `sgevents status --json` of the node on `port` (`Null` while it does not answer).
fn status_json(port: u16) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sgevents"))
        .args(["status", "--json", "--url"])
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

/// `sgevents plugin ACTION PLUGIN` through the control socket beside `config`: its stdout.
fn plugin_via_socket(action: &str, plugin: &str, config: &Path) -> String {
    let socket = config.with_file_name("sgevents-control.sock");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sgevents"))
        .args(["plugin", action, plugin, "--socket"])
        .arg(&socket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sgevents plugin {action} {plugin} via {}: {}",
        socket.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_pause_asked_of_one_node_holds_where_the_plugin_runs_and_after_it_moves() {
    let Bed {
        runtime,
        sim,
        server,
        dir,
        plugins,
        ledgers,
    } = Bed::new(40);
    std::fs::write(plugins.join("ledger_a.py"), LEDGER_PLUGIN).unwrap();
    let site = sim.url();
    let nodes: Vec<Node> = ["p1", "p2"]
        .iter()
        .map(|name| node(dir.path(), name, &site, &plugins, &server.url()))
        .collect();
    let mut running: Vec<Running> = nodes.iter().map(|node| start(node, &ledgers)).collect();
    let expected = visible_ids(&runtime, &site);
    wait_nodes("the plugin caught up", 60, &running, || {
        ledger(&ledgers, "ledger_a").len() >= expected.len()
    });
    // Both nodes agree where it runs.
    let mut owner = None;
    wait_nodes("both nodes show the plugin's node", 30, &running, || {
        let seen: Vec<serde_json::Value> = nodes
            .iter()
            .map(|node| status_json(node.port)["plugins"][0]["node"].clone())
            .collect();
        owner = nodes.iter().position(|node| seen[0] == node.name.as_str());
        owner.is_some() && seen[0] == seen[1]
    });
    let owner = owner.unwrap();
    let other = 1 - owner;
    // The text status of either node names the plugin's node in a NODE column.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sgevents"))
        .args(["status", "--url"])
        .arg(format!("http://127.0.0.1:{}", nodes[other].port))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let header = lines.iter().position(|line| line.starts_with("PLUGIN"));
    let column = header.and_then(|header| lines[header].find("NODE"));
    let (Some(header), Some(column)) = (header, column) else {
        panic!("no NODE column in `sgevents status`:\n{text}");
    };
    assert!(
        lines[header + 1][column..].starts_with(&nodes[owner].name),
        "{text}"
    );
    assert!(text.contains("cluster: leader "), "{text}");

    // Paused through the socket of the node that does not run it.
    let paused = plugin_via_socket("pause", "ledger_a", &nodes[other].config);
    assert!(paused.contains("paused"), "{paused}");
    wait_nodes("the owner shows it paused", 30, &running, || {
        status_json(nodes[owner].port)["plugins"][0]["state"] == "paused"
    });
    let before = ledger(&ledgers, "ledger_a");
    let create = |from: usize, n: usize| {
        for i in from..from + n {
            new_shot(&sim, &format!("p{i:05}"));
        }
    };
    create(0, 10);
    let expected = visible_ids(&runtime, &site);
    let newest = expected.last().copied().unwrap_or_default();
    let mut state = serde_json::Value::Null;
    wait_nodes("the poller published the new events", 30, &running, || {
        state = sgevents(&["state", "show", "--json"], &nodes[other].config);
        state["cluster"]["poller_last_id"]
            .as_i64()
            .is_some_and(|id| id >= newest)
    });
    assert_eq!(state["plugins"][0]["paused"], true, "{state}");
    // An unpaused plugin runs a published event within a second; give it three.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        ledger(&ledgers, "ledger_a"),
        before,
        "a paused plugin ran events"
    );

    // The owner dies: the other node takes the plugin over and keeps it paused.
    running[owner].child.kill().unwrap();
    running[owner].child.wait().unwrap();
    wait_nodes(
        "the other node holds the plugin, paused",
        30,
        &running[other..=other],
        || {
            let json = status_json(nodes[other].port);
            let plugin = &json["plugins"][0];
            plugin["node"] == nodes[other].name.as_str() && plugin["state"] == "paused"
        },
    );
    assert!(
        running[other].output().contains("is paused by an operator"),
        "{}",
        running[other].output()
    );
    create(10, 10);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        ledger(&ledgers, "ledger_a"),
        before,
        "a paused plugin ran events after it moved"
    );

    // A second pause is refused; unpause through the cluster's shared state (no socket).
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_sgevents"))
        .args(["plugin", "pause", "ledger_a", "--config"])
        .arg(&nodes[owner].config)
        .output()
        .unwrap();
    assert!(!again.status.success(), "a second pause was accepted");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is paused"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let unpaused = sgevents(&["plugin", "unpause", "ledger_a"], &nodes[owner].config);
    assert!(unpaused.to_string().contains("unpaused"), "{unpaused}");
    let expected = visible_ids(&runtime, &site);
    wait_nodes(
        "the plugin caught up after unpause",
        60,
        &running[other..=other],
        || ledger(&ledgers, "ledger_a").len() >= expected.len(),
    );
    assert_eq!(
        ledger(&ledgers, "ledger_a"),
        expected,
        "lost or repeated events"
    );
    assert!(running[other].terminate(30).success());
    runtime.block_on(sim.shutdown());
}
