"""Benchmark plumbing: the sim, both daemons, /proc sampling and the visibility watcher."""

import collections
import json
import os
import pickle
import shutil
import signal
import statistics
import subprocess
import threading
import time
import urllib.request

import shotgun_api3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SGEVENTS_BENCH_BIN") or os.path.join(ROOT, "target", "release", "sgevents")
PLUGINS = os.path.join(ROOT, "scripts", "bench", "plugins")
SCRIPT, KEY = "bench", "bench-key"
TICK = os.sysconf("SC_CLK_TCK")


def wait_for(what, done, timeout, every=0.05):
    """Polls `done()` until it returns a truthy value; raises after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        value = done()
        if value:
            return value
        if time.time() > deadline:
            raise TimeoutError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(every)


class Sim:
    """`sgevents sim` in a child process."""

    def __init__(self, run_dir, prefill=0, activity=None, gaps=None, gap_delay=None, seed=1):
        cmd = [BIN, "sim", "--listen", "127.0.0.1:0", "--script", "%s:%s" % (SCRIPT, KEY),
               "--prefill", str(prefill), "--seed", str(seed)]
        if activity:
            cmd += ["--activity", str(activity)]
        if gaps:
            cmd += ["--gaps", gaps]
        if gap_delay:
            cmd += ["--gap-delay", gap_delay]
        self.log = open(os.path.join(run_dir, "sim.log"), "w")
        started = time.time()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError("the sim did not start (%r); see %s" % (line, self.log.name))
        self.url = line.split("listening on", 1)[1].strip()
        self.prefill_secs = time.time() - started
        self.sg = shotgun_api3.Shotgun(self.url, SCRIPT, KEY)

    def stats(self):
        with urllib.request.urlopen(self.url + "/admin/stats", timeout=30) as reply:
            return json.load(reply)

    def requests(self):
        """Requests served so far, by api3 method."""
        return dict(self.stats()["requests"])

    def ids(self, low=1, high=None):
        """Every visible event id in [low, high]."""
        found, after = [], low - 1
        while True:
            filters = [["id", "greater_than", after]]
            if high is not None:
                filters.append(["id", "less_than", high + 1])
            rows = self.sg.find("EventLogEntry", filters, ["id"],
                                order=[{"column": "id", "direction": "asc"}], limit=5000)
            if not rows:
                return found
            found += [row["id"] for row in rows]
            after = rows[-1]["id"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def plugin_dir(run_dir, plan):
    """Copies bench plugins into a fresh folder; `plan` is a list of (template, plugin name)."""
    path = os.path.join(run_dir, "plugins")
    os.makedirs(path)
    for template, name in plan:
        shutil.copy(os.path.join(PLUGINS, template + ".py"), os.path.join(path, name + ".py"))
    return path


def bench_env(out_dir, extra=None):
    """A small, clean environment (upstream's ConfigParser reads every variable)."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TZ") if key in os.environ}
    env.update({"SGEVENTS_BENCH_SCRIPT": SCRIPT, "SGEVENTS_BENCH_KEY": KEY,
                "SGEVENTS_BENCH_OUT": out_dir})
    env.update(extra or {})
    return env


class Daemon:
    """A daemon child process; subclasses say how to configure and start it."""

    name = "?"

    def __init__(self, run_dir, sim_url, plugins, first_id, python, env, wrap=(), stop_wait=15):
        """`wrap` prefixes the command (valgrind, perf record); `stop_wait` is how long `stop`
        waits after SIGTERM before SIGKILL."""
        self.run_dir, self.out = run_dir, os.path.join(run_dir, "out")
        self.stop_wait = stop_wait
        os.makedirs(self.out, exist_ok=True)
        cmd = list(wrap) + self.prepare(sim_url, plugins, first_id, python)
        self.log = open(os.path.join(run_dir, self.name + ".stdout"), "w")
        self.started = time.time()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=bench_env(self.out, env), cwd=run_dir,
                                     start_new_session=True)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(self.stop_wait)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class Sgevents(Daemon):
    name = "sgevents"
    matches_in_python = False  # the worker matches callbacks before anything reaches Python

    def prepare(self, sim_url, plugins, first_id, python):
        config = os.path.join(self.run_dir, "sgevents.toml")
        with open(config, "w") as fh:
            fh.write(
                '[daemon]\nstate_db = "%s"\nlog_path = "%s"\nlog_file = "sgevents.log"\n'
                "log_level = 20\nfetch_interval_secs = 1\nmax_event_batch_size = 500\n\n"
                '[site]\nserver = "%s"\nscript_name = "%s"\nscript_key = "%s"\n\n'
                '[[plugins]]\npath = "%s"\npython = "%s"\n'
                % (os.path.join(self.run_dir, "state.sqlite3"), os.path.join(self.run_dir, "logs"),
                   sim_url, SCRIPT, KEY, plugins, python))
            if os.environ.get("SGEVENTS_BENCH_IN_STEP") == "1":  # lock-step, measured apart
                fh.write("run_ahead = false\n")
            if os.environ.get("SGEVENTS_BENCH_PER_PATH") == "1":  # one process for the folder
                fh.write('process = "per_path"\n')
        start = "latest" if first_id is None else str(first_id)
        return [BIN, "run", "--config", config, "--start-at", start, "--python", python]


