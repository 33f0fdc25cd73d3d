"""Prints, writes to stderr and below-level logs: everything printed lands in the
plugin's log; the DEBUG record is dropped because the plugin logger stays at INFO."""

import os
import sys


def registerCallbacks(reg):
    print("noisy plugin registering")
    reg.registerCallback(
        os.environ.get("SGEVENTS_EXAMPLE_SCRIPT", "sgevents_examples"),
        os.environ.get("SGEVENTS_EXAMPLE_KEY", ""),
        chatter,
        stopOnError=False,
    )


def chatter(sg, logger, event, args):
    print("printed for event %d" % event["id"])
    sys.stderr.write("stderr line for event %d\n" % event["id"])
    os.write(1, b"raw fd 1 line for event %d\n" % event["id"])
    logger.debug("debug record for event %d", event["id"])
    logger.warning("warning record for event %d", event["id"])
