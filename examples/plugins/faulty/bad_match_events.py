"""Passes a list as matchEvents. Upstream crashes at the first event; sgevents refuses the
plugin when it loads."""

import os


def registerCallbacks(reg):
    reg.registerCallback(
        os.environ.get("SGEVENTS_EXAMPLE_SCRIPT", "sgevents_examples"),
        os.environ.get("SGEVENTS_EXAMPLE_KEY", ""),
        on_change,
        matchEvents=["Shotgun_Shot_Change"],
    )


def on_change(sg, logger, event, args):
    pass
