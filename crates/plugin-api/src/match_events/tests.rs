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
fn accepts_every_container_upstream_accepts() {
    // upstream's calc_field example: the list's items are never inspected.
    let mixed = json!({"Shotgun_Project_Change": ["id", 1, null, ["x"], {"y": 2}]});
    check(mixed.clone(), "Shotgun_Project_Change", Some("id"), true);
    check(mixed.clone(), "Shotgun_Project_Change", Some("1"), false);
    check(mixed, "Shotgun_Project_Change", Some("x"), false);
    // A dict value tests its keys.
    let dict = json!({"Shotgun_Shot_Change": {"code": 5, "sg_status_list": null}});
    check(dict.clone(), "Shotgun_Shot_Change", Some("code"), true);
    check(dict, "Shotgun_Shot_Change", Some("description"), false);
    check(
        json!({"Shotgun_Shot_Change": {"*": 0}}),
        "Shotgun_Shot_Change",
        None,
        true,
    );
    // Empty containers match no attribute (but are not falsy at the top level).
    check(
        json!({"Shotgun_Shot_Change": []}),
        "Shotgun_Shot_Change",
        Some("code"),
        false,
    );
    check(
        json!({"Shotgun_Shot_Change": ""}),
        "Shotgun_Shot_Change",
        Some("code"),
        false,
    );
    // With a '*' key the other values are never looked at, so they cannot crash upstream.
    check(
        json!({"*": null, "Shotgun_Shot_New": 5}),
        "Shotgun_Shot_New",
        None,
        true,
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
    for bad in [json!(0), json!(false), json!(1.5), json!(true)] {
        let err = MatchEvents::from_json(&json!({"Shotgun_Shot_Change": bad})).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("Shotgun_Shot_Change") && text.contains(&bad.to_string()),
            "{text}"
        );
    }
    for bad in [json!("Shotgun_Shot_New"), json!(5), json!(true)] {
        let err = MatchEvents::from_json(&bad).unwrap_err();
        assert!(err.to_string().contains(&bad.to_string()), "{err}");
    }
}
