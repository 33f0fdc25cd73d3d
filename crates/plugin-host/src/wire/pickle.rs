//! The few pickle (protocol 4) opcodes the `events` payload uses, written by hand: no crate
//! writes pickle's memo references and `REDUCE` calls, which let Python's C unpickler build
//! each event exactly as the runner hands it to a callback, datetimes included.

/// Defines [`WORDS`] and [`word`], its lookup: one `match`, which the compiler turns into a
/// test of the length and a comparison or two, where a search of the list costs a
/// comparison per word (a row holds some fifty strings).
macro_rules! words {
    ($($word:literal,)*) => {
        /// The strings every message defines first, in this order, as memo entries 0, 1, ...;
        /// a key or a value equal to one of them is written as a two-byte reference.
        pub(crate) const WORDS: &[&str] = &[$($word,)*];

        /// The memo entry of `value` when it is one of the [`WORDS`].
        fn word(value: &str) -> Option<u8> {
            match value {
                $($word => Some(const { position($word) }),)*
                _ => None,
            }
        }
    };
}

words! {
    "type",
    "id",
    "name",
    "event_type",
    "attribute_name",
    "meta",
    "entity",
    "user",
    "project",
    "created_at",
    "session_uuid",
    "description",
    "cached_display_name",
    "filmstrip_image",
    "image",
    "image_source_entity",
    "entity_type",
    "entity_id",
    "field_data_type",
    "old_value",
    "new_value",
    "in_create",
    "attribute_change",
    "new_entity",
    "entity_retirement",
    "multi_entity_change",
    "added",
    "removed",
    "status_list",
    "EventLogEntry",
    "HumanUser",
    "ApiUser",
    "Project",
    "Shot",
    "Asset",
    "Sequence",
    "Task",
    "Version",
    "Note",
    "PublishedFile",
    "link_type",
    "url",
    "local_path",
    "content_type",
    "valid",
}

/// Where `word` is in [`WORDS`] (at compile time: a word not in the list does not build).
const fn position(word: &str) -> u8 {
    let mut index = 0;
    while index < WORDS.len() {
        if same(WORDS[index].as_bytes(), word.as_bytes()) {
            #[allow(
                clippy::cast_possible_truncation,
                reason = "WORDS has fewer than 256 entries (checked below)"
            )]
            return index as u8;
        }
        index += 1;
    }
    panic!("not one of the words");
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut index = 0;
    while index < a.len() {
        if a[index] != b[index] {
            return false;
        }
        index += 1;
    }
    true
}

const _: () = assert!(
    WORDS.len() < 255,
    "a memo index is one byte, after the words"
);

/// Memo entry of the runner's datetime maker (after the words): `date(unix_seconds)`.
pub(crate) const DATE_MEMO: u8 = WORDS.len() as u8;

/// Where the frame begins: after `PROTO 4`, `FRAME` and its 8-byte size.
const FRAME_START: usize = 11;

const PROTO: u8 = 0x80;
const FRAME: u8 = 0x95;
const STOP: u8 = b'.';
const MARK: u8 = b'(';
const POP: u8 = b'0';
const NONE: u8 = b'N';
const NEWTRUE: u8 = 0x88;
const NEWFALSE: u8 = 0x89;
const BININT1: u8 = b'K';
const BININT2: u8 = b'M';
const BININT: u8 = b'J';
const LONG1: u8 = 0x8a;
const BINFLOAT: u8 = b'G';
const SHORT_BINUNICODE: u8 = 0x8c;
const BINUNICODE: u8 = b'X';
const EMPTY_LIST: u8 = b']';
const APPENDS: u8 = b'e';
const EMPTY_DICT: u8 = b'}';
const SETITEMS: u8 = b'u';
const TUPLE: u8 = b't';
const TUPLE1: u8 = 0x85;
const STACK_GLOBAL: u8 = 0x93;
const MEMOIZE: u8 = 0x94;
const BINGET: u8 = b'h';
const REDUCE: u8 = b'R';

/// Starts a payload in the empty `out`: the protocol, one frame (its size is filled in by
/// [`end`]; in a frame the unpickler reads the whole payload at once, not opcode by
/// opcode), the words and the datetime maker (the global `sgevents.date`, which the
/// runner's unpickler resolves; nothing else is importable), then an empty list and a mark
/// for its items.
pub(crate) fn begin(out: &mut Vec<u8>) {
    out.extend_from_slice(&[PROTO, 4, FRAME]);
    out.extend_from_slice(&[0; 8]);
    for word in WORDS {
        string(out, word);
        out.extend_from_slice(&[MEMOIZE, POP]);
    }
    string(out, "sgevents");
    string(out, "date");
    out.extend_from_slice(&[STACK_GLOBAL, MEMOIZE, POP, EMPTY_LIST, MARK]);
}

