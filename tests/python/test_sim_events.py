"""The EventLogEntry rows each write produces, read back the way shotgunEvents polls them."""

import datetime
import uuid

import shotgun_api3

EVENT_FIELDS = ["id", "event_type", "attribute_name", "meta", "entity", "user", "project",
                "session_uuid", "created_at", "description"]


def latest_id(sg):
    row = sg.find_one("EventLogEntry", [], ["id"], order=[{"column": "id", "direction": "desc"}])
    return row["id"] if row else 0


def events_since(sg, last):
    return sg.find("EventLogEntry", [["id", "greater_than", last]], EVENT_FIELDS,
                   order=[{"column": "id", "direction": "asc"}], limit=500)


def test_create_logs_new_and_in_create_rows(sg):
    last = latest_id(sg)
    code = f"ev_{uuid.uuid4().hex[:6]}"
    shot = sg.create("Shot", {"code": code, "project": {"type": "Project", "id": 1}})
    events = events_since(sg, last)
    kinds = [e["event_type"] for e in events]
    assert kinds[0] == "Shotgun_Shot_New" and set(kinds[1:]) == {"Shotgun_Shot_Change"}
    assert events[0]["meta"] == {"type": "new_entity", "entity_type": "Shot", "entity_id": shot["id"]}
    changes = {e["attribute_name"]: e["meta"] for e in events[1:]}
    assert set(changes) == {"code", "project", "sg_status_list"}, "server defaults are logged too"
    assert all(m["in_create"] is True for m in changes.values())
    assert changes["sg_status_list"]["new_value"] == "wtg"
    assert changes["code"]["new_value"] == code
    for e in events:
        assert e["entity"] == {"type": "Shot", "id": shot["id"], "name": code}
        assert e["user"] == {"type": "ApiUser", "id": e["user"]["id"], "name": "pytest 1.0"}
        assert e["project"]["id"] == 1
        assert isinstance(e["created_at"], datetime.datetime), "created_at must decode to a datetime"
        assert e["created_at"].replace(tzinfo=None) <= datetime.datetime.now() + datetime.timedelta(seconds=5)
        assert e["session_uuid"] is None
        assert code in e["description"]


def test_update_logs_attribute_change_with_old_and_new(sg):
    shot = sg.create("Shot", {"code": f"ev_{uuid.uuid4().hex[:6]}"})
    last = latest_id(sg)
    sg.update("Shot", shot["id"], {"sg_status_list": "ip", "sg_cut_in": 1001})
    events = events_since(sg, last)
    by_attr = {e["attribute_name"]: e for e in events}
    assert set(by_attr) == {"sg_status_list", "sg_cut_in"}
    status = by_attr["sg_status_list"]["meta"]
    assert status["type"] == "attribute_change" and status["field_data_type"] == "status_list"
    assert (status["old_value"], status["new_value"]) == ("wtg", "ip")
    assert "in_create" not in status
    assert by_attr["sg_cut_in"]["meta"]["old_value"] is None


def test_date_time_values_in_meta_stay_strings(sg):
    playlist = sg.create("Playlist", {"code": f"pl_{uuid.uuid4().hex[:6]}"})
    last = latest_id(sg)
    sg.update("Playlist", playlist["id"], {"sg_date_and_time": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)})
    meta = events_since(sg, last)[0]["meta"]
    assert meta["new_value"] == "2026-01-02 03:04:05 UTC"


def test_multi_entity_changes_log_added_and_removed(sg):
    a = sg.create("Asset", {"code": f"a_{uuid.uuid4().hex[:6]}"})
    shot = sg.create("Shot", {"code": f"ev_{uuid.uuid4().hex[:6]}"})
    last = latest_id(sg)
    sg.update("Shot", shot["id"], {"assets": [a]}, multi_entity_update_modes={"assets": "add"})
    sg.update("Shot", shot["id"], {"assets": [a]}, multi_entity_update_modes={"assets": "remove"})
    added, removed = events_since(sg, last)
    assert added["meta"]["field_data_type"] == "multi_entity"
    assert [x["id"] for x in added["meta"]["added"]] == [a["id"]] and added["meta"]["removed"] == []
    assert [x["id"] for x in removed["meta"]["removed"]] == [a["id"]] and removed["meta"]["added"] == []


