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

/// The real site's dump: `$SGEVENTS_SCHEMA_DUMP`, else `../shared/data/schema_read.json` next
/// to the repository. `None` (the test prints why and skips) when neither exists.
fn site_dump() -> Option<std::path::PathBuf> {
    let path = match std::env::var_os("SGEVENTS_SCHEMA_DUMP") {
        Some(path) => std::path::PathBuf::from(path),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/schema_read.json"),
    };
    if path.exists() {
        Some(path)
    } else {
        println!(
            "skipping: no schema dump at {} (set SGEVENTS_SCHEMA_DUMP to a schema_read() JSON)",
            path.display()
        );
        None
    }
}

#[test]
fn loads_the_real_site_dump() {
    let Some(path) = site_dump() else {
        return;
    };
    let schema = Schema::load(&path).unwrap();
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

/// Every entity type the sim models carries the dump's built-in fields (not `sg_`) with the
/// same data type and valid values and types (the sim may allow more link types), and the
/// `Status` type exists. Lists every difference at once.
#[test]
fn builtin_carries_the_default_site_fields() {
    let Some(path) = site_dump() else {
        return;
    };
    let site = Schema::load(&path).unwrap();
    let ours = Schema::builtin();
    let mut differences = Vec::new();
    if ours.entity("Status").is_none() {
        differences.push("entity type Status is missing".to_owned());
    }
    let sorted = |values: &[String]| {
        let mut values = values.to_vec();
        values.sort();
        values
    };
    for (type_name, def) in &ours.types {
        let Some(site_def) = site.entity(type_name) else {
            println!("note: {type_name} is not in the dump; not compared");
            continue;
        };
        for (name, field) in &site_def.fields {
            if name.starts_with("sg_") {
                continue;
            }
            let Some(our) = def.field(name) else {
                differences.push(format!(
                    "{type_name}.{name} ({}) is missing",
                    field.data_type.as_str()
                ));
                continue;
            };
            if our.data_type != field.data_type {
                differences.push(format!(
                    "{type_name}.{name} is {} here, {} on the site",
                    our.data_type.as_str(),
                    field.data_type.as_str()
                ));
            }
            if sorted(&our.valid_values) != sorted(&field.valid_values)
                && matches!(field.data_type, DataType::List | DataType::StatusList)
            {
                differences.push(format!(
                    "{type_name}.{name} valid values are {:?} here, {:?} on the site",
                    our.valid_values, field.valid_values
                ));
            }
            let missing_types: Vec<&String> = field
                .valid_types
                .iter()
                .filter(|t| !our.valid_types.is_empty() && !our.valid_types.contains(t))
                .collect();
            if !missing_types.is_empty() {
                differences.push(format!(
                    "{type_name}.{name} does not accept {missing_types:?}, the site does"
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "the built-in schema differs from {} in {} ways:\n{}",
        path.display(),
        differences.len(),
        differences.join("\n")
    );
}
