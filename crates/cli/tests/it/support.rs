//! Finding the Python interpreter and writing configs for the binary under test.

use std::path::{Path, PathBuf};

/// The venv's Python with shotgun_api3 (`bash scripts/venv.sh` creates it).
pub(crate) fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("SGEVENTS_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with shotgun_api3: run `bash scripts/venv.sh` or set SGEVENTS_PYTHON"
    );
    venv
}

/// A TOML config for a site, a state db and one plugin folder.
pub(crate) fn config(dir: &Path, site: &str, script: (&str, &str), plugins: &Path) -> PathBuf {
    config_with(dir, site, script, plugins, "", "")
}

/// [`config`] with extra lines for the `[daemon]` and the `[[plugins]]` table.
pub(crate) fn config_with(
    dir: &Path,
    site: &str,
    script: (&str, &str),
    plugins: &Path,
    daemon_extra: &str,
    plugin_extra: &str,
) -> PathBuf {
    let path = dir.join("sgevents.toml");
    let text = format!(
        "[daemon]\nstate_db = {state:?}\nlog_path = {logs:?}\nlog_file = \"sgevents.log\"\nfetch_interval_secs = 1\nshutdown_grace_secs = 5\n{daemon_extra}\n\n\
         [site]\nserver = {site:?}\nscript_name = {name:?}\nscript_key = {key:?}\n\n\
         [[plugins]]\npath = {plugins:?}\n{plugin_extra}\n",
        state = dir.join("state.sqlite3").display().to_string(),
        logs = dir.join("logs").display().to_string(),
        name = script.0,
        key = script.1,
        plugins = plugins.display().to_string(),
    );
    std::fs::write(&path, text).unwrap();
    path
}