class Upstream(Daemon):
    name = "upstream"
    matches_in_python = True  # every (event, plugin) pair goes through Callback.canProcess
    source = None  # the checkout's src/ folder, set by run.py

    def prepare(self, sim_url, plugins, first_id, python):
        src = os.path.join(self.run_dir, "upstream")
        shutil.copytree(self.source, src, ignore=shutil.ignore_patterns("examplePlugins", "*.pyc"))
        state = os.path.join(self.run_dir, "state.pickle")
        with open(os.path.join(src, "shotgunEventDaemon.conf"), "w") as fh:
            fh.write(
                "[daemon]\npidFile: %s\neventIdFile: %s\nlogMode: 1\nlogPath: %s\n"
                "logFile: shotgunEventDaemon\nlogging: 20\ntiming_log: off\n"
                "conn_retry_sleep = 60\nmax_conn_retries = 5\nfetch_interval = 1\n"
                "max_event_batch_size = 500\n\n[shotgun]\nserver: %s\nname: %s\nkey: %s\n"
                "proxy_server:\nuse_session_uuid: False\n\n[plugins]\npaths: %s\n\n"
                "[emails]\nenabled: False\n"
                % (os.path.join(self.run_dir, "upstream.pid"), state,
                   os.path.join(self.run_dir, "logs"), sim_url, SCRIPT, KEY, plugins))
        if first_id is not None:
            # Upstream stores the last processed id per plugin; a falsy id means "none yet".
            names = [f[:-3] for f in os.listdir(plugins) if f.endswith(".py")]
            with open(state, "wb") as fh:
                pickle.dump({plugins: {n: (first_id - 1, {}) for n in names}}, fh)
        return [python, os.path.join(src, "shotgunEventDaemon.py"), "foreground"]


def _children(pid):
    """Child pids of every thread of `pid` (the daemon spawns from tokio's worker threads)."""
    kids = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kids
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as fh:
                kids += [int(p) for p in fh.read().split()]
        except OSError:
            pass
    return kids


# One process at one moment, or a sum of them: CPU seconds (user + sys) and kB of memory.
Sample = collections.namedtuple("Sample", "cpu rss hwm pss")
NOTHING = Sample(0.0, 0, 0, 0)


def _add(samples):
    return Sample(*(sum(values) for values in zip(NOTHING, *samples)))


def _kb_fields(path, names):
    found = {}
    with open(path) as fh:
        for line in fh:
            key = line.split(":", 1)[0]
            if key in names:
                found[key] = int(line.split()[1])
    return found


