"""Every api3 method through the real shotgun_api3 client, paging and error mapping."""

import datetime
import json
import urllib.request
import uuid

import pytest
import shotgun_api3

PROJECT = {"type": "Project", "id": 1}


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_info_reports_a_modern_server(sg):
    info = sg.info()
    assert info["version"][:2] == [8, 89]
    assert sg.server_caps.version >= (8, 0, 0)
    assert sg.config.records_per_page == 500


def test_create_read_update_delete_revive_round_trip(sg):
    code = unique("sh")
    shot = sg.create("Shot", {"code": code, "project": PROJECT, "sg_cut_in": 1001},
                     return_fields=["created_at", "sg_status_list"])
    assert shot["type"] == "Shot" and shot["code"] == code
    assert shot["project"] == {"type": "Project", "id": 1, "name": "Demo Project"}
    assert shot["sg_status_list"] == "wtg"
    assert isinstance(shot["created_at"], datetime.datetime)

    found = sg.find_one("Shot", [["code", "is", code]], ["code", "sg_cut_in", "project", "created_by"])
    assert found["id"] == shot["id"] and found["sg_cut_in"] == 1001
    assert found["created_by"]["type"] == "ApiUser"

    updated = sg.update("Shot", shot["id"], {"sg_status_list": "ip", "description": "moving"})
    assert updated == {"type": "Shot", "id": shot["id"], "sg_status_list": "ip", "description": "moving"}

    assert sg.delete("Shot", shot["id"]) is True
    assert sg.delete("Shot", shot["id"]) is False
    assert sg.find_one("Shot", [["id", "is", shot["id"]]]) is None
    retired = sg.find("Shot", [["id", "is", shot["id"]]], ["code"], retired_only=True)
    assert [r["code"] for r in retired] == [code]
    assert sg.revive("Shot", shot["id"]) is True
    assert sg.revive("Shot", shot["id"]) is False
    assert sg.find_one("Shot", [["id", "is", shot["id"]]])["id"] == shot["id"]


def test_dotted_return_fields_and_link_names(sg):
    seq = sg.create("Sequence", {"code": unique("SEQ"), "project": PROJECT})
    shot = sg.create("Shot", {"code": unique("sh"), "project": PROJECT, "sg_sequence": seq})
    found = sg.find_one("Shot", [["id", "is", shot["id"]]],
                        ["sg_sequence", "sg_sequence.Sequence.code", "project.Project.name", "no_such_field"])
    assert found["sg_sequence"] == {"type": "Sequence", "id": seq["id"], "name": seq["code"]}
    assert found["sg_sequence.Sequence.code"] == seq["code"]
    assert found["project.Project.name"] == "Demo Project"


def test_multi_entity_update_modes(sg):
    a1 = sg.create("Asset", {"code": unique("a"), "project": PROJECT})
    a2 = sg.create("Asset", {"code": unique("a"), "project": PROJECT})
    shot = sg.create("Shot", {"code": unique("sh"), "assets": [a1]})
    sg.update("Shot", shot["id"], {"assets": [a2]}, multi_entity_update_modes={"assets": "add"})
    ids = sorted(a["id"] for a in sg.find_one("Shot", [["id", "is", shot["id"]]], ["assets"])["assets"])
    assert ids == sorted([a1["id"], a2["id"]])
    sg.update("Shot", shot["id"], {"assets": [a1]}, multi_entity_update_modes={"assets": "remove"})
    assets = sg.find_one("Shot", [["id", "is", shot["id"]]], ["assets"])["assets"]
    assert [a["id"] for a in assets] == [a2["id"]]
    sg.update("Shot", shot["id"], {"assets": []})
    assert sg.find_one("Shot", [["id", "is", shot["id"]]], ["assets"])["assets"] == []


def test_paging_loop_returns_every_record_once(sg):
    tag = unique("page")
    sg.batch([{"request_type": "create", "entity_type": "CustomEntity02", "data": {"code": f"{tag}_{i:04}"}}
              for i in range(1234)])
    rows = sg.find("CustomEntity02", [["code", "starts_with", tag]], ["code"])
    assert len(rows) == 1234
    assert len({r["id"] for r in rows}) == 1234
    assert sg.find("CustomEntity02", [["code", "starts_with", tag]], ["code"], limit=700)[699]["id"] == rows[699]["id"]
    page3 = sg.find("CustomEntity02", [["code", "starts_with", tag]], ["code"], limit=100, page=3)
    assert [r["id"] for r in page3] == [r["id"] for r in rows[200:300]]
    assert sg.find("CustomEntity02", [["code", "starts_with", tag]], ["code"], limit=100, page=99) == []


def test_sorting(sg):
    tag = unique("sort")
    for code, cut in [("b", 3), ("a", 2), ("c", 1)]:
        sg.create("Shot", {"code": f"{tag}_{code}", "sg_cut_in": cut})
    by_code = sg.find("Shot", [["code", "starts_with", tag]], ["code"], order=[{"field_name": "code", "direction": "desc"}])
    assert [r["code"][-1] for r in by_code] == ["c", "b", "a"]
    by_cut = sg.find("Shot", [["code", "starts_with", tag]], ["code"], order=[{"column": "sg_cut_in", "direction": "asc"}])
    assert [r["code"][-1] for r in by_cut] == ["c", "a", "b"]


