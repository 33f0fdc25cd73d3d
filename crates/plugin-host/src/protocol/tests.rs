use serde_json::{Value, json};

use super::*;

const FIXTURE: &str = include_str!("../../tests/protocol/v4.jsonl");

fn fixture(dir: &str) -> Vec<Value> {
    FIXTURE
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|entry| entry["dir"] == dir)
        .map(|entry| entry["message"].clone())
        .collect()
}

#[test]
fn child_messages_round_trip() {
    let messages = fixture("child");
    assert_eq!(messages.len(), 11);
    for expected in messages {
        let parsed: ChildMessage = serde_json::from_value(expected.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), expected);
    }
}

fn event(raw: Value) -> sgevents_api::Event {
    sgevents_api::Event::from_json(raw).unwrap()
}

#[test]
fn host_messages_match_the_fixture() {
    let first = event(json!({
        "type": "EventLogEntry", "id": 42, "event_type": "Shotgun_Task_Change",
        "attribute_name": "sg_status_list",
        "meta": {"type": "attribute_change", "old_value": "wtg", "new_value": "fin",
                 "at": "2026-03-01T09:59:59Z"},
        "entity": {"type": "Task", "id": 7, "name": "layout &lt;v2&gt;"},
        "user": {"type": "HumanUser", "id": 3, "name": "Ana"},
        "project": {"type": "Project", "id": 70, "name": "Demo"},
        "session_uuid": null, "created_at": "2026-03-01T10:00:00Z"
    }));
    let second = event(json!({
        "type": "EventLogEntry", "id": 43, "event_type": "Studio_Note",
        "attribute_name": "x &lt; y", "meta": {"far": "0001-01-01T00:00:00Z"},
        "entity": {"type": "Attachment", "id": 9, "link_type": "local",
                   "local_path_linux": "/mnt/a.mov"},
        "user": null, "project": null, "session_uuid": null,
        "created_at": "2026-03-01T10:00:01Z"
    }));
    let mut events = crate::wire::EventsMessage::new(0, Vec::new());
    events.push(&first, &[0, 1]);
    events.push(&second, &[1]);
    let mut lines: Vec<Vec<u8>> = [
        HostMessage::Configure {
            protocol: PROTOCOL_VERSION,
            site_url: "https://studio.example.com",
            proxy: None,
            use_session_uuid: true,
            log_level: 20,
        },
        HostMessage::Load {
            slot: 0,
            name: "ready_tasks",
            path: "/plugins/ready_tasks.py",
        },
        HostMessage::Unload { slot: 0 },
        HostMessage::Page {
            slot: 0,
            path: "/var/lib/sgevents/state.db.pages/ready_tasks-00ff00ff00ff00ff.page",
        },
        HostMessage::EmptyPage { slot: 0 },
        HostMessage::Resume { slot: 0 },
    ]
    .iter()
    .map(HostMessage::to_line)
    .collect();
    let message = events.finish();
    let cut = message.iter().position(|&b| b == b'\n').unwrap() + 1;
    lines.push(message[..cut].to_vec());
    let payload: String = message[cut..].iter().map(|b| format!("{b:02x}")).collect();
    let entry = FIXTURE
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|entry| entry["message"]["type"] == "events")
        .unwrap();
    assert_eq!(
        entry["rows"],
        json!([first.raw(), second.raw()]),
        "the rows the Python side checks against"
    );
    assert_eq!(entry["payload_hex"], payload.as_str(), "the payload");
    lines.push(
        HostMessage::Run {
            slot: 0,
            id: 42,
            callbacks: &[0, 1],
        }
        .to_line(),
    );
    lines.push(HostMessage::Shutdown.to_line());
    let expected = fixture("host");
    assert_eq!(expected.len(), lines.len());
    for (line, expected) in lines.iter().zip(expected) {
        assert_eq!(line.last(), Some(&b'\n'));
        assert!(!line[..line.len() - 1].contains(&b'\n'));
        // Compared as text: key order is part of the contract (the site's order).
        let expected = format!("{}\n", serde_json::to_string(&expected).unwrap());
        assert_eq!(String::from_utf8_lossy(line), expected);
    }
}

#[test]
fn unknown_fields_and_missing_optionals_are_tolerated() {
    let hello: ChildMessage =
        serde_json::from_str(r#"{"type":"hello","protocol":1,"future":"field"}"#).unwrap();
    assert_eq!(
        hello,
        ChildMessage::Hello {
            protocol: 1,
            pid: None,
            python: None,
            executable: None,
            shotgun_api3: None,
            error: None,
        }
    );
    let loaded: ChildMessage =
        serde_json::from_str(r#"{"type":"loaded","slot":3,"callbacks":[]}"#).unwrap();
    assert_eq!(
        loaded,
        ChildMessage::Loaded {
            slot: 3,
            callbacks: vec![],
            emails: EmailsInfo::Default
        }
    );
}