def _proc_sample(pid):
    """A Sample of one process, or None when it is gone. PSS comes from smaps_rollup."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        status = _kb_fields("/proc/%d/status" % pid, ("VmRSS", "VmHWM"))
        pss = _kb_fields("/proc/%d/smaps_rollup" % pid, ("Pss",)).get("Pss", 0)
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        return Sample(cpu, status.get("VmRSS", 0), status.get("VmHWM", 0), pss)
    except (OSError, IndexError, ValueError):
        return None


GROUPS = ("daemon", "children", "total")


class Sampler(threading.Thread):
    """Samples the daemon and all its descendants (the plugin processes) from /proc every 0.2 s.

    Per group (the daemon, its descendants, both): CPU seconds, RSS and PSS now, the sum of each
    process's VmHWM, and the highest RSS and PSS sums seen at one sampling moment.
    """

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.root, self.stop_flag, self.lock = pid, threading.Event(), threading.Lock()
        self.last = {}  # pid -> Sample, the last one taken while it lived
        self.now = {group: NOTHING for group in GROUPS}  # sums of the live processes
        self.peak = {group: (0, 0) for group in GROUPS}  # (RSS, PSS) sums at their highest
        self.start()

    def run(self):
        while not self.stop_flag.is_set():
            self.sample()
            self.stop_flag.wait(0.2)

    def sample(self):
        todo, seen = [self.root], {}
        while todo:
            pid = todo.pop()
            got = _proc_sample(pid)
            if got:
                seen[pid] = got
                todo += _children(pid)
        with self.lock:
            self.last.update(seen)
            self.now = self._split(seen)
            for group, now in self.now.items():
                rss, pss = self.peak[group]
                self.peak[group] = (max(rss, now.rss), max(pss, now.pss))

    def _split(self, samples):
        daemon = samples.get(self.root, NOTHING)
        children = _add(v for p, v in samples.items() if p != self.root)
        return {"daemon": daemon, "children": children, "total": _add([daemon, children])}

    def totals(self):
        """{group: dict(cpu_s, rss_kb, pss_kb, hwm_kb, peak_rss_kb, peak_pss_kb, processes)}.
        CPU and VmHWM include processes that have exited since."""
        self.sample()
        with self.lock:
            ever = self._split(self.last)
            counts = {"daemon": 1, "children": len(self.last) - 1, "total": len(self.last)}
            return {group: {"cpu_s": ever[group].cpu, "hwm_kb": ever[group].hwm,
                            "rss_kb": self.now[group].rss, "pss_kb": self.now[group].pss,
                            "peak_rss_kb": self.peak[group][0],
                            "peak_pss_kb": self.peak[group][1], "processes": counts[group]}
                    for group in GROUPS}

    def stop(self):
        self.stop_flag.set()
        self.join()


class Watcher(threading.Thread):
    """Notes when each event id first becomes visible on the site (its commit, as readers see it).

    Every `every` seconds it asks for ids above the highest seen and for the still-missing ids
    below it (late commits), so a first-seen time is at most one period plus one request after
    the commit.
    """

    def __init__(self, url, after, every=0.05, give_up=90.0):
        super().__init__(daemon=True)
        self.sg = shotgun_api3.Shotgun(url, SCRIPT, KEY)
        self.reads = 0  # read requests it sent: the site's counts include them
        rpc = self.sg._call_rpc

        def counted(method, *args, **kwargs):
            self.reads += method == "read"
            return rpc(method, *args, **kwargs)

        self.sg._call_rpc = counted
        self.high, self.every, self.give_up = after, every, give_up
        self.seen, self.missing = {}, {}  # id -> time first seen; id -> time first missed
        self.stop_flag = threading.Event()
        self.start()

    def run(self):
        order = [{"column": "id", "direction": "asc"}]
        while not self.stop_flag.is_set():
            try:
                rows = self.sg.find("EventLogEntry", [["id", "greater_than", self.high]], ["id"],
                                    order=order, limit=1000)
                now = time.time()
                for row in rows:
                    for gap in range(self.high + 1, row["id"]):
                        self.missing.setdefault(gap, now)
                    self.seen[row["id"]] = now
                    self.high = max(self.high, row["id"])
                    self.missing.pop(row["id"], None)
                for gap, since in list(self.missing.items()):
                    if now - since > self.give_up:
                        del self.missing[gap]
                if self.missing:
                    rows = self.sg.find("EventLogEntry", [["id", "in", list(self.missing)]], ["id"])
                    now = time.time()
                    for row in rows:
                        self.seen[row["id"]] = now
                        self.missing.pop(row["id"], None)
            except Exception:  # a busy sim: try again next period
                pass
            self.stop_flag.wait(self.every)

    def stop(self):
        self.stop_flag.set()
        self.join()


def read_ledger(path):
    """[(event id, callback start time)] from one ledger file."""
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [(int(i), float(t)) for i, t in (line.split() for line in fh if line.strip())]


def percentile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1))))]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
