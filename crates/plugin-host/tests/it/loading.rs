//! Loading plugins: upstream's failure cases, the registrar, interpreter checks.

use std::path::Path;

use sgevents_plugin_api::{MatchEvents, Plugin};
use sgevents_plugin_host::{Emails, LoadError, check_interpreter, load_plugin};

use crate::support::{Logs, config, example, python, site};

#[tokio::test]
async fn check_interpreter_reports_the_python_version() {
    let version = check_interpreter(&python()).await.unwrap();
    assert!(version.starts_with("3."), "{version}");
}

#[tokio::test]
async fn a_missing_interpreter_is_named() {
    let err = check_interpreter(Path::new("/nonexistent/bin/python3"))
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::Interpreter { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("/nonexistent/bin/python3"), "{text}");
    assert!(text.contains("`python` setting"), "{text}");
}

#[tokio::test]
async fn a_missing_shotgun_api3_names_the_pip_command() {
    // A broken shotgun_api3 shadows the venv's one, as a half-installed package would.
    let shadow = tempfile::tempdir().unwrap();
    std::fs::create_dir(shadow.path().join("shotgun_api3")).unwrap();
    std::fs::write(
        shadow.path().join("shotgun_api3/__init__.py"),
        "raise ImportError('No module named shotgun_api3.lib')\n",
    )
    .unwrap();
    let sim = site().await;
    let mut config = config(&sim);
    config
        .extra_env
        .push(("PYTHONPATH".to_owned(), shadow.path().display().to_string()));
    let err = load_plugin(&config, &example("log_new_versions.py"))
        .await
        .unwrap_err();
    let LoadError::MissingShotgunApi { reason, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(reason.contains("shotgun_api3.lib"), "{reason}");
    let text = err.to_string();
    let fix = format!("`{} -m pip install shotgun-api3`", python().display());
    assert!(text.contains(&fix), "{text}");
}

#[tokio::test]
async fn a_path_that_is_not_a_file_is_refused() {
    let sim = site().await;
    let dir = tempfile::tempdir().unwrap();
    let err = load_plugin(&config(&sim), dir.path()).await.unwrap_err();
    assert!(matches!(err, LoadError::BadPath { .. }), "{err:?}");
    let err = load_plugin(&config(&sim), &dir.path().join("missing.py"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing.py"), "{err}");
}

#[tokio::test]
async fn upstreams_load_failures_deactivate_the_plugin_with_upstreams_messages() {
    let sim = site().await;
    let config = config(&sim);
    let path = example("faulty/import_error.py");
    let err = load_plugin(&config, &path).await.unwrap_err();
    let LoadError::Import {
        message, traceback, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        message,
        &format!("Could not load the plugin at {}.", path.display())
    );
    assert!(traceback.contains("ModuleNotFoundError"), "{traceback}");
    assert_eq!(err.logger("import_error"), "plugin.import_error");
    assert_eq!(err.py_level(), 40);

    let path = example("faulty/no_register.py");
    let err = load_plugin(&config, &path).await.unwrap_err();
    assert!(
        matches!(err, LoadError::NoRegisterCallbacks { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "Did not find a registerCallbacks function in plugin at {}.",
            path.display()
        )
    );
    assert_eq!(err.logger("no_register"), "engine");
    assert_eq!(err.py_level(), 50);

    let path = example("faulty/register_raises.py");
    let err = load_plugin(&config, &path).await.unwrap_err();
    let LoadError::RegisterFailed {
        message, traceback, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        message,
        &format!(
            "Error running register callback function from plugin at {}.",
            path.display()
        )
    );
    assert!(traceback.contains("FileNotFoundError"), "{traceback}");

    let err = load_plugin(&config, &example("faulty/not_callable.py"))
        .await
        .unwrap_err();
    let LoadError::NotCallable { traceback, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(
        traceback.contains("The callback must be a callable object"),
        "{traceback}"
    );

    let path = example("faulty/bad_match_events.py");
    let err = load_plugin(&config, &path).await.unwrap_err();
    let LoadError::BadMatchEvents {
        callback, reason, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(callback, "on_change");
    assert!(reason.contains("must be a dict"), "{reason}");
    assert!(err.to_string().contains(&path.display().to_string()));
}

#[tokio::test]
async fn a_load_failure_is_logged_like_upstream() {
    let (logs, _guard) = Logs::capture();
    let sim = site().await;
    let err = load_plugin(&config(&sim), &example("faulty/no_register.py"))
        .await
        .unwrap_err();
    err.emit("no_register");
    let record = logs
        .wait_for("engine", "Did not find a registerCallbacks function")
        .await;
    assert_eq!(record.py_level, 50);
    assert_eq!(record.level, tracing::Level::ERROR);
}

#[tokio::test]
async fn the_registrar_reports_callbacks_filters_and_emails() {
    let sim = site().await;
    let config = config(&sim);

    let mut holds = load_plugin(&config, &example("shots_on_hold.py"))
        .await
        .unwrap();
    assert_eq!(holds.name(), "shots_on_hold");
    let [watcher] = holds.callbacks() else {
        panic!("{:?}", holds.callbacks());
    };
    let suffix = watcher.name.strip_prefix("HoldWatcher_0x").unwrap();
    assert!(
        !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "{}",
        watcher.name
    );
    assert!(!watcher.stop_on_error);
    assert!(
        watcher
            .match_events
            .matches("Shotgun_Shot_Change", Some("sg_status_list"))
    );
    assert!(
        !watcher
            .match_events
            .matches("Shotgun_Shot_Change", Some("code"))
    );
    assert_eq!(
        holds.emails(),
        &Emails::To(vec![
            "supervisors@example.com".to_owned(),
            "pipeline@example.com".to_owned()
        ])
    );

    let mut tally = load_plugin(&config, &example("activity_tally.py"))
        .await
        .unwrap();
    let names: Vec<&str> = tally.callbacks().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["count_event", "report"]);
    assert!(tally.callbacks().iter().all(|c| c.stop_on_error));
    assert!(
        tally.callbacks()[0]
            .match_events
            .matches("Anything_At_All", None)
    );
    assert_eq!(tally.callbacks()[1].match_events, MatchEvents::All);
    assert_eq!(tally.emails(), &Emails::Disabled);

    let mut versions = load_plugin(&config, &example("log_new_versions.py"))
        .await
        .unwrap();
    assert_eq!(versions.emails(), &Emails::Default);
    assert!(
        versions.callbacks()[0]
            .match_events
            .matches("Shotgun_Version_New", None)
    );

    holds.shutdown().await;
    tally.shutdown().await;
    versions.shutdown().await;
}
