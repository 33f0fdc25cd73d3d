"""Test plugin: logs each event it runs with its pid; aborts on event $LEDGER_CRASH_ID."""

import os


def registerCallbacks(reg):
    reg.registerCallback(
        os.environ["SGEVENTS_EXAMPLE_SCRIPT"],
        os.environ["SGEVENTS_EXAMPLE_KEY"],
        record,
        stopOnError=False,
    )


def record(sg, logger, event, args):
    if str(event["id"]) == os.environ.get("LEDGER_CRASH_ID"):
        os.abort()
    logger.info("ran %d in %d", event["id"], os.getpid())
