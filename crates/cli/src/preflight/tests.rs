//! The run-time checks on real paths and a real interpreter.

use std::path::{Path, PathBuf};

use sgevents_config::{Environment, Settings};

use super::{check, python_beside};

/// The venv's Python with shotgun_api3, as scripts/test.sh sets it.
fn python() -> PathBuf {
    std::env::var_os("SGEVENTS_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"),
        PathBuf::from,
    )
}

fn settings(dir: &Path, daemon: &str, site: &str) -> Settings {
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    let text = format!(
        "[daemon]\nlog_file = \"main.log\"\n{daemon}\n\
         [site]\nscript_name = \"daemon\"\nscript_key = \"topsecret\"\n{site}\n\
         [[plugins]]\npath = {plugins:?}\n",
        plugins = dir.join("plugins").display().to_string(),
    );
    let path = dir.join("sgevents.toml");
    std::fs::write(&path, &text).unwrap();
    sgevents_config::parse_with_env(&text, &path, &Environment::default()).unwrap()
}

fn texts(problems: &[sgevents_config::ConfigProblem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn a_good_setup_has_no_problems() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let settings = settings(
        dir.path(),
        &format!("state_db = \"{d}/state.sqlite3\"\nlog_path = \"{d}/logs/new\""),
        "server = \"https://site.example.com\"",
    );
    let problems = check(&settings, &python()).await;
    assert!(problems.is_empty(), "{:#?}", texts(&problems));
    assert!(
        !dir.path().join("logs").exists() && !dir.path().join("state.sqlite3").exists(),
        "checking must not create anything"
    );
}

#[tokio::test]
async fn every_problem_run_would_hit_is_named_once_and_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    std::fs::write(dir.path().join("a-file"), "").unwrap();
    let settings = settings(
        dir.path(),
        &format!("state_db = \"{d}/missing/state.sqlite3\"\nlog_path = \"{d}/a-file/logs\""),
        "server = \"https://bob:hunter2@site.example.com\"",
    );
    let problems = check(&settings, Path::new("/nonexistent/python")).await;
    let shown = texts(&problems);
    assert_eq!(problems.len(), 4, "{shown:#?}");
    let keys: Vec<_> = problems.iter().filter_map(|p| p.key.as_deref()).collect();
    assert_eq!(
        keys,
        [
            "site.server",
            "daemon.state_db",
            "daemon.log_path",
            "--python"
        ],
        "{shown:#?}"
    );
    let all = shown.join("\n");
    assert!(!all.contains("hunter2") && !all.contains("bob"), "{all}");
    assert!(all.contains("credentials inside the site URL"), "{all}");
    assert!(all.contains("missing, does not exist"), "{all}");
    assert!(all.contains("a-file is not a directory"), "{all}");
    assert!(all.contains("/nonexistent/python"), "{all}");
    assert_eq!(all.matches("os error 2").count(), 1, "{all}");
}

#[test]
fn a_python_beside_the_executable_is_found() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("sgevents");
    assert_eq!(python_beside(&exe), None);
    let python = dir.path().join("python");
    std::fs::write(&python, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(python_beside(&exe), Some(python));
}
