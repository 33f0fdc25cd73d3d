"""Benchmark plugin: does no work. It notes when it ran its first callback and when it saw the
target event.

Runs unchanged under upstream shotgunEvents and sgevents. Settings come from the environment:
SGEVENTS_BENCH_SCRIPT / SGEVENTS_BENCH_KEY (credentials), SGEVENTS_BENCH_OUT (folder for the
marker), SGEVENTS_BENCH_TARGET (the last event id of the run). Once the callback sees the target
it writes `<plugin name>.done`: `<time of the first callback> <time it saw the target>`.
"""

import os
import time


def registerCallbacks(reg):
    name = os.path.splitext(os.path.basename(__file__))[0]
    state = {
        "target": int(os.environ.get("SGEVENTS_BENCH_TARGET", "0")),
        "marker": os.path.join(os.environ["SGEVENTS_BENCH_OUT"], name + ".done"),
        "first": None,
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
    if state["first"] is None:
        state["first"] = time.time()
    if state["target"] and not state["written"] and event["id"] >= state["target"]:
        state["written"] = True
        done = time.time()
        with open(state["marker"] + ".tmp", "w") as fh:
            fh.write("%.6f %.6f\n" % (state["first"], done))
        os.replace(state["marker"] + ".tmp", state["marker"])  # the harness never sees half
