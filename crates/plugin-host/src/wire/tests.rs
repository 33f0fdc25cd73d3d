use serde_json::{Value, json};

use super::*;

/// A whole entry as one value, the way the runner reads it.
#[derive(Serialize)]
struct Whole<'a> {
    id: i64,
    callbacks: &'a [usize],
    #[serde(flatten)]
    entry: Entry<'a>,
}

fn whole<'a>(event: &'a Event, callbacks: &'a [usize]) -> Whole<'a> {
    Whole {
        id: event.id,
        callbacks,
        entry: Entry::new(event),
    }
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
fn entries_list_dates_at_any_depth_escapes_and_local_links() {
    let raw = json!({
        "type": "EventLogEntry", "id": 5, "event_type": "Studio_Review",
        "attribute_name": "a &lt; b",
        "meta": {"at": "2026-03-01T10:20:30Z", "history": [{"at": "2026-02-28T23:59:59Z"}],
                 "far": "0001-01-01T00:00:00Z", "text": "x &lt; y"},
        "entity": {"type": "Shot", "id": 1, "link_type": "local", "local_path_linux": "/x"},
        "user": null, "project": null, "created_at": "2026-03-01T10:20:31Z"
    });
    let event = Event::from_json(raw).unwrap();
    let mut message = EventsMessage::new(3, Vec::new());
    message.push(&event, &[0, 2]);
    assert_eq!(message.count(), 1);
    let line = message.finish();
    assert_eq!(line.last(), Some(&b'\n'));
    let got: Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(got["type"], "events");
    assert_eq!(got["slot"], 3);
    let entry = &got["events"][0];
    assert_eq!(entry["id"], 5);
    assert_eq!(entry["callbacks"], json!([0, 2]));
    assert_eq!(entry["row"], Value::Object(event.raw.clone()));
    assert_eq!(
        entry["dates"],
        json!([
            [["meta", "at"], 1_772_360_430],
            [["meta", "history", 0, "at"], 1_772_323_199],
            ["created_at", 1_772_360_431]
        ])
    );
    assert_eq!(entry["maybe_dates"], json!([["meta", "far"]]));
    assert_eq!(entry["unescape"], json!(["attribute_name"]));
    assert_eq!(entry["local_links"], json!(["entity"]));
}

#[test]
fn a_plain_event_carries_only_its_row_and_created_at() {
    let raw = json!({"type": "EventLogEntry", "id": 9, "event_type": "Shotgun_Shot_New",
                     "attribute_name": null, "meta": {}, "created_at": "2026-03-01T10:20:31Z"});
    let event = Event::from_json(raw).unwrap();
    let entry = serde_json::to_value(whole(&event, &[0])).unwrap();
    let keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "callbacks", "row", "dates"]);
}

#[test]
fn the_shared_encoding_gives_each_plugin_the_bytes_of_its_own_entry() {
    let raw = json!({"type": "EventLogEntry", "id": 7, "event_type": "Shotgun_Shot_Change",
                     "attribute_name": "a &lt; b", "meta": {"at": "2026-03-01T10:20:30Z"},
                     "entity": {"type": "Shot", "id": 1, "link_type": "local"},
                     "created_at": "2026-03-01T10:20:31Z"});
    let event = Event::from_json(raw).unwrap();
    // Two plugins with different callbacks: the second reuses the first one's encoding.
    for callbacks in [&[0usize][..], &[1, 3][..]] {
        let mut message = EventsMessage::new(1, Vec::new());
        message.push(&event, callbacks);
        let line = message.finish();
        let mut expected = b"{\"type\":\"events\",\"slot\":1,\"events\":[".to_vec();
        expected.extend(serde_json::to_vec(&whole(&event, callbacks)).unwrap());
        expected.extend_from_slice(b"]}\n");
        assert_eq!(
            String::from_utf8(line).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }
}
