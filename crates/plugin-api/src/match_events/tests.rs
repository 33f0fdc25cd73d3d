use serde_json::json;

use super::*;

fn check(match_events: Value, event_type: &str, attribute: Option<&str>, expect: bool) {
    let parsed = MatchEvents::from_json(&match_events).unwrap();
    assert_eq!(
        parsed.matches(event_type, attribute),
        expect,
        "matchEvents={match_events} event_type={event_type} attribute={attribute:?}"
    );
}

#[test]
fn upstream_semantics() {
    check(json!(null), "Shotgun_Shot_New", None, true);
    check(json!({}), "Shotgun_Shot_New", None, true);
    check(json!([]), "Shotgun_Shot_New", None, true);
    check(
        json!({"Shotgun_Shot_New": null}),
        "Shotgun_Shot_New",
        None,
        true,
    );
    check(
        json!({"Shotgun_Shot_New": null}),
        "Shotgun_Shot_Change",
        Some("code"),
        false,
    );
    check(
        json!({"Shotgun_Shot_Change": ["sg_status_list"]}),
        "Shotgun_Shot_Change",
        Some("sg_status_list"),
        true,
    );
    check(
        json!({"Shotgun_Shot_Change": ["sg_status_list"]}),
        "Shotgun_Shot_Change",
        Some("code"),
        false,
    );
    check(
        json!({"Shotgun_Shot_Change": ["sg_status_list"]}),
        "Shotgun_Shot_Change",
        None,
        false,
    );
    check(
        json!({"Shotgun_Shot_Change": ["*"]}),
        "Shotgun_Shot_Change",
        None,
        true,
    );
    // A string value is a substring test upstream.
    check(
        json!({"Shotgun_Shot_Change": "sg_status_list"}),
        "Shotgun_Shot_Change",
        Some("status"),
        true,
    );
    check(
        json!({"Shotgun_Shot_Change": "sg_status_list"}),
        "Shotgun_Shot_Change",
        Some("code"),
        false,
    );
    // The '*' key overrides every other key.
    check(
        json!({"*": ["code"], "Shotgun_Shot_New": null}),
        "Shotgun_Shot_New",
        None,
        false,
    );
    check(
        json!({"*": ["code"]}),
        "Shotgun_Asset_Change",
        Some("code"),
        true,
    );
    check(json!({"*": null}), "Anything_At_All", None, true);
    // No prefixes or globs in event types.
    check(
        json!({"Shotgun_Shot_*": null}),
        "Shotgun_Shot_New",
        None,
        false,
    );
}

#[test]
fn rejects_what_upstream_crashes_on() {
    assert!(matches!(
        MatchEvents::from_json(&json!(["Shotgun_Shot_New"])),
        Err(MatchEventsError::NotADict(_))
    ));
    assert!(matches!(
        MatchEvents::from_json(&json!({"Shotgun_Shot_New": 5})),
        Err(MatchEventsError::BadValue { .. })
    ));
}
