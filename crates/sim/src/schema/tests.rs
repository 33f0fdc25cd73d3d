//! Tests of the built-in schema and of loading a real `schema_read` dump.

use super::*;

#[test]
fn builtin_has_every_issue_type() {
    let schema = Schema::builtin();
    for name in [
        "Project",
        "HumanUser",
        "ApiUser",
        "Group",
        "Department",
        "Step",
        "Sequence",
        "Shot",
        "Asset",
        "Task",
        "TaskTemplate",
        "Version",
        "PublishedFile",
        "PublishedFileType",
        "Note",
        "Reply",
        "Playlist",
        "TimeLog",
        "Cut",
        "CutItem",
        "CustomEntity01",
        "EventLogEntry",
    ] {
        assert!(schema.entity(name).is_some(), "missing {name}");
    }
    let shot = schema.entity("Shot").unwrap();
    assert_eq!(shot.name_field.as_deref(), Some("code"));
    let status = shot.field("sg_status_list").unwrap();
    assert_eq!(status.data_type, DataType::StatusList);
    assert_eq!(status.default, Value::String("wtg".into()));
    assert!(status.valid_values.contains(&"ip".to_owned()));
    assert_eq!(
        shot.field("sg_sequence").unwrap().valid_types,
        vec!["Sequence".to_owned()]
    );
    assert!(shot.field("project").is_some());
    assert_eq!(
        schema.entity("Task").unwrap().name_field.as_deref(),
        Some("content")
    );
    let events = schema.entity("EventLogEntry").unwrap();
    assert!(events.field("meta").is_some() && events.field("updated_at").is_none());
}

#[test]
fn builtin_json_round_trips_through_the_dump_loader() {
    let schema = Schema::builtin();
    let again = Schema::from_dump(&schema.read_json()).unwrap();
    assert_eq!(again.types.len(), schema.types.len());
    let f = again
        .entity("Task")
        .unwrap()
        .field("sg_status_list")
        .unwrap();
    assert_eq!(f.default, Value::String("wtg".into()));
    assert_eq!(f.data_type, DataType::StatusList);
}

#[test]
fn loads_the_real_site_dump() {
    let path = std::path::Path::new("/work/shared/data/schema_read.json");
    if !path.exists() {
        println!("skipping: {} is missing", path.display());
        return;
    }
    let schema = Schema::load(path).unwrap();
    assert!(schema.types.len() > 50);
    let api_user = schema.entity("ApiUser").unwrap();
    assert_eq!(
        api_user
            .field("generate_event_log_entries")
            .unwrap()
            .data_type,
        DataType::Checkbox
    );
}

#[test]
fn rejects_bad_dumps_with_a_reason() {
    assert!(
        Schema::from_dump(&serde_json::json!([1]))
            .unwrap_err()
            .contains("object")
    );
    let err = Schema::from_dump(&serde_json::json!({"Shot": {"code": {}}})).unwrap_err();
    assert!(err.contains("Shot.code"), "{err}");
}
