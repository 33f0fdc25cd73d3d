//! `sgevents events` and `sgevents replay` against the sim: replay runs exactly the events
//! `events --json` lists that the plugin's filters accept, in order, and moves no cursor.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use sgevents_sim::SimConfig;

use super::support::{config, python};

const SCRIPT: (&str, &str) = ("recorder", "recorder-key");

/// Records every event its callback gets (one JSON line each); fails on the id in FAIL_ON.
const RECORDER: &str = r#"
import datetime, json, os

def as_json(value):
    # shotgun_api3 hands callbacks datetimes; write them as the site does.
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

def record(sg, logger, event, args):
    with open(os.environ["RECORD_TO"], "a") as out:
        out.write(json.dumps(event, sort_keys=True, default=as_json) + "\n")
    if str(event["id"]) == os.environ.get("FAIL_ON"):
        raise RuntimeError("told to fail on %d" % event["id"])

def registerCallbacks(reg):
    reg.registerCallback("recorder", "recorder-key", record,
                         {"Shotgun_Shot_Change": ["sg_status_list", "description"], "Shotgun_Version_New": None},
                         None, stopOnError=False)
"#;

fn sgevents(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sgevents"));
    command.args(args).arg("--python").arg(python());
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn sgevents_plain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sgevents"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn wanted(event: &Value) -> bool {
    match event["event_type"].as_str() {
        Some("Shotgun_Version_New") => true,
        Some("Shotgun_Shot_Change") => matches!(
            event["attribute_name"].as_str(),
            Some("sg_status_list" | "description")
        ),
        _ => false,
    }
}

#[test]
fn replay_runs_the_plugins_events_in_order_and_leaves_the_cursor() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(sgevents_sim::spawn(SimConfig {
            scripts: vec![(SCRIPT.0.to_owned(), SCRIPT.1.to_owned())],
            prefill: 400,
            ..SimConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("recorder.py"), RECORDER).unwrap();
    let config = config(dir.path(), &sim.url(), SCRIPT, &plugins);
    let config = config.to_str().unwrap();
    let db = dir.path().join("state.sqlite3");
    let db = db.to_str().unwrap();
    let folder = plugins.display().to_string();
    let set = sgevents_plain(&[
        "state",
        "set",
        "--db",
        db,
        &format!("{folder}/recorder"),
        "42",
    ]);
    assert!(set.status.success(), "{}", text(&set.stderr));
    let cursor_before = text(&sgevents_plain(&["state", "show", "--db", db, "--json"]).stdout);

    // `events --json`: the range, both ends inclusive, each row as a plugin receives it.
    let listed = sgevents_plain(&[
        "events", "--config", config, "--from", "50", "--to", "350", "--json",
    ]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listed: Vec<Value> = text(&listed.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let ids: Vec<i64> = listed
        .iter()
        .map(|event| event["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.first(), Some(&50));
    assert_eq!(ids.last(), Some(&350));
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "events are in id order"
    );
    let expected: Vec<&Value> = listed.iter().filter(|event| wanted(event)).collect();
    assert!(
        expected.len() >= 10 && expected.len() < listed.len(),
        "the range must hold events the plugin wants and events it does not ({} of {})",
        expected.len(),
        listed.len()
    );
    // `--type` keeps only matching types.
    let typed = sgevents_plain(&[
        "events",
        "--config",
        config,
        "--from",
        "50",
        "--to",
        "350",
        "--type",
        "Shotgun_Version_*",
    ]);
    assert!(typed.status.success());
    let typed = text(&typed.stdout);
    let n_versions = listed
        .iter()
        .filter(|e| {
            e["event_type"]
                .as_str()
                .unwrap()
                .starts_with("Shotgun_Version_")
        })
        .count();
    assert_eq!(typed.lines().count(), n_versions, "{typed}");

    // --dry-run lists the same events and runs nothing.
    let record = dir.path().join("record.jsonl");
    let dry = sgevents(
        &[
            "replay",
            "--config",
            config,
            "recorder",
            "--from",
            "50",
            "--to",
            "350",
            "--dry-run",
        ],
        &[("RECORD_TO", &record)],
    );
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let dry_out = text(&dry.stdout);
    assert_eq!(
        dry_out
            .lines()
            .filter(|line| line.ends_with("would run"))
            .count(),
        expected.len(),
        "{dry_out}"
    );
    assert!(!record.exists(), "--dry-run ran a callback");

    // The real run: exactly those events, in order, exactly as `events --json` printed them.
    let fail_on = expected[3]["id"].as_i64().unwrap().to_string();
    let mut command = Command::new(env!("CARGO_BIN_EXE_sgevents"));
    let run = command
        .args([
            "replay", "--config", config, "recorder", "--from", "50", "--to", "350", "--python",
        ])
        .arg(python())
        .env("RECORD_TO", &record)
        .env("FAIL_ON", &fail_on)
        .output()
        .unwrap();
    let out = text(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(1),
        "a failed callback makes replay exit 1\n{out}\n{}",
        text(&run.stderr)
    );
    let got: Vec<Value> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let expected: Vec<Value> = expected.into_iter().cloned().collect();
    assert_eq!(
        got, expected,
        "replay must hand the plugin exactly the events it wants, in order"
    );
    assert_eq!(
        out.lines().filter(|line| line.ends_with(" ok")).count(),
        expected.len() - 1,
        "{out}"
    );
    let failed: Vec<&str> = out.lines().filter(|line| line.contains("FAILED")).collect();
    assert_eq!(failed.len(), 1, "{out}");
    assert!(
        failed[0].starts_with(&format!("{fail_on} ")) && failed[0].contains("told to fail"),
        "{}",
        failed[0]
    );
    assert!(out.contains("1 failed"), "{out}");

    let cursor_after = text(&sgevents_plain(&["state", "show", "--db", db, "--json"]).stdout);
    assert_eq!(cursor_before, cursor_after, "replay moved a cursor");
    runtime.block_on(sim.shutdown());
}