def test_delete_and_revive(sg):
    code = f"ev_{uuid.uuid4().hex[:6]}"
    shot = sg.create("Shot", {"code": code})
    first = latest_id(sg)
    sg.delete("Shot", shot["id"])
    events = events_since(sg, first)
    kinds = sorted(e["event_type"] for e in events)
    assert kinds == ["Shotgun_Shot_Change", "Shotgun_Shot_Retirement"]
    retirement = next(e for e in events if e["event_type"] == "Shotgun_Shot_Retirement")
    assert retirement["entity"] is None
    assert retirement["meta"]["display_name"] == code and retirement["meta"]["type"] == "entity_retirement"
    date_change = next(e for e in events if e["attribute_name"] == "retirement_date")
    assert date_change["meta"]["new_value"].endswith(" UTC")
    history = sg.find("EventLogEntry", [["id", "greater_than", first - 10]], ["entity", "meta"])
    mine = [e for e in history if e["meta"] and e["meta"].get("entity_id") == shot["id"] and e["meta"].get("entity_type") == "Shot"]
    assert mine and all(e["entity"] is None for e in mine), "events of a retired entity read entity null"
    last = latest_id(sg)
    sg.revive("Shot", shot["id"])
    revival, = events_since(sg, last)
    assert revival["event_type"] == "Shotgun_Shot_Revival"
    assert revival["entity"]["id"] == shot["id"]


def test_sudo_and_session_uuid(sim):
    sg = sim.connect(sudo_as_login="grace")
    sg.set_session_uuid("c0ffee00-0000-4000-8000-000000000000")
    last = latest_id(sg)
    sg.create("Note", {"subject": "from grace"})
    events = events_since(sg, last)
    assert events
    for e in events:
        assert e["user"]["type"] == "HumanUser" and e["user"]["name"] == "Grace Hopper"
        assert e["meta"]["sudo_actual_user"]["type"] == "ApiUser"
        assert e["session_uuid"] == "c0ffee00-0000-4000-8000-000000000000"


def test_generate_events_flag_is_honoured(sim, sg):
    me = sg.find_one("ApiUser", [["firstname", "is", "pytest"]], ["generate_event_log_entries"])
    assert me["generate_event_log_entries"] is True
    sg.update("ApiUser", me["id"], {"generate_event_log_entries": False})
    try:
        last = latest_id(sg)
        sg.create("Shot", {"code": "silent"})
        assert latest_id(sg) == last
    finally:
        sg.update("ApiUser", me["id"], {"generate_event_log_entries": True})


def test_custom_events_can_be_created_but_not_changed(sg):
    event = sg.create("EventLogEntry", {"event_type": "Studio_Render_Done", "description": "render finished",
                                        "meta": {"frames": 100}, "entity": {"type": "Project", "id": 1}})
    found = sg.find_one("EventLogEntry", [["id", "is", event["id"]]], ["event_type", "meta", "entity"])
    assert found["event_type"] == "Studio_Render_Done" and found["meta"] == {"frames": 100}
    try:
        sg.delete("EventLogEntry", event["id"])
    except shotgun_api3.Fault as err:
        assert "append-only" in str(err)
    else:
        raise AssertionError("deleting an event must fail")


def test_event_filters_used_by_plugins(sg):
    shot = sg.create("Shot", {"code": f"ev_{uuid.uuid4().hex[:6]}"})
    rows = sg.find("EventLogEntry", [["entity", "is", shot], ["event_type", "is", "Shotgun_Shot_Change"],
                                     ["attribute_name", "in", ["sg_status_list", "code"]]], ["attribute_name"])
    assert sorted(r["attribute_name"] for r in rows) == ["code", "sg_status_list"]
    rows = sg.find("EventLogEntry", [["entity", "type_is", "Shot"], ["event_type", "ends_with", "_New"],
                                     ["entity.Shot.code", "is", shot["code"]]], ["id"])
    assert len(rows) == 1
