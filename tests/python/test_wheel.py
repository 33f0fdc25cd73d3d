"""The wheel as a pipeline engineer installs it: into a fresh virtualenv, then `sgevents run`
with no --python, whose plugins must run with that virtualenv's Python.

The wheel is built once per test run with `bash scripts/wheel.sh --dev` (the debug build that
scripts/test.sh already made, packaged by maturin). The shipped manylinux_2_28 wheel
(`bash scripts/wheel.sh`) is the same packaging around the release build.
"""

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, SCRIPT_KEY, SCRIPT_NAME, wait_until

PLUGIN = '''
import os, sys

def record(sg, logger, event, args):
    with open(os.environ["WHEEL_TEST_OUT"], "w") as out:
        out.write(sys.executable)

def registerCallbacks(reg):
    reg.registerCallback(os.environ["WHEEL_TEST_SCRIPT"], os.environ["WHEEL_TEST_KEY"], record)
'''


@pytest.fixture(scope="session")
def wheel():
    """Builds the wheel once; returns its path. $SGEVENTS_WHEEL names a built one instead
    (to test the shipped manylinux wheel: `bash scripts/wheel.sh`)."""
    if os.environ.get("SGEVENTS_WHEEL"):
        return Path(os.environ["SGEVENTS_WHEEL"]).resolve()
    built = subprocess.run(["bash", "scripts/wheel.sh", "--dev"], cwd=ROOT, capture_output=True,
                           text=True, timeout=1800)
    assert built.returncode == 0, built.stderr[-4000:]
    path = ROOT / built.stdout.strip().splitlines()[-1]
    assert path.is_file(), built.stdout
    return path


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory):
    """A fresh virtualenv with the wheel (and, as its dependency, shotgun-api3) installed."""
    env_dir = tmp_path_factory.mktemp("wheel") / "venv"
    venv.create(env_dir, with_pip=True)
    pip = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", str(wheel)],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-4000:]
    return env_dir


def test_the_wheel_carries_the_binary_as_a_script(wheel):
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        metadata = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert any(n.endswith(".data/scripts/sgevents") for n in names), names
    assert "Requires-Dist: shotgun-api3" in metadata, metadata
    assert wheel.name.startswith("sgevents-") and wheel.name.endswith(".whl")


def test_sgevents_run_in_a_venv_uses_that_venvs_python(installed, fresh_sim, tmp_path):
    sgevents = installed / "bin" / "sgevents"
    python = installed / "bin" / "python"
    assert os.access(sgevents, os.X_OK), "pip did not put sgevents on the venv's PATH"
    version = subprocess.run([str(sgevents), "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("sgevents "), version

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "where.py").write_text(PLUGIN)
    config = tmp_path / "sgevents.toml"
    config.write_text(
        f'[daemon]\nstate_db = "{tmp_path}/state.sqlite3"\nlog_path = "{tmp_path}/logs"\n'
        f'log_file = "sgevents.log"\nfetch_interval_secs = 1\nshutdown_grace_secs = 5\n\n'
        f'[site]\nserver = "{fresh_sim.url}"\nscript_name = "{SCRIPT_NAME}"\nscript_key = "{SCRIPT_KEY}"\n\n'
        f'[[plugins]]\npath = "{plugins}"\n')
    sg = fresh_sim.connect()
    sg.create("Shot", {"code": "wheel_test"})

    out = tmp_path / "executable.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("SGEVENTS_PYTHON", "VIRTUAL_ENV")}
    # Not activated: only the binary's location may point at the venv, not PATH.
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env.update(WHEEL_TEST_OUT=str(out), WHEEL_TEST_SCRIPT=SCRIPT_NAME, WHEEL_TEST_KEY=SCRIPT_KEY)
    check = subprocess.run([str(sgevents), "config", "check", str(config)], env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"(python {python})" in check.stdout, check.stdout
    daemon = subprocess.Popen([str(sgevents), "run", "--config", str(config), "--start-at", "1"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until("the plugin to record its interpreter",
                   lambda: out.exists() and out.read_text(), timeout=60)
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        err = daemon.stderr.read() if daemon.stderr else ""
        if daemon.stderr:
            daemon.stderr.close()
    assert out.read_text() == str(python), err[-2000:]
    assert daemon.returncode == 0, err[-2000:]
    assert Path(out.read_text()) != Path(sys.executable)
