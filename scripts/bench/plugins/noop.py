"""Benchmark plugin: does no work. It notes the time once it has seen the target event.

Runs unchanged under upstream shotgunEvents and sgevents. Settings come from the environment:
SGEVENTS_BENCH_SCRIPT / SGEVENTS_BENCH_KEY (credentials), SGEVENTS_BENCH_OUT (folder for the
done marker), SGEVENTS_BENCH_TARGET (the last event id of the run).
"""

import os
import time


def registerCallbacks(reg):
    name = os.path.splitext(os.path.basename(__file__))[0]
    state = {
        "target": int(os.environ.get("SGEVENTS_BENCH_TARGET", "0")),
        "marker": os.path.join(os.environ["SGEVENTS_BENCH_OUT"], name + ".done"),
        "written": False,
    }
    reg.registerCallback(
        os.environ["SGEVENTS_BENCH_SCRIPT"],
        os.environ["SGEVENTS_BENCH_KEY"],
        noop,
        None,
        state,
    )


def noop(sg, logger, event, state):
    if state["target"] and not state["written"] and event["id"] >= state["target"]:
        state["written"] = True
        with open(state["marker"], "w") as fh:
            fh.write("%.6f\n" % time.time())
