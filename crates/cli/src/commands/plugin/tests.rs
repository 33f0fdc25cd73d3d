//! Tests of the offline skip: how the cursor moves.

// Test code may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use sgevents_store::Cursor;

use super::skip_event;

#[test]
fn skip_moves_the_cursor_or_clears_a_backlog_id() {
    let deadline: Timestamp = "2026-11-22T10:05:00Z".parse().unwrap();
    let mut cursor = Cursor::at(10);
    cursor.backlog.insert(7, deadline);

    let (next, _) = skip_event(&cursor, 11).unwrap();
    assert_eq!(next.last_id, Some(11));
    assert!(next.backlog.contains_key(&7), "other awaited ids stay");

    let (next, what) = skip_event(&cursor, 14).unwrap();
    assert_eq!(next.last_id, Some(14));
    assert!(what.contains("11..13"), "{what}");

    let (next, _) = skip_event(&cursor, 7).unwrap();
    assert_eq!(next.last_id, Some(10));
    assert!(next.backlog.is_empty());

    let err = skip_event(&cursor, 9).unwrap_err();
    assert!(err.to_string().contains("already past"), "{err}");

    let (next, _) = skip_event(&Cursor::default(), 5).unwrap();
    assert_eq!(next.last_id, Some(5));
}
