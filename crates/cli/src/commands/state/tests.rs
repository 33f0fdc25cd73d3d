use super::*;

fn key(collection: &str, plugin: &str) -> PluginKey {
    PluginKey::new(collection, plugin)
}

#[test]
fn resolves_names_and_collection_paths() {
    let keys = [
        key("/a/plugins", "log"),
        key("/a/plugins", "dup"),
        key("/b", "dup"),
    ];
    assert_eq!(resolve(&keys, "log").unwrap(), key("/a/plugins", "log"));
    assert_eq!(resolve(&keys, "/b/dup").unwrap(), key("/b", "dup"));
    assert_eq!(
        resolve(&keys, "/new/place/x").unwrap(),
        key("/new/place", "x")
    );
    let err = resolve(&keys, "dup").unwrap_err().to_string();
    assert!(
        err.contains("/a/plugins/dup") && err.contains("/b/dup"),
        "{err}"
    );
    let err = resolve(&keys, "nope").unwrap_err().to_string();
    assert!(
        err.contains("known plugins") && err.contains("/a/plugins/log"),
        "{err}"
    );
    assert!(resolve(&keys, "/a/").is_err());
}

#[test]
fn set_then_show_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.sqlite");
    // A bare name needs an existing database.
    assert!(set_cursor(&db, "log", 5).is_err());
    assert!(!db.exists());

    let mut store = Store::open(&db).unwrap();
    let mut with_backlog = Cursor::at(100);
    with_backlog
        .backlog
        .insert(97, "2026-11-22T10:05:00Z".parse().unwrap());
    store
        .save(&[
            (key("/plugins", "log"), with_backlog),
            (key("/plugins", "fresh"), Cursor::default()),
        ])
        .unwrap();
    drop(store);

    let message = set_cursor(&db, "log", 42).unwrap();
    assert!(
        message.contains("was 100 with 1 backlog id(s)"),
        "{message}"
    );
    let cursors = Store::open(&db).unwrap().load().unwrap();
    assert_eq!(cursors[&key("/plugins", "log")], Cursor::at(42));

    let table = show_table(&cursors);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("COLLECTION"), "{table}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("fresh") && l.contains("none")),
        "{table}"
    );
    assert!(
        lines.iter().any(|l| l.contains("log") && l.contains("42")),
        "{table}"
    );

    let json = show_json(&cursors, &BTreeMap::new());
    assert_eq!(json[1]["plugin"], "log");
    assert_eq!(json[1]["finished_on_page"], 0);
    assert_eq!(json[1]["last_id"], 42);
    assert_eq!(json[1]["backlog_size"], 0);
    assert!(set_cursor(&db, "log", -1).is_err());
}

#[test]
fn show_of_a_missing_database_explains() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.sqlite");
    let err = run_with_db(
        Command::Show {
            db: DbArg {
                db: None,
                config: None,
            },
            json: false,
        },
        &db,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("missing.sqlite") && err.contains("--db"),
        "{err}"
    );
    assert!(!db.exists(), "show must not create a database");
}

#[test]
fn set_empties_the_plugins_progress_page_so_its_ids_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.sqlite");
    let plugin = key("/plugins", "log");
    set_cursor(&db, "/plugins/log", 5).unwrap();
    let page = page::page_file(&page::pages_dir(&db), &plugin);
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    std::fs::write(&page, b"6\n7\n").unwrap();
    let other = page::page_file(&page::pages_dir(&db), &key("/plugins", "other"));
    std::fs::write(&other, b"9\n").unwrap();
    let cursors = Store::open(&db).unwrap().load().unwrap();
    let beyond = pages_beyond(&db, &cursors);
    assert_eq!(
        beyond.get(&plugin),
        Some(&2),
        "state show counts the page's ids"
    );
    let message = set_cursor(&db, "log", 3).unwrap();
    assert!(
        message.contains("progress page of 2 finished id(s)"),
        "{message}"
    );
    assert!(page::read(&page).unwrap().ids.is_empty());
    assert_eq!(
        page::read(&other).unwrap().ids,
        [9],
        "other plugins' pages stay"
    );
}
