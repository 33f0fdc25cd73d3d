"""A callback that kills its own interpreter, as a segfaulting C extension would.

The daemon and other plugins are untouched: sgevents notices the dead process, counts the
event as a failure under stopOnError (True by default: the plugin stops) and starts a
fresh process when the plugin is used again.
"""

import os


def registerCallbacks(reg):
    reg.registerCallback(
        os.environ.get("SGEVENTS_EXAMPLE_SCRIPT", "sgevents_examples"),
        os.environ.get("SGEVENTS_EXAMPLE_KEY", ""),
        crash,
        matchEvents={"Shotgun_Shot_Change": None},
    )


def crash(sg, logger, event, args):
    logger.info("about to abort on event %d", event["id"])
    os.abort()
