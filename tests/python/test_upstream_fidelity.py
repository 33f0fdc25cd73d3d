"""What a plugin can observe matches upstream shotgunEvents: matchEvents shapes, the event's key
order, a plugin's own log level and log files created at load (logMode 1). Runs `sgevents run`
with an upstream INI config against `sgevents sim`, with plugins written for these cases."""

import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from conftest import SCRIPT_KEY, SCRIPT_NAME, sgevents_bin, wait_until
from test_sim_events import latest_id

PROJECT = {"type": "Project", "id": 1}

HEADER = f"""
import json
import logging

def registerCallbacks(reg):
    reg.registerCallback({SCRIPT_NAME!r}, {SCRIPT_KEY!r}, on_event, MATCH)
"""

PLUGINS = {
    # Upstream tests `attribute_name in <list>` and never looks at the items.
    "mixed_list": HEADER.replace("MATCH", "{'Shotgun_Shot_Change': ['code', 1, None, ('x',)]}") + """
def on_event(sg, logger, event, args):
    logger.info("changed %s", event["attribute_name"])
""",
    "key_order": HEADER.replace("MATCH", "{'Shotgun_Shot_Change': ['description']}") + """
def on_event(sg, logger, event, args):
    logger.info("keys %s", json.dumps({"event": list(event), "meta": list(event["meta"]),
                                       "entity": list(event["entity"]), "id": event["id"]}))
""",
    "debug_logger": HEADER.replace("MATCH", "{'Shotgun_Shot_Change': ['description']}") + """
    reg.logger.setLevel(logging.DEBUG)
    reg.logger.debug("registered at DEBUG")

def on_event(sg, logger, event, args):
    logger.debug("debug from the callback for %d", event["id"])
""",
    # The control: the daemon's level (20) applies, so its DEBUG lines are not written.
    "info_logger": HEADER.replace("MATCH", "{'Shotgun_Shot_Change': ['description']}") + """
def on_event(sg, logger, event, args):
    logger.debug("debug that must not show")
    logger.info("info from the callback for %d", event["id"])
""",
    # Upstream's dispatch would crash on `'*' in 5`: refused at load, naming key and value.
    "bad_value": HEADER.replace("MATCH", "{'Shotgun_Shot_Change': 5}") + """
def on_event(sg, logger, event, args):
    pass
""",
    "silent": HEADER.replace("MATCH", "{'Shotgun_Shot_Change': ['description']}") + """
def on_event(sg, logger, event, args):
    pass
""",
    # registerCallbacks raises: upstream logs CRITICAL on the engine logger, not the plugin's.
    "bad_register": """
def registerCallbacks(reg):
    raise RuntimeError("no site field for this plugin")
""",
}