/// Ends a payload begun with [`begin`]: the list's items, the end, and the frame's size.
pub(crate) fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(&[APPENDS, STOP]);
    let size = (out.len() - FRAME_START) as u64;
    if let Some(field) = out.get_mut(3..FRAME_START) {
        field.copy_from_slice(&size.to_le_bytes());
    }
}

/// Opens a tuple; [`close_tuple`] makes one of everything written since.
pub(crate) fn open_tuple(out: &mut Vec<u8>) {
    out.push(MARK);
}

pub(crate) fn close_tuple(out: &mut Vec<u8>) {
    out.push(TUPLE);
}

pub(crate) fn none(out: &mut Vec<u8>) {
    out.push(NONE);
}

pub(crate) fn boolean(out: &mut Vec<u8>, value: bool) {
    out.push(if value { NEWTRUE } else { NEWFALSE });
}

/// An int, in the shortest of pickle's forms.
pub(crate) fn int(out: &mut Vec<u8>, value: i64) {
    if let Ok(small) = u8::try_from(value) {
        out.extend_from_slice(&[BININT1, small]);
    } else if let Ok(short) = u16::try_from(value) {
        out.push(BININT2);
        out.extend_from_slice(&short.to_le_bytes());
    } else if let Ok(word) = i32::try_from(value) {
        out.push(BININT);
        out.extend_from_slice(&word.to_le_bytes());
    } else {
        out.extend_from_slice(&[LONG1, 8]);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// An int above `i64::MAX` (two's complement needs a ninth, zero, byte).
pub(crate) fn big_int(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&[LONG1, 9]);
    out.extend_from_slice(&value.to_le_bytes());
    out.push(0);
}

pub(crate) fn float(out: &mut Vec<u8>, value: f64) {
    out.push(BINFLOAT);
    out.extend_from_slice(&value.to_be_bytes());
}

/// A string: a memo reference when it is one of the [`WORDS`].
pub(crate) fn text(out: &mut Vec<u8>, value: &str) {
    match word(value) {
        Some(index) => out.extend_from_slice(&[BINGET, index]),
        None => string(out, value),
    }
}

/// A string written out in full.
fn string(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    match u8::try_from(bytes.len()) {
        Ok(len) => out.extend_from_slice(&[SHORT_BINUNICODE, len]),
        Err(_) => {
            out.push(BINUNICODE);
            // A JSON string longer than 4 GiB cannot come from a site read.
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
        }
    }
    out.extend_from_slice(bytes);
}

/// The local-zone datetime at a Unix time: `date(seconds)`.
pub(crate) fn date(out: &mut Vec<u8>, seconds: i64) {
    out.extend_from_slice(&[BINGET, DATE_MEMO]);
    int(out, seconds);
    out.extend_from_slice(&[TUPLE1, REDUCE]);
}

/// A list whose items `items` writes.
pub(crate) fn list(out: &mut Vec<u8>, items: impl FnOnce(&mut Vec<u8>)) {
    let start = open_list(out);
    items(out);
    close_list(out, start);
}

/// A dict whose keys and values, in turn, `items` writes.
pub(crate) fn dict(out: &mut Vec<u8>, items: impl FnOnce(&mut Vec<u8>)) {
    let start = open_dict(out);
    items(out);
    close_dict(out, start);
}

/// Opens a list whose items are written next, of a length not known yet: [`close_list`]
/// gets the returned position (an empty list is written as one, without a mark).
pub(crate) fn open_list(out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&[EMPTY_LIST, MARK]);
    out.len()
}

pub(crate) fn close_list(out: &mut Vec<u8>, start: usize) {
    close_items(out, start, APPENDS);
}

/// Opens a dict, as [`open_list`] a list.
pub(crate) fn open_dict(out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&[EMPTY_DICT, MARK]);
    out.len()
}

pub(crate) fn close_dict(out: &mut Vec<u8>, start: usize) {
    close_items(out, start, SETITEMS);
}

/// An empty container loses its mark (the bytes are then those of an empty one); a full one
/// gets the opcode that adds its items.
fn close_items(out: &mut Vec<u8>, start: usize, add: u8) {
    if out.len() == start {
        out.pop();
    } else {
        out.push(add);
    }
}
