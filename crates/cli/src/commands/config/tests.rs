//! The `config` command's output on real files.

use super::*;

#[test]
fn summary_names_the_essentials_and_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let text = format!(
        "[daemon]\nstate_db = \"{d}/state.sqlite3\"\nlog_file = \"main\"\n\
         [site]\nserver = \"https://s.example.com\"\nscript_name = \"daemon\"\nscript_key = \"topsecret\"\n\
         [[plugins]]\npath = \"{d}/plugins\"\n",
        d = dir.path().display()
    );
    let path = dir.path().join("sgevents.toml");
    std::fs::write(&path, text).unwrap();
    let settings = sgevents_config::check_with_env(&path, &Environment::default()).unwrap();
    let out = summary(&settings, std::path::Path::new("python3"));
    assert!(out.contains(": OK (TOML)"), "{out}");
    assert!(
        out.contains("site: https://s.example.com as daemon"),
        "{out}"
    );
    assert!(out.contains("emails: off"), "{out}");
    assert!(!out.contains("topsecret"), "{out}");
}
