//! Locating the configuration file: `--config`, else upstream's search order plus ours.

use std::path::{Path, PathBuf};

use crate::ConfigError;

/// File names looked for in each directory, in order of preference.
pub const CONFIG_NAMES: [&str; 2] = ["sgevents.toml", "shotgunEventDaemon.conf"];

/// The configuration file to use. With `explicit`, that file (it must exist). Otherwise the
/// first of [`CONFIG_NAMES`] found in: the directory of the executable's real path, `/etc`
/// (upstream's order), then the current directory (ours).
///
/// # Errors
/// [`ConfigError::Read`] when `explicit` does not exist; [`ConfigError::NotFound`] listing every
/// searched path otherwise.
pub fn find_config(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.canonicalize().ok())
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    dirs.push(PathBuf::from("/etc"));
    if let Ok(cwd) = std::env::current_dir() {
        dirs.push(cwd);
    }
    find_config_in(explicit, &dirs)
}

/// [`find_config`] over the given directories.
///
/// # Errors
/// As [`find_config`].
pub fn find_config_in(explicit: Option<&Path>, dirs: &[PathBuf]) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return match std::fs::metadata(path) {
            Ok(_) => Ok(path.to_owned()),
            Err(error) => Err(ConfigError::Read {
                path: path.to_owned(),
                error,
            }),
        };
    }
    let mut searched = Vec::new();
    for dir in dirs {
        for name in CONFIG_NAMES {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
            searched.push(candidate);
        }
    }
    Err(ConfigError::NotFound { searched })
}
