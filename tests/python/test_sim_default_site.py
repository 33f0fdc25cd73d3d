"""What a default site has and example plugins rely on: Status records, Smart Cut fields."""

import uuid


def test_status_records_exist_for_the_status_lists(sg):
    statuses = {s["code"]: s["name"] for s in sg.find("Status", [], ["code", "name"])}
    assert statuses["ip"] == "In Progress"
    assert statuses["fin"] == "Final"
    shot_codes = sg.schema_field_read("Shot", "sg_status_list")["sg_status_list"]["properties"]["valid_values"]["value"]
    assert set(shot_codes) <= set(statuses), "every status a list offers is a Status record"
    assert sg.schema_field_read("Status", "code")["code"]["editable"]["value"] is False


def test_smart_cut_fields_read_and_write(sg):
    fields = sg.schema_field_read("Shot")
    for name in ("smart_head_in", "smart_head_duration", "smart_tail_duration", "smart_cut_in", "smart_cut_out"):
        assert fields[name]["data_type"]["value"] == "number", name
    assert fields["smart_working_duration"]["editable"]["value"] is False
    shot = sg.create("Shot", {"code": f"sm_{uuid.uuid4().hex[:6]}", "project": {"type": "Project", "id": 1}})
    sg.update("Shot", shot["id"], {"smart_head_in": 1001, "smart_head_duration": 8})
    again = sg.find_one("Shot", [["id", "is", shot["id"]]], ["smart_head_in", "smart_head_duration"])
    assert (again["smart_head_in"], again["smart_head_duration"]) == (1001, 8)
