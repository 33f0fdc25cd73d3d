//! Tests of the event type glob.

use super::glob_match;

#[test]
fn globs_match_event_types() {
    assert!(glob_match("Shotgun_Shot_*", "Shotgun_Shot_Change"));
    assert!(glob_match("*_Change", "Shotgun_Version_Change"));
    assert!(glob_match("Shotgun_*_New", "Shotgun_Task_New"));
    assert!(glob_match("Shotgun_Sho?_New", "Shotgun_Shot_New"));
    assert!(glob_match("*", ""));
    assert!(glob_match("a*b*c", "aXbYbZc"));
    assert!(!glob_match("Shotgun_Shot_*", "Shotgun_Version_New"));
    assert!(!glob_match("Shotgun_Shot_New", "Shotgun_Shot_News"));
    assert!(!glob_match("?", ""));
    assert!(!glob_match("a*b", "aXbY"));
}
