"""Benchmark plugin: records each event like ledger.py, then sleeps 2 s (head-of-line test).

SGEVENTS_BENCH_SLOW_SECS overrides the 2 s. Other settings as in ledger.py.
"""

import os
import time


def registerCallbacks(reg):
    name = os.path.splitext(os.path.basename(__file__))[0]
    path = os.path.join(os.environ["SGEVENTS_BENCH_OUT"], name + ".ledger")
    state = {
        "out": open(path, "a", buffering=1),
        "sleep": float(os.environ.get("SGEVENTS_BENCH_SLOW_SECS", "2")),
    }
    reg.registerCallback(
        os.environ["SGEVENTS_BENCH_SCRIPT"],
        os.environ["SGEVENTS_BENCH_KEY"],
        slow,
        None,
        state,
    )


def slow(sg, logger, event, state):
    state["out"].write("%d %.6f\n" % (event["id"], time.time()))
    time.sleep(state["sleep"])
