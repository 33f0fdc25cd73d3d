"""The benchmark scenarios; each run returns a flat dict of figures for one daemon."""

import contextlib
import glob
import importlib.util
import json
import os
import statistics
import subprocess
import time
from collections import Counter

from harness import (PLUGINS, ROOT, Sampler, Sim, Watcher, percentile, plugin_dir, read_ledger,
                     wait_for)


def _mb(kb):
    return round(kb / 1024.0, 1)


def _footprint(sampler, prefix, since=None):
    """CPU seconds and memory of the daemon, of its plugin processes (None when it has none:
    upstream runs plugins in-process) and of both together. `since` is an earlier
    `sampler.totals()`; CPU then counts from there. `peak_rss` sums each process's VmHWM;
    `peak_pss` is the highest PSS sum seen at one sampling moment."""
    out = {}
    for group, now in sampler.totals().items():
        cpu = now["cpu_s"] - (since[group]["cpu_s"] if since else 0.0)
        values = {"cpu_s": round(cpu, 2), "rss_mb": _mb(now["rss_kb"]),
                  "pss_mb": _mb(now["pss_kb"]), "peak_rss_mb": _mb(now["hwm_kb"]),
                  "peak_pss_mb": _mb(now["peak_pss_kb"])}
        none = group == "children" and not now["processes"]
        for key, value in values.items():
            out["%s_%s_%s" % (prefix, group, key)] = None if none else value
    return out


def _site_load(before, after, own_reads=0):
    """Requests the site served between two `sim.requests()`; `own_reads` are the harness's."""
    return {"api_requests": sum(after.values()) - sum(before.values()) - own_reads,
            "reads": after.get("read", 0) - before.get("read", 0) - own_reads}


def _delivery(started, events, firsts, done):
    """Wall time and rate from the daemon's start to the last plugin's end, and when the
    plugins ran their first callback (seconds after the start)."""
    wall = done - started
    firsts = sorted(t - started for t in firsts)
    return {"events": events, "wall_s": round(wall, 3), "events_per_s": round(events / wall, 1),
            "first_callback_min_s": round(firsts[0], 3),
            "first_callback_median_s": round(statistics.median(firsts), 3),
            "first_callback_max_s": round(firsts[-1], 3)}


def _cpu_per_event(figures, prefix):
    """Daemon + plugin processes CPU per event, in µs."""
    total = figures["%s_total_cpu_s" % prefix]
    figures["%s_cpu_us_per_event" % prefix] = round(total / figures["events"] * 1e6, 1)


class _Running:
    """A daemon on a fresh folder of bench plugins and its sampler, for a `with` block.

    `plan` is a list of (plugin template, plugin name); `options` go to the daemon class."""

    def __init__(self, kind, run_dir, sim, plan, first_id, python, env, **options):
        path = plugin_dir(run_dir, plan)
        self.kind, self.run_dir = kind, run_dir
        self.daemon = kind(run_dir, sim.url, path, first_id, python, env, **options)
        self.sampler = Sampler(self.daemon.pid)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.sampler.stop()
        self.daemon.stop()

    def markers(self, pattern, count, timeout):
        """Waits until `count` plugins wrote a marker matching `pattern`; returns the paths."""
        found = lambda: glob.glob(os.path.join(self.daemon.out, pattern))  # noqa: E731
        wait_for("%s: %d markers %s" % (self.kind.name, count, pattern),
                 lambda: len(found()) >= count or not self.daemon.alive(), timeout, every=0.1)
        if len(found()) < count:
            raise RuntimeError("%s exited early; see %s" % (self.kind.name, self.run_dir))
        return found()


def _noop_plan(plugins):
    return [("noop", "noop_%02d" % n) for n in range(plugins)]


def _read(path):
    with open(path) as fh:
        return fh.read()


def _noop_markers(paths):
    """[(first callback time, target time)] from noop.py's markers."""
    return [tuple(float(x) for x in _read(path).split()) for path in paths]


@contextlib.contextmanager
def _noop_catchup(kind, run_dir, sim, plugins, first_id, python, timeout, **options):
    """`plugins` noop plugins catching up from `first_id` to the site's latest event. Yields
    (the running daemon, that event's id, [(first callback time, time it saw that event)]) once
    every plugin has seen it; `options` go to the daemon class."""
    last = sim.stats()["latest_event_id"]
    env = {"SGEVENTS_BENCH_TARGET": str(last)}
    with _Running(kind, run_dir, sim, _noop_plan(plugins), first_id, python, env,
                  **options) as run:
        yield run, last, _noop_markers(run.markers("*.done", plugins, timeout))


