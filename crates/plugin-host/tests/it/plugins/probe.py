"""Test plugin: reports what a callback sees about its process, module and arguments."""

import json
import os
import sys

VERSION = 1
CALLS = 0


def registerCallbacks(reg):
    reg.registerCallback(
        os.environ["SGEVENTS_EXAMPLE_SCRIPT"],
        os.environ["SGEVENTS_EXAMPLE_KEY"],
        probe,
        args={"count": 0, "ids": []},
    )


def probe(sg, logger, event, args):
    global CALLS
    CALLS += 1
    args["count"] += 1
    args["ids"].append(id(args))
    plugin_dir = os.path.dirname(os.path.abspath(__file__))
    report = {
        "version": VERSION,
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "event_id": event["id"],
        "global_calls": CALLS,
        "args_calls": args["count"],
        "args_same_object": len(set(args["ids"])) == 1,
        "module_name": __name__,
        "in_sys_modules": __name__ in sys.modules,
        "plugin_dir_in_sys_path": plugin_dir in sys.path,
        "cwd_in_sys_path": "" in sys.path or os.getcwd() in sys.path,
        "notify_socket": os.environ.get("NOTIFY_SOCKET"),
        "mark": os.environ.get("SGEVENTS_TEST_MARK"),
        "session_uuid": sg.config.session_uuid,
        "script": sg.config.script_name,
        "logger": logger.name,
        "stdin_is_devnull": os.path.samestat(os.fstat(0), os.stat(os.devnull)),
    }
    logger.info("probe %s", json.dumps(report, sort_keys=True))
