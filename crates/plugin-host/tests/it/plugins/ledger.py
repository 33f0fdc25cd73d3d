"""Test plugin: logs each event it runs with its pid; aborts on event $LEDGER_CRASH_ID and
never returns from event $LEDGER_HANG_ID.

With $LEDGER_FAIL_ONCE set to ``ID:MARKER`` its callback has stopOnError and raises on
event ID the first time (until the MARKER file exists). With $LEDGER_FAIL_ID set to
``ID:NAME`` the plugin file NAME.py raises on event ID every time, without stopOnError."""

import os
import time


def registerCallbacks(reg):
    reg.registerCallback(
        os.environ["SGEVENTS_EXAMPLE_SCRIPT"],
        os.environ["SGEVENTS_EXAMPLE_KEY"],
        record,
        stopOnError=bool(os.environ.get("LEDGER_FAIL_ONCE")),
    )


def record(sg, logger, event, args):
    if str(event["id"]) == os.environ.get("LEDGER_CRASH_ID"):
        os.abort()
    if str(event["id"]) == os.environ.get("LEDGER_HANG_ID"):
        while True:
            time.sleep(60)
    name = os.path.splitext(os.path.basename(__file__))[0]
    if "%s:%s" % (event["id"], name) == os.environ.get("LEDGER_FAIL_ID"):
        raise ValueError("failing %s always" % event["id"])
    fail_id, _, marker = os.environ.get("LEDGER_FAIL_ONCE", "").partition(":")
    if str(event["id"]) == fail_id and not os.path.exists(marker):
        open(marker, "w").close()
        raise ValueError("failing %s once" % fail_id)
    logger.info("ran %d in %d", event["id"], os.getpid())
