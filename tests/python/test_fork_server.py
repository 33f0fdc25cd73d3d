"""The runner's fork server prepares, before forking, what its children would otherwise each
import or run for the first time (issue 9: every module a child imports is private memory of
that child), and leaves nothing a plugin could notice."""

import array
import json
import os
import socket
import subprocess
import sys
import textwrap

from conftest import ROOT, SCRIPT_KEY, SCRIPT_NAME

RUNNER = ROOT / "crates" / "plugin-host" / "python" / "sgevents_runner.py"

# Notes the modules present when it is loaded and those its first shotgun_api3 connection
# (registerCallback connects to the site) imports.
PLUGIN = textwrap.dedent(
    """
    import sys

    def noop(sg, logger, event, args):
        pass

    def registerCallbacks(reg):
        before = set(sys.modules)
        reg.registerCallback(%r, %r, noop)
        reg.logger.info("new modules: %%s", sorted(set(sys.modules) - before))
    """
    % (SCRIPT_NAME, SCRIPT_KEY)
)


def send(sock, message):
    sock.sendall((json.dumps(message) + "\n").encode("utf-8"))


def test_a_forked_child_imports_nothing_for_its_first_request(sim, tmp_path):
    plugin = tmp_path / "first_request.py"
    plugin.write_text(PLUGIN)
    control, theirs = socket.socketpair()
    server = subprocess.Popen(
        [sys.executable, str(RUNNER), "--fork-server"], stdin=theirs.fileno()
    )
    theirs.close()
    replies = control.makefile("rb")
    try:
        assert json.loads(replies.readline())["type"] == "hello"
        channel, child_end = socket.socketpair()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        control.sendmsg(
            [b'{"type":"fork","name":"first_request"}\n'],
            [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [child_end.fileno(), out_w, err_w]))],
        )
        child_end.close()
        os.close(out_w)
        os.close(err_w)
        forked = json.loads(replies.readline())
        assert forked["type"] == "forked"
        messages = channel.makefile("rb")
        assert json.loads(messages.readline())["type"] == "hello"
        send(channel, {"type": "configure", "protocol": 3, "site_url": sim.url, "proxy": None,
                       "use_session_uuid": False, "log_level": 20})
        send(channel, {"type": "load", "slot": 0, "name": "first_request", "path": str(plugin)})
        seen = []
        while not seen or seen[-1]["type"] not in ("loaded", "load_failed"):
            seen.append(json.loads(messages.readline()))
        assert seen[-1]["type"] == "loaded", seen
        notes = [m["message"] for m in seen if m["type"] == "log" and m["logger"] == "plugin.first_request"]
        assert notes == ["new modules: []"]
        send(channel, {"type": "shutdown"})
        assert messages.readline() == b""
        channel.close()
        os.close(out_r)
        os.close(err_r)
    finally:
        replies.close()
        control.close()
        server.wait(30)


PREPARED = textwrap.dedent(
    """
    import importlib.util, io, json, logging, sys
    spec = importlib.util.spec_from_file_location("runner_under_test", sys.argv[1])
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    loggers = sorted(logging.Logger.manager.loggerDict)
    out, err = io.StringIO(), io.StringIO()
    sys.stdout, sys.stderr = out, err
    runner._rehearse_request()  # raises when the installed shotgun_api3 no longer fits it
    runner.prepare_children()
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    # A plugin that sets a level without setLevel (which would empty the loggers' level
    # caches) must see it at once, as in a process that never rehearsed a request.
    logging.getLogger("shotgun_api3").level = logging.DEBUG
    print(json.dumps({
        "printed": out.getvalue() + err.getvalue(),
        "new_loggers": sorted(set(logging.Logger.manager.loggerDict) - set(loggers)),
        "root_handlers": len(logging.getLogger().handlers),
        "debug_enabled": logging.getLogger("shotgun_api3").isEnabledFor(logging.DEBUG),
    }))
    """
)


def test_preparing_children_leaves_nothing_a_plugin_sees():
    done = subprocess.run(
        [sys.executable, "-c", PREPARED, str(RUNNER)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout) == {
        "printed": "",
        "new_loggers": [],
        "root_handlers": 0,
        "debug_enabled": True,
    }


WARNED = textwrap.dedent(
    """
    import importlib.util, io, sys, warnings
    spec = importlib.util.spec_from_file_location("runner_under_test", sys.argv[1])
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)

    def client_warns(*args, **kwargs):
        warnings.warn("a client warning")
        return {}

    # As if a future shotgun_api3 warned while building a request.
    runner.shotgun_api3.Shotgun._build_payload = client_warns
    sys.stderr = io.StringIO()
    runner.prepare_children()
    during = sys.stderr.getvalue()
    sys.stderr = io.StringIO()
    client_warns()
    after = sys.stderr.getvalue()
    sys.stderr = sys.__stderr__
    print(repr(during), "a client warning" in after)
    """
)


def test_a_warning_of_the_rehearsal_is_still_given_to_the_child():
    done = subprocess.run(
        [sys.executable, "-c", WARNED, str(RUNNER)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["''", "True"]
