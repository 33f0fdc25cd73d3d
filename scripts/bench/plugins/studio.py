"""Benchmark plugin for the realistic scenario: one of the filters studio plugins use.

The file is copied under names such as `task_status_2.py`; the name without its trailing
`_<n>` picks the filter from FILTERS (upstream's matchEvents format). The callback does no work:
it counts its callbacks and notes two times in `<plugin name>.json` under SGEVENTS_BENCH_OUT:
`first` (its first callback) and `done` (its first event at or above SGEVENTS_BENCH_TARGET, where
the harness puts one matching event for every filter after the history). `count` is the number
of callbacks below the target. Runs unchanged under upstream shotgunEvents and sgevents.
"""

import json
import os
import re
import time

FILTERS = {
    # Status-driven automation: notify, roll up, create follow-up tasks.
    "task_status": {"Shotgun_Task_Change": ["sg_status_list"]},
    "version_status": {"Shotgun_Version_Change": ["sg_status_list"]},
    "shot_status": {"Shotgun_Shot_Change": ["sg_status_list"]},
    # New records: transcode, notify, initialise fields.
    "new_version": {"Shotgun_Version_New": None},
    "new_note": {"Shotgun_Note_New": None},
    "new_shot": {"Shotgun_Shot_New": None},
    "new_task_or_asset": {"Shotgun_Task_New": None, "Shotgun_Asset_New": None},
    # Field syncs: cut lengths, assignments.
    "shot_cut": {"Shotgun_Shot_Change": ["sg_cut_in", "sg_cut_out", "sg_cut_duration"]},
    "task_assignees": {"Shotgun_Task_Change": ["task_assignees"]},
    # '*' attribute filters: every change of one entity type.
    "task_any_field": {"Shotgun_Task_Change": ["*"]},
    "version_any_field": {"Shotgun_Version_Change": ["*"]},
    # The '*' event-type key: a status change of any entity type.
    "any_status": {"*": ["sg_status_list"]},
    # An audit log that takes everything.
    "everything": None,
}

# The 20 plugins of the scenario: (filter name, how many plugins use it).
PLAN = [("task_status", 4), ("version_status", 1), ("shot_status", 1), ("new_version", 2),
        ("new_note", 2), ("new_shot", 1), ("new_task_or_asset", 1), ("shot_cut", 2),
        ("task_assignees", 1), ("task_any_field", 2), ("version_any_field", 1),
        ("any_status", 1), ("everything", 1)]


def registerCallbacks(reg):
    name = os.path.splitext(os.path.basename(__file__))[0]
    state = {
        "target": int(os.environ.get("SGEVENTS_BENCH_TARGET", "0")),
        "path": os.path.join(os.environ["SGEVENTS_BENCH_OUT"], name + ".json"),
        "first": None,
        "count": 0,
        "done": False,
    }
    reg.registerCallback(
        os.environ["SGEVENTS_BENCH_SCRIPT"],
        os.environ["SGEVENTS_BENCH_KEY"],
        studio,
        FILTERS[re.sub(r"_\d+$", "", name)],
        state,
    )


def studio(sg, logger, event, state):
    if state["first"] is None:
        state["first"] = time.time()
    if event["id"] < state["target"]:
        state["count"] += 1
    elif not state["done"]:
        state["done"] = True
        done = time.time()
        with open(state["path"] + ".tmp", "w") as fh:
            json.dump({"first": state["first"], "done": done, "count": state["count"]}, fh)
        os.replace(state["path"] + ".tmp", state["path"])  # the harness never sees half
