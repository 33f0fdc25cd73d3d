//! Configuration errors: every problem names the file, the line where known, the key and the fix.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The configuration file.
    pub file: PathBuf,
    /// 1-based line, when the problem is at a known place in the file.
    pub line: Option<usize>,
    /// The key as the file's format spells it (`daemon.logMode`, `site.script_key`, ...).
    pub key: Option<String>,
    /// What is wrong. Never contains a secret value.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}; {}", self.message, self.fix)
    }
}

/// Why a configuration could not be found, read or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No configuration file in any searched place.
    #[error(
        "no configuration file found; searched {}. Pass --config PATH or put shotgunEventDaemon.conf or sgevents.toml in one of these places",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound {
        /// Every path that was tried.
        searched: Vec<PathBuf>,
    },
    /// The file exists (or was named) but cannot be read. The I/O error is part of the
    /// message, not a separate cause, so that `{:#}` says it once.
    #[error("cannot read configuration file {}: {error}; check the path and its permissions", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The path is a directory, FIFO, socket or device: never opened, so a FIFO cannot hang us.
    #[error("configuration path {} is {kind}, not a regular file; point --config at the file itself", .path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is instead (`a directory`, `a FIFO`, ...).
        kind: &'static str,
    },
    /// The file is larger than any configuration (see [`crate::MAX_CONFIG_BYTES`]).
    #[error("configuration file {} is {size} bytes, larger than the {limit} bytes a configuration may have; check that --config names the right file", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file was read and has problems; all of them are listed.
    #[error("{} problem(s) in the configuration:\n{}", .problems.len(),
        .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Every problem found.
        problems: Vec<ConfigProblem>,
    },
}

/// Where a key was written: line and spelling, by canonical TOML path (`daemon.log_mode`,
/// `plugins[0].path`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Locations {
    map: BTreeMap<String, (usize, String)>,
    /// Keys whose value was rejected while reading; validation stays quiet about them.
    broken: BTreeSet<String>,
}

impl Locations {
    pub(crate) fn insert(
        &mut self,
        path: impl Into<String>,
        line: usize,
        written: impl Into<String>,
    ) {
        self.map.insert(path.into(), (line, written.into()));
    }

    pub(crate) fn get(&self, path: &str) -> Option<&(usize, String)> {
        self.map.get(path)
    }

    pub(crate) fn mark_broken(&mut self, path: &str) {
        self.broken.insert(path.to_owned());
    }

    pub(crate) fn is_broken(&self, path: &str) -> bool {
        self.broken.contains(path)
    }
}
