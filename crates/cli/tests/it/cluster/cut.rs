//! A node cut off from NATS for a while, through a TCP proxy the test closes and opens again,
//! and a NATS server frozen (SIGSTOP) then thawed: no event is lost and each costs at most one
//! repeat per plugin.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{
    Bed, LEDGER_PLUGIN, Node, PLUGINS, Running, caught_up, ledger, new_shot, node, start,
    status_json, visible_ids, wait_nodes,
};

/// A loopback TCP proxy to one server; [`Proxy::cut`] drops every connection and refuses new
/// ones until [`Proxy::mend`].
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn to(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (accept_open, accept_streams) = (open.clone(), streams.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !accept_open.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                // Small requests and answers go out at once, as on a direct connection.
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let mut held = accept_streams.lock().unwrap();
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    std::thread::spawn(move || pipe(from, to));
                }
                held.push(client);
                held.push(server);
            }
        });
        Proxy {
            port,
            open,
            streams,
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn mend(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}

/// Repeats per plugin in the ledgers: how many ids appear more than once, counted once each
/// extra time.
fn repeats(ledgers: &std::path::Path) -> Vec<(&'static str, usize)> {
    PLUGINS
        .iter()
        .map(|plugin| {
            let seen = ledger(ledgers, plugin);
            let distinct: std::collections::BTreeSet<i64> = seen.iter().copied().collect();
            (*plugin, seen.len() - distinct.len())
        })
        .collect()
}

/// The node of each plugin in a `status --json`, of those that show one.
fn plugin_nodes(status: &serde_json::Value) -> Vec<String> {
    status["plugins"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|plugin| plugin["node"].as_str().map(str::to_owned))
        .collect()
}

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

#[test]
fn a_node_cut_off_from_nats_and_a_frozen_server_lose_nothing() {
    let Bed {
        runtime,
        sim,
        server,
        dir,
        plugins,
        ledgers,
    } = Bed::new(200);
    let proxies = [Proxy::to(server.port()), Proxy::to(server.port())];
    for name in PLUGINS {
        std::fs::write(plugins.join(format!("{name}.py")), LEDGER_PLUGIN).unwrap();
    }
    let site = sim.url();
    // Each node reaches NATS through its own proxy.
    let nodes: Vec<Node> = ["c1", "c2"]
        .iter()
        .zip(&proxies)
        .map(|(name, proxy)| node(dir.path(), name, &site, &plugins, &proxy.url()))
        .collect();
    let running: Vec<Running> = nodes.iter().map(|node| start(node, &ledgers)).collect();
    let expected = visible_ids(&runtime, &site);
    wait_nodes("both caught up", 60, &running, || {
        caught_up(&ledgers, &expected)
    });
    let mut shot = 0;
    let mut create = |n: usize| {
        for _ in 0..n {
            shot += 1;
            new_shot(&sim, &format!("cut{shot:05}"));
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    // First the node that runs most plugins, then the other, is cut off for longer than its
    // lease during activity: the one left polls and runs every plugin meanwhile; then the cut
    // one comes back. One of the two cuts hits the poller.
    let mut owners = Vec::new();
    wait_nodes("every plugin shows its node", 30, &running, || {
        owners = plugin_nodes(&status_json(nodes[0].port));
        owners.len() == PLUGINS.len()
    });
    let first = usize::from(owners.iter().filter(|node| *node == "c2").count() >= 2);
    let mut repeated = vec![0; PLUGINS.len()];
    let clock = std::time::Instant::now();
    for victim in [first, 1 - first] {
        let other = 1 - victim;
        let polls = |idx: usize| running[idx].output().matches("polls the site now").count();
        let polled = polls(other);
        let (led, ran) = (
            polls(victim) > 0 && !running[victim].output().contains("stops polling"),
            owners
                .iter()
                .filter(|node| **node == nodes[victim].name)
                .count(),
        );
        eprintln!(
            "cutting {} (poller: {led}, runs {ran} plugins)",
            nodes[victim].name
        );
        create(20);
        proxies[victim].cut();
        create(150);
        if led {
            wait_nodes("the other node polls instead", 30, &running, || {
                polls(other) > polled
            });
        }
        create(50);
        proxies[victim].mend();
        eprintln!("mended at {:.1} s", clock.elapsed().as_secs_f64());
        create(50);
        let expected = visible_ids(&runtime, &site);
        wait_nodes(
            "every plugin has every event after the cut",
            120,
            &running,
            || caught_up(&ledgers, &expected),
        );
        eprintln!("caught up at {:.1} s", clock.elapsed().as_secs_f64());
        for (idx, (plugin, now)) in repeats(&ledgers).into_iter().enumerate() {
            let cost = now - repeated[idx];
            repeated[idx] = now;
            eprintln!("{plugin}: {cost} repeats");
            assert!(
                cost <= 1,
                "{plugin} repeated {cost} events when {} was cut off from NATS",
                nodes[victim].name
            );
        }
        owners = plugin_nodes(&status_json(nodes[0].port));
    }
    let after_cut: Vec<(&str, usize)> = PLUGINS.iter().copied().zip(repeated).collect();

    // The NATS server freezes for a few seconds during activity, then thaws.
    create(20);
    signal(server.pid(), "-STOP");
    create(100);
    std::thread::sleep(Duration::from_secs(3));
    signal(server.pid(), "-CONT");
    create(50);
    let expected = visible_ids(&runtime, &site);
    wait_nodes(
        "every plugin has every event after the freeze",
        120,
        &running,
        || caught_up(&ledgers, &expected),
    );
    for ((plugin, before), (_, now)) in after_cut.iter().zip(repeats(&ledgers)) {
        eprintln!("{plugin}: {} repeats during the freeze", now - before);
        assert!(
            now - before <= 1,
            "{plugin} repeated {} events when the NATS server froze",
            now - before
        );
    }
    let mut running = running;
    for run in &mut running {
        assert!(run.terminate(30).success(), "{}", run.output());
    }
    runtime.block_on(sim.shutdown());
}
