//! Import of upstream's `eventIdFile`: real pickles written by Python, the single-integer form,
//! and truncated files.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use sgevents_store::legacy::{self, LegacyError, LegacyState};

use crate::support::{cursor, data_dir, run_python, ts};

/// The state in `tests/data/make_legacy_fixtures.py`, with naive datetimes read as UTC.
fn fixture_state() -> LegacyState {
    LegacyState::Collections(BTreeMap::from([
        (
            "/opt/shotgunEvents/plugins".to_owned(),
            BTreeMap::from([
                ("logArgs".to_owned(), cursor(Some(1041), &[])),
                (
                    "sharedPlugin".to_owned(),
                    cursor(
                        Some(1040),
                        &[
                            (1037, "2024-05-06T07:08:09.123456Z"),
                            (1039, "2024-05-06T07:09:00Z"),
                        ],
                    ),
                ),
                ("neverRan".to_owned(), cursor(None, &[])),
            ]),
        ),
        (
            "/studio/plugins/extra".to_owned(),
            BTreeMap::from([("sharedPlugin".to_owned(), cursor(Some(998), &[]))]),
        ),
    ]))
}

#[test]
fn committed_pickles_decode() {
    for name in ["legacy_p2.pickle", "legacy_p5.pickle"] {
        let state = legacy::read_in(&data_dir().join(name), &TimeZone::UTC).unwrap();
        assert_eq!(state, fixture_state(), "{name}");
    }
}

#[test]
fn single_integer_form() {
    let state = legacy::read(&data_dir().join("legacy_single_id.txt")).unwrap();
    assert_eq!(state, LegacyState::SingleId(1041));
}

#[test]
fn committed_truncated_pickle_is_a_clear_error() {
    let path = data_dir().join("legacy_truncated.pickle");
    let err = legacy::read(&path).unwrap_err();
    assert!(matches!(err, LegacyError::Truncated { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("legacy_truncated.pickle") && text.contains("#38"),
        "{text}"
    );
}

const WRITE_STATE: &str = r#"
import datetime, pickle, sys
proto = int(sys.argv[2])
state = {
    "/plugins": {
        "a": (500, {498: datetime.datetime(2026, 11, 22, 10, 5, 0),
                    499: datetime.datetime(2026, 11, 22, 10, 5, 1, 7)}),
        "b": (None, {}),
        "utc": (7, {6: datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)}),
        "plus2": (7, {6: datetime.datetime(2026, 1, 2, 3, 4, 5,
                      tzinfo=datetime.timezone(datetime.timedelta(hours=2)))}),
    },
    b"/py2/bytes/key": {b"old": (3, {})},
}
with open(sys.argv[1], "wb") as fh:
    pickle.dump(state, fh, protocol=proto)
"#;

#[test]
fn python_pickles_of_every_protocol_decode() {
    let dir = tempfile::tempdir().unwrap();
    let berlin = TimeZone::get("Europe/Berlin").unwrap_or(TimeZone::fixed(jiff::tz::offset(1)));
    for protocol in 2..=5 {
        let path = dir.path().join(format!("state_p{protocol}.id"));
        let script = WRITE_STATE.replace("int(sys.argv[2])", &protocol.to_string());
        run_python(&script, &path);
        let LegacyState::Collections(state) = legacy::read_in(&path, &berlin).unwrap() else {
            panic!("protocol {protocol}: not a collections state");
        };
        let plugins = &state["/plugins"];
        // Naive datetimes are local (here Berlin, UTC+1 in November).
        let expected_a = cursor(
            Some(500),
            &[
                (498, "2026-11-22T09:05:00Z"),
                (499, "2026-11-22T09:05:01.000007Z"),
            ],
        );
        assert_eq!(plugins["a"], expected_a, "protocol {protocol}");
        assert_eq!(plugins["b"], cursor(None, &[]), "protocol {protocol}");
        assert_eq!(
            plugins["utc"].backlog[&6],
            ts("2026-01-02T03:04:05Z"),
            "protocol {protocol}"
        );
        assert_eq!(
            plugins["plus2"].backlog[&6],
            ts("2026-01-02T01:04:05Z"),
            "protocol {protocol}"
        );
        assert_eq!(
            state["/py2/bytes/key"]["old"],
            cursor(Some(3), &[]),
            "protocol {protocol}"
        );
    }
}

#[test]
fn every_truncation_of_a_real_pickle_is_reported_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let full_path = dir.path().join("full.id");
    let script = WRITE_STATE.replace("int(sys.argv[2])", "5");
    run_python(&script, &full_path);
    let full = std::fs::read(&full_path).unwrap();
    let cut_path = dir.path().join("cut.id");
    for len in 1..full.len() {
        std::fs::write(&cut_path, &full[..len]).unwrap();
        match legacy::read(&cut_path) {
            Err(LegacyError::Truncated { path }) => assert_eq!(path, cut_path),
            other => panic!("prefix of {len}/{} bytes gave {other:?}", full.len()),
        }
    }
}

#[test]
fn other_bad_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.id");

    std::fs::write(&path, b"").unwrap();
    assert!(matches!(
        legacy::read(&path),
        Err(LegacyError::Empty { .. })
    ));

    std::fs::write(&path, b"hello world\n").unwrap();
    let err = legacy::read(&path).unwrap_err();
    assert!(matches!(err, LegacyError::NotPickle { .. }), "{err:?}");
    assert!(err.to_string().contains("state.id"));

    run_python(
        "import pickle, sys; pickle.dump([1, 2, 3], open(sys.argv[1], 'wb'), protocol=4)",
        &path,
    );
    let err = legacy::read(&path).unwrap_err();
    assert!(matches!(err, LegacyError::Shape { .. }), "{err:?}");

    run_python(
        "import pickle, sys; pickle.dump({'/p': {'x': ('ten', {})}}, open(sys.argv[1], 'wb'), protocol=4)",
        &path,
    );
    let err = legacy::read(&path).unwrap_err();
    assert!(
        matches!(&err, LegacyError::Shape { location, .. } if location.contains("\"x\"")),
        "{err:?}"
    );

    let missing = dir.path().join("missing.id");
    assert!(matches!(
        legacy::read(&missing),
        Err(LegacyError::Io { .. })
    ));
}