def test_batch_returns_each_result_and_rolls_back_on_failure(sg):
    code = unique("batch")
    created, = sg.batch([{"request_type": "create", "entity_type": "Shot", "data": {"code": code}}])
    results = sg.batch([
        {"request_type": "update", "entity_type": "Shot", "entity_id": created["id"], "data": {"sg_cut_in": 5}},
        {"request_type": "delete", "entity_type": "Shot", "entity_id": created["id"]},
    ])
    assert results[0]["sg_cut_in"] == 5 and results[1] is True
    other = unique("batch")
    with pytest.raises(shotgun_api3.Fault, match="index 1 failed.  All requests rolled back"):
        sg.batch([{"request_type": "create", "entity_type": "Shot", "data": {"code": other}},
                  {"request_type": "create", "entity_type": "Shot", "data": {"nope": 1}}])
    assert sg.find("Shot", [["code", "is", other]]) == []


def test_summarize_with_grouping(sg):
    tag = unique("sum")
    for cut, status in [(10, "ip"), (20, "ip"), (5, "fin")]:
        sg.create("Shot", {"code": f"{tag}_{cut}", "sg_cut_in": cut, "sg_status_list": status})
    result = sg.summarize("Shot", [["code", "starts_with", tag]],
                          [{"field": "id", "type": "count"}, {"field": "sg_cut_in", "type": "sum"},
                           {"field": "sg_cut_in", "type": "maximum"}],
                          grouping=[{"field": "sg_status_list", "type": "exact", "direction": "asc"}])
    assert result["summaries"] == {"id": 3, "sg_cut_in": 20}
    groups = {g["group_name"]: g["summaries"] for g in result["groups"]}
    assert groups == {"fin": {"id": 1, "sg_cut_in": 5}, "ip": {"id": 2, "sg_cut_in": 20}}
    minimum = sg.summarize("Shot", [["code", "starts_with", tag]], [{"field": "sg_cut_in", "type": "minimum"}])
    assert minimum["summaries"]["sg_cut_in"] == 5


def test_schema_methods(sg):
    schema = sg.schema_read()
    assert "Shot" in schema and "EventLogEntry" in schema
    status = schema["Shot"]["sg_status_list"]
    assert status["data_type"]["value"] == "status_list"
    assert "ip" in status["properties"]["valid_values"]["value"]
    fields = sg.schema_field_read("Shot")
    assert fields["sg_sequence"]["properties"]["valid_types"]["value"] == ["Sequence"]
    one = sg.schema_field_read("Shot", "code")
    assert list(one) == ["code"]
    entities = sg.schema_entity_read()
    assert entities["Shot"]["name"]["value"] == "Shot"


def test_session_token_auth(sim, sg):
    token = sg.get_session_token()
    other = shotgun_api3.Shotgun(sim.url, session_token=token)
    assert other.find_one("Project", [["id", "is", 1]], ["name"])["name"] == "Demo Project"


def test_wrong_key_raises_authentication_fault(sim):
    bad = shotgun_api3.Shotgun(sim.url, script_name="pytest", api_key="wrong")
    with pytest.raises(shotgun_api3.AuthenticationFault, match="Can't authenticate script 'pytest'"):
        bad.find_one("Shot", [])


@pytest.mark.parametrize("call, message", [
    (lambda sg: sg.find("NoSuchType", []), "NoSuchType"),
    (lambda sg: sg.find("Shot", [["no_field", "is", 1]]), "API read() Shot.no_field doesn't exist."),
    (lambda sg: sg.find("Shot", [["code", "greater_than", "x"]]), "'text' data type doesn't support 'greater_than'"),
    (lambda sg: sg.find("EventLogEntry", [["meta", "is", None]]), "cannot be used in a filter"),
    (lambda sg: sg.create("Shot", {"code": 5}), "Shot.code is of type text"),
    (lambda sg: sg.create("Shot", {"sg_status_list": "bogus"}), "is not a valid value"),
    (lambda sg: sg.create("Shot", {"sg_sequence": {"type": "Asset", "id": 1}}), "does not accept entities of type Asset"),
    (lambda sg: sg.update("Shot", 99999999, {"code": "x"}), "Entity of type [Shot] with id=99999999 does not exist."),
    (lambda sg: sg.delete("Shot", 99999999), "API delete() CRUD ERROR #3: Entity of type [Shot] with id=99999999 does not exist."),
    (lambda sg: sg.update("EventLogEntry", 1, {"description": "x"}), "append-only"),
    (lambda sg: sg._call_rpc("no_such_method", {"x": 1}), "Unknown method 'no_such_method'"),
])
def test_bad_requests_raise_fault_with_a_real_message(sg, call, message):
    with pytest.raises(shotgun_api3.Fault) as info:
        call(sg)
    assert message in str(info.value)
    assert not isinstance(info.value, shotgun_api3.AuthenticationFault)


def test_malformed_json_gets_an_api_error_not_a_crash(sim):
    req = urllib.request.Request(sim.url + "/api3/json", data=b"{not json", method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("application/json")
        body = json.loads(resp.read())
    assert body["exception"] is True and "Invalid JSON" in body["message"]
