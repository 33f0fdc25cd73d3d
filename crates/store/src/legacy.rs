//! Reading upstream shotgunEvents' `eventIdFile`: a pickle of per-plugin cursors, or one integer.

mod pickle;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;

use crate::Cursor;

/// What an upstream state file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyState {
    /// The old form: one event id for every plugin.
    SingleId(i64),
    /// `{collection path: {plugin name: cursor}}`, the pickled form.
    Collections(BTreeMap<String, BTreeMap<String, Cursor>>),
}

/// Why an upstream state file could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// The file could not be read.
    #[error("cannot read the upstream state file {}: {source}", path.display())]
    Io {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty.
    #[error(
        "the upstream state file {} is empty; restore it from a backup, or delete it to start at the \
         newest event (events since the last run are then skipped)",
        path.display()
    )]
    Empty {
        /// The state file.
        path: PathBuf,
    },
    /// The pickle ends early: upstream was interrupted while writing it (shotgunEvents issue #38).
    #[error(
        "the upstream state file {} is truncated (upstream was interrupted while writing it, \
         shotgunEvents issue #38); restore it from a backup, or delete it and set each plugin's \
         position with `sgevents state set`",
        path.display()
    )]
    Truncated {
        /// The state file.
        path: PathBuf,
    },
    /// The file is neither an integer nor a readable pickle.
    #[error(
        "the upstream state file {} is not a shotgunEvents state file ({detail}); check the \
         `eventIdFile` setting",
        path.display()
    )]
    NotPickle {
        /// The state file.
        path: PathBuf,
        /// The decoder's message.
        detail: String,
    },
    /// The pickle decodes but does not have the expected structure.
    #[error(
        "the upstream state file {} has an unexpected structure at {location}: {detail}; check the \
         `eventIdFile` setting or restore the file from a backup",
        path.display()
    )]
    Shape {
        /// The state file.
        path: PathBuf,
        /// Where in the structure, e.g. `["/plugins"]["myPlugin"][1][1234]`.
        location: String,
        /// What was expected.
        detail: String,
    },
}

/// Reads an upstream `eventIdFile`, reading its naive backlog deadlines as this machine's local
/// time (upstream wrote `datetime.now() + timeout`). The file is never modified.
///
/// # Errors
/// A [`LegacyError`] naming the file and what to do.
pub fn read(path: &Path) -> Result<LegacyState, LegacyError> {
    read_in(path, &TimeZone::system())
}

/// Like [`read`], with naive deadlines read in `tz`.
///
/// # Errors
/// A [`LegacyError`] naming the file and what to do.
pub fn read_in(path: &Path, tz: &TimeZone) -> Result<LegacyState, LegacyError> {
    let bytes = std::fs::read(path).map_err(|source| LegacyError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(&bytes, tz).map_err(|err| err.at(path))
}

/// Decodes the bytes of a state file.
///
/// # Errors
/// A [`ParseError`]; [`ParseError::at`] turns it into a [`LegacyError`] naming the file.
pub fn parse(bytes: &[u8], tz: &TimeZone) -> Result<LegacyState, ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    if let Some(id) = std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.trim().parse::<i64>().ok())
    {
        return Ok(LegacyState::SingleId(id));
    }
    pickle::decode(bytes, tz)
}

/// A state-file problem not yet tied to a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// See [`LegacyError::Empty`].
    Empty,
    /// See [`LegacyError::Truncated`].
    Truncated,
    /// See [`LegacyError::NotPickle`].
    NotPickle(String),
    /// See [`LegacyError::Shape`]: location and detail.
    Shape(String, String),
}

impl ParseError {
    /// Names the file.
    pub fn at(self, path: &Path) -> LegacyError {
        let path = path.to_owned();
        match self {
            ParseError::Empty => LegacyError::Empty { path },
            ParseError::Truncated => LegacyError::Truncated { path },
            ParseError::NotPickle(detail) => LegacyError::NotPickle { path, detail },
            ParseError::Shape(location, detail) => LegacyError::Shape {
                path,
                location,
                detail,
            },
        }
    }
}
