"""Shared pytest fixtures: start `sgevents sim` as a real process and connect shotgun_api3 to it."""

import json
import os
import re
import select
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT_NAME = "pytest"
SCRIPT_KEY = "pytest-key"
LISTENING = re.compile(r"listening on (http://[0-9.]+:[0-9]+)")


def sgevents_bin():
    """The sgevents binary under test: $SGEVENTS_BIN, else target/debug/sgevents."""
    path = os.environ.get("SGEVENTS_BIN") or str(ROOT / "target" / "debug" / "sgevents")
    if not os.access(path, os.X_OK):
        pytest.fail(f"sgevents binary not found at {path}: build it (cargo build --bin sgevents) or set SGEVENTS_BIN")
    return path


class SimProcess:
    """A running `sgevents sim` child process and its URL."""

    def __init__(self, *extra_args, timeout=60.0):
        args = [sgevents_bin(), "sim", "--listen", "127.0.0.1:0",
                "--script", f"{SCRIPT_NAME}:{SCRIPT_KEY}", *extra_args]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = None
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    break
                seen.append(line)
                match = LISTENING.search(line)
                if match:
                    self.url = match.group(1)
                    return
            if self.proc.poll() is not None:
                break
        if self.proc.poll() is None:
            self.proc.kill()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        self.stop()
        raise RuntimeError(f"sgevents sim did not start: stdout={seen!r} stderr={err!r}")

    def admin(self, path, body=None, method=None):
        """Calls an /admin endpoint and returns the decoded JSON."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method or ("POST" if data else "GET"),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def connect(self, **kwargs):
        """A shotgun_api3 connection as the registered script."""
        import shotgun_api3
        return shotgun_api3.Shotgun(self.url, script_name=SCRIPT_NAME, api_key=SCRIPT_KEY, **kwargs)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


@pytest.fixture(scope="session")
def sim():
    """One emulator for the whole session (tests create their own records)."""
    process = SimProcess()
    yield process
    process.stop()


@pytest.fixture()
def fresh_sim():
    """A new emulator for a test that changes site-wide state (faults, gaps)."""
    process = SimProcess()
    yield process
    process.stop()


@pytest.fixture()
def sg(sim):
    """A shotgun_api3 connection to the session emulator."""
    return sim.connect()


def wait_until(what, check, timeout=10.0, interval=0.05):
    """Polls `check()` until truthy and returns its value; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(interval)
