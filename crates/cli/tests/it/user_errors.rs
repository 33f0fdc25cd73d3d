//! What a user sees from the binary when something is wrong: `config check` and `run` agree,
//! each thing is said once, and a port clash names what changes the port.

use std::path::Path;
use std::process::{Command, Output};

use super::support::{config_with, python};

fn sgevents(args: &[&str], config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sgevents"))
        .args(args)
        .arg(config)
        .arg("--python")
        .arg(python())
        .env_remove("SGEVENTS_CONFIG")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn config_check_refuses_what_run_refuses_and_never_prints_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(dir.path().join("not-a-dir"), "").unwrap();
    let config = config_with(
        dir.path(),
        "https://alice:s3cr3t-pass@site.example.com",
        ("daemon", "k3y-value"),
        &plugins,
        "",
        "",
    );
    // The state db goes where no directory is, and the logs under a regular file.
    let text_before = std::fs::read_to_string(&config).unwrap();
    let state = dir.path().join("state.sqlite3").display().to_string();
    let logs = dir.path().join("logs").display().to_string();
    let broken = text_before
        .replace(
            &state,
            &dir.path().join("nope/state.sqlite3").display().to_string(),
        )
        .replace(
            &logs,
            &dir.path().join("not-a-dir/logs").display().to_string(),
        );
    std::fs::write(&config, broken).unwrap();

    let check = sgevents(&["config", "check"], &config);
    let run = sgevents(&["run", "--config"], &config);
    assert!(!check.status.success() && !run.status.success());
    let (check, run) = (text(&check), text(&run));
    for expected in [
        "site.server: credentials inside the site URL are not supported",
        "daemon.state_db: the directory of the state database",
        "daemon.log_path: log directory",
        "3 problem(s)",
    ] {
        assert!(
            check.contains(expected),
            "check lacks {expected:?}:\n{check}"
        );
        assert!(run.contains(expected), "run lacks {expected:?}:\n{run}");
    }
    for secret in ["s3cr3t-pass", "alice", "k3y-value"] {
        assert!(
            !check.contains(secret) && !run.contains(secret),
            "{check}\n{run}"
        );
    }
    assert!(
        !dir.path().join("nope").exists(),
        "a refused start created something"
    );

    // Fixed, both agree again: check says OK, and run gets past its checks (to the site).
    std::fs::write(&config, text_before.replace("alice:s3cr3t-pass@", "")).unwrap();
    let check = sgevents(&["config", "check"], &config);
    assert!(check.status.success(), "{}", text(&check));
    assert!(text(&check).contains(": OK (TOML)"), "{}", text(&check));
}

#[test]
fn a_missing_config_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    for args in [&["run", "--config"][..], &["config", "check"][..]] {
        let output = sgevents(args, &missing);
        assert!(!output.status.success());
        let shown = text(&output);
        assert!(shown.contains("absent.toml"), "{shown}");
        assert_eq!(shown.matches("os error 2").count(), 1, "{args:?}: {shown}");
    }
}

#[test]
fn a_port_clash_names_the_flag_or_the_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let config = config_with(
        dir.path(),
        "http://127.0.0.1:9",
        ("daemon", "key"),
        &plugins,
        &format!("http = {addr:?}"),
        "",
    );
    let output = sgevents(&["run", "--config"], &config);
    assert!(!output.status.success());
    let shown = text(&output);
    assert!(
        shown.contains(&format!("the status endpoint cannot listen on {addr}")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "change the `http` setting in {} or override it with --http",
            config.display()
        )),
        "{shown}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_sgevents"))
        .args(["run", "--http", &addr, "--python"])
        .arg(python())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let shown = text(&output);
    assert!(!output.status.success(), "{shown}");
    assert!(
        shown.contains("choose another address with --http"),
        "{shown}"
    );
    assert!(!shown.contains("`http` setting"), "{shown}");
    drop(taken);
}

#[test]
fn a_port_clash_of_the_emulator_names_its_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_sgevents"))
        .args(["sim", "--listen", &addr])
        .output()
        .unwrap();
    let shown = text(&output);
    assert!(!output.status.success(), "{shown}");
    assert!(
        shown.contains("choose another address with --listen"),
        "{shown}"
    );
    assert_eq!(shown.matches("os error 98").count(), 1, "{shown}");
    drop(taken);
}
