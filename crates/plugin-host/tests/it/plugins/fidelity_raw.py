"""Test plugin: compares the event it receives with shotgun_api3's own inbound conversion
(the private helpers find() uses) applied to the raw row in $SGEVENTS_TEST_DIR/raw.json."""

import json
import os

from fidelity import key_order, shape  # noqa: E402  (the test puts this folder on PYTHONPATH)


def registerCallbacks(reg):
    reg.registerCallback(
        os.environ["SGEVENTS_EXAMPLE_SCRIPT"],
        os.environ["SGEVENTS_EXAMPLE_KEY"],
        compare_raw,
    )


def compare_raw(sg, logger, event, args):
    with open(os.path.join(os.environ["SGEVENTS_TEST_DIR"], "raw.json")) as handle:
        raw = json.load(handle)
    expected = sg._parse_records([sg._transform_inbound(raw)])[0]
    report = {
        "equal": event == expected,
        "same_shape": shape(event) == shape(expected),
        "same_order": key_order(event) == key_order(expected),
        "got": json.loads(json.dumps(shape(event), default=str)),
        "want": json.loads(json.dumps(shape(expected), default=str)),
    }
    logger.info("fidelity_raw %s", json.dumps(report, sort_keys=True))
