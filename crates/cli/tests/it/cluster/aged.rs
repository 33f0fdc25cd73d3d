//! A plugin paused while its events age out of the stream: when it runs again it logs an
//! ERROR naming itself and where its loss begins, and goes on with the events still there.

use std::time::{Duration, Instant};

use sgevents_cluster::stream::EventStream;
use sgevents_cluster::{Cluster, ClusterSettings};

use super::{
    Bed, LEDGER_PLUGIN, ledger, new_shot, node, plugin_via_socket, sgevents, start, status_json,
    visible_ids, wait_nodes,
};

#[test]
fn events_that_age_out_before_a_plugin_runs_them_are_named_in_an_error() {
    let Bed {
        runtime,
        sim,
        server,
        dir,
        plugins,
        ledgers,
    } = Bed::new(20);
    std::fs::write(plugins.join("ledger_a.py"), LEDGER_PLUGIN).unwrap();
    let site = sim.url();
    let one = node(dir.path(), "g1", &site, &plugins, &server.url());
    let mut running = vec![start(&one, &ledgers)];
    let expected = visible_ids(&runtime, &site);
    wait_nodes("the plugin caught up", 60, &running, || {
        ledger(&ledgers, "ledger_a").len() >= expected.len()
    });
    let last = expected.last().copied().unwrap();

    // Paused, it leaves the next events in the stream.
    plugin_via_socket("pause", "ledger_a", &one.config);
    wait_nodes("the plugin shows paused", 30, &running, || {
        status_json(one.port)["plugins"][0]["state"] == "paused"
    });
    let create = |code: &str| {
        new_shot(&sim, code);
    };
    create("aged1");
    create("aged2");
    let newest = visible_ids(&runtime, &site).last().copied().unwrap();
    wait_nodes("the poller published them", 30, &running, || {
        sgevents(&["state", "show", "--json"], &one.config)["cluster"]["poller_last_id"]
            .as_i64()
            .is_some_and(|id| id >= newest)
    });
    assert!(
        running[0].terminate(30).success(),
        "{}",
        running[0].output()
    );

    // With the node down, the stream's age limit is cut to a second: everything in it goes.
    runtime.block_on(async {
        let cluster = Cluster::connect(ClusterSettings {
            nats_urls: vec![server.url()],
            name: "itest".to_owned(),
            node: "test".to_owned(),
            lease: Duration::from_secs(10),
            stream_max_age: Duration::from_secs(1),
        })
        .await
        .unwrap();
        let stream = EventStream::open(&cluster, 1).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let extent = stream.extent().await.unwrap();
            if extent.first > extent.last {
                break;
            }
            assert!(Instant::now() < deadline, "nothing aged out: {extent:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    // The node comes back (the stream keeps a week again), the plugin is unpaused and a new
    // event arrives: the plugin runs it and says what it missed.
    running = vec![start(&one, &ledgers)];
    wait_nodes("the node runs the plugin", 60, &running, || {
        running[0].output().contains("is paused by an operator")
    });
    sgevents(&["plugin", "unpause", "ledger_a"], &one.config);
    create("fresh");
    let visible = visible_ids(&runtime, &site);
    let fresh = visible.last().copied().unwrap();
    // The shot's first event is the first the plugin gets after the gap.
    let first_fresh = visible.iter().copied().find(|id| *id > newest).unwrap();
    wait_nodes("the plugin ran the new event", 60, &running, || {
        ledger(&ledgers, "ledger_a").contains(&fresh)
    });
    let output = running[0].output();
    let error = output
        .lines()
        .find(|line| line.contains("missed events"))
        .unwrap_or_else(|| panic!("no ERROR about the missed events:\n{output}"));
    eprintln!("{error}");
    assert!(error.starts_with("ERROR"), "{error}");
    assert!(
        error.contains(&format!("{}/ledger_a", plugins.display()))
            && error.contains(&format!("It had finished event {last};"))
            && error.contains(&format!("goes on with event {first_fresh}")),
        "{error}"
    );
    let seen = ledger(&ledgers, "ledger_a");
    assert!(
        seen.iter().all(|id| *id <= last || *id >= first_fresh),
        "it ran events that had aged out: {seen:?}"
    );
    assert!(running[0].terminate(30).success());
    runtime.block_on(sim.shutdown());
}
