"""Test plugin: compares the event it receives with shotgun_api3's find() of the same row."""

import datetime
import json
import os

FIELDS = [
    "id",
    "event_type",
    "attribute_name",
    "meta",
    "entity",
    "user",
    "project",
    "session_uuid",
    "created_at",
]
MISSING = object()


def registerCallbacks(reg):
    reg.registerCallback(
        os.environ["SGEVENTS_EXAMPLE_SCRIPT"],
        os.environ["SGEVENTS_EXAMPLE_KEY"],
        compare,
    )


def shape(value):
    """The value's structure with type names, so 1 and 1.0 or True and 1 differ."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, datetime.datetime):
        return ["datetime", value.isoformat(), value.utcoffset() is not None]
    return [type(value).__name__, value]


def key_order(value, path=()):
    """Every dict's keys in order, by path, so that key order is compared too."""
    orders = []
    if isinstance(value, dict):
        orders.append([list(path), list(value)])
        for key, item in value.items():
            orders.extend(key_order(item, path + (key,)))
    elif isinstance(value, list):
        for idx, item in enumerate(value):
            orders.extend(key_order(item, path + (idx,)))
    return orders


def compare(sg, logger, event, args):
    found = sg.find("EventLogEntry", [["id", "is", event["id"]]], FIELDS)
    report = {"id": event["id"], "found": len(found), "mismatches": [], "compared": []}
    if found:
        expected = found[0]
        report["keys"] = sorted(event)
        report["expected_keys"] = sorted(expected)
        report["same_order"] = key_order(event) == key_order(expected)
        report["order"] = key_order(event)
        report["expected_order"] = key_order(expected)
        for key in sorted(set(event) | set(expected)):
            got = event.get(key, MISSING)
            want = expected.get(key, MISSING)
            if got is MISSING or want is MISSING or got != want or shape(got) != shape(want):
                report["mismatches"].append("%s: got %r, find() returned %r" % (key, got, want))
            else:
                report["compared"].append(key)
        created = event["created_at"]
        report["created_at"] = {
            "type": type(created).__name__,
            "aware": getattr(created, "tzinfo", None) is not None,
        }
        report["shape"] = json.loads(json.dumps(shape(event), default=str))
    logger.info("fidelity %s", json.dumps(report, sort_keys=True))
