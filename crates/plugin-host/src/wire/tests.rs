use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::*;

/// Unpickles a message's payload with the real Python (`SGEVENTS_PYTHON` or `python3`),
/// each datetime call made `{"$date": seconds}`, tuples made lists; checks the line first.
fn decode(message: &[u8], slot: u32) -> Value {
    let cut = message.iter().position(|&b| b == b'\n').unwrap() + 1;
    let payload = &message[cut..];
    let line = format!(
        "{{\"type\":\"events\",\"slot\":{slot},\"bytes\":{}}}\n",
        payload.len()
    );
    assert_eq!(String::from_utf8_lossy(&message[..cut]), line);
    let python = std::env::var("SGEVENTS_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = "import json, pickle, sys\n\
        class Loader(pickle.Unpickler):\n\
        \x20   def find_class(self, module, name):\n\
        \x20       assert (module, name) == ('sgevents', 'date'), (module, name)\n\
        \x20       return lambda seconds: {'$date': seconds}\n\
        print(json.dumps(Loader(sys.stdin.buffer).load()))\n";
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(payload).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python could not unpickle the payload"
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn one(event: &Event, callbacks: &[usize]) -> Value {
    let mut message = EventsMessage::new(3, Vec::new());
    message.push(event, callbacks);
    assert_eq!(message.count(), 1);
    let entries = decode(&message.finish(), 3);
    assert_eq!(entries.as_array().unwrap().len(), 1);
    entries[0].clone()
}

#[test]
fn canonical_datetimes_are_dates_at_their_unix_time() {
    assert_eq!(classify("1970-01-01T00:00:00Z"), DateKind::Date(0));
    assert_eq!(
        classify("2026-03-01T10:20:31Z"),
        DateKind::Date(1_772_360_431)
    );
    assert_eq!(
        classify("2024-02-29T23:59:59Z"),
        DateKind::Date(1_709_251_199)
    );
    assert_eq!(
        classify("1900-03-01T00:00:00z"),
        DateKind::Date(-2_203_891_200)
    );
    // strptime ignores case.
    assert_eq!(
        classify("2026-03-01t10:20:31z"),
        DateKind::Date(1_772_360_431)
    );
}

#[test]
fn strings_the_client_keeps_are_not_dates() {
    for text in [
        "2026-13-01T10:20:30Z",
        "2026-02-30T10:20:30Z",
        "2025-02-29T10:20:30Z",
        "2026-03-00T10:20:30Z",
        "2026-03-01T24:00:00Z",
        "2026-03-01T10:60:00Z",
        "2026-03-01T10:20:60Z",
        "2026-03-01 10:20:30Z",
        "2026-03-01T10:20:30+",
        "2026-03-01T10:20:3Z",
        "2026-03-01T10:20:300",
        "+026-03-01T10:20:30Z",
        "",
        "sh010",
    ] {
        assert_eq!(classify(text), DateKind::No, "{text}");
    }
}

#[test]
fn far_years_and_other_digits_are_left_to_the_runner() {
    assert_eq!(classify("0001-01-01T00:00:00Z"), DateKind::Maybe);
    assert_eq!(classify("9999-12-31T23:59:59Z"), DateKind::Maybe);
    // Arabic-Indic digits: Python's \d and int() accept them.
    assert_eq!(classify("٢٠٢٦-03-01T10:20:30Z"), DateKind::Maybe);
    assert_eq!(classify("é".repeat(21).as_str()), DateKind::No);
}

#[test]
fn entries_carry_datetimes_at_any_depth_as_calls_and_list_the_rest() {
    let raw = json!({
        "type": "EventLogEntry", "id": 5, "event_type": "Studio_Review",
        "attribute_name": "a &lt; b",
        "meta": {"at": "2026-03-01T10:20:30Z", "history": [{"at": "2026-02-28T23:59:59Z"}],
                 "far": "0001-01-01T00:00:00Z", "text": "x &lt; y"},
        "entity": {"type": "Shot", "id": 1, "link_type": "local", "local_path_linux": "/x"},
        "user": null, "project": null, "created_at": "2026-03-01T10:20:31Z"
    });
    let event = Event::from_json(raw).unwrap();
    let entry = one(&event, &[0, 2]);
    let mut row = event.raw().clone();
    row["meta"]["at"] = json!({"$date": 1_772_360_430});
    row["meta"]["history"][0]["at"] = json!({"$date": 1_772_323_199});
    row["created_at"] = json!({"$date": 1_772_360_431});
    assert_eq!(
        entry,
        json!([5, [0, 2], row, {
            "maybe_dates": [["meta", "far"]],
            "unescape": ["attribute_name"],
            "local_links": ["entity"]
        }, false])
    );
    // Key order is the site's (JSON objects keep it here, as Python dicts do).
    let keys: Vec<&String> = entry[2].as_object().unwrap().keys().collect();
    let want: Vec<&String> = event.raw().keys().collect();
    assert_eq!(keys, want);
}

#[test]
fn a_plain_event_has_no_extras() {
    let raw = json!({"type": "EventLogEntry", "id": 9, "event_type": "Shotgun_Shot_New",
                     "attribute_name": null, "meta": {}, "created_at": "2026-03-01T10:20:31Z"});
    let event = Event::from_json(raw).unwrap();
    let entry = one(&event, &[]);
    assert_eq!(entry[1], json!([]));
    assert_eq!(entry[3], Value::Null);
}

#[test]
fn every_json_value_comes_out_as_json_loads_makes_it() {
    let long = "ü".repeat(200); // 400 bytes: the long string form
    let raw = json!({
        "type": "EventLogEntry", "id": 11, "event_type": "Shotgun_Shot_Change",
        "attribute_name": "", "created_at": "2026-03-01T10:20:31Z",
        "meta": {
            "ints": [0, 1, 255, 256, 65_535, 65_536, -1, -256, 2_147_483_647, -2_147_483_648,
                     2_147_483_648_i64, i64::MAX, i64::MIN, u64::MAX],
            "floats": [0.5, -1.25, 1e300, 5e-324, 0.1],
            "text": ["", "sh010", "日本語", long, "type", "a\u{0}b", "\u{1F600}"],
            "nested": [[], {}, [[1, [2]], {"k": {"type": null}}], true, false, null]
        }
    });
    let event = Event::from_json(raw).unwrap();
    let entry = one(&event, &[1]);
    let mut row = event.raw().clone();
    row["created_at"] = json!({"$date": 1_772_360_431});
    assert_eq!(entry[2], Value::Object(row));
}

#[test]
fn the_shared_encoding_gives_each_plugin_its_own_entry() {
    let raw = json!({"type": "EventLogEntry", "id": 7, "event_type": "Shotgun_Shot_Change",
                     "attribute_name": "a &lt; b", "meta": {"at": "2026-03-01T10:20:30Z"},
                     "entity": {"type": "Shot", "id": 1, "link_type": "local"},
                     "created_at": "2026-03-01T10:20:31Z"});
    let event = Event::from_json(raw).unwrap();
    let first = one(&event, &[0]);
    // A second plugin with other callbacks reuses the first one's encoding of the row.
    let second = one(&event, &[1, 3]);
    assert_eq!(second[1], json!([1, 3]));
    assert_eq!(first[2], second[2]);
    assert_eq!(first[3], second[3]);
}

#[test]
fn a_shared_process_gets_a_kept_row_once_then_only_its_id() {
    let raw = json!({"type": "EventLogEntry", "id": 8, "event_type": "Shotgun_Shot_New",
                     "attribute_name": null, "meta": {}, "created_at": "2026-03-01T10:20:31Z"});
    let event = Event::from_json(raw).unwrap();
    let mut kept = KeptRows::default();
    let mut message = EventsMessage::new(0, Vec::new());
    kept.push(&mut message, &event, &[0]);
    kept.push(&mut message, &event, &[2]);
    let entries = decode(&message.finish(), 0);
    assert_eq!(entries[0][0], 8);
    assert_eq!(entries[0][4], true, "kept");
    assert_eq!(entries[1], json!([8, [2], null, null, false]), "held");
}