def catchup(kind, run_dir, sim, plugins, python, timeout):
    """Catch-up of every prefilled event from id 2 (upstream cannot start at 1: id 0 is 'none')."""
    before = sim.requests()
    with _noop_catchup(kind, run_dir, sim, plugins, 2, python, timeout) as (run, last, marks):
        figures = _delivery(run.daemon.started, last - 1, [f for f, _ in marks],
                            max(d for _, d in marks))
        figures.update(_site_load(before, sim.requests()))
        figures.update(_footprint(run.sampler, "catchup"))
    _cpu_per_event(figures, "catchup")
    return figures


def idle(kind, run_dir, sim, plugins, python, seconds):
    """The daemon with nothing to do (start at the latest event) for `seconds`."""
    with _Running(kind, run_dir, sim, _noop_plan(plugins), None, python, {}) as run:
        time.sleep(3)  # start-up: plugin processes spawned, first poll done
        start = run.sampler.totals()
        time.sleep(seconds)
        if not run.daemon.alive():
            raise RuntimeError("%s exited early; see %s" % (kind.name, run_dir))
        figures = _footprint(run.sampler, "idle", since=start)
    figures["idle_s"] = seconds
    return figures


@contextlib.contextmanager
def _live_site(run_dir, prefill=1, **options):
    """A fresh sim with live activity (`options` go to Sim) and a Watcher of when each event
    becomes visible."""
    sim = Sim(run_dir, prefill=prefill, **options)
    try:
        watcher = Watcher(sim.url, after=1)
        try:
            yield sim, watcher
        finally:
            watcher.stop()
    finally:
        sim.stop()


def _first_times(ledger):
    first = {}
    for event_id, at in ledger:
        first.setdefault(event_id, at)
    return first


def steady(kind, run_dir, python, seconds, rate, gap_delay, drain, cover):
    """Live activity with the realistic gap profile; latency, lost and repeated events."""
    live = _live_site(run_dir, activity=rate, gaps="realistic", gap_delay=gap_delay)
    with live as (sim, watcher):
        with _Running(kind, run_dir, sim, [("ledger", "ledger")], 2, python, {}) as run:
            daemon = run.daemon
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


def head_of_line(kind, run_dir, python, seconds, rate, slow_secs, backlog=0):
    """Ten plugins, one sleeping per event: how far behind the nine fast ones fall, and how
    often the site is read. With a `backlog` of prefilled events, the fast plugins catch up
    while the slow one stays behind."""
    plan = [("ledger", "ledger_%02d" % n) for n in range(9)] + [("slow", "slow")]
    env = {"SGEVENTS_BENCH_SLOW_SECS": str(slow_secs)}
    with _live_site(run_dir, prefill=max(1, backlog), activity=rate) as (sim, watcher):
        before, watched = sim.requests(), watcher.reads
        with _Running(kind, run_dir, sim, plan, 2, python, env) as run:
            daemon = run.daemon
            time.sleep(seconds)
            end = time.time()
            load = _site_load(before, sim.requests(), watcher.reads - watched)
            cutoff = sim.stats()["latest_event_id"]
            ledgers = {n: read_ledger(os.path.join(daemon.out, "ledger_%02d.ledger" % n))
                       for n in range(9)}
            slow = read_ledger(os.path.join(daemon.out, "slow.ledger"))
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
        "backlog": backlog,
        "fast_latency_p50_ms": _round(percentile(lat, 50)),
        "fast_latency_p99_ms": _round(percentile(lat, 99)),
        "fast_behind_events_max": max(behind),
        "slow_behind_events": cutoff - max((i for i, t in slow if t <= end), default=1),
        "reads": load["reads"],
        "reads_per_s": round(load["reads"] / (end - daemon.started), 2),
        "api_requests": load["api_requests"],
    }


def native(events, plugins):
    """crates/daemon/examples/native_catchup.rs (built by bench.sh)."""
    exe = os.path.join(ROOT, "target", "release", "examples", "native_catchup")
    out = subprocess.run([exe, str(events), str(plugins)], check=True, capture_output=True,
                         text=True, env=dict(os.environ, RUST_LOG="error"))
    return json.loads(out.stdout.strip().splitlines()[-1])


def _round(value):
    return None if value is None else round(value, 1)


