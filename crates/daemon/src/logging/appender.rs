//! A log file that rolls over at local midnight like Python's `TimedRotatingFileHandler`.
//!
//! The active file keeps its plain name (`shotgunEventDaemon`); at the first write after local
//! midnight it is renamed `shotgunEventDaemon.YYYY-MM-DD` (the day it covers) and a new file
//! is started. At most `backups` dated files are kept. As in Python, a file that already exists
//! when opened rolls over at the midnight after its last modification, so a restart on a later
//! day still files yesterday's lines under yesterday's date.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// Upstream's `backupCount`.
pub const BACKUPS_KEPT: usize = 10;

/// The wall clock, injectable so tests can cross midnight.
pub trait Clock: Send + Sync {
    /// The current time in the local time zone.
    fn now(&self) -> Zoned;
}

/// The system clock in the system time zone.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Zoned {
        Zoned::now()
    }
}

/// Shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// One rotating log file.
pub struct RotatingFile {
    path: PathBuf,
    file: Option<File>,
    /// The first instant of the next local day: the next write at or after it rolls over.
    rollover_at: Timestamp,
    backups: usize,
}

impl RotatingFile {
    /// Opens (appending) or creates `path`; the parent directory must exist.
    ///
    /// # Errors
    /// The I/O error of opening the file.
    pub fn open(path: &Path, now: &Zoned, backups: usize) -> std::io::Result<Self> {
        let tz = now.time_zone().clone();
        let base = std::fs::metadata(path)
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| Timestamp::try_from(modified).ok())
            .map_or_else(|| now.clone(), |ts| ts.to_zoned(tz));
        let file = open_append(path)?;
        Ok(Self {
            path: path.to_owned(),
            file: Some(file),
            rollover_at: next_midnight(&base),
            backups,
        })
    }

    /// The active file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one line (a newline is added), rolling over first if local midnight has passed.
    ///
    /// # Errors
    /// The I/O error of rolling over or writing.
    pub fn write_line(&mut self, line: &str, now: &Zoned) -> std::io::Result<()> {
        if now.timestamp() >= self.rollover_at {
            self.roll_over(now)?;
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(open_append(&self.path)?),
        };
        let mut buf = String::with_capacity(line.len() + 1);
        buf.push_str(line);
        buf.push('\n');
        file.write_all(buf.as_bytes())
    }

    fn roll_over(&mut self, now: &Zoned) -> std::io::Result<()> {
        let tz = now.time_zone().clone();
        // The day the current file covers: the day before the rollover instant.
        let covered = self
            .rollover_at
            .to_zoned(tz)
            .date()
            .yesterday()
            .unwrap_or_else(|_| now.date());
        self.file = None;
        let dated = dated_name(&self.path, covered);
        if dated.exists() {
            std::fs::remove_file(&dated)?;
        }
        if self.path.exists() {
            std::fs::rename(&self.path, &dated)?;
        }
        self.prune()?;
        self.file = Some(open_append(&self.path)?);
        self.rollover_at = next_midnight(now);
        Ok(())
    }

    /// Deletes all but the newest `backups` dated files of this log.
    fn prune(&self) -> std::io::Result<()> {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return Ok(());
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let prefix = format!("{}.", name.to_string_lossy());
        let mut dated: Vec<String> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|file| file.strip_prefix(&prefix).is_some_and(is_date_suffix))
            .collect();
        dated.sort();
        let excess = dated.len().saturating_sub(self.backups);
        for file in &dated[..excess] {
            std::fs::remove_file(dir.join(file))?;
        }
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `name.YYYY-MM-DD`.
pub fn dated_name(path: &Path, date: Date) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}", date.strftime("%Y-%m-%d")));
    PathBuf::from(name)
}

/// Python's `^\d{4}-\d{2}-\d{2}(\.\w+)?$` on the part after `name.`.
fn is_date_suffix(suffix: &str) -> bool {
    let (date, ext) = match suffix.get(10..) {
        Some(rest) => (&suffix[..10], rest),
        None => return false,
    };
    let date_ok = date.char_indices().all(|(i, c)| match i {
        4 | 7 => c == '-',
        _ => c.is_ascii_digit(),
    });
    let ext_ok = ext.is_empty()
        || ext.strip_prefix('.').is_some_and(|e| {
            !e.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    date_ok && ext_ok
}

/// The first instant of the local day after `now`.
fn next_midnight(now: &Zoned) -> Timestamp {
    let tz: &TimeZone = now.time_zone();
    now.date()
        .tomorrow()
        .ok()
        .and_then(|day| day.to_zoned(tz.clone()).ok())
        .map_or_else(|| now.timestamp(), |z| z.timestamp())
}
