//! A worker's use of its plugin's progress page (`sgevents_store::page`): taking up what a
//! page says was finished, and emptying the page once the saved cursor covers it.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::{MmapMut, MmapOptions};

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

/// A page the worker appends to itself, for a plugin that keeps none of its own (a native
/// plugin, or a Python one that runs in step): written through a memory mapping, as the
/// Python runner writes its own, so that recording a finished event is a copy, not a system
/// call. The mapped bytes are the page cache's: an id copied in survives a crash of this
/// process at once, as one `write` did.
///
/// Only a window at the end of the file is mapped, moved on as it fills. The file is made
/// longer ahead of the copies with space the file system allocates at once
/// (`posix_fallocate`: a full disk fails there, cleanly, instead of faulting when a copy
/// touches the mapping); that room holds zero bytes, which readers ignore. The worker empties
/// the page only through [`Writer::empty`], which unmaps first, so no mapped byte ever lies
/// past the file's end.
pub(super) struct Writer {
    file: File,
    path: PathBuf,
    map: MmapMut,
    /// Where the mapping starts in the file.
    base: u64,
    /// Where the next line goes, in the mapping.
    at: usize,
}

/// The bytes mapped (and reserved) past the last line; also the mapping's alignment, a
/// multiple of every page size Linux uses.
const WINDOW: usize = 64 << 10;

impl Writer {
    /// Opens the page for appending after its last complete line; `None` (said) when it
    /// cannot be.
    pub(super) fn open(path: &Path, logger: &str) -> Option<Writer> {
        match Writer::try_open(path) {
            Ok(writer) => Some(writer),
            Err(err) => {
                tracing::warn!(logger = %logger, "Could not open the progress page {}: {err}. The cursor is saved after every event instead.", path.display());
                None
            }
        }
    }

    fn try_open(path: &Path) -> io::Result<Writer> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // Lines already there stay; a torn last line and the room after the last line are
        // written over.
        let end = after_last_line(&file)?;
        let (map, base) = map_window(&file, end, 0)?;
        Ok(Writer {
            file,
            path: path.to_owned(),
            map,
            base,
            at: offset_in(end, base),
        })
    }

    fn append(&mut self, line: &[u8]) -> io::Result<()> {
        if self.at + line.len() > self.map.len() {
            let end = self.base + self.at as u64;
            let (map, base) = map_window(&self.file, end, line.len())?;
            self.map = map;
            self.base = base;
            self.at = offset_in(end, base);
        }
        let Some(room) = self.map.get_mut(self.at..self.at + line.len()) else {
            return Err(io::Error::other(
                "the mapped window has no room for the line",
            ));
        };
        room.copy_from_slice(line);
        self.at += line.len();
        Ok(())
    }

    /// Drops every line: the file is made empty, then room is reserved again. `false` (said)
    /// when it could not be; the page then stays as it was or is closed.
    pub(super) fn empty(writer: &mut Option<Writer>, logger: &str) -> bool {
        let Some(page) = writer.as_mut() else {
            return false;
        };
        match page.try_empty() {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(logger = %logger, "Could not empty the progress page {}: {err}. The cursor is saved after every event from now on.", page.path.display());
                *writer = None;
                false
            }
        }
    }

    fn try_empty(&mut self) -> io::Result<()> {
        // Unmapped before the file shrinks: no mapped byte may lie past its end.
        self.map = MmapMut::map_anon(1)?;
        self.file.set_len(0)?;
        let (map, base) = map_window(&self.file, 0, 0)?;
        self.map = map;
        self.base = base;
        self.at = 0;
        Ok(())
    }
}

/// Where `end` (at or after `base`, less than a window and a line past it) is in a mapping
/// that starts at `base`.
fn offset_in(end: u64, base: u64) -> usize {
    usize::try_from(end - base).unwrap_or(usize::MAX)
}

