//! Finds plugin files the way upstream does: `*.py` in each configured folder, no dotfiles, no
//! subfolders, sorted by name; a file counts as changed when its mtime moves forward.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One plugin file found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFile {
    /// The plugin name: the file stem.
    pub name: String,
    /// The full path.
    pub path: PathBuf,
    /// The modification time seen.
    pub mtime: SystemTime,
}

/// Lists the plugin files of `dir`, sorted by file name.
///
/// # Errors
/// When the folder cannot be read (for example a network share that went away); the caller
/// keeps the plugins it has and tries again on the next scan.
pub fn scan(dir: &Path) -> std::io::Result<Vec<PluginFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if file_name.starts_with('.') || !file_name.ends_with(".py") {
            continue;
        }
        let path = entry.path();
        // A file that vanishes or cannot be stat'ed between listing and stat is skipped this
        // round, never fatal (upstream issue #30).
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue;
        };
        if !metadata.is_file() {
            continue;
        }
        files.push(PluginFile {
            name: file_name.trim_end_matches(".py").to_owned(),
            mtime: metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            path,
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_python_files_like_upstream() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "b_plugin.py",
            "a_plugin.py",
            ".hidden.py",
            "notes.txt",
            "c.pyc",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.py")).unwrap();
        let names: Vec<String> = scan(dir.path())
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["a_plugin", "b_plugin"]);
    }
}