def _studio():
    """scripts/bench/plugins/studio.py as a module: its FILTERS and PLAN."""
    spec = importlib.util.spec_from_file_location("studio", os.path.join(PLUGINS, "studio.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def studio_site(run_dir, events):
    """A sim prefilled with `events` of studio history, then one event matching each filter of
    studio.py; returns (sim, id of the first of those, the plugins' target)."""
    sim = Sim(run_dir, prefill=events)
    rows = set()
    for match in _studio().FILTERS.values():
        if match:
            event_type, attributes = next(iter(match.items()))
            if event_type == "*":
                event_type = "Shotgun_Asset_Change"
            rows.add((event_type, attributes[0] if attributes else None))
    ids = [sim.sg.create("EventLogEntry", {"event_type": event_type, "attribute_name": name,
                                           "description": "benchmark: end of history"})["id"]
           for event_type, name in sorted(rows, key=str)]
    return sim, min(ids)


def studio_plan():
    return [("studio", "%s_%d" % (name, n)) for name, count in _studio().PLAN
            for n in range(1, count + 1)]


def realistic(kind, run_dir, sim, target, python, timeout):
    """The studio plugins over the prefilled history (ids 2 to target - 1)."""
    plan = studio_plan()
    before = sim.requests()
    env = {"SGEVENTS_BENCH_TARGET": str(target)}
    with _Running(kind, run_dir, sim, plan, 2, python, env) as run:
        marks = [json.loads(_read(p)) for p in run.markers("*.json", len(plan), timeout)]
        figures = _delivery(run.daemon.started, target - 2, [m["first"] for m in marks],
                            max(m["done"] for m in marks))
        figures.update(_site_load(before, sim.requests()))
        figures.update(_footprint(run.sampler, "studio"))
    _cpu_per_event(figures, "studio")
    figures["plugins"] = len(plan)
    figures["callbacks"] = sum(m["count"] for m in marks)
    # Upstream matches every (event, plugin) pair in Python; sgevents matches in the daemon
    # (worker.rs) and hands Python only the events a callback takes.
    figures["pairs_in_python"] = (figures["events"] * len(plan) if kind.matches_in_python
                                  else figures["callbacks"])
    return figures


def _callgrind_totals(folder):
    """{pid: instructions} from callgrind.<pid> files."""
    totals = {}
    for path in glob.glob(os.path.join(folder, "callgrind.*")):
        with open(path) as fh:
            for line in fh:
                if line.startswith(("summary:", "totals:")):
                    totals[int(path.rsplit(".", 1)[1])] = int(line.split()[1])
    return totals


def instructions(kind, run_dir, sim, plugins, events, python, timeout):
    """Instructions (callgrind, the daemon and every descendant) to catch up the site's last
    `events` events with `plugins` noop plugins: start-up, catch-up and shutdown."""
    first_id = sim.stats()["latest_event_id"] - events + 1
    folder = os.path.join(run_dir, "callgrind")
    os.makedirs(folder)
    # A forked process starts with its parent's counts so far; zeroing them where CPython's
    # fork returns in the child counts each forked plugin process's own work only (the fork
    # server's imports are counted once, in the fork server).
    wrap = ["valgrind", "--tool=callgrind", "--trace-children=yes",
            "--zero-before=PyOS_AfterFork_Child",
            "--callgrind-out-file=%s/callgrind.%%p" % folder]
    with _noop_catchup(kind, run_dir, sim, plugins, first_id, python, timeout, wrap=wrap,
                       stop_wait=timeout) as (run, _, _):
        root = run.daemon.pid
    totals = _callgrind_totals(folder)
    if root not in totals:
        raise RuntimeError("callgrind wrote no totals for %s; see %s" % (kind.name, run_dir))
    daemon = totals.pop(root)
    children = sum(totals.values())
    return {"events": events, "plugins": plugins, "daemon_ginstr": round(daemon / 1e9, 3),
            "children_ginstr": round(children / 1e9, 3) if totals else None,
            "total_ginstr": round((daemon + children) / 1e9, 3),
            "instr_per_event": round((daemon + children) / events)}


# The sections of profile.txt: (title, perf report options).
PROFILE_REPORTS = [
    ("CPU samples by process name and library (% of all)",
     ["-F", "overhead,comm,dso", "--percent-limit", "0.5"]),
    ("the daemon (threads sgevents, tokio-rt-worker) by symbol (% of the daemon)",
     ["--comms", "sgevents,tokio-rt-worker", "--percentage", "relative",
      "-F", "overhead,dso,sym", "--percent-limit", "0.3"]),
    ("every process by symbol (% of all)",
     ["-F", "overhead,comm,dso,sym", "--percent-limit", "0.3"]),
]


def profile(kind, run_dir, sim, plugins, python, timeout):
    """`perf record` (cpu-clock samples) of a catch-up with `plugins` noop plugins, the daemon
    and its plugin processes; writes profile.txt (by command, library and symbol)."""
    data = os.path.join(run_dir, "perf.data")
    wrap = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-o", data, "--"]
    with _noop_catchup(kind, run_dir, sim, plugins, 2, python, timeout, wrap=wrap,
                       stop_wait=120):
        pass
    text = os.path.join(run_dir, "profile.txt")
    with open(text, "w") as out:
        for title, options in PROFILE_REPORTS:
            out.write("## %s\n" % title)
            out.flush()
            subprocess.run(["perf", "report", "-i", data, "--stdio", "-q"] + options,
                           stdout=out, stderr=subprocess.DEVNULL, check=True)
    return {"report": text}
