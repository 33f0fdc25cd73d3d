//! Plugin processes come from a fork server: named after their plugin, children of one
//! Python process per interpreter, and still running when that process dies.

use sgevents_plugin_api::Plugin;
use sgevents_plugin_host::load_plugin;

use crate::dispatch::probe_copy;
use crate::support::{
    Logs, config, create_shot, dispatch, events_after, latest, process_gone, site, wait_until,
};

fn stat_ppid(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    rest.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn plugin_processes_are_forked_named_and_outlive_their_fork_server() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let before = latest(&sim);
    create_shot(&sim, "sh150");
    let event = events_after(&sim, before).await.remove(0);
    let (dir, path_a) = probe_copy();
    let (path_b, path_c) = (dir.path().join("probe_b.py"), dir.path().join("probe_c.py"));
    std::fs::copy(&path_a, &path_b).unwrap();
    std::fs::copy(&path_a, &path_c).unwrap();
    let pid_of = |logger: &str| {
        let record = logs.matching(logger, "probe ").pop().unwrap();
        let report: serde_json::Value =
            serde_json::from_str(record.message.trim_start_matches("probe ")).unwrap();
        let pid = u32::try_from(report["pid"].as_u64().unwrap()).unwrap();
        assert_eq!(report["pgid"].as_u64(), Some(u64::from(pid)), "own group");
        assert_eq!(report["stdin_is_devnull"], true);
        pid
    };

    let mut a = load_plugin(&config(&sim), &path_a).await.unwrap();
    let mut b = load_plugin(&config(&sim), &path_b).await.unwrap();
    assert!(dispatch(&mut a, &event).await.unwrap().failures.is_empty());
    assert!(dispatch(&mut b, &event).await.unwrap().failures.is_empty());
    let (pid_a, pid_b) = (pid_of("plugin.probe.probe"), pid_of("plugin.probe_b.probe"));
    assert_ne!(pid_a, pid_b);
    assert_eq!(comm(pid_a), "sg-probe");
    assert_eq!(comm(pid_b), "sg-probe_b");
    let server = stat_ppid(pid_a);
    assert_eq!(stat_ppid(pid_b), server, "both forked by one process");
    assert_eq!(comm(server), "sg-forkserver");

    // The fork server dies: its children run on, and the next plugin gets a new server.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(server).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        wait_until(|| process_gone(server).then_some(()))
            .await
            .is_some()
    );
    assert!(dispatch(&mut a, &event).await.unwrap().failures.is_empty());
    assert_eq!(pid_of("plugin.probe.probe"), pid_a);
    let mut c = load_plugin(&config(&sim), &path_c).await.unwrap();
    assert!(dispatch(&mut c, &event).await.unwrap().failures.is_empty());
    let pid_c = pid_of("plugin.probe_c.probe");
    let new_server = stat_ppid(pid_c);
    assert_ne!(new_server, server);
    assert_eq!(comm(new_server), "sg-forkserver");
    assert_eq!(a.restarts() + b.restarts() + c.restarts(), 0);
    for mut plugin in [a, b, c] {
        plugin.shutdown().await;
    }
    for pid in [pid_a, pid_b, pid_c] {
        assert!(
            wait_until(|| process_gone(pid).then_some(()))
                .await
                .is_some()
        );
    }
}

/// The pids of this process's children named `sg-forkserver` whose environment has `marker`.
fn fork_servers_with(marker: &str) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|_| stat_ppid(*pid) == me)
                && comm(*pid) == "sg-forkserver"
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == marker.as_bytes()))
        })
        .collect()
}

#[tokio::test]
async fn warm_up_starts_the_fork_server_that_the_first_load_then_forks_from() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let mut config = config(&sim);
    // A key of its own, so no other test's fork server serves it.
    config
        .extra_env
        .push(("SGEVENTS_TEST_WARM".to_owned(), "1".to_owned()));
    let marker = "SGEVENTS_TEST_WARM=1";
    assert!(fork_servers_with(marker).is_empty());
    sgevents_plugin_host::warm_up(&config);
    let server = wait_until(|| fork_servers_with(marker).first().copied())
        .await
        .expect("warm_up started no fork server");
    let before = latest(&sim);
    create_shot(&sim, "sh151");
    let event = events_after(&sim, before).await.remove(0);
    let (_dir, path) = probe_copy();
    let mut plugin = load_plugin(&config, &path).await.unwrap();
    assert!(
        dispatch(&mut plugin, &event)
            .await
            .unwrap()
            .failures
            .is_empty()
    );
    let record = logs.matching("plugin.probe.probe", "probe ").pop().unwrap();
    let report: serde_json::Value =
        serde_json::from_str(record.message.trim_start_matches("probe ")).unwrap();
    let pid = u32::try_from(report["pid"].as_u64().unwrap()).unwrap();
    assert_eq!(
        stat_ppid(pid),
        server,
        "the plugin came from the warmed-up server"
    );
    assert_eq!(
        fork_servers_with(marker),
        [server],
        "one server, not a second"
    );
    plugin.shutdown().await;
}
