"""Logs every new Version, keeping a running count in a module global.

Demonstrates: matchEvents for a `_New` event (value None), state in module globals (it
resets when the file is reloaded, as upstream), print() landing in the plugin's log, and a
plugin raising its own logger's level.
"""

import logging
import os

VERSIONS_SEEN = 0


def registerCallbacks(reg):
    reg.logger.setLevel(logging.DEBUG)
    reg.registerCallback(
        os.environ.get("SGEVENTS_EXAMPLE_SCRIPT", "sgevents_examples"),
        os.environ.get("SGEVENTS_EXAMPLE_KEY", ""),
        log_version,
        matchEvents={"Shotgun_Version_New": None},
    )


def log_version(sg, logger, event, args):
    global VERSIONS_SEEN
    VERSIONS_SEEN += 1
    entity = event.get("entity") or {}
    user = event.get("user") or {}
    print("new version %s by %s" % (entity.get("name"), user.get("name")))
    logger.info(
        "Version %r (%s) created at %s; %d new versions since this plugin loaded.",
        entity.get("name"),
        entity.get("id"),
        event["created_at"].isoformat(),
        VERSIONS_SEEN,
    )
    logger.debug("Full event: %r", event)
