use serde_json::{Value, json};

use super::*;

const FIXTURE: &str = include_str!("../../tests/protocol/v1.jsonl");

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
    assert_eq!(messages.len(), 8);
    for expected in messages {
        let parsed: ChildMessage = serde_json::from_value(expected.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), expected);
    }
}

#[test]
fn host_messages_match_the_fixture() {
    let event = json!({
        "type": "EventLogEntry", "id": 42, "event_type": "Shotgun_Task_Change",
        "attribute_name": "sg_status_list",
        "meta": {"type": "attribute_change", "old_value": "wtg", "new_value": "fin"},
        "entity": {"type": "Task", "id": 7, "name": "layout"},
        "user": {"type": "HumanUser", "id": 3, "name": "Ana"},
        "project": {"type": "Project", "id": 70, "name": "Demo"},
        "session_uuid": null, "created_at": "2026-03-01T10:00:00Z"
    });
    let Value::Object(event) = event else {
        unreachable!()
    };
    let ours = [
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
        HostMessage::Event {
            slot: 0,
            event: &event,
        },
        HostMessage::Call {
            slot: 0,
            callback: 1,
        },
        HostMessage::Shutdown,
    ];
    let expected = fixture("host");
    assert_eq!(expected.len(), ours.len());
    for (message, expected) in ours.iter().zip(expected) {
        let line = message.to_line();
        assert_eq!(line.last(), Some(&b'\n'));
        assert!(!line[..line.len() - 1].contains(&b'\n'));
        let got: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(got, expected);
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
