"""A callback that never returns.

sgevents kills the plugin's process group when the callback timeout passes, restarts the
process for the next event, and counts this event as a failure (stopOnError=False here,
so the plugin goes on).
"""

import os
import time


def registerCallbacks(reg):
    reg.registerCallback(
        os.environ.get("SGEVENTS_EXAMPLE_SCRIPT", "sgevents_examples"),
        os.environ.get("SGEVENTS_EXAMPLE_KEY", ""),
        wait_forever,
        matchEvents={"Shotgun_Shot_Change": None},
        stopOnError=False,
    )


def wait_forever(sg, logger, event, args):
    logger.info("waiting on event %d forever", event["id"])
    while True:
        time.sleep(3600)
