//! Progress pages: per-plugin files beside the state database, to which a plugin process
//! appends the id of each event it finished (one decimal id per line). The daemon saves a
//! cursor only now and then while a page is kept; after a crash it reads the page and
//! counts those ids as finished, so at most the one in-flight event runs again.

use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use crate::PluginKey;

/// The folder of the pages that belong to the state database at `db`: `<db>.pages`.
pub fn pages_dir(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".pages");
    PathBuf::from(name)
}

/// The page of one plugin in `dir`: its name, made safe for a file name, and a hash of the
/// whole key, so that plugins of the same name in two folders get two pages.
pub fn page_file(dir: &Path, key: &PluginKey) -> PathBuf {
    let safe: String = key
        .plugin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let hash = fnv1a(&[key.collection.as_bytes(), b"\0", key.plugin.as_bytes()]);
    dir.join(format!("{safe}-{hash:016x}.page"))
}

/// What a page says. A page may end in zero bytes (room its writer reserved), and may have
/// some between lines (another writer appended after such room); they are ignored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Page {
    /// The finished ids, in the order they were written.
    pub ids: Vec<i64>,
    /// Line numbers (from 1) that are not an id; a torn last line (a crash in mid-write)
    /// is not counted.
    pub bad_lines: Vec<usize>,
}

/// Reads the page at `path`; a missing page is an empty one.
///
/// # Errors
/// The file's read error (other than "not found").
pub fn read(path: &Path) -> io::Result<Page> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Page::default()),
        Err(err) => return Err(err),
    };
    // A page usually ends in its writer's reserved room, tens of kB of zeros: the last
    // newline is found with memchr's word-at-a-time search, not byte by byte.
    let complete = memchr::memrchr(b'\n', &bytes).map_or(&[][..], |end| &bytes[..end]);
    let mut page = Page::default();
    if complete.is_empty() {
        return Ok(page);
    }
    // Lines are split at newlines found by memchr too, and nearly all are plain digits,
    // read as such; anything else takes the careful way below.
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', complete).chain([complete.len()]);
    for (number, end) in ends.enumerate() {
        let line = &complete[start..end];
        start = end + 1;
        if let Some(id) = plain_id(line) {
            page.ids.push(id);
            continue;
        }
        // Zero bytes are room a writer reserved ahead (a plugin process maps the file and
        // makes it longer before it writes); they are not part of any line.
        let trimmed = trim_zeros(line);
        if trimmed.is_empty() && !line.is_empty() {
            continue;
        }
        let line = trimmed;
        match std::str::from_utf8(line)
            .ok()
            .and_then(|text| text.parse::<i64>().ok())
        {
            Some(id) => page.ids.push(id),
            None => page.bad_lines.push(number + 1),
        }
    }
    Ok(page)
}

/// The id on a line of 1 to 18 ASCII digits (every id a site has), read without the
/// checks a general parse makes; `None` for any other line.
fn plain_id(line: &[u8]) -> Option<i64> {
    if line.is_empty() || line.len() > 18 {
        return None;
    }
    line.iter().try_fold(0_i64, |id, &byte| {
        byte.is_ascii_digit()
            .then(|| id * 10 + i64::from(byte - b'0'))
    })
}

/// `line` without the zero bytes at either end.
fn trim_zeros(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|&b| b != 0).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|&b| b != 0)
        .map_or(start, |end| end + 1);
    &line[start..end]
}