/// Maps a window of the file that starts at or before `at` and has room for `len` bytes
/// there, with that room allocated first. Returns the mapping and where it starts.
fn map_window(file: &File, at: u64, len: usize) -> io::Result<(MmapMut, u64)> {
    let base = at - at % WINDOW as u64;
    let size = offset_in(at, base) + len + WINDOW;
    let too_big = |_| io::Error::other("the progress page is too long to map");
    let offset = i64::try_from(base).map_err(too_big)?;
    let length = i64::try_from(size).map_err(too_big)?;
    nix::fcntl::posix_fallocate(file, offset, length).map_err(io::Error::from)?;
    // SAFETY: the mapping is of a file only this worker writes while it holds the Writer:
    // the plugin keeps no page of its own (that is why the worker keeps this one), the
    // worker empties it only through `Writer::empty`, which unmaps first, and the file is
    // at least `base + size` long (allocated just above), so every mapped byte is backed.
    // Other processes never shorten it: `sgevents state set` blanks a page in place, its
    // length kept, for writers that have it mapped. Bytes are only copied in, never read
    // or borrowed out, so what another process writes there cannot change this one's memory.
    #[allow(unsafe_code)]
    let map = unsafe { MmapOptions::new().offset(base).len(size).map_mut(file)? };
    Ok((map, base))
}

/// Where the next line of the page in `file` goes: just after its last newline (read
/// backwards in blocks, so a long page is not read whole), or 0.
fn after_last_line(file: &File) -> io::Result<u64> {
    let mut end = file.metadata()?.len();
    let mut block = vec![0_u8; 8192];
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let part = &mut block[..offset_in(end, start)];
        file.read_exact_at(part, start)?;
        if let Some(newline) = part.iter().rposition(|&b| b == b'\n') {
            return Ok(start + newline as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Appends `id` to the worker's own page, if it keeps one; whether it is on the page now. A
/// failed write closes the page (the cursor is then saved after every event).
pub(super) fn record(writer: &mut Option<Writer>, id: i64, logger: &str) -> bool {
    let Some(page) = writer.as_mut() else {
        return false;
    };
    // The line is built on the stack (this runs once per event) and copied in whole; `itoa`
    // writes the digits without the formatting machinery of `write!`.
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(id).as_bytes();
    let mut line = [b'\n'; 21]; // an i64's 20 characters at most, and the newline
    line[..digits.len()].copy_from_slice(digits);
    match page.append(&line[..=digits.len()]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(path: &Path) -> Vec<i64> {
        page::read(path).unwrap().ids
    }

    #[test]
    fn the_mapped_page_reads_back_every_id_across_windows_and_reopens_after_the_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.page");
        let mut writer = Writer::open(&path, "test");
        // Some 150 kB of lines: the window moves on twice.
        let first: Vec<i64> = (1_000_000_000..1_000_015_000).collect();
        for id in &first {
            assert!(record(&mut writer, *id, "test"));
        }
        assert_eq!(
            ids(&path),
            first,
            "every id, in order, the reserved zeros ignored"
        );
        drop(writer);
        // A crash in mid-copy leaves a torn line; the next writer writes over it.
        let mut bytes = std::fs::read(&path).unwrap();
        let end = bytes.iter().rposition(|&b| b == b'\n').unwrap() + 1;
        bytes[end..end + 3].copy_from_slice(b"123");
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(ids(&path), first, "a torn last line is not an id");
        let mut writer = Writer::open(&path, "test");
        assert!(record(&mut writer, 7, "test"));
        let mut want = first.clone();
        want.push(7);
        assert_eq!(ids(&path), want);
        assert!(Writer::empty(&mut writer, "test"));
        assert!(ids(&path).is_empty());
        assert!(
            record(&mut writer, 8, "test"),
            "the emptied page takes ids again"
        );
        assert_eq!(ids(&path), [8]);
    }

    #[test]
    fn an_id_is_on_the_page_once_recorded_without_closing_the_writer() {
        // What a crash right after `record` leaves: the page cache holds the line.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.page");
        let mut writer = Writer::open(&path, "test");
        assert!(record(&mut writer, 42, "test"));
        assert_eq!(ids(&path), [42]);
        std::mem::forget(writer); // no drop, no flush: as if the process died here
    }
}
