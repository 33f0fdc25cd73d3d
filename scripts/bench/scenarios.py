"""The four benchmark scenarios; each run returns a flat dict of figures for one daemon."""

import glob
import json
import os
import subprocess
import time
from collections import Counter

from harness import (ROOT, Sampler, Sim, Watcher, percentile, plugin_dir, read_ledger,
                     wait_for)


def _footprint(sampler, prefix, cpu_from=None):
    """CPU seconds and RSS of the daemon, of its plugin processes (None when it has none:
    upstream runs plugins in-process) and of both together."""
    totals = sampler.totals()
    out = {}
    for group in ("daemon", "children", "total"):
        if group == "total":
            cpu, rss, hwm = (sum(x) for x in zip(totals["daemon"], totals["children"]))
        else:
            cpu, rss, hwm = totals[group]
        if cpu_from is not None:
            cpu -= sum(cpu_from[g][0] for g in ("daemon", "children")) if group == "total" \
                else cpu_from[group][0]
        none = group == "children" and not hwm
        out["%s_%s_cpu_s" % (prefix, group)] = None if none else round(cpu, 2)
        out["%s_%s_peak_rss_mb" % (prefix, group)] = None if none else round(hwm / 1024.0, 1)
        out["%s_%s_rss_mb" % (prefix, group)] = None if none else round(rss / 1024.0, 1)
    return out


def _requests(before, after):
    return sum(after.values()) - sum(before.values())


def catchup(kind, run_dir, sim, plugins, python, timeout):
    """Catch-up of every prefilled event from id 2 (upstream cannot start at 1: id 0 is 'none')."""
    last = sim.stats()["latest_event_id"]
    path = plugin_dir(run_dir, [("noop", "noop_%02d" % n) for n in range(plugins)])
    before = sim.requests()
    daemon = kind(run_dir, sim.url, path, 2, python, {"SGEVENTS_BENCH_TARGET": str(last)})
    sampler = Sampler(daemon.pid)
    try:
        markers = lambda: glob.glob(os.path.join(daemon.out, "*.done"))  # noqa: E731
        wait_for("%s to reach event %d" % (kind.name, last),
                 lambda: len(markers()) >= plugins or not daemon.alive(), timeout, every=0.1)
        if not daemon.alive():
            raise RuntimeError("%s exited early; see %s" % (kind.name, run_dir))
        done = max(float(open(m).read()) for m in markers())
        figures = {"events": last - 1, "wall_s": round(done - daemon.started, 3)}
        figures["events_per_s"] = round(figures["events"] / figures["wall_s"], 1)
        figures["api_requests"] = _requests(before, sim.requests())
        figures.update(_footprint(sampler, "catchup"))
        return figures
    finally:
        sampler.stop()
        daemon.stop()


def idle(kind, run_dir, sim, plugins, python, seconds):
    """The daemon with nothing to do (start at the latest event) for `seconds`."""
    path = plugin_dir(run_dir, [("noop", "noop_%02d" % n) for n in range(plugins)])
    daemon = kind(run_dir, sim.url, path, None, python, {})
    sampler = Sampler(daemon.pid)
    try:
        time.sleep(3)  # start-up: plugin processes spawned, first poll done
        start = sampler.totals()
        time.sleep(seconds)
        if not daemon.alive():
            raise RuntimeError("%s exited early; see %s" % (kind.name, run_dir))
        figures = _footprint(sampler, "idle", cpu_from=start)
        figures["idle_s"] = seconds
        return figures
    finally:
        sampler.stop()
        daemon.stop()


def _first_times(ledger):
    first = {}
    for event_id, at in ledger:
        first.setdefault(event_id, at)
    return first


