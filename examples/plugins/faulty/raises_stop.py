"""A callback that raises, with the default stopOnError=True.

sgevents logs CRITICAL on `plugin.raises_stop.check_frame_range` with the traceback and the
callback's local variables, then stops the plugin until the file changes; the event is
not acknowledged, so it is retried after the fix.
"""

import os


def registerCallbacks(reg):
    reg.registerCallback(
        os.environ.get("SGEVENTS_EXAMPLE_SCRIPT", "sgevents_examples"),
        os.environ.get("SGEVENTS_EXAMPLE_KEY", ""),
        check_frame_range,
    )
    reg.registerCallback(
        os.environ.get("SGEVENTS_EXAMPLE_SCRIPT", "sgevents_examples"),
        os.environ.get("SGEVENTS_EXAMPLE_KEY", ""),
        never_reached,
    )


def check_frame_range(sg, logger, event, args):
    shot_cut_in = 1001
    # EventLogEntry rows have no frame range: this raises KeyError.
    cut_out = event["sg_cut_out"]
    logger.info("cut %d-%d", shot_cut_in, cut_out)


def never_reached(sg, logger, event, args):
    logger.info("never_reached ran on event %d", event["id"])
