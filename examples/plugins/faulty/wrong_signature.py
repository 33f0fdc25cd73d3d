"""A callback that takes two arguments instead of (sg, logger, event, args).

Upstream crashes the whole daemon on this; sgevents logs the TypeError and says there is no
plugin frame to show locals for.
"""

import os


def registerCallbacks(reg):
    reg.registerCallback(
        os.environ.get("SGEVENTS_EXAMPLE_SCRIPT", "sgevents_examples"),
        os.environ.get("SGEVENTS_EXAMPLE_KEY", ""),
        two_args,
    )


def two_args(sg, event):
    pass
