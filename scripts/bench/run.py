"""Runs every benchmark scenario against sgevents and, when UPSTREAM_SGEVENTS is set, against
upstream shotgunEvents; alternates the runs, prints medians and ratios as a markdown table and
writes everything to bench-results/. Started by scripts/bench.sh."""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scenarios  # noqa: E402
from harness import ROOT, Sgevents, Sim, Upstream, median  # noqa: E402

FULL = {"catchup_events": 100000, "reps": 2, "steady_s": 60, "steady_delay": "exp:3s:60s",
        "drain_s": 62, "cover_s": 30, "hol_s": 30, "hol_backlog": 20000, "idle_s": 10,
        "native_events": 100000, "studio_events": 30000,
        "instr_events": 5000, "instr_plugins": 10, "timeout": 1200}
QUICK = {"catchup_events": 5000, "reps": 1, "steady_s": 20, "steady_delay": "exp:3s:10s",
         "drain_s": 12, "cover_s": 8, "hol_s": 12, "hol_backlog": 5000, "idle_s": 5,
         "native_events": 20000, "studio_events": 5000,
         "instr_events": 1000, "instr_plugins": 1, "timeout": 300}
SECTIONS = ("catchup", "native", "studio", "steady", "hol")
EXTRA_SECTIONS = ("instructions", "profile")  # only when asked for


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    git = lambda *a: subprocess.run(["git", "-C", ROOT] + list(a), capture_output=True,  # noqa: E731
                                    text=True).stdout.strip()
    return {"host": platform.node(), "kernel": platform.release(), "cpu": cpu,
            "cores": os.cpu_count(), "mem_gb": round(mem_kb / 1048576, 1),
            "load_avg_at_start": os.getloadavg(), "python": platform.python_version(),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def default_work_dir():
    """tmpfs when there is one: upstream rewrites its state file after every event, and on a
    busy disk that, not the daemon, sets its catch-up speed (see BENCHMARKS.md)."""
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def filesystem(path):
    """The type of the file system `path` is on, from /proc/mounts."""
    path, best = os.path.realpath(path or tempfile.gettempdir()), ("", "unknown")
    with open("/proc/mounts") as fh:
        for line in fh:
            mount, kind = line.split()[1:3]
            if (path == mount or path.startswith(mount.rstrip("/") + "/")) \
                    and len(mount) >= len(best[0]):
                best = (mount, kind)
    return best[1]


def upstream_source():
    checkout = os.environ.get("UPSTREAM_SGEVENTS")
    if not checkout:
        return None, None
    src = os.path.join(checkout, "src")
    if not os.path.exists(os.path.join(src, "shotgunEventDaemon.py")):
        sys.exit("UPSTREAM_SGEVENTS=%s: no src/shotgunEventDaemon.py there; point it at a "
                 "checkout of github.com/shotgunsoftware/shotgunEvents" % checkout)
    commit = subprocess.run(["git", "-C", checkout, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    return src, commit


class Results:
    def __init__(self):
        self.rows = {}  # (scenario, daemon) -> [figures of each run]

    def add(self, scenario, daemon, figures):
        self.rows.setdefault((scenario, daemon), []).append(figures)
        print("  %-22s %-9s %s" % (scenario, daemon, json.dumps(figures)), flush=True)

    def medians(self):
        out = {}
        for key, runs in self.rows.items():
            names = [k for k, v in runs[0].items() if isinstance(v, (int, float))
                     and not isinstance(v, bool)]
            out[key] = {k: median([r.get(k) for r in runs]) for k in names}
            out[key]["runs"] = len(runs)
        return out


class Bench:
    """One benchmark run: the sizes, the daemons to compare, run folders and results."""

    def __init__(self, args, sizes, daemons, results):
        self.args, self.sizes, self.daemons, self.results = args, sizes, daemons, results
        self.work = tempfile.mkdtemp(prefix="sgevents-bench-", dir=args.work_dir)
        self.counter = iter(range(10 ** 6))

    def fresh(self, label):
        path = os.path.join(self.work, "%03d-%s" % (next(self.counter), label))
        os.makedirs(path)
        return path

    def alternated(self, scenario, reps, run):
        """`reps` rounds of `run(kind, run_dir)` for each daemon, alternating which goes first."""
        for rep in range(reps):
            for kind in self.daemons if rep % 2 == 0 else list(reversed(self.daemons)):
                self.results.add(scenario, kind.name, run(kind, self.fresh(scenario)))

    def catchup(self):
        n, timeout, python = self.sizes["catchup_events"], self.sizes["timeout"], self.args.python
        print("# catch-up of %d events (sim prefill...)" % n, flush=True)
        sim = self.catchup_sim("catchup-sim")
        try:
            for plugins in (1, 10):
                self.alternated("catchup_%dpy" % plugins, self.sizes["reps"],
                                lambda kind, d: scenarios.catchup(kind, d, sim, plugins, python,
                                                                  timeout))
            print("# footprint at idle (10 plugins)", flush=True)
            self.alternated("idle_10py", 1, lambda kind, d: scenarios.idle(
                kind, d, sim, 10, python, self.sizes["idle_s"]))
        finally:
            sim.stop()

    def catchup_sim(self, label):
        sim = Sim(self.fresh(label), prefill=self.sizes["catchup_events"])
        print("  sim prefilled in %.1fs at %s" % (sim.prefill_secs, sim.url), flush=True)
        return sim

    def instructions(self):
        events, plugins = self.sizes["instr_events"], self.sizes["instr_plugins"]
        print("# instructions (callgrind): last %d events, %d plugins" % (events, plugins),
              flush=True)
        sim = self.catchup_sim("instr-sim")
        try:
            self.alternated("instr_%dpy" % plugins, 1, lambda kind, d: scenarios.instructions(
                kind, d, sim, plugins, events, self.args.python, self.sizes["timeout"] * 4))
        finally:
            sim.stop()

    def profile(self):
        print("# profile (perf record): sgevents, 10 plugins", flush=True)
        sim = self.catchup_sim("profile-sim")
        try:
            self.results.add("profile_10py", "sgevents", scenarios.profile(
                Sgevents, self.fresh("profile"), sim, 10, self.args.python,
                self.sizes["timeout"]))
        finally:
            sim.stop()

    def native(self):
        print("# native no-op catch-up (in-process sim)", flush=True)
        for plugins in (1, 10):
            for _ in range(self.sizes["reps"]):
                self.results.add("catchup_native_%d" % plugins, "sgevents",
                                 scenarios.native(self.sizes["native_events"], plugins))

    def studio(self):
        n = self.sizes["studio_events"]
        print("# realistic: 20 studio plugins over %d events of history" % n, flush=True)
        sim, target = scenarios.studio_site(self.fresh("studio-sim"), n)
        try:
            self.alternated("studio_20py", self.sizes["reps"], lambda kind, d: scenarios.realistic(
                kind, d, sim, target, self.args.python, self.sizes["timeout"]))
        finally:
            sim.stop()

    def steady(self):
        print("# steady state: %ss at %s events/s, realistic gaps"
              % (self.sizes["steady_s"], self.args.rate), flush=True)
        sizes = self.sizes
        self.alternated("steady_gaps", max(1, sizes["reps"] // 2), lambda kind, d: scenarios.steady(
            kind, d, self.args.python, sizes["steady_s"], self.args.rate, sizes["steady_delay"],
            sizes["drain_s"], sizes["cover_s"]))

    def hol(self):
        for scenario, backlog in (("head_of_line", 0), ("hol_backlog", self.sizes["hol_backlog"])):
            print("# head-of-line: 10 plugins, one sleeping 2 s per event; %d events behind"
                  % backlog, flush=True)
            self.alternated(scenario, max(1, self.sizes["reps"] // 2),
                            lambda kind, d: scenarios.head_of_line(
                                kind, d, self.args.python, self.sizes["hol_s"],
                                self.args.hol_rate, 2.0, backlog))


# (scenario, figure, label, True when bigger is better)
TABLE = [
    ("catchup_1py", "wall_s", "catch-up, 1 Python no-op: wall s", False),
    ("catchup_1py", "events_per_s", "catch-up, 1 Python no-op: events/s", True),
    ("catchup_1py", "reads", "catch-up, 1 Python no-op: site reads", False),
    ("catchup_1py", "catchup_cpu_us_per_event", "catch-up, 1 py: CPU µs per event (all procs)",
     False),
    ("catchup_1py", "first_callback_max_s", "catch-up, 1 py: first callback s after start",
     False),
    ("catchup_1py", "catchup_daemon_peak_rss_mb", "catch-up, 1 py: daemon peak RSS MB", False),
    ("catchup_1py", "catchup_total_peak_pss_mb", "catch-up, 1 py: all procs peak PSS MB", False),
    ("catchup_10py", "wall_s", "catch-up, 10 Python no-ops: wall s", False),
    ("catchup_10py", "events_per_s", "catch-up, 10 Python no-ops: events/s", True),
    ("catchup_10py", "reads", "catch-up, 10 Python no-ops: site reads", False),
    ("catchup_10py", "first_callback_median_s", "catch-up, 10 py: first callback s, median",
     False),
    ("catchup_10py", "first_callback_max_s", "catch-up, 10 py: first callback s, max", False),
    ("catchup_10py", "catchup_daemon_cpu_s", "catch-up, 10 py: daemon CPU s", False),
    ("catchup_10py", "catchup_children_cpu_s", "catch-up, 10 py: plugin procs CPU s", False),
    ("catchup_10py", "catchup_total_cpu_s", "catch-up, 10 py: all procs CPU s", False),
    ("catchup_10py", "catchup_cpu_us_per_event", "catch-up, 10 py: CPU µs per event (all procs)",
     False),
    ("catchup_10py", "catchup_daemon_peak_rss_mb", "catch-up, 10 py: daemon peak RSS MB", False),
    ("catchup_10py", "catchup_total_peak_rss_mb", "catch-up, 10 py: all procs peak RSS MB "
     "(sum of VmHWM)", False),
    ("catchup_10py", "catchup_total_peak_pss_mb", "catch-up, 10 py: all procs peak PSS MB",
     False),
    ("idle_10py", "idle_daemon_rss_mb", "idle 10 py: daemon RSS MB", False),
    ("idle_10py", "idle_daemon_pss_mb", "idle 10 py: daemon PSS MB", False),
    ("idle_10py", "idle_children_pss_mb", "idle 10 py: plugin procs PSS MB (sum)", False),
    ("idle_10py", "idle_total_rss_mb", "idle 10 py: all procs RSS MB", False),
    ("idle_10py", "idle_total_pss_mb", "idle 10 py: all procs PSS MB", False),
    ("idle_10py", "idle_total_cpu_s", "idle 10 py: all procs CPU s (per idle period)", False),
    ("studio_20py", "wall_s", "realistic, 20 studio plugins: wall s", False),
    ("studio_20py", "events_per_s", "realistic: events/s", True),
    ("studio_20py", "first_callback_min_s", "realistic: first delivery s after start", False),
    ("studio_20py", "studio_total_cpu_s", "realistic: all procs CPU s", False),
    ("studio_20py", "studio_cpu_us_per_event", "realistic: CPU µs per event (all procs)", False),
    ("studio_20py", "studio_total_peak_pss_mb", "realistic: all procs peak PSS MB", False),
    ("studio_20py", "studio_total_peak_rss_mb", "realistic: all procs peak RSS MB (sum of "
     "VmHWM)", False),
    ("studio_20py", "callbacks", "realistic: callbacks run", None),
    ("studio_20py", "pairs_in_python", "realistic: (event, plugin) pairs handled in Python",
     False),
    ("studio_20py", "reads", "realistic: site reads", False),
    ("catchup_native_1", "catchup_secs", "catch-up, 1 native no-op: wall s", False),
    ("catchup_native_1", "catchup_events_per_sec", "catch-up, 1 native no-op: events/s", True),
    ("catchup_native_1", "raw_read_events_per_sec", "sim raw read rate (same run): events/s", True),
    ("catchup_native_1", "ratio_to_raw_read", "1 native no-op / raw read rate", True),
    ("catchup_native_10", "catchup_events_per_sec", "catch-up, 10 native no-ops: events/s", True),
    ("catchup_native_10", "ratio_to_raw_read", "10 native no-ops / raw read rate", True),
    ("catchup_native_10", "api_requests", "catch-up, 10 native no-ops: site requests", False),
    ("steady_gaps", "latency_p50_ms", "steady 50/s + gaps: commit→callback p50 ms", False),
    ("steady_gaps", "latency_p99_ms", "steady 50/s + gaps: commit→callback p99 ms", False),
    ("steady_gaps", "lost", "steady: events lost", False),
    ("steady_gaps", "lost_skipped", "steady: … of which skipped (below the highest id run)",
     False),
    ("steady_gaps", "repeated", "steady: events run twice", False),
    ("head_of_line", "fast_latency_p50_ms", "head-of-line: fast plugins' latency p50 ms", False),
    ("head_of_line", "fast_latency_p99_ms", "head-of-line: fast plugins' latency p99 ms", False),
    ("head_of_line", "fast_behind_events_max", "head-of-line: fast plugins behind (events)",
     False),
    ("head_of_line", "reads", "head-of-line: site reads (harness's own excluded)", False),
    ("head_of_line", "reads_per_s", "head-of-line: site reads per second", False),
    ("hol_backlog", "reads", "head-of-line behind a backlog: site reads", False),
    ("hol_backlog", "reads_per_s", "head-of-line behind a backlog: site reads per second",
     False),
    ("hol_backlog", "fast_behind_events_max", "head-of-line behind a backlog: fast plugins "
     "behind at the end", False),
    ("instr_1py", "total_ginstr", "instructions, 1 py, fixed catch-up: G (all procs)", False),
    ("instr_1py", "daemon_ginstr", "instructions, 1 py: daemon G", False),
    ("instr_10py", "total_ginstr", "instructions, 10 py, fixed catch-up: G (all procs)", False),
    ("instr_10py", "daemon_ginstr", "instructions, 10 py: daemon G", False),
]


def fmt(value):
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return "%.3g" % value if abs(value) < 100 else "%.0f" % value
    return "%d" % value


def advantage(ours, theirs, bigger):
    """The ratio cell; `bigger` None marks a figure both daemons must share."""
    if bigger is None:
        return "= (a check)" if ours == theirs else "differs"
    num, den = (ours, theirs) if bigger else (theirs, ours)
    return "%.1f×" % (num / den) if den else ("∞" if num else "=")


def table(medians, with_upstream):
    head = "| figure | sgevents | upstream | ratio (sgevents advantage) |\n|---|---|---|---|\n"
    lines = []
    for scenario, key, label, bigger in TABLE:
        ours = medians.get((scenario, "sgevents"), {}).get(key)
        theirs = medians.get((scenario, "upstream"), {}).get(key) if with_upstream else None
        if ours is None and theirs is None:
            continue
        ratio = "–" if ours is None or theirs is None else advantage(ours, theirs, bigger)
        lines.append("| %s | %s | %s | %s |" % (label, fmt(ours), fmt(theirs), ratio))
    return head + "\n".join(lines) + "\n"


def header(info):
    return ("Machine: %(cpu)s, %(cores)s cores, %(mem_gb)s GB, load %(load_avg_at_start)s; "
            "date %(date)s; sgevents %(commit)s%(d)s; upstream %(upstream_commit)s; "
            "%(bench_minutes)s min; run folders on %(fs)s\n\n"
            % dict(info, d=" (dirty)" if info["dirty"] else "", fs=info.get("work_fs", "?")))


def report(path):
    """Re-renders the table of a saved bench-results JSON file."""
    with open(path) as fh:
        saved = json.load(fh)
    results = Results()
    for key, runs in saved["runs"].items():
        results.rows[tuple(key.split("/"))] = runs
    print(header(saved["machine"]) + table(results.medians(),
                                          saved["machine"].get("upstream_commit") is not None))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (about 3.5 minutes)")
    parser.add_argument("--reps", type=int, help="catch-up and realistic repetitions per daemon")
    parser.add_argument("--events", type=int, help="catch-up (and native catch-up) size")
    parser.add_argument("--rate", type=float, default=50.0, help="steady-state events/s")
    parser.add_argument("--hol-rate", type=float, default=5.0, help="head-of-line events/s")
    parser.add_argument("--python", default=os.path.join(ROOT, ".venv", "bin", "python"))
    parser.add_argument("--report", metavar="JSON", help="print the table of a saved result")
    parser.add_argument("--work-dir", default=default_work_dir(),
                        help="where the run folders (state files, logs) go; default /dev/shm "
                        "(tmpfs) when writable, else the system temp folder")
    parser.add_argument("--only", help="comma-separated sections to run, of: %s" %
                        ",".join(SECTIONS + EXTRA_SECTIONS))
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions of a fixed catch-up under callgrind (slow)")
    parser.add_argument("--profile", action="store_true",
                        help="also record where the time of a 10-plugin catch-up goes "
                        "(perf record; profile.txt in the run folder)")
    args = parser.parse_args()
    if args.report:
        return report(args.report)
    sizes = dict(QUICK if args.quick else FULL)
    if args.reps:
        sizes["reps"] = args.reps
    if args.events:
        sizes["catchup_events"] = sizes["native_events"] = args.events
    sections = args.only.split(",") if args.only else list(SECTIONS)
    sections += [name for name in EXTRA_SECTIONS if getattr(args, name) and name not in sections]
    unknown = sorted(set(sections) - set(SECTIONS + EXTRA_SECTIONS))
    if unknown:
        parser.error("--only: unknown section %s; choose from %s" % (
            ", ".join(unknown), ",".join(SECTIONS + EXTRA_SECTIONS)))
    src, upstream_commit = upstream_source()
    daemons = [Sgevents]
    if src:
        Upstream.source = src
        daemons.append(Upstream)
    info = machine()
    info.update({"upstream_commit": upstream_commit, "sizes": sizes, "quick": args.quick,
                 "argv": sys.argv[1:], "sections": sections,
                 "work_dir": args.work_dir or tempfile.gettempdir(),
                 "work_fs": filesystem(args.work_dir)})
    print("# machine: %s" % json.dumps(info), flush=True)
    results = Results()
    started = time.time()
    bench = Bench(args, sizes, daemons, results)
    for section in sections:
        getattr(bench, section)()
    work = bench.work
    info["bench_minutes"] = round((time.time() - started) / 60, 1)
    medians = results.medians()
    md = table(medians, bool(src))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = os.path.join(ROOT, "bench-results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, stamp + ".json"), "w") as fh:
        json.dump({"machine": info, "runs": {"%s/%s" % k: v for k, v in results.rows.items()},
                   "medians": {"%s/%s" % k: v for k, v in medians.items()}}, fh, indent=1)
    with open(os.path.join(out, stamp + ".md"), "w") as fh:
        fh.write(header(info) + md)
    print("\n" + header(info) + md)
    print("results: bench-results/%s.{json,md}; run folders (logs, ledgers): %s" % (stamp, work))


if __name__ == "__main__":
    main()
