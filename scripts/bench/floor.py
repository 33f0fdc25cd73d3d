"""The least one Python process per plugin can cost, whatever the daemon does: CPython's own
price for building the events a callback gets, for calling it, and for a forked child's
memory. BENCHMARKS.md compares these floors with the issue-9 goals the default mode misses.

    .venv/bin/python scripts/bench/floor.py [--events N]

Needs the release binary (for the sim) and the venv (shotgun_api3), as scripts/bench.sh
builds them. Prints one JSON object."""

import argparse
import gc
import json
import logging
import os
import pickle
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import shotgun_api3  # noqa: E402
from harness import Sim  # noqa: E402

FIELDS = ["id", "event_type", "attribute_name", "meta", "entity", "user", "project",
          "session_uuid", "created_at"]
CHUNK = 64  # events per message, as the daemon sends them


def best_per_event(work, events, rounds=7):
    """Microseconds per event of `work()`, the best of `rounds` timings."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return round(best / events * 1e6, 3)


def rows(count):
    """`count` EventLogEntry rows exactly as shotgun_api3's find returns them."""
    with tempfile.TemporaryDirectory(prefix="sgevents-floor-") as folder:
        sim = Sim(folder, prefill=count + 10)
        try:
            return sim.sg.find("EventLogEntry", [["id", "greater_than", 1]], FIELDS,
                               order=[{"field_name": "id", "direction": "asc"}], limit=count)
        finally:
            sim.stop()


def build_and_call(events):
    """Building the events from pickles (CPython's own pickler, which shares repeated
    strings) and calling a no-op callback on each: the two things every plugin process
    must do for every event it takes."""
    payloads = [pickle.dumps(events[i:i + CHUNK], 4) for i in range(0, len(events), CHUNK)]

    def build():
        for payload in payloads:
            pickle.loads(payload)

    def callback(sg, logger, event, args):
        pass

    sg, logger = object(), logging.getLogger("plugin.floor")

    def call():
        for event in events:
            callback(sg, logger, event, None)

    return {"build_us": best_per_event(build, len(events)),
            "call_us": best_per_event(call, len(events)),
            "bytes_per_event": round(sum(map(len, payloads)) / len(events))}


def smaps(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("Rss", "Pss", "Private_Dirty"):
                out[key] = int(value.split()[0])
    return out


def forked_children(events, children=3):
    """Memory of the least a forked plugin process does: the parent imports shotgun_api3,
    collects and freezes its objects (as the fork server does); each child makes a client,
    a logger and one message's events, then waits. Median kB per child."""
    gc.collect()
    gc.freeze()
    payload = pickle.dumps(events[:CHUNK], 4)
    pids, ready = [], []
    for index in range(children):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            shotgun_api3.Shotgun("https://floor.invalid", "floor", "floor", connect=False)
            logging.getLogger("plugin.floor%d" % index).setLevel(logging.INFO)
            pickle.loads(payload)
            os.write(write_end, b"x")
            time.sleep(60)
            os._exit(0)
        os.close(write_end)
        pids.append(pid)
        ready.append(read_end)
    try:
        for fd in ready:
            os.read(fd, 1)
            os.close(fd)
        time.sleep(0.5)
        seen = [smaps(pid) for pid in pids]
    finally:
        for pid in pids:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    middle = lambda key: sorted(s[key] for s in seen)[len(seen) // 2]  # noqa: E731
    return {"child_private_dirty_kb": middle("Private_Dirty"), "child_pss_kb": middle("Pss"),
            "parent_pss_kb": smaps(os.getpid())["Pss"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2048)
    args = parser.parse_args()
    events = rows(args.events)
    figures = {"events": len(events), "python": sys.version.split()[0]}
    figures.update(build_and_call(events))
    figures.update(forked_children(events))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
