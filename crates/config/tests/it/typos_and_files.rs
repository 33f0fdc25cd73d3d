//! Mistakes as users make them: misspelt keys, one broken line, and a path that is not a
//! config file. Each gets one clear problem, never a cascade, a hang or a huge read.

use std::time::Duration;

use sgevents_config::{ConfigProblem, MAX_CONFIG_BYTES, check_with_env};

use crate::fixtures::{Fixture, NATIVE_TOML, UPSTREAM_INI, site_env};

fn problems(fx: &Fixture, name: &str, text: &str) -> Vec<ConfigProblem> {
    let path = fx.write(name, text);
    match check_with_env(&path, &site_env()) {
        Ok(_) => panic!("{name}: accepted:\n{text}"),
        Err(problems) => problems,
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|line| line.contains(needle)).unwrap() + 1
}

#[test]
fn a_misspelt_required_ini_key_gets_did_you_mean_and_no_missing_error() {
    let fx = Fixture::new();
    let text = UPSTREAM_INI.replace("fetch_interval = 5", "fetch_intervl = 5");
    let found = problems(&fx, "a.conf", &text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].line, Some(line_of(&text, "fetch_intervl")));
    assert_eq!(found[0].key.as_deref(), Some("daemon.fetch_intervl"));
    assert!(
        found[0]
            .to_string()
            .contains("did you mean `fetch_interval`?"),
        "{}",
        found[0]
    );
}

#[test]
fn a_misspelt_optional_key_is_as_clear_in_both_formats() {
    let fx = Fixture::new();
    let text = UPSTREAM_INI.replace("max_event_batch_size = 500", "max_event_batch_siz = 500");
    let found = problems(&fx, "a.conf", &text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].line, Some(line_of(&text, "max_event_batch_siz")));
    assert_eq!(found[0].fix, "did you mean `max_event_batch_size`?");

    let text = NATIVE_TOML.replace(
        "log_file = \"sgevents\"",
        "log_file = \"sgevents\"\nqueue_sise = 10",
    );
    let found = problems(&fx, "a.toml", &text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].line, Some(line_of(&text, "queue_sise")));
    assert_eq!(found[0].key.as_deref(), Some("daemon.queue_sise"));
    assert_eq!(found[0].message, "unknown key `queue_sise`");
    assert_eq!(found[0].fix, "did you mean `queue_size`?");
}

#[test]
fn typos_are_reported_alongside_other_errors() {
    let fx = Fixture::new();
    let text = UPSTREAM_INI
        .replace("fetch_interval = 5", "fetch_intervl = 5")
        .replace("logMode: 1", "logMode: 7");
    let found = problems(&fx, "a.conf", &text);
    let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 2, "{shown:#?}");
    assert!(
        shown
            .iter()
            .any(|p| p.contains("did you mean `fetch_interval`?")),
        "{shown:#?}"
    );
    assert!(
        shown.iter().any(|p| p.contains("7 is not a log mode")),
        "{shown:#?}"
    );

    // A misspelt required TOML key: one problem, not also "required setting is missing".
    let text = NATIVE_TOML
        .replace("log_file = \"sgevents\"", "log_fiel = \"sgevents\"")
        .replace("{DIR}/plugins", "{DIR}/missing");
    let found = problems(&fx, "b.toml", &text);
    let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 2, "{shown:#?}");
    assert!(
        shown.iter().any(|p| p.contains("did you mean `log_file`?")),
        "{shown:#?}"
    );
    assert!(
        shown.iter().any(|p| p.contains("does not exist")),
        "{shown:#?}"
    );

    // A misspelt section or table.
    let text = UPSTREAM_INI.replace("[shotgun]", "[shotgn]");
    let found = problems(&fx, "c.conf", &text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].fix, "did you mean [shotgun]?");
    let text = NATIVE_TOML.replace("[site]", "[sites]");
    let found = problems(&fx, "d.toml", &text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].fix, "did you mean `site`?");
}

