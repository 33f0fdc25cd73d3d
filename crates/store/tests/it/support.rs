//! Shared helpers: fixture paths, a Python interpreter, sample cursors.

use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::Timestamp;
use sgevents_store::{Cursor, PluginKey};

pub(crate) fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// `SGEVENTS_PYTHON`, else the workspace venv, else `python3`.
pub(crate) fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("SGEVENTS_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// Runs a Python snippet with `argv[1] = out` and asserts it succeeded.
pub(crate) fn run_python(script: &str, out: &Path) {
    let output = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(out)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub(crate) fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

pub(crate) fn key(collection: &str, plugin: &str) -> PluginKey {
    PluginKey::new(collection, plugin)
}

pub(crate) fn cursor(last_id: Option<i64>, backlog: &[(i64, &str)]) -> Cursor {
    Cursor {
        last_id,
        backlog: backlog.iter().map(|(id, at)| (*id, ts(at))).collect(),
    }
}
