"""Warns the supervisors when a shot is put on hold, and notes when it comes back.

Demonstrates: a class-based callback (a callable instance, named `<Class>_<hex id>`),
state kept in `args` (the same dict on every call), stopOnError=False (a failure is logged
and the event still counts as processed) and reg.setEmails with explicit addresses.
"""

import os


class HoldWatcher(object):
    """Remembers which shots are on hold."""

    def __call__(self, sg, logger, event, args):
        meta = event.get("meta") or {}
        shot = event.get("entity") or {}
        name = shot.get("name") or "shot %s" % meta.get("entity_id")
        on_hold = args["on_hold"]
        if meta.get("new_value") == "hld":
            on_hold.add(meta.get("entity_id"))
            logger.warning(
                "%s was put on hold by %s; %d shot(s) on hold now.",
                name,
                (event.get("user") or {}).get("name"),
                len(on_hold),
            )
        elif meta.get("old_value") == "hld":
            on_hold.discard(meta.get("entity_id"))
            logger.info(
                "%s is off hold (now %r); %d shot(s) on hold now.",
                name,
                meta.get("new_value"),
                len(on_hold),
            )


def registerCallbacks(reg):
    reg.setEmails("supervisors@example.com", "pipeline@example.com")
    reg.registerCallback(
        os.environ.get("SGEVENTS_EXAMPLE_SCRIPT", "sgevents_examples"),
        os.environ.get("SGEVENTS_EXAMPLE_KEY", ""),
        HoldWatcher(),
        matchEvents={"Shotgun_Shot_Change": ["sg_status_list"]},
        args={"on_hold": set()},
        stopOnError=False,
    )