class Daemon:
    """`sgevents run` with an upstream INI config, logMode 1, logging 20."""

    def __init__(self, tmp_path, url, start_at):
        self.logs = tmp_path / "logs"
        plugins = tmp_path / "plugins"
        plugins.mkdir()
        for name, source in PLUGINS.items():
            (plugins / f"{name}.py").write_text(textwrap.dedent(source))
        config = tmp_path / "shotgunEventDaemon.conf"
        config.write_text(textwrap.dedent(f"""\
            [daemon]
            pidFile: {tmp_path}/daemon.pid
            eventIdFile: {tmp_path}/daemon.id
            logMode: 1
            logPath: {self.logs}
            logFile: shotgunEventDaemon
            logging: 20
            fetch_interval = 1
            conn_retry_sleep = 1
            max_conn_retries = 5

            [shotgun]
            server: {url}
            name: {SCRIPT_NAME}
            key: {SCRIPT_KEY}
            use_session_uuid: False

            [plugins]
            paths: {plugins}

            [emails]
            enabled: False
            """))
        python = os.environ.get("SGEVENTS_PYTHON") or sys.executable
        self.proc = subprocess.Popen(
            [sgevents_bin(), "run", "--config", str(config), "--python", python,
             "--start-at", str(start_at)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def log(self, name):
        if self.proc.poll() is not None:
            pytest.fail(f"sgevents run exited with {self.proc.returncode}: {self.proc.stderr.read()}")
        path = self.logs / name
        return path.read_text() if path.exists() else ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()


@pytest.fixture()
def daemon(sim, sg, tmp_path):
    process = Daemon(tmp_path, sim.url, latest_id(sg) + 1)
    yield process
    process.stop()


def loaded(daemon, *names):
    engine = daemon.log("shotgunEventDaemon")
    return all(f"Loaded plugin {name} " in engine for name in names if name not in ("bad_value", "bad_register"))


def test_plugins_see_what_upstream_plugins_see(daemon, sg):
    wait_until("every plugin to load", lambda: loaded(daemon, *PLUGINS), timeout=60)
    # Loaded but never logged: the file exists anyway, as upstream's handler creates it.
    assert (daemon.logs / "plugin.silent").exists()
    assert daemon.log("plugin.silent") == ""
    refused = wait_until("the bad matchEvents to be refused", lambda: daemon.log("plugin.bad_value"), timeout=60)
    assert "matchEvents['Shotgun_Shot_Change'] is 5" in refused or 'matchEvents["Shotgun_Shot_Change"] is 5' in refused, refused
    assert "crashes" in refused, refused
    engine = wait_until("the failed registerCallbacks to be logged",
                        lambda: "Error running register callback function" in daemon.log("shotgunEventDaemon")
                        and daemon.log("shotgunEventDaemon"), timeout=60)
    line = next(l for l in engine.splitlines() if "Error running register callback function" in l)
    assert " - engine - CRITICAL - " in line, line
    assert "bad_register.py" in line, line
    assert "no site field for this plugin" in engine

    shot = sg.create("Shot", {"code": f"fi_{uuid.uuid4().hex[:6]}", "project": PROJECT})
    sg.update("Shot", shot["id"], {"description": "one"})
    sg.update("Shot", shot["id"], {"code": shot["code"] + "_b"})

    # matchEvents ['code', 1, None, ('x',)]: 'code' matches, nothing else does.
    mixed = wait_until("the mixed-list plugin to see the code change",
                       lambda: "changed code" in daemon.log("plugin.mixed_list") and daemon.log("plugin.mixed_list"),
                       timeout=60)
    assert "changed description" not in mixed

    # The event dict lists its keys in the order the site returned them.
    line = wait_until("the key order line",
                      lambda: [l for l in daemon.log("plugin.key_order").splitlines() if " keys " in l],
                      timeout=60)[0]
    seen = json.loads(line.split(" keys ", 1)[1])
    site = sg.find_one("EventLogEntry", [["id", "is", seen["id"]]],
                       ["id", "event_type", "attribute_name", "meta", "entity", "user", "project",
                        "session_uuid", "created_at"])
    assert seen["event"] == list(site), "top-level keys in the site's order"
    assert seen["event"][:3] == ["type", "id", "event_type"]
    assert seen["meta"] == list(site["meta"]), "meta keys in the site's order"
    assert seen["entity"] == list(site["entity"])

    # reg.logger.setLevel(DEBUG) gets the plugin its DEBUG lines at logging 20, and upstream's
    # dispatch line; the plugin that left its level alone gets neither.
    debug = wait_until("the DEBUG line",
                       lambda: "debug from the callback" in daemon.log("plugin.debug_logger")
                       and daemon.log("plugin.debug_logger"), timeout=60)
    assert "plugin.debug_logger - DEBUG - registered at DEBUG" in debug
    assert " - plugin.debug_logger.on_event - DEBUG - debug from the callback for " in debug
    assert " - plugin.debug_logger - DEBUG - Dispatching event " in debug
    assert " to callback on_event." in debug
    info = wait_until("the INFO line", lambda: "info from the callback" in daemon.log("plugin.info_logger")
                      and daemon.log("plugin.info_logger"), timeout=60)
    assert "DEBUG" not in info
