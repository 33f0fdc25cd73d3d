"""The Python runner replays the protocol's golden file (crates/plugin-host/tests/protocol/v4.jsonl):
it accepts every host message, answers with the golden messages' shapes, and turns each
shipped row into exactly what shotgun_api3's find() makes of it."""

import datetime
import importlib.util
import json
import os

import pytest
import shotgun_api3

from conftest import ROOT

GOLDEN = ROOT / "crates" / "plugin-host" / "tests" / "protocol" / "v4.jsonl"
REAL_SHOTGUN = shotgun_api3.Shotgun
RUNNER = ROOT / "crates" / "plugin-host" / "python" / "sgevents_runner.py"

PLUGIN = '''
SEEN = []

def mark_ready(sg, logger, event, args):
    SEEN.append(("mark_ready", event))

class Tally(object):
    def __call__(self, sg, logger, event, args):
        SEEN.append(("tally", event))
        if event["id"] == 42:
            raise ValueError("boom")

def registerCallbacks(reg):
    reg.setEmails("pipeline@example.com")
    reg.registerCallback("s", "k", mark_ready, {"Shotgun_Task_Change": ["sg_status_list"]})
    reg.registerCallback("s", "k", Tally(), None, stopOnError=False)
'''


def golden(direction):
    """The golden messages one way, as the runner's channel hands them over: an `events`
    message comes with its pickled payload (the rows it was made from are in `rows`)."""
    with open(GOLDEN) as handle:
        entries = [json.loads(line) for line in handle if line.strip()]
    messages = []
    for entry in entries:
        if entry["dir"] != direction:
            continue
        message = entry["message"]
        if "payload_hex" in entry:
            payload = bytes.fromhex(entry["payload_hex"])
            assert message["bytes"] == len(payload)
            message = {"type": message["type"], "slot": message["slot"], "payload": payload}
            message["rows"] = entry["rows"]
        messages.append(message)
    return messages


class FakeChannel(object):
    def __init__(self):
        self.sent = []

    def send(self, message):
        # What the runner sends must be one JSON line.
        line = json.dumps(message)
        assert "\n" not in line
        self.sent.append(json.loads(line))

    def send_line(self, data):
        assert data.endswith(b"\n") and b"\n" not in data[:-1]
        self.sent.append(json.loads(data.decode("utf-8")))


@pytest.fixture
def runner(monkeypatch):
    spec = importlib.util.spec_from_file_location("sgevents_runner_under_test", str(RUNNER))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    channel = FakeChannel()
    monkeypatch.setattr(module, "CHANNEL", channel)
    # No site behind the golden file's URL: connections are made without contacting it.
    monkeypatch.setattr(
        module.shotgun_api3, "Shotgun", lambda *a, **kw: REAL_SHOTGUN(*a, connect=False, **kw)
    )
    return module, channel


def shapes(messages):
    return {m["type"]: sorted(m) for m in messages}


def expected_row(row):
    """What find() returns for this row: the client's own inbound conversion."""
    sg = REAL_SHOTGUN("https://studio.example.com", "s", "k", connect=False)
    return sg._parse_records([sg._transform_inbound(json.loads(json.dumps(row)))])[0]


def test_protocol_versions_agree(runner):
    module, _ = runner
    hello = golden("child")[0]
    assert hello["type"] == "hello"
    assert module.PROTOCOL_VERSION == hello["protocol"]
    configure = golden("host")[0]
    assert configure["type"] == "configure"
    assert configure["protocol"] == module.PROTOCOL_VERSION


