"""Updates through a single-hop linked field (`entity.Shot.<field>` on a Version) write the
linked record, with that record's events; other dotted paths fail with an error."""

import uuid

import pytest
import shotgun_api3

from test_sim_events import events_since, latest_id

PROJECT = {"type": "Project", "id": 1}


def shot_and_version(sg):
    code = f"lk_{uuid.uuid4().hex[:6]}"
    shot = sg.create("Shot", {"code": code, "project": PROJECT})
    version = sg.create("Version", {"code": code + "_v1", "project": PROJECT,
                                    "entity": {"type": "Shot", "id": shot["id"]}})
    return shot, version


def test_update_through_entity_link_writes_the_shot(sg):
    shot, version = shot_and_version(sg)
    last = latest_id(sg)
    result = sg.update("Version", version["id"], {"entity.Shot.sg_status_list": "fin",
                                                  "description": "final"})
    assert result["entity.Shot.sg_status_list"] == "fin"
    assert result["description"] == "final"
    assert sg.find_one("Shot", [["id", "is", shot["id"]]], ["sg_status_list"])["sg_status_list"] == "fin"
    # Read back through the same path.
    again = sg.find_one("Version", [["id", "is", version["id"]]], ["entity.Shot.sg_status_list"])
    assert again["entity.Shot.sg_status_list"] == "fin"
    events = events_since(sg, last)
    shot_changes = [e for e in events if e["event_type"] == "Shotgun_Shot_Change"]
    assert len(shot_changes) == 1, events
    change = shot_changes[0]
    assert change["attribute_name"] == "sg_status_list"
    assert change["entity"]["id"] == shot["id"]
    meta = change["meta"]
    assert (meta["entity_type"], meta["entity_id"]) == ("Shot", shot["id"])
    assert (meta["old_value"], meta["new_value"]) == ("wtg", "fin")
    version_changes = [e["attribute_name"] for e in events if e["event_type"] == "Shotgun_Version_Change"]
    assert version_changes == ["description"], "the Version itself changes only where its own fields do"


def test_batch_update_through_entity_link(sg):
    shot, version = shot_and_version(sg)
    last = latest_id(sg)
    [result] = sg.batch([{"request_type": "update", "entity_type": "Version", "entity_id": version["id"],
                          "data": {"entity.Shot.smart_head_in": 1001}}])
    assert result["entity.Shot.smart_head_in"] == 1001
    assert sg.find_one("Shot", [["id", "is", shot["id"]]], ["smart_head_in"])["smart_head_in"] == 1001
    kinds = [(e["event_type"], e["attribute_name"]) for e in events_since(sg, last)]
    assert kinds == [("Shotgun_Shot_Change", "smart_head_in")]


def test_unlinked_and_multi_hop_paths_fail_and_write_nothing(sg):
    shot, version = shot_and_version(sg)
    loose = sg.create("Version", {"code": f"lk_{uuid.uuid4().hex[:6]}", "project": PROJECT})
    last = latest_id(sg)
    with pytest.raises(shotgun_api3.Fault, match="has no entity"):
        sg.update("Version", loose["id"], {"entity.Shot.sg_status_list": "fin"})
    with pytest.raises(shotgun_api3.Fault, match="not a record of type Asset"):
        sg.update("Version", version["id"], {"entity.Asset.sg_status_list": "fin"})
    with pytest.raises(shotgun_api3.Fault, match="single-hop"):
        sg.update("Version", version["id"], {"entity.Shot.sg_sequence.Sequence.code": "x"})
    with pytest.raises(shotgun_api3.Fault, match="Shot.no_such_field doesn't exist"):
        sg.update("Version", version["id"], {"entity.Shot.no_such_field": 1})
    with pytest.raises(shotgun_api3.Fault, match="valid value"):
        sg.update("Version", version["id"], {"entity.Shot.sg_status_list": "nope", "description": "x"})
    assert events_since(sg, last) == [], "a failed update writes nothing"
    assert sg.find_one("Shot", [["id", "is", shot["id"]]], ["sg_status_list"])["sg_status_list"] == "wtg"
