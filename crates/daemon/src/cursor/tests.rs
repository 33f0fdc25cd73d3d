use std::collections::BTreeMap;

use serde_json::json;

use super::*;

const FIVE_MIN: Duration = Duration::from_secs(300);

fn event(id: i64, created_at: &str) -> Event {
    Event::from_json(
        json!({"id": id, "event_type": "Shotgun_Shot_Change", "created_at": created_at}),
    )
    .unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn a_recent_gap_is_backlogged_and_filled_without_replaying_later_events() {
    let mut cursor = Cursor {
        last_id: Some(100),
        backlog: BTreeMap::new(),
    };
    let now = ts("2026-11-22T10:00:05Z");
    let note = cursor.advance(&event(104, "2026-11-22T10:00:00Z"), now, FIVE_MIN);
    assert_eq!(note, Some(GapNote::Backlogged(vec![101, 102, 103])));
    assert_eq!(cursor.last_id, Some(104));
    cursor.advance(&event(105, "2026-11-22T10:00:01Z"), now, FIVE_MIN);

    // 102 arrives late: it is processed, and 103..105 are not replayed (upstream's duplicate bug).
    assert_eq!(cursor.admit(102), Admission::Late);
    assert_eq!(
        cursor.advance(&event(102, "2026-11-22T10:00:00Z"), now, FIVE_MIN),
        None
    );
    assert_eq!(cursor.last_id, Some(105));
    assert_eq!(cursor.admit(103), Admission::Late);
    assert_eq!(cursor.admit(104), Admission::Old);
    assert_eq!(cursor.admit(105), Admission::Old);
    assert_eq!(cursor.admit(106), Admission::InOrder);
}

#[test]
fn gaps_in_old_events_never_happened_by_the_site_clock() {
    let mut cursor = Cursor {
        last_id: Some(10),
        backlog: BTreeMap::new(),
    };
    // The daemon's own clock plays no part: only created_at against the site's now.
    let note = cursor.advance(
        &event(13, "2026-11-22T09:00:00Z"),
        ts("2026-11-22T09:05:00Z"),
        FIVE_MIN,
    );
    assert_eq!(
        note,
        Some(GapNote::NeverHappened {
            first: 11,
            last: 12
        })
    );
    assert!(cursor.backlog.is_empty());
}

#[test]
fn backlog_expires_on_the_site_clock() {
    let mut cursor = Cursor {
        last_id: Some(1),
        backlog: BTreeMap::new(),
    };
    cursor.advance(
        &event(3, "2026-11-22T10:00:00Z"),
        ts("2026-11-22T10:00:00Z"),
        FIVE_MIN,
    );
    assert!(cursor.expire(ts("2026-11-22T10:04:59Z")).is_empty());
    assert_eq!(cursor.expire(ts("2026-11-22T10:05:00Z")), vec![2]);
    assert_eq!(cursor.admit(2), Admission::Old);
}

#[test]
fn first_event_sets_the_position_without_a_gap() {
    let mut cursor = Cursor::default();
    assert_eq!(cursor.admit(500), Admission::InOrder);
    assert_eq!(
        cursor.advance(
            &event(500, "2026-11-22T10:00:00Z"),
            ts("2026-11-22T10:00:00Z"),
            FIVE_MIN
        ),
        None
    );
    assert_eq!(cursor.last_id, Some(500));
}

#[test]
fn huge_gaps_are_not_tracked_id_by_id() {
    let mut cursor = Cursor {
        last_id: Some(1),
        backlog: BTreeMap::new(),
    };
    let note = cursor.advance(
        &event(1_000_000, "2026-11-22T10:00:00Z"),
        ts("2026-11-22T10:00:00Z"),
        FIVE_MIN,
    );
    assert_eq!(
        note,
        Some(GapNote::NeverHappened {
            first: 2,
            last: 999_999
        })
    );
}