#[test]
fn one_malformed_line_is_one_error() {
    let fx = Fixture::new();
    let text = UPSTREAM_INI.replace("logMode: 1\n", "logMode: 1\nthis line is garbage\n");
    let found = problems(&fx, "a.conf", &text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].line, Some(line_of(&text, "garbage")));

    for (from, to) in [
        ("log_file = \"sgevents\"", "log_file = sgevents"),
        ("[site]", "[site"),
        ("log_path = \"{DIR}/logs\"", "log_path = \"{DIR}/logs\" 3"),
    ] {
        let text = NATIVE_TOML.replace(from, to);
        let found = problems(&fx, "a.toml", &text);
        assert_eq!(found.len(), 1, "{to}: {found:#?}");
        assert_eq!(found[0].line, Some(line_of(&text, to)), "{to}");
        assert!(
            found[0].message.contains("not valid TOML"),
            "{to}: {found:#?}"
        );
    }
    // Two bad lines: two errors, each on its line.
    let text = NATIVE_TOML
        .replace("log_file = \"sgevents\"", "log_file = sgevents")
        .replace(
            "script_name = \"shotgunEventDaemon\"",
            "script_name = shotgunEventDaemon",
        );
    let found = problems(&fx, "b.toml", &text);
    let lines: Vec<_> = found.iter().map(|p| p.line).collect();
    assert_eq!(
        lines,
        vec![
            Some(line_of(&text, "log_file")),
            Some(line_of(&text, "script_name"))
        ],
        "{found:#?}"
    );
}

/// Checks `path` on a thread, so that a hang fails the test instead of blocking it.
fn check_within(path: std::path::PathBuf) -> Vec<ConfigProblem> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(check_with_env(&path, &site_env()));
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(_)) => panic!("accepted"),
        Ok(Err(problems)) => problems,
        Err(_) => panic!("checking the path hung"),
    }
}

#[test]
fn the_config_path_must_be_a_regular_file_of_sane_size() {
    let fx = Fixture::new();
    let fifo = fx.path().join("fifo.conf");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let found = check_within(fifo);
    assert!(
        found[0].message.contains("is a FIFO, not a regular file"),
        "{found:#?}"
    );

    let found = check_within("/dev/zero".into());
    assert!(found[0].message.contains("is a device"), "{found:#?}");

    let found = check_within(fx.path().join("plugins"));
    assert!(found[0].message.contains("is a directory"), "{found:#?}");

    let huge = fx.path().join("huge.conf");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(8 * 1024 * 1024 * 1024).unwrap(); // sparse: 8 GiB on paper
    let found = check_within(huge);
    assert!(
        found[0]
            .message
            .contains(&format!("larger than the {MAX_CONFIG_BYTES} bytes")),
        "{found:#?}"
    );

    let found = check_within(fx.path().join("absent.conf"));
    assert_eq!(found.len(), 1);
    let shown = found[0].to_string();
    assert_eq!(shown.matches("os error 2").count(), 1, "{shown}");
}

#[test]
fn the_heartbeat_timeout_is_60_s_unless_set_whatever_the_dispatch() {
    let fx = Fixture::new();
    let load = |name: &str, text: &str| {
        check_with_env(&fx.write(name, text), &site_env())
            .unwrap()
            .daemon
            .heartbeat_timeout
    };
    assert_eq!(load("a.toml", NATIVE_TOML), Duration::from_secs(60));
    let sequential = NATIVE_TOML
        .replace(
            "log_file = \"sgevents\"",
            "log_file = \"sgevents\"\ndispatch = \"sequential\"",
        )
        .replace(
            "path = \"{DIR}/plugins\"",
            "path = \"{DIR}/plugins\"\ncallback_timeout_secs = 900",
        );
    assert_eq!(load("b.toml", &sequential), Duration::from_secs(60));
    let explicit = sequential.replace(
        "dispatch = \"sequential\"",
        "dispatch = \"sequential\"\nheartbeat_timeout_secs = 5",
    );
    assert_eq!(load("c.toml", &explicit), Duration::from_secs(5));
}

#[test]
fn reading_commands_do_not_need_the_daemons_keys() {
    let fx = Fixture::new();
    let path = fx.write("a.conf", UPSTREAM_INI);
    // The site's variables, but not the keys.
    let no_keys = sgevents_config::Environment::from_pairs([
        ("SG_ED_SITE_URL", "https://studio.example.com"),
        ("SG_ED_SCRIPT_NAME", "shotgunEventDaemon"),
    ]);
    let problems = check_with_env(&path, &no_keys).unwrap_err();
    assert!(
        problems.iter().any(|p| p.message.contains("SG_ED_API_KEY")),
        "{problems:#?}"
    );
    let settings = check_with_env(&path, &no_keys.without_secrets()).unwrap();
    assert!(settings.site.script_key.expose().is_empty());
    assert!(settings.daemon.state_db.ends_with("sgevents-state.sqlite3"));
}
