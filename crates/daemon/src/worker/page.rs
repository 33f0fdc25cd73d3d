//! A worker's use of its plugin's progress page (`sgevents_store::page`): taking up what a
//! page says was finished, and emptying the page once the saved cursor covers it.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use sgevents_store::page;

use crate::cursor::{Admission, Cursor, CursorRules};

/// Reads the page into `finished` (or, when `fresh`, empties it: the plugin starts somewhere
/// its page knows nothing of). A page that cannot be read is reported; its events may then
/// run again.
pub(super) fn take_up(path: &Path, fresh: bool, finished: &mut HashSet<i64>, logger: &str) {
    if fresh {
        if let Err(err) = page::empty(path) {
            tracing::error!(logger = %logger, "Could not empty the progress page {}: {err}. Remove the file by hand, or events it lists will not run.", path.display());
        }
        return;
    }
    match page::read(path) {
        Ok(read) => {
            for line in &read.bad_lines {
                tracing::error!(logger = %logger, "Line {line} of the progress page {} is not an event id; it is ignored.", path.display());
            }
            if !read.ids.is_empty() {
                tracing::info!(logger = %logger, "The progress page {} lists {} finished events; they are not run again.", path.display(), read.ids.len());
            }
            finished.extend(read.ids);
        }
        Err(err) => {
            tracing::error!(logger = %logger, "Could not read the progress page {}: {err}. Events the plugin finished since its cursor was last saved may run again.", path.display());
        }
    }
}

/// A page the worker appends to itself, for a plugin that keeps none of its own.
pub(super) struct Writer {
    file: File,
    path: std::path::PathBuf,
}

impl Writer {
    /// Opens the page for appending; `None` (said) when it cannot be.
    pub(super) fn open(path: &Path, logger: &str) -> Option<Writer> {
        match std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            Ok(file) => Some(Writer {
                file,
                path: path.to_owned(),
            }),
            Err(err) => {
                tracing::warn!(logger = %logger, "Could not open the progress page {}: {err}. The cursor is saved after every event instead.", path.display());
                None
            }
        }
    }
}

/// Appends `id` to the worker's own page, if it keeps one; whether it is on the page now. A
/// failed write closes the page (the cursor is then saved after every event).
pub(super) fn record(writer: &mut Option<Writer>, id: i64, logger: &str) -> bool {
    let Some(page) = writer.as_mut() else {
        return false;
    };
    // One write per line, so that a line is never torn by a crash of this process; built
    // on the stack (this runs once per event).
    let mut line = [0_u8; 24];
    let mut rest = &mut line[..];
    let _ = writeln!(rest, "{id}"); // an i64 and a newline fit in 24 bytes
    let len = 24 - rest.len();
    match page.file.write_all(&line[..len]) {
        Ok(()) => true,
        Err(err) => {
            tracing::error!(logger = %logger, "Could not write the progress page {}: {err}. The cursor is saved after every event from now on.", page.path.display());
            *writer = None;
            false
        }
    }
}

/// Makes sure the page can be written; says why not (the plugin then runs in step).
pub(super) fn prepare(path: &Path, logger: &str) -> bool {
    match page::prepare(path) {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(logger = %logger, "Could not create the progress page {}: {err}. The plugin runs in step with the daemon instead (slower catch-up).", path.display());
            false
        }
    }
}

/// Whether the page should be emptied now: it lists ids, every one behind `cursor` (which
/// must be saved); those ids leave `finished` then. Ids ahead of the cursor (finished during
/// a pause, say) go into `finished`, for when their events come. The plugin's process must
/// hold no shipped events, so that nothing is appended meanwhile.
pub(super) fn covered(
    path: &Path,
    cursor: &Cursor,
    finished: &mut HashSet<i64>,
    logger: &str,
) -> bool {
    if std::fs::metadata(path).map_or(true, |meta| meta.len() == 0) {
        finished.retain(|id| cursor.admit(*id) != Admission::Old);
        return false;
    }
    let read = match page::read(path) {
        Ok(read) => read,
        Err(err) => {
            tracing::warn!(logger = %logger, "Could not read the progress page {}: {err}", path.display());
            return false;
        }
    };
    if read
        .ids
        .iter()
        .all(|id| cursor.admit(*id) == Admission::Old)
    {
        finished.retain(|id| cursor.admit(*id) != Admission::Old);
        !read.ids.is_empty()
    } else {
        finished.extend(
            read.ids
                .into_iter()
                .filter(|id| cursor.admit(*id) != Admission::Old),
        );
        false
    }
}

/// Empties the page file itself (for a page no process holds: the worker's own, or one the
/// plugin's process could not empty).
pub(super) fn empty(path: &Path, logger: &str) {
    if let Err(err) = page::empty(path) {
        tracing::warn!(logger = %logger, "Could not empty the progress page {}: {err}", path.display());
    }
}