/// Empties the page at `path`, keeping the file (a process may hold it open for appending).
///
/// # Errors
/// The file's error (other than "not found").
pub fn empty(path: &Path) -> io::Result<()> {
    match fs::OpenOptions::new().write(true).open(path) {
        Ok(file) => file.set_len(0),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// Blanks the page at `path`: every byte made zero, the length kept, so that a process that
/// has the file mapped (a plugin's, if the daemon runs) keeps its mapping; readers see an
/// empty page, and that process's later lines after the zeros. For `sgevents state set`.
///
/// # Errors
/// The file's error (other than "not found").
pub fn blank(path: &Path) -> io::Result<()> {
    use std::io::Write;
    let mut file = match fs::OpenOptions::new().write(true).open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    let mut left = file.metadata()?.len();
    let zeros = [0_u8; 8192];
    while left > 0 {
        let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_data()
}

/// Removes every page in `dir` (for `--start-at`, which says where every plugin starts).
///
/// # Errors
/// The folder's error (other than "not found").
pub fn remove_all(dir: &Path) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "page") {
            match fs::remove_file(&path) {
                Err(err) if err.kind() != ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Makes sure the page at `path` can be created and appended to (its folder included).
///
/// # Errors
/// The error that stops it.
pub fn prepare(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
}

/// 64-bit FNV-1a: a stable hash for file names (std's hasher may change between releases,
/// which would orphan every page).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &byte in *part {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_gives_its_ids_and_names_bad_lines_but_not_a_torn_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.page");
        fs::write(&path, b"5\n6\nx7\n8\n9").unwrap();
        let page = read(&path).unwrap();
        assert_eq!(page.ids, vec![5, 6, 8]);
        assert_eq!(page.bad_lines, vec![3]);
        // Lines that are not plain digits read as a general parse reads them.
        let long = "1234567890123456789"; // 19 digits, past the plain reading's 18
        fs::write(
            &path,
            format!("007\n+5\n-3\n{long}\n\n99999999999999999999\n4 \n1\n"),
        )
        .unwrap();
        let page = read(&path).unwrap();
        assert_eq!(page.ids, vec![7, 5, -3, long.parse().unwrap(), 1]);
        assert_eq!(page.bad_lines, vec![5, 6, 7]);
        empty(&path).unwrap();
        assert_eq!(read(&path).unwrap(), Page::default());
        assert_eq!(
            read(&dir.path().join("missing.page")).unwrap(),
            Page::default()
        );
    }

    #[test]
    fn zero_bytes_a_writer_reserved_are_not_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.page");
        // A mapped page's reserved tail, a torn line in it, then lines appended after it.
        let mut bytes = b"5\n6\n".to_vec();
        bytes.extend_from_slice(&[0; 9]);
        bytes.extend_from_slice(b"7\n\0\0\n");
        bytes.extend_from_slice(b"8\n9");
        bytes.extend_from_slice(&[0; 100]);
        fs::write(&path, &bytes).unwrap();
        let page = read(&path).unwrap();
        assert_eq!(page.ids, vec![5, 6, 7, 8]);
        assert!(page.bad_lines.is_empty(), "{page:?}");
        fs::write(&path, [0_u8; 64]).unwrap();
        assert_eq!(read(&path).unwrap(), Page::default());
        // Blanked, a page keeps its length and reads as empty.
        fs::write(&path, &bytes).unwrap();
        blank(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), bytes.len() as u64);
        assert_eq!(read(&path).unwrap(), Page::default());
        blank(&dir.path().join("missing.page")).unwrap();
        // A whole reserved window after the lines, of a length no word size divides.
        let mut bytes = b"11\n12\n13".to_vec();
        bytes.extend_from_slice(&vec![0; (64 << 10) + 3]);
        fs::write(&path, &bytes).unwrap();
        assert_eq!(read(&path).unwrap().ids, vec![11, 12]);
    }

    #[test]
    fn plugins_of_one_name_in_two_folders_get_two_pages_that_stay_put() {
        let dir = Path::new("/state.db.pages");
        let a = page_file(dir, &PluginKey::new("/plugins/a", "notify me"));
        let b = page_file(dir, &PluginKey::new("/plugins/b", "notify me"));
        assert_ne!(a, b);
        assert!(
            a.to_string_lossy()
                .starts_with("/state.db.pages/notify_me-")
        );
        // The name must not change between releases, or pages would be orphaned.
        assert_eq!(
            page_file(dir, &PluginKey::new("c", "p")),
            dir.join(format!("p-{:016x}.page", fnv1a(&[b"c", b"\0", b"p"])))
        );
        assert_eq!(fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            pages_dir(Path::new("/x/state.db")),
            Path::new("/x/state.db.pages")
        );
    }

    #[test]
    fn remove_all_takes_only_pages() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.page"), b"1\n").unwrap();
        fs::write(dir.path().join("keep.txt"), b"1\n").unwrap();
        remove_all(dir.path()).unwrap();
        assert!(!dir.path().join("a.page").exists());
        assert!(dir.path().join("keep.txt").exists());
        remove_all(&dir.path().join("none")).unwrap();
    }
}
