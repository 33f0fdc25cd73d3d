"""Every modelled filter relation through shotgun_api3's filter translation."""

import datetime
import uuid

import pytest

PROJECT = {"type": "Project", "id": 1}


@pytest.fixture(scope="module")
def data(sim):
    """Three shots with distinct values in every filterable data type."""
    sg = sim.connect()
    tag = uuid.uuid4().hex[:6]
    seq = sg.create("Sequence", {"code": f"SEQ_{tag}", "project": PROJECT})
    hero = sg.create("Asset", {"code": f"hero_{tag}", "project": PROJECT})
    tree = sg.create("Asset", {"code": f"tree_{tag}", "project": PROJECT})
    today = datetime.datetime.now(datetime.timezone.utc).date()
    shots = [
        sg.create("Shot", {"code": f"{tag}_sh010", "sg_status_list": "ip", "sg_cut_in": 1001, "sg_frame_rate": 24.0,
                           "sg_due_date": today.isoformat(), "sg_vfx": True, "sg_sequence": seq,
                           "assets": [hero, tree], "sg_timecode_in": 3600000, "sg_shot_type": "CG",
                           "sg_working_duration": 600, "sg_completion": 50, "project": PROJECT}),
        sg.create("Shot", {"code": f"{tag}_SH020_comp", "sg_status_list": "fin", "sg_cut_in": 1009,
                           "sg_frame_rate": 23.976, "sg_due_date": (today - datetime.timedelta(days=400)).isoformat(),
                           "assets": [tree], "sg_timecode_in": 0, "sg_shot_type": "Comp", "project": PROJECT}),
        sg.create("Shot", {"code": f"{tag}_sh030", "project": PROJECT}),
    ]
    return {"sg": sg, "tag": tag, "seq": seq, "hero": hero, "tree": tree, "ids": [s["id"] for s in shots]}


def ids(data, *filters, op="all"):
    sg = data["sg"]
    rows = sg.find("Shot", [["code", "starts_with", data["tag"]], {"filter_operator": op, "filters": list(filters)}], ["id"])
    return [data["ids"].index(r["id"]) + 1 for r in sorted(rows, key=lambda r: r["id"])]


@pytest.mark.parametrize("cond, expected", [
    (["code", "contains", "COMP"], [2]),
    (["code", "not_contains", "comp"], [1, 3]),
    (["code", "ends_with", "30"], [3]),
    (["code", "is_not", None], [1, 2, 3]),
    (["description", "is", None], [1, 2, 3]),
])
def test_text(data, cond, expected):
    assert ids(data, cond) == expected


def test_text_is_and_in_are_case_insensitive(data):
    tag = data["tag"]
    assert ids(data, ["code", "is", f"{tag}_SH010"]) == [1]
    assert ids(data, ["code", "in", [f"{tag}_sh010", f"{tag}_sh030"]]) == [1, 3]
    assert ids(data, ["code", "not_in", [f"{tag}_sh010"]]) == [2, 3]
    assert ids(data, ["code", "starts_with", f"{tag}_SH0"]) == [1, 2, 3]


@pytest.mark.parametrize("cond, expected", [
    (["sg_cut_in", "is", 1001], [1]),
    (["sg_cut_in", "is_not", 1001], [2, 3]),
    (["sg_cut_in", "less_than", 1005], [1]),
    (["sg_cut_in", "greater_than", 1005], [2]),
    (["sg_cut_in", "between", [1000, 1009]], [1, 2]),
    (["sg_cut_in", "not_between", [1000, 1005]], [2, 3]),
    (["sg_cut_in", "in", [1009, 7]], [2]),
    (["sg_cut_in", "not_in", [1009]], [1, 3]),
    (["sg_frame_rate", "greater_than", 23.99], [1]),
    (["sg_frame_rate", "less_than", 24.0], [2]),
    (["sg_frame_rate", "between", [23.0, 24.0]], [1, 2]),
    (["sg_frame_rate", "in", [23.976]], [2]),
    (["sg_timecode_in", "greater_than", 0], [1]),
    (["sg_working_duration", "is", 600], [1]),
    (["sg_completion", "greater_than", 10], [1]),
])
def test_numbers(data, cond, expected):
    assert ids(data, cond) == expected


