"""When a layout Task is marked final, set the shot's waiting Tasks to "rdy".

Demonstrates: a plugin that writes to the site (and so creates new events), a matchEvents
filter on one field, and the default stopOnError=True (a failure stops the plugin until the
file changes, and the event is retried then).

Credentials come from the environment, as in upstream's examples:
SGEVENTS_EXAMPLE_SCRIPT / SGEVENTS_EXAMPLE_KEY.
"""

import os


def registerCallbacks(reg):
    reg.registerCallback(
        os.environ.get("SGEVENTS_EXAMPLE_SCRIPT", "sgevents_examples"),
        os.environ.get("SGEVENTS_EXAMPLE_KEY", ""),
        ready_downstream_tasks,
        matchEvents={"Shotgun_Task_Change": ["sg_status_list"]},
    )


def ready_downstream_tasks(sg, logger, event, args):
    meta = event.get("meta") or {}
    if meta.get("new_value") != "fin":
        return
    task = sg.find_one(
        "Task", [["id", "is", meta["entity_id"]]], ["content", "entity"]
    )
    if not task or "layout" not in (task.get("content") or "").lower():
        return
    if not task.get("entity"):
        logger.info("Layout task %d is not linked to a shot; nothing to do.", task["id"])
        return
    waiting = sg.find(
        "Task",
        [["entity", "is", task["entity"]], ["sg_status_list", "is", "wtg"]],
        ["content"],
    )
    logger.info(
        "Layout task %d on %s is final; %d waiting task(s) to ready.",
        task["id"],
        task["entity"].get("name"),
        len(waiting),
    )
    for other in waiting:
        sg.update("Task", other["id"], {"sg_status_list": "rdy"})
        logger.info(
            "Layout is final on %s: task %r (%d) is now ready.",
            task["entity"].get("name"),
            other["content"],
            other["id"],
        )
