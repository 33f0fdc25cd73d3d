"""registerCallbacks raises: the plugin is not loaded."""

import os


def registerCallbacks(reg):
    config_path = os.path.join("/nonexistent", "studio", "event_plugins.json")
    with open(config_path) as handle:
        handle.read()
