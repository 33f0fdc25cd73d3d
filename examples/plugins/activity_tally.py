"""Counts events per type for every event on the site and logs a tally now and then.

Demonstrates: the '*' matchEvents key (which upstream lets override every other key),
a mutable `args` object used as a cache across calls, and two callbacks running in
registration order on the same event.
"""

import os

REPORT_EVERY = 25


def registerCallbacks(reg):
    script = os.environ.get("SGEVENTS_EXAMPLE_SCRIPT", "sgevents_examples")
    key = os.environ.get("SGEVENTS_EXAMPLE_KEY", "")
    tally = {"counts": {}, "total": 0}
    reg.registerCallback(script, key, count_event, matchEvents={"*": ["*"]}, args=tally)
    reg.registerCallback(script, key, report, matchEvents=None, args=tally)
    # Alerts from this plugin are noise: switch its emails off.
    reg.setEmails(False)


def count_event(sg, logger, event, args):
    counts = args["counts"]
    counts[event["event_type"]] = counts.get(event["event_type"], 0) + 1
    args["total"] += 1


def report(sg, logger, event, args):
    if args["total"] % REPORT_EVERY == 0:
        busiest = sorted(args["counts"].items(), key=lambda item: -item[1])[:5]
        logger.info(
            "%d events so far; busiest types: %s",
            args["total"],
            ", ".join("%s=%d" % item for item in busiest),
        )