@pytest.mark.parametrize("cond, expected", [
    (["sg_due_date", "in_last", [7, "DAY"]], [1]),
    (["sg_due_date", "not_in_last", [7, "DAY"]], [2, 3]),
    (["sg_due_date", "in_next", [1, "WEEK"]], [1]),
    (["sg_due_date", "not_in_next", [1, "WEEK"]], [2, 3]),
    (["sg_due_date", "in_calendar_day", 0], [1]),
    (["sg_due_date", "in_calendar_week", 0], [1]),
    (["sg_due_date", "in_calendar_month", 0], [1]),
    (["sg_due_date", "in_calendar_year", 0], [1]),
    (["sg_due_date", "less_than", datetime.date.today() - datetime.timedelta(days=30)], [2]),
    (["created_at", "in_last", [1, "HOUR"]], [1, 2, 3]),
    (["created_at", "in_calendar_day", -1], []),
    (["created_at", "greater_than", datetime.datetime(2000, 1, 1)], [1, 2, 3]),
    (["created_at", "less_than", datetime.datetime(2000, 1, 1)], []),
])
def test_dates(data, cond, expected):
    assert ids(data, cond) == expected


def test_date_is_between_and_in(data):
    due = data["sg"].find_one("Shot", [["id", "is", data["ids"][1]]], ["sg_due_date"])["sg_due_date"]
    assert ids(data, ["sg_due_date", "is", due]) == [2]
    assert ids(data, ["sg_due_date", "in", [due]]) == [2]
    assert ids(data, ["sg_due_date", "between", [due, due]]) == [2]
    created = data["sg"].find_one("Shot", [["id", "is", data["ids"][0]]], ["created_at"])["created_at"]
    assert 1 in ids(data, ["created_at", "is", created])


@pytest.mark.parametrize("cond, expected", [
    (["sg_vfx", "is", True], [1]),
    (["sg_vfx", "is_not", True], [2, 3]),
    (["sg_status_list", "is", "ip"], [1]),
    (["sg_status_list", "is_not", "ip"], [2, 3]),
    (["sg_status_list", "in", ["fin", "wtg"]], [2, 3]),
    (["sg_status_list", "not_in", ["fin", "wtg"]], [1]),
    (["sg_shot_type", "is", "CG"], [1]),
    (["sg_shot_type", "in", ["Comp", "CG"]], [1, 2]),
    (["sg_shot_type", "not_in", ["Comp"]], [1, 3]),
    (["sg_shot_type", "is_not", "CG"], [2, 3]),
])
def test_checkbox_and_lists(data, cond, expected):
    assert ids(data, cond) == expected


def test_entity_relations(data):
    seq = data["seq"]
    assert ids(data, ["sg_sequence", "is", seq]) == [1]
    assert ids(data, ["sg_sequence", "is_not", seq]) == [2, 3]
    assert ids(data, ["sg_sequence", "is", None]) == [2, 3]
    assert ids(data, ["sg_sequence", "in", [seq]]) == [1]
    assert ids(data, ["sg_sequence", "not_in", [seq]]) == [2, 3]
    assert ids(data, ["sg_sequence", "type_is", "Sequence"]) == [1]
    assert ids(data, ["sg_sequence", "type_is_not", "Sequence"]) == [2, 3]
    assert ids(data, ["sg_sequence", "name_contains", data["tag"]]) == [1]
    assert ids(data, ["sg_sequence", "name_not_contains", data["tag"]]) == [2, 3]
    assert ids(data, ["sg_sequence", "name_is", seq["code"]]) == [1]
    assert ids(data, ["sg_sequence.Sequence.code", "is", seq["code"]]) == [1]


def test_multi_entity_relations(data):
    hero, tree = data["hero"], data["tree"]
    assert ids(data, ["assets", "is", hero]) == [1]
    assert ids(data, ["assets", "is_not", hero]) == [2, 3]
    assert ids(data, ["assets", "is", None]) == [3]
    assert ids(data, ["assets", "in", [hero, tree]]) == [1, 2]
    assert ids(data, ["assets", "not_in", [tree]]) == [3]
    assert ids(data, ["assets", "type_is", "Asset"]) == [1, 2]
    assert ids(data, ["assets", "type_is_not", "Asset"]) == [3]
    assert ids(data, ["assets", "name_contains", "hero"]) == [1]
    assert ids(data, ["assets", "name_not_contains", "hero"]) == [2, 3]
    assert ids(data, ["assets", "name_is", tree["code"]]) == [1, 2]


def test_any_and_nested_groups(data):
    tag = data["tag"]
    assert ids(data, ["code", "is", f"{tag}_sh030"], ["sg_status_list", "is", "fin"], op="any") == [2, 3]
    nested = {"filter_operator": "all", "filters": [["sg_status_list", "is", "ip"], ["sg_cut_in", "less_than", 2000]]}
    assert ids(data, ["code", "is", f"{tag}_sh030"], nested, op="any") == [1, 3]
