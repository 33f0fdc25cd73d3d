"""Benchmark plugin: appends "<event id> <time.time() at callback start>" for every event.

The harness compares these lines with the site's full id list (lost and repeated events) and
with the time each event became visible (latency). Settings come from the environment:
SGEVENTS_BENCH_SCRIPT / SGEVENTS_BENCH_KEY, SGEVENTS_BENCH_OUT (folder for
<plugin name>.ledger).
"""

import os
import time


def registerCallbacks(reg):
    name = os.path.splitext(os.path.basename(__file__))[0]
    path = os.path.join(os.environ["SGEVENTS_BENCH_OUT"], name + ".ledger")
    state = {
        "out": open(path, "a", buffering=1),
    }
    reg.registerCallback(
        os.environ["SGEVENTS_BENCH_SCRIPT"],
        os.environ["SGEVENTS_BENCH_KEY"],
        record,
        None,
        state,
    )


def record(sg, logger, event, state):
    started = time.time()
    state["out"].write("%d %.6f\n" % (event["id"], started))
