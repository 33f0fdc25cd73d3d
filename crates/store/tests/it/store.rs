//! The SQLite store: round trips, atomic saves, metadata, and clear errors on bad files.

use rusqlite::Connection;
use sgevents_store::{Cursor, SCHEMA_VERSION, Store, StoreError};

use crate::support::{cursor, key};

#[test]
fn saves_and_loads_cursors_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let a = (key("/plugins", "a"), cursor(Some(10), &[]));
    let b = (
        key("/plugins", "b"),
        cursor(
            Some(12),
            &[(9, "2026-11-22T10:05:00Z"), (11, "2026-11-22T10:05:01Z")],
        ),
    );
    let c = (key("/other", "a"), cursor(None, &[]));
    {
        let mut store = Store::open(&path).unwrap();
        assert!(store.load().unwrap().is_empty());
        store.save(&[a.clone(), b.clone(), c.clone()]).unwrap();
        // An update replaces the record.
        store.save(&[(a.0.clone(), cursor(Some(11), &[]))]).unwrap();
    }
    let store = Store::open(&path).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded.len(), 3);
    assert_eq!(loaded[&a.0], cursor(Some(11), &[]));
    assert_eq!(loaded[&b.0], b.1);
    assert_eq!(loaded[&c.0], c.1);
    assert_eq!(
        loaded[&b.0].oldest_deadline().unwrap().to_string(),
        "2026-11-22T10:05:00Z"
    );
    assert_eq!(store.keys().unwrap().len(), 3);
}

#[test]
fn opens_in_wal_mode_at_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let _store = Store::open(&path).unwrap();
    let raw = Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn a_failed_save_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let mut store = Store::open(&path).unwrap();
    store
        .save(&[(key("/p", "good"), cursor(Some(1), &[]))])
        .unwrap();
    // Make SQLite itself refuse the second row of the next transaction.
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON cursors WHEN NEW.plugin = 'poison'
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END;",
        )
        .unwrap();
    let err = store
        .save(&[
            (key("/p", "good"), cursor(Some(2), &[])),
            (key("/p", "poison"), cursor(Some(2), &[])),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
    assert!(err.to_string().contains("state.sqlite"), "{err}");
    let loaded = store.load().unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        loaded[&key("/p", "good")],
        cursor(Some(1), &[]),
        "first row rolled back"
    );
}

#[test]
fn remove_deletes_cursors() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.sqlite")).unwrap();
    store
        .save(&[
            (key("/p", "a"), cursor(Some(1), &[])),
            (key("/p", "b"), cursor(Some(2), &[])),
        ])
        .unwrap();
    store.remove(&[key("/p", "a")]).unwrap();
    assert_eq!(store.keys().unwrap(), vec![key("/p", "b")]);
}

#[test]
fn meta_values_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.get_meta("imported_from").unwrap(), None);
    store
        .set_meta("imported_from", "/var/run/shotgunEvents.id")
        .unwrap();
    store.set_meta("imported_from", "/tmp/x.id").unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.get_meta("imported_from").unwrap().as_deref(),
        Some("/tmp/x.id")
    );
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    std::fs::write(
        &path,
        b"this is a text file, not a database, and it is long enough.....\n".repeat(20),
    )
    .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("state.sqlite") && text.contains("restore a backup"),
        "{text}"
    );
}

#[test]
fn a_damaged_page_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    {
        let mut store = Store::open(&path).unwrap();
        let many: Vec<_> = (0..400)
            .map(|i| {
                (
                    key("/plugins/with/a/long/path", &format!("plugin{i:04}")),
                    cursor(Some(i), &[]),
                )
            })
            .collect();
        store.save(&many).unwrap();
    }
    // Overwrite every page after the first (schema) page with garbage.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.len() > 8192,
        "database too small to damage: {}",
        bytes.len()
    );
    for byte in &mut bytes[4096..] {
        *byte = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let result = Store::open(&path).and_then(|store| store.load().map(|_| ()));
    let err = result.unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { .. }),
        "expected Corrupt, got {err:?}"
    );
}

#[test]
fn a_foreign_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY);")
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::NotOurs { tables, .. } if tables == &["customers"]),
        "{err:?}"
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    drop(Store::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade sgevents"));
}

#[test]
fn a_bad_record_names_the_plugin_and_is_never_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let mut store = Store::open(&path).unwrap();
    store
        .save(&[(key("/p", "fine"), cursor(Some(5), &[]))])
        .unwrap();
    Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO cursors (collection, plugin, record) VALUES ('/p', 'broken', '{\"version\":\"9\"}')",
            [],
        )
        .unwrap();
    let err = store.load().unwrap_err();
    assert!(
        matches!(&err, StoreError::BadRecord { plugin, collection, .. } if plugin == "broken" && collection == "/p"),
        "{err:?}"
    );
    assert!(err.to_string().contains("sgevents state set"));
    // The keys are still listed, so an operator can repair the record.
    assert_eq!(store.keys().unwrap().len(), 2);
    store
        .save(&[(key("/p", "broken"), cursor(Some(6), &[]))])
        .unwrap();
    assert_eq!(store.load().unwrap().len(), 2);
}

#[test]
fn a_missing_directory_is_an_open_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/state.sqlite");
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("no/such/dir"));
}

#[test]
fn a_zero_byte_file_is_refused_and_never_taken_for_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite3");
    std::fs::write(&path, b"").unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Empty { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("--start-at"), "{message}");
    // With every position given (`--start-at`), it is made a new store.
    let store = Store::open_even_empty(&path).unwrap();
    assert!(!store.started());
    assert!(store.load().unwrap().is_empty());
}

#[test]
fn the_first_saved_cursors_mark_the_store_as_started() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite3");
    let mut store = Store::open(&path).unwrap();
    assert!(!store.started(), "a new store has not started");
    store.save(&[]).unwrap();
    assert!(
        !Store::open(&path).unwrap().started(),
        "saving nothing is no start"
    );
    store
        .save(&[(key("/plugins", "a"), Cursor::at(5))])
        .unwrap();
    assert!(store.started());
    let mut reopened = Store::open(&path).unwrap();
    assert!(reopened.started());
    reopened.remove(&[key("/plugins", "a")]).unwrap();
    assert!(
        Store::open(&path).unwrap().started(),
        "an emptied store stays started"
    );
}
