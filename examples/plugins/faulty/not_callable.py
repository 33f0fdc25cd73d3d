"""Registers a string where a callable belongs: the plugin is not loaded."""

import os


def registerCallbacks(reg):
    reg.registerCallback(
        os.environ.get("SGEVENTS_EXAMPLE_SCRIPT", "sgevents_examples"),
        os.environ.get("SGEVENTS_EXAMPLE_KEY", ""),
        "on_shot_change",
    )
