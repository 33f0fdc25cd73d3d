//! Pinned persisted formats: `tests/data/cursors_v1.*` must keep loading forever.
//!
//! To regenerate after an intentional addition (never a change) run with `SGEVENTS_BLESS=1`.

use std::collections::BTreeMap;

use sgevents_store::{Cursor, CursorRecord, PluginKey, Store};

use crate::support::{cursor, data_dir, key};

fn expected() -> BTreeMap<PluginKey, Cursor> {
    BTreeMap::from([
        (
            key("/opt/shotgunEvents/plugins", "logArgs"),
            cursor(Some(1041), &[]),
        ),
        (
            key("/opt/shotgunEvents/plugins", "sharedPlugin"),
            cursor(
                Some(1040),
                &[
                    (1037, "2024-05-06T07:13:09.123456Z"),
                    (1039, "2024-05-06T07:14:00Z"),
                ],
            ),
        ),
        (
            key("/opt/shotgunEvents/plugins", "neverRan"),
            cursor(None, &[]),
        ),
        (
            key("/studio/plugins/extra", "sharedPlugin"),
            cursor(Some(998), &[]),
        ),
    ])
}

fn blessing() -> bool {
    std::env::var_os("SGEVENTS_BLESS").is_some()
}

#[test]
fn v1_database_keeps_loading() {
    let fixture = data_dir().join("cursors_v1.sqlite");
    if blessing() {
        let _ = std::fs::remove_file(&fixture);
        let mut store = Store::open(&fixture).unwrap();
        let updates: Vec<_> = expected().into_iter().collect();
        store.save(&updates).unwrap();
        store
            .set_meta("imported_from", "/var/log/shotgunEventDaemon.id")
            .unwrap();
    }
    // Work on a copy: opening may migrate, and the fixture must never change.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("cursors_v1.sqlite");
    std::fs::copy(&fixture, &copy).unwrap();
    let store = Store::open(&copy).unwrap();
    assert_eq!(store.load().unwrap(), expected());
    assert_eq!(
        store.get_meta("imported_from").unwrap().as_deref(),
        Some("/var/log/shotgunEventDaemon.id")
    );
}

#[test]
fn v1_records_keep_decoding_and_encode_identically() {
    let fixture = data_dir().join("cursors_v1.json");
    let records: Vec<(PluginKey, CursorRecord)> = expected()
        .iter()
        .map(|(key, cursor)| (key.clone(), CursorRecord::from(cursor)))
        .collect();
    let encoded: Vec<serde_json::Value> = records
        .iter()
        .map(|(key, record)| {
            serde_json::json!({"collection": key.collection, "plugin": key.plugin,
                               "record": serde_json::to_value(record).unwrap()})
        })
        .collect();
    if blessing() {
        let text = serde_json::to_string_pretty(&encoded).unwrap() + "\n";
        std::fs::write(&fixture, text).unwrap();
    }
    let pinned: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    assert_eq!(pinned, encoded, "the v1 encoding changed");
    for (entry, (key, record)) in pinned.iter().zip(&records) {
        let decoded: CursorRecord = serde_json::from_value(entry["record"].clone()).unwrap();
        assert_eq!(&decoded, record, "{key}");
        assert_eq!(entry["record"]["version"], "1");
    }
}