@pytest.mark.parametrize("run_ahead", [False, True])
def test_the_runner_replays_the_golden_host_messages(runner, tmp_path, run_ahead):
    module, channel = runner
    plugin_file = tmp_path / "ready_tasks.py"
    plugin_file.write_text(PLUGIN)
    converter = module.EventConverter()
    child_shapes = shapes(golden("child"))
    rows = {}
    for message in golden("host"):
        kind = message["type"]
        if kind == "shutdown":
            continue  # the main loop's exit; nothing to answer
        if kind == "load":
            message = dict(message, path=str(plugin_file))
        if kind == "page":
            if not run_ahead:
                continue  # without a page the runner waits for `run`
            message = dict(message, path=str(tmp_path / "progress.page"))
        if kind == "events":
            rows.update((row["id"], row) for row in message["rows"])
        if kind == "run" and run_ahead:
            continue  # the events already ran
        reply = module.handle(message, converter)
        if reply is not None:
            channel.send(reply)
        if kind == "page":
            assert channel.sent[-1] == {"type": "paged", "slot": 0, "ok": True, "error": None}
        if kind == "load":
            assert channel.sent[-1]["type"] == "loaded"
            assert channel.sent[-1]["emails"] == {"kind": "to", "addresses": ["pipeline@example.com"]}
            names = [c["name"] for c in channel.sent[-1]["callbacks"]]
            assert names[0] == "mark_ready" and names[1].startswith("Tally_0x")
        if kind == "unload":
            assert channel.sent[-1] == {"type": "unloaded", "slot": 0}
            # Load it again so that the events have a plugin to go to.
            channel.send(module.handle(dict(golden("host")[1], path=str(plugin_file)), converter))
    if not run_ahead:
        module.handle({"type": "run", "slot": 0, "id": 43, "callbacks": [1]}, converter)
    for sent in channel.sent:
        assert sorted(sent) == child_shapes[sent["type"]] or (
            sent["type"] == "result" and sorted(sent) == [k for k in child_shapes["result"] if k != "error"]
        ), sent
    results = [(m["id"], m["callback"], m["ok"]) for m in channel.sent if m["type"] == "result"]
    if run_ahead:
        # Both events finished (42's failure does not stop the plugin): both are on the page,
        # and one `done` after the last stands for 43's successful last callback.
        # (The rest of the file is room reserved ahead: zero bytes, which readers skip.)
        assert (tmp_path / "progress.page").read_bytes().rstrip(b"\0") == b"42\n43\n"
        assert results == [(42, 0, True), (42, 1, False)]
        assert channel.sent[-1] == {"type": "done", "slot": 0, "entries": 2}
    else:
        assert results == [(42, 0, True), (42, 1, False), (43, 1, True)]
        assert not [m for m in channel.sent if m["type"] == "done"]
    plugin = module.PLUGINS[0]
    seen = plugin.callbacks[0].function.__globals__["SEEN"]
    assert [(name, event["id"]) for name, event in seen] == [("mark_ready", 42), ("tally", 42), ("tally", 43)]
    assert seen[0][1] is seen[1][1], "every callback of an event gets the same object"
    for _, event in seen:
        want = expected_row(rows[event["id"]])
        assert event == want
        assert list(event) == list(want), "key order is the site's"
        assert isinstance(event["created_at"], datetime.datetime)
        assert event["created_at"].tzinfo is not None
    first, second = seen[0][1], seen[2][1]
    assert isinstance(first["meta"]["at"], datetime.datetime)
    assert first["entity"]["name"] == "layout &lt;v2&gt;"  # nested: the client leaves it
    assert second["attribute_name"] == "x < y"
    assert isinstance(second["meta"]["far"], datetime.datetime)  # the slow path
    field = shotgun_api3.shotgun.ClientCapabilities().local_path_field
    if field == "local_path_linux":
        assert second["entity"]["local_path"] == "/mnt/a.mov"
        assert second["entity"]["url"] == "file:///mnt/a.mov"


def configured_with_plugin(module, tmp_path):
    """The runner configured and the test plugin loaded in slot 0; its converter."""
    plugin_file = tmp_path / "ready_tasks.py"
    plugin_file.write_text(PLUGIN)
    converter = module.EventConverter()
    module.handle(golden("host")[0], converter)  # configure
    loaded = module.handle(dict(golden("host")[1], path=str(plugin_file)), converter)
    assert loaded["type"] == "loaded", loaded
    return converter


def test_a_page_that_cannot_be_written_sends_the_slot_back_to_waiting_for_run(runner, tmp_path):
    module, channel = runner
    converter = configured_with_plugin(module, tmp_path)
    reply = module.handle({"type": "page", "slot": 0, "path": str(tmp_path / "p.page")}, converter)
    assert reply["ok"] is True
    module.PLUGINS[0].page.close()  # the page can no longer be written (as on a full disk)
    events = [m for m in golden("host") if m["type"] == "events"][0]
    module.handle(events, converter)
    lost = [m for m in channel.sent if m["type"] == "paged"]
    assert len(lost) == 1 and lost[0]["ok"] is False and lost[0]["slot"] == 0, channel.sent
    assert module.PLUGINS[0].page is None
    # The first event ran (and failed to be recorded); the second waits for its `run`.
    ran = [(m["id"], m["callback"]) for m in channel.sent if m["type"] == "result"]
    assert ran == [(42, 0), (42, 1)]
    assert [event_id for event_id, _ in module.PLUGINS[0].ahead] == [43]


def test_a_mapped_page_keeps_what_was_there_grows_as_needed_and_empties_on_request(runner, tmp_path):
    module, channel = runner
    path = tmp_path / "p.page"
    path.write_bytes(b"7\n8\n9")  # two lines and a torn one, from an earlier process
    page = module.ProgressPage(str(path))
    ids = list(range(10, 10 + 20000))  # more than the room reserved at first
    for event_id in ids:
        page.write(b"%d\n" % event_id)
    data = path.read_bytes()
    assert data.rstrip(b"\0") == b"7\n8\n" + b"".join(b"%d\n" % i for i in ids)
    assert len(data) >= len(data.rstrip(b"\0"))
    page.empty()
    assert path.read_bytes().rstrip(b"\0") == b""
    page.write(b"99\n")
    assert path.read_bytes().rstrip(b"\0") == b"99\n"
    page.close()
    # Opened again (a restarted process): it goes on after the last line.
    again = module.ProgressPage(str(path))
    again.write(b"100\n")
    again.close()
    assert path.read_bytes().rstrip(b"\0") == b"99\n100\n"


def test_empty_page_is_answered_and_the_page_is_empty_after(runner, tmp_path):
    module, channel = runner
    converter = configured_with_plugin(module, tmp_path)
    page = tmp_path / "p.page"
    assert module.handle({"type": "page", "slot": 0, "path": str(page)}, converter)["ok"] is True
    events = [m for m in golden("host") if m["type"] == "events"][0]
    module.handle(events, converter)
    assert page.read_bytes().rstrip(b"\0") == b"42\n43\n"
    reply = module.handle({"type": "empty_page", "slot": 0}, converter)
    assert reply == {"type": "paged", "slot": 0, "ok": True, "error": None}
    assert page.read_bytes().rstrip(b"\0") == b""
