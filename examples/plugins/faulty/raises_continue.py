"""A callback that raises with stopOnError=False, followed by one that works.

sgevents logs the failure and runs the next callback; the event counts as processed.
"""

import os


def registerCallbacks(reg):
    script = os.environ.get("SGEVENTS_EXAMPLE_SCRIPT", "sgevents_examples")
    key = os.environ.get("SGEVENTS_EXAMPLE_KEY", "")
    reg.registerCallback(script, key, flaky_lookup, stopOnError=False)
    reg.registerCallback(script, key, still_runs, stopOnError=False)


def flaky_lookup(sg, logger, event, args):
    raise ValueError("render farm database unreachable for event %d" % event["id"])


def still_runs(sg, logger, event, args):
    logger.info("still_runs handled event %d", event["id"])