def steady(kind, run_dir, python, seconds, rate, gap_delay, drain, cover):
    """Live activity with the realistic gap profile; latency, lost and repeated events."""
    sim = Sim(run_dir, prefill=1, activity=rate, gaps="realistic", gap_delay=gap_delay)
    watcher = Watcher(sim.url, after=1)
    try:
        path = plugin_dir(run_dir, [("ledger", "ledger")])
        daemon = kind(run_dir, sim.url, path, 2, python, {})
        try:
            time.sleep(seconds)
            cutoff = sim.stats()["next_event_id"] - 1
            time.sleep(drain)  # every late row in range is visible after the gap-delay cap
            site = sim.ids(2, cutoff)
            ledger_file = os.path.join(daemon.out, "ledger.ledger")
            covered = lambda: set(site) <= {i for i, _ in read_ledger(ledger_file)}  # noqa: E731
            try:
                wait_for("the ledger to cover the site", covered, cover, every=0.5)
            except TimeoutError:
                pass  # what is still missing counts as lost
            ledger = [(i, t) for i, t in read_ledger(ledger_file) if 2 <= i <= cutoff]
        finally:
            daemon.stop()
    finally:
        watcher.stop()
        sim.stop()
    counts = Counter(i for i, _ in ledger)
    first = _first_times(ledger)
    warm = daemon.started + 5
    lat = [(first[i] - watcher.seen[i]) * 1000 for i in site
           if i in first and i in watcher.seen and watcher.seen[i] >= warm]
    return {
        "events": len(site),
        "site_rate_per_s": round(len(site) / seconds, 1),
        "latency_p50_ms": _round(percentile(lat, 50)),
        "latency_p99_ms": _round(percentile(lat, 99)),
        "latency_samples": len(lat),
        "lost": len(set(site) - set(counts)),
        # Lost ids below the highest id the daemon ran were skipped; the rest it never reached.
        "lost_skipped": len({i for i in set(site) - set(counts) if i < max(counts, default=0)}),
        "repeated": sum(c - 1 for c in counts.values()),
        "unknown_ids_run": len(set(counts) - set(site)),
    }


def head_of_line(kind, run_dir, python, seconds, rate, slow_secs):
    """Ten plugins, one sleeping per event: how far behind the nine fast ones fall."""
    sim = Sim(run_dir, prefill=1, activity=rate)
    watcher = Watcher(sim.url, after=1)
    try:
        plan = [("ledger", "ledger_%02d" % n) for n in range(9)] + [("slow", "slow")]
        path = plugin_dir(run_dir, plan)
        daemon = kind(run_dir, sim.url, path, 2, python,
                      {"SGEVENTS_BENCH_SLOW_SECS": str(slow_secs)})
        try:
            time.sleep(seconds)
            end = time.time()
            cutoff = sim.stats()["latest_event_id"]
            ledgers = {n: read_ledger(os.path.join(daemon.out, "ledger_%02d.ledger" % n))
                       for n in range(9)}
            slow = read_ledger(os.path.join(daemon.out, "slow.ledger"))
        finally:
            daemon.stop()
    finally:
        watcher.stop()
        sim.stop()
    warm = daemon.started + 5
    lat, behind = [], []
    for ledger in ledgers.values():
        first = _first_times([(i, t) for i, t in ledger if t <= end])
        for event_id, seen in watcher.seen.items():
            if seen >= warm and event_id <= cutoff:
                # Events not yet run at the end count with the time waited so far (a lower bound).
                lat.append((first.get(event_id, end) - seen) * 1000)
        behind.append(cutoff - max(first, default=1))
    return {
        "events": cutoff - 1,
        "fast_latency_p50_ms": _round(percentile(lat, 50)),
        "fast_latency_p99_ms": _round(percentile(lat, 99)),
        "fast_behind_events_max": max(behind),
        "slow_behind_events": cutoff - max((i for i, t in slow if t <= end), default=1),
    }


def native(events, plugins):
    """crates/daemon/examples/native_catchup.rs (built by bench.sh)."""
    exe = os.path.join(ROOT, "target", "release", "examples", "native_catchup")
    out = subprocess.run([exe, str(events), str(plugins)], check=True, capture_output=True,
                         text=True, env=dict(os.environ, RUST_LOG="error"))
    return json.loads(out.stdout.strip().splitlines()[-1])


def _round(value):
    return None if value is None else round(value, 1)
