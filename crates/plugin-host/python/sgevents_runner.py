"""sgevents plugin runner: loads shotgunEvents-style plugin files and runs their callbacks.

The sgevents daemon writes this file to a private cache folder, starts it as
``python <cache>/sgevents_runner-<hash>.py <plugin name>`` and talks to it over a socket
handed over as file descriptor 0. Messages are JSON objects, one per line, described in
docs/plugin-protocol.md. Plugins never see the channel: fd 0 is replaced by /dev/null,
and ``print()`` output is forwarded to the daemon as log records of the plugin's logger.

This file must stay importable by any Python 3.7+ and use the standard library only
(plus shotgun_api3, which plugins need anyway).
"""

import collections
import datetime
import faulthandler
import gc
import importlib.machinery
import importlib.util
import array
import json
import logging
import io
import mmap
import os
import pickle
import pprint
import re
import select
import signal
import socket
import sys
import threading
import traceback
import warnings

PROTOCOL_VERSION = 4
# Longest log message we forward; the daemon refuses longer lines.
MAX_MESSAGE_CHARS = 1 << 20

try:
    import shotgun_api3
    import shotgun_api3.shotgun as _sg_module

    SG_IMPORT_ERROR = None
except Exception as _err:  # any failure means plugins cannot run
    shotgun_api3 = None
    _sg_module = None
    SG_IMPORT_ERROR = "%s: %s" % (type(_err).__name__, _err)


# `{"type":"run","slot":S,"id":N,"callbacks":[...]}` as the daemon writes it: JSON integers
# (no leading zeros), no spaces.
_INT = rb"(?:0|[1-9][0-9]*)"
_RUN_LINE = re.compile(
    rb'\{"type":"run","slot":(' + _INT + rb'),"id":(-?' + _INT + rb'),"callbacks":\[('
    + _INT + rb"(?:," + _INT + rb")*)?\]\}\n"
)
# `{"type":"events","slot":S,"bytes":N}`: N bytes of pickled entries follow the line.
_EVENTS_LINE = re.compile(rb'\{"type":"events","slot":(' + _INT + rb'),"bytes":(' + _INT + rb")\}\n")


class Channel(object):
    """The line-oriented JSON channel to the daemon; safe to use from any thread."""

    def __init__(self, sock):
        self._sock = sock
        self._rfile = sock.makefile("rb")
        self._lock = threading.Lock()

    def send(self, message):
        self.send_line((json.dumps(message) + "\n").encode("utf-8"))

    def send_line(self, data):
        """Sends one message already encoded as a JSON line."""
        with self._lock:
            self._sock.sendall(data)

    def receive(self):
        line = self._rfile.readline()
        if not line:
            return None
        if line.startswith(b'{"type":"events",'):
            match = _EVENTS_LINE.fullmatch(line)
            if match is None:
                raise ValueError("an events line without its payload's size: %r" % (line[:200],))
            size = int(match.group(2))
            payload = self._rfile.read(size)
            if len(payload) != size:
                return None  # the channel closed in mid-message
            return {"type": "events", "slot": int(match.group(1)), "payload": payload}
        if line.startswith(b'{"type":"run",'):
            # Sent once per event: read without json.loads when it has exactly the form the
            # daemon writes (the same values json.loads gives); anything else goes below.
            match = _RUN_LINE.fullmatch(line)
            if match is not None:
                slot, event_id, callbacks = match.groups()
                return {
                    "type": "run",
                    "slot": int(slot),
                    "id": int(event_id),
                    "callbacks": [int(c) for c in callbacks.split(b",")] if callbacks else [],
                }
        return json.loads(line.decode("utf-8"))


def take_channel():
    """Moves the socket from fd 0 to a private descriptor and puts /dev/null on fd 0."""
    private_fd = os.dup(0)  # os.dup makes a non-inheritable copy
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return Channel(socket.socket(fileno=private_fd))


CHANNEL = None
STATE = {
    "site_url": None,
    "proxy": None,
    "use_session_uuid": False,
    "log_level": logging.INFO,
    # The plugin whose code is running (load or call); prints are logged under it.
    "current": None,
}
PLUGINS = {}


class ForwardHandler(logging.Handler):
    """Sends every record that passed the loggers' levels to the daemon."""

    def emit(self, record):
        try:
            message = self.format(record)
            if len(message) > MAX_MESSAGE_CHARS:
                message = message[:MAX_MESSAGE_CHARS] + " [truncated by sgevents]"
            CHANNEL.send(
                {
                    "type": "log",
                    "logger": record.name,
                    "level": record.levelno,
                    "message": message,
                }
            )
        except Exception:
            self.handleError(record)


class PrintStream(object):
    """Stands in for sys.stdout / sys.stderr: complete lines become log records."""

    def __init__(self, level, fallback_logger):
        self._level = level
        self._fallback = fallback_logger
        self._buffer = ""
        self._lock = threading.Lock()
        self.encoding = "utf-8"
        self.errors = "replace"

    def write(self, text):
        if not isinstance(text, str):
            text = str(text)
        with self._lock:
            self._buffer += text
            lines = self._buffer.split("\n")
            self._buffer = lines.pop()
        for line in lines:
            self._send(line)
        return len(text)

    def flush(self):
        if not self._buffer:
            return  # nothing pending (a racing write is flushed by the next call)
        with self._lock:
            rest, self._buffer = self._buffer, ""
        if rest:
            self._send(rest)

    def _send(self, line):
        current = STATE["current"]
        logger = "plugin." + current.name if current is not None else self._fallback
        try:
            CHANNEL.send(
                {
                    "type": "log",
                    "logger": logger,
                    "level": self._level,
                    "message": line[:MAX_MESSAGE_CHARS],
                }
            )
        except Exception:
            pass

    def isatty(self):
        return False

    def writable(self):
        return True

    def fileno(self):
        # C-level writers (subprocess, faulthandler) get the real descriptor, which the
        # daemon also reads into the plugin's log.
        return 1 if self._level == logging.INFO else 2


# ----------------------------------------------------------------------------------------
# Events: the same values shotgun_api3's find() returns.


def _date_time_pattern():
    pattern = getattr(getattr(shotgun_api3, "Shotgun", None), "_DATE_TIME_PATTERN", None)
    if pattern is not None:
        return pattern
    return re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _timezones():
    zones = getattr(_sg_module, "SG_TIMEZONE", None)
    if zones is not None:
        return zones.utc, zones.local
    return datetime.timezone.utc, datetime.datetime.now().astimezone().tzinfo


_UNIX_EPOCH = datetime.datetime(1970, 1, 1)


def _local_path_field():
    caps = getattr(_sg_module, "ClientCapabilities", None)
    if caps is None:
        return None
    try:
        return caps().local_path_field
    except Exception:
        return None


class EventConverter(object):
    """Turns the pickled entries of an ``events`` message into what shotgun_api3's find()
    returns.

    The daemon has already walked each row: its datetimes come as ``date(seconds)`` calls,
    which the unpickler makes here, and the rare places left (strings only the client's own
    test can judge, top-level strings holding ``&lt;``, top-level local file links) are
    listed in the entry's extras, applied in the order the client works: datetimes first,
    then its record fixes.
    """

    # Datetimes are immutable, so one object may serve every event of the same second.
    CACHE_SIZE = 4096
    # Seconds in which the local zone's shift from UTC is taken to be constant (see _shift).
    SPAN = 900

    def __init__(self):
        self._pattern = _date_time_pattern()
        self._utc, self._local = _timezones()
        self._local_path_field = _local_path_field()
        # Quarter hours whose local shift from UTC is known (see _shift).
        self._shifts = {}
        self._epoch = datetime.datetime(1970, 1, 1, tzinfo=self._local)
        converter = self

        class Dates(dict):
            """Datetimes by Unix second. The unpickler calls its ``__getitem__``, which
            CPython runs in C: a second seen before costs no Python call."""

            def __missing__(self, seconds):
                if len(self) >= converter.CACHE_SIZE:
                    self.clear()
                    converter._shifts.clear()
                value = converter._make_date(seconds)
                self[seconds] = value
                return value

        self._dates = Dates()
        date = self._dates.__getitem__

        class Loader(pickle.Unpickler):
            def find_class(self, module, name):
                # The one global a payload may name: nothing is imported or called else.
                if module == "sgevents" and name == "date":
                    return date
                raise pickle.UnpicklingError("global %s.%s is not allowed" % (module, name))

        self._loader = Loader

    def load(self, payload):
        """The entries of a payload: ``(id, callbacks, row, extras, keep)`` tuples."""
        return self._loader(io.BytesIO(payload)).load()

    def date(self, seconds):
        """The local-zone datetime at a Unix time, exactly as the client makes it:
        ``datetime.fromtimestamp(seconds, local)`` (one object per second, kept)."""
        return self._dates[seconds]

    def _make_date(self, seconds):
        shift = self._shift(seconds // self.SPAN)
        if shift is None:
            return datetime.datetime.fromtimestamp(seconds, self._local)
        return self._epoch + datetime.timedelta(seconds=seconds + shift)

    def _shift(self, span):
        """How far the local wall clock is from UTC all through the SPAN seconds numbered
        `span`, or None when it changes inside them (a DST change) or cannot be found.

        The client's local zone decides by asking the C library (mktime, localtime) about
        the wall time, which costs a few microseconds a call, and a file check of the zone
        each time. Its answer changes once at each DST change, and those are months apart,
        so a span holds at most one change, and none when both its ends agree. Then every
        second in it is UTC plus that shift, added to a datetime of the same zone: the same
        fields and the same tzinfo object as the client's."""
        shifts = self._shifts
        if span in shifts:
            return shifts[span]
        shift = None
        try:
            ends = []
            for at in (span * self.SPAN, span * self.SPAN + self.SPAN - 1):
                local = datetime.datetime.fromtimestamp(at, self._local)
                ends.append(int((local.replace(tzinfo=None) - _UNIX_EPOCH).total_seconds()) - at)
            if ends[0] == ends[1]:
                shift = ends[0]
        except (OverflowError, OSError, ValueError):
            pass
        shifts[span] = shift
        return shift

    def convert(self, row, extras):
        """Applies an entry's extras (a dict of lists) to its row, in place."""
        for path in extras.get("maybe_dates") or ():
            if path.__class__ is str:
                row[path] = self._slow_date(row[path])
            else:
                _set(row, path, self._slow_date(_get(row, path)))
        for key in extras.get("unescape") or ():
            value = row.get(key)
            if value and isinstance(value, str):
                row[key] = value.replace("&lt;", "<")
        for key in extras.get("local_links") or ():
            value = row.get(key)
            field = self._local_path_field
            if isinstance(value, dict) and field and field in value:
                local_path = value[field]
                value["local_path"] = local_path
                value["url"] = "file://%s" % (local_path or "",)
        return row

    def _slow_date(self, value):
        """shotgun_api3's own test and conversion, for the rare strings listed as maybe."""
        if isinstance(value, str) and len(value) == 20 and self._pattern.match(value):
            try:
                parsed = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
            except ValueError:
                return value
            return parsed.replace(tzinfo=self._utc).astimezone(self._local)
        return value


def _get(row, path):
    value = row
    for step in path:
        value = value[step]
    return value


def _set(row, path, value):
    _get(row, path[:-1])[path[-1]] = value


# ----------------------------------------------------------------------------------------
# Plugins, the registrar and callbacks.


class LoadFailure(Exception):
    """A plugin cannot be used; carries the protocol's failure kind."""

    def __init__(self, kind, message, detail=""):
        Exception.__init__(self, message)
        self.kind = kind
        self.message = message
        self.detail = detail


class NotCallableError(TypeError):
    """registerCallback got something that cannot be called."""


class Callback(object):
    def __init__(self, plugin, function, sg, match_events, args, stop_on_error):
        if hasattr(function, "__name__"):
            self.name = function.__name__
        else:
            self.name = "%s_%s" % (type(function).__name__, hex(id(function)))
        self.function = function
        self.sg = sg
        self.match_events = match_events
        self.args = args
        self.stop_on_error = bool(stop_on_error)
        self.logger = logging.getLogger(plugin.logger.name + "." + self.name)


class Plugin(object):
    def __init__(self, slot, name, path):
        self.slot = slot
        self.name = name
        self.path = path
        self.logger = logging.getLogger("plugin." + name)
        self.logger.setLevel(STATE["log_level"])
        self.callbacks = []
        self.emails = {"kind": "default"}
        self.registering = False
        # Events shipped ahead, in shipping order: (id, entry).
        self.ahead = collections.deque()
        # The progress page (a descriptor open for appending) once the host gave one: the
        # plugin then runs shipped events at once and records each one it finished there.
        self.page = None
        # Set by a failed stopOnError callback while running ahead: shipped events are
        # dropped until the host sends `resume`.
        self.stopped = False
        # Entries of `events` messages this process has taken for the plugin since its load
        # or its last `resume` (run, or queued for `run`), and how many of them the host last
        # heard of in a `done`.
        self.entries = 0
        self.reported = 0


def _match_events_json(value, depth=0):
    """matchEvents as JSON (tuples and sets become lists); raises TypeError when it cannot be
    encoded. Upstream only compares a container's items with ``==``, so items (depth 2 and
    below) and dict keys that are not strings never match anything: such items become null
    and such keys a string no event type or attribute name can equal."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        result = {}
        for key, entry in value.items():
            if not isinstance(key, str):
                key = "\0" + repr(key)
            result[key] = _match_events_json(entry, depth + 1)
        return result
    if isinstance(value, (list, tuple)):
        return [_match_events_json(entry, depth + 1) for entry in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_match_events_json(entry, depth + 1) for entry in value), key=repr)
    if depth >= 2:
        return None
    raise TypeError("%r (%s) cannot be used in matchEvents" % (value, type(value).__name__))


class Registrar(object):
    """What registerCallbacks(reg) receives."""

    def __init__(self, plugin):
        self._plugin = plugin

    @property
    def logger(self):
        return self._plugin.logger

    def getLogger(self):
        return self._plugin.logger

    def setEmails(self, *emails):
        """True: the configured recipients. False: no emails. Otherwise addresses."""
        plugin = self._plugin
        if len(emails) == 1 and isinstance(emails[0], bool):
            setting = {"kind": "default" if emails[0] else "disabled"}
        else:
            if len(emails) == 1 and isinstance(emails[0], (list, tuple)):
                emails = tuple(emails[0])
            if not emails or not all(isinstance(e, str) for e in emails):
                raise ValueError(
                    "setEmails takes True (the configured addresses), False (no emails) "
                    "or one or more address strings; got %r" % (emails,)
                )
            setting = {"kind": "to", "addresses": list(emails)}
        if not plugin.registering:
            plugin.logger.warning(
                "setEmails called after registerCallbacks returned; sgevents reads it "
                "only while the plugin loads, so this call has no effect."
            )
            return
        plugin.emails = setting

    def registerCallback(
        self,
        sgScriptName,
        sgScriptKey,
        callback,
        matchEvents=None,
        args=None,
        stopOnError=True,
    ):
        if not callable(callback):
            raise NotCallableError(
                "The callback must be a callable object (function, method or callable "
                "class instance)."
            )
        plugin = self._plugin
        sg = shotgun_api3.Shotgun(
            STATE["site_url"], sgScriptName, sgScriptKey, http_proxy=STATE["proxy"]
        )
        plugin.callbacks.append(
            Callback(plugin, callback, sg, matchEvents, args, stopOnError)
        )


def _format_exception():
    return traceback.format_exc()


def load_plugin(slot, name, path):
    plugin = Plugin(slot, name, path)
    STATE["current"] = plugin
    try:
        try:
            loader = importlib.machinery.SourceFileLoader(name, path)
            spec = importlib.util.spec_from_file_location(name, path, loader=loader)
            module = importlib.util.module_from_spec(spec)
            # Deliberately not entered in sys.modules: each load runs fresh code.
            loader.exec_module(module)
        except BaseException:
            raise LoadFailure(
                "import",
                "Could not load the plugin at %s." % path,
                _format_exception(),
            )
        register = getattr(module, "registerCallbacks", None)
        if not callable(register):
            raise LoadFailure(
                "no_register",
                "Did not find a registerCallbacks function in plugin at %s." % path,
            )
        plugin.registering = True
        try:
            register(Registrar(plugin))
        except BaseException as err:
            raise LoadFailure(
                "not_callable" if isinstance(err, NotCallableError) else "register_raised",
                "Error running register callback function from plugin at %s." % path,
                _format_exception(),
            )
        finally:
            plugin.registering = False
        specs = []
        for callback in plugin.callbacks:
            try:
                match_events = _match_events_json(callback.match_events)
            except TypeError as err:
                raise LoadFailure(
                    "bad_match_events",
                    "Callback %s in plugin at %s has a bad matchEvents: %s."
                    % (callback.name, path, err),
                )
            specs.append(
                {
                    "name": callback.name,
                    "match_events": match_events,
                    "stop_on_error": callback.stop_on_error,
                }
            )
    finally:
        STATE["current"] = None
    PLUGINS[slot] = plugin
    return {"type": "loaded", "slot": slot, "callbacks": specs, "emails": plugin.emails}


def _outermost_plugin_locals(tb):
    """pprint of the locals of the first frame below ours, like upstream; never raises."""
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    if len(frames) < 2:
        return (
            "(none: the exception was raised while calling the callback itself; check "
            "that it accepts (sg, logger, event, args))"
        )
    try:
        return pprint.pformat(frames[1].f_locals)
    except BaseException as err:
        return "(could not format the locals: %s: %s)" % (type(err).__name__, err)


def run_callback(plugin, index, event):
    callback = plugin.callbacks[index]
    STATE["current"] = plugin
    try:
        # As upstream, at DEBUG on the plugin's logger: shown when the plugin raised its level.
        logger = plugin.logger
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Dispatching event %s to callback %s.", event.get("id"), callback.name)
        if STATE["use_session_uuid"]:
            callback.sg.set_session_uuid(event.get("session_uuid"))
        try:
            callback.function(callback.sg, callback.logger, event, callback.args)
        except BaseException as err:
            return callback_failed(callback, err)
        return OK
    finally:
        STATE["current"] = None
        flush_streams()


def callback_failed(callback, err):
    """Logs the failure a callback just raised, as upstream does (call it in the ``except``
    block); the failed reply."""
    callback.logger.critical(
        "An error occured processing an event.\n\n%s\n\nLocal variables at outer "
        "most frame in plugin:\n\n%s",
        _format_exception(),
        _outermost_plugin_locals(sys.exc_info()[2]),
    )
    return {"ok": False, "error": "%s: %s" % (type(err).__name__, err)}


def flush_streams():
    """What a callback printed without a newline goes out now, under its name; our own
    streams say cheaply when nothing is pending (most callbacks print nothing)."""
    out, err = sys.stdout, sys.stderr
    if out.__class__ is not PrintStream or out._buffer:
        out.flush()
    if err.__class__ is not PrintStream or err._buffer:
        err.flush()


# ----------------------------------------------------------------------------------------
# The message loop.


# A callback's successful answer (never changed: a result is built from a copy).
OK = {"ok": True}
RESULT_OK = b'{"type":"result","slot":%d,"id":%d,"callback":%d,"ok":true}\n'
DONE = b'{"type":"done","slot":%d,"entries":%d}\n'


def send_result(plugin, line):
    """Sends a result line; with a progress page, a `done` for what finished before it
    goes first, so the host never hears of an event before those shipped ahead of it."""
    report_done(plugin)
    CHANNEL.send_line(line)


def report_done(plugin):
    """With a progress page: tells the host how many shipped entries are finished, which
    stands for the successful result of each one's last callback."""
    if (
        plugin is not None
        and plugin.page is not None
        and not plugin.stopped
        and plugin.reported != plugin.entries
    ):
        plugin.reported = plugin.entries
        CHANNEL.send_line(DONE % (plugin.slot, plugin.entries))


def run_event(plugin, event_id, event, callbacks):
    """Runs the callbacks on one event in order, sending one ``result`` each; stops after a
    failed stopOnError callback. Returns False when it stopped that way. With a progress
    page, the event's id goes on the page before its last result is sent, so whatever the
    host has heard of is on the page; and a successful last result is not sent at all: the
    next ``done`` (see receive_events) stands for it."""
    # (The common case, one callback run ahead with a progress page, is run_ahead's.)
    last = len(callbacks) - 1
    for position, index in enumerate(callbacks):
        if 0 <= index < len(plugin.callbacks):
            reply = run_callback(plugin, index, event)
        else:
            reply = {"ok": False, "error": "the plugin has no callback number %d" % index}
        if reply is OK and event_id.__class__ is int:
            # The common answer, formatted directly when sent (json.dumps costs more).
            if position < last:
                send_result(plugin, RESULT_OK % (plugin.slot, event_id, index))
                continue
            if plugin.page is not None:
                record_progress(plugin, event_id)
                if plugin.page is not None:
                    return True  # the next `done` says it
            send_result(plugin, RESULT_OK % (plugin.slot, event_id, index))
            return True
        if not send_reply(plugin, event_id, index, reply, position == last):
            return False
    if not callbacks and plugin.page is not None:
        record_progress(plugin, event_id)
    return True


def send_reply(plugin, event_id, index, reply, last):
    """Sends a callback's answer other than the common success; for the event's `last`
    callback its id goes on the page first. Returns False when a failed stopOnError
    callback stops the plugin."""
    reply = dict(reply, type="result", slot=plugin.slot, id=event_id, callback=index)
    line = (json.dumps(reply) + "\n").encode("utf-8")
    if (
        not reply["ok"]
        and 0 <= index < len(plugin.callbacks)
        and plugin.callbacks[index].stop_on_error
    ):
        send_result(plugin, line)
        return False
    if last and plugin.page is not None:
        record_progress(plugin, event_id)
    send_result(plugin, line)
    return True


class ProgressPage(object):
    """A progress page written through a memory mapping: appending an id is a copy into the
    mapping, not a system call (the kernel's page cache holds it either way, so it survives
    a crash of this process, and the daemon's reads see it at once).

    Only a window of WINDOW bytes at the end of the file is mapped, moved on as it fills,
    so the process's memory does not grow with the page. The file is made longer ahead of
    the writes, with space the file system allocates at once (posix_fallocate: a full disk
    fails here, cleanly, not as SIGBUS when a write touches the mapping); that room holds
    zero bytes, which readers ignore. Only this process shortens the file (``empty``), so no
    mapped byte ever lies past its end."""

    WINDOW = 64 << 10

    def __init__(self, path):
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(path, flags, 0o600)
        self.map = None
        try:
            # Lines already there (an earlier process, or the daemon) stay; a torn last
            # line and the zero room after the last line are written over.
            self._move(self._after_last_line(), 0)
        except BaseException:
            os.close(self._fd)
            raise

    def _after_last_line(self):
        """Where the next line goes: just after the file's last newline (read backwards in
        blocks, so a long page is not read whole)."""
        end = os.fstat(self._fd).st_size
        while end > 0:
            start = max(0, end - 8192)
            block = os.pread(self._fd, end - start, start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
        return 0

    def _move(self, at, length):
        """Maps a window that starts at or before `at` and has room for `length` bytes
        there, with room reserved; the mapping's position is where the next line goes."""
        base = at - at % mmap.ALLOCATIONGRANULARITY
        size = max(self.WINDOW, at + length - base + self.WINDOW)
        os.posix_fallocate(self._fd, base, size)
        if self.map is not None:
            self.map.close()
            self.map = None
        self.map = mmap.mmap(self._fd, size, offset=base)
        self.map.seek(at - base)
        self._base = base

    def write(self, line):
        """Appends a line: one copy into the mapping (``map.write``, which writes nothing
        and raises ValueError when the window is full), else into the next window."""
        try:
            self.map.write(line)
        except ValueError:
            self._move(self._base + self.map.tell(), len(line))
            self.map.write(line)

    def empty(self):
        """Drops every line: the file is made empty (then room is reserved again)."""
        if self.map is not None:
            self.map.close()
            self.map = None
        os.ftruncate(self._fd, 0)
        self._move(0, 0)

    def close(self):
        try:
            if self.map is not None:
                self.map.close()
        finally:
            os.close(self._fd)


def drop_page(plugin):
    """Closes the plugin's page, if it keeps one; it then waits for `run` again."""
    page, plugin.page = plugin.page, None
    if page is not None:
        try:
            page.close()
        except (OSError, ValueError):
            pass


def record_progress(plugin, event_id):
    """Appends the finished event's id to the plugin's progress page. When the page cannot
    be written the plugin goes back to waiting for `run`, and the host is told."""
    page = plugin.page
    try:
        line = b"%d\n" % event_id
        try:
            page.map.write(line)  # the common case, one copy: the window has room
        except ValueError:
            page.write(line)
    except (OSError, ValueError, TypeError) as err:
        report_done(plugin)  # what finished before this is on the page
        drop_page(plugin)
        CHANNEL.send(
            {
                "type": "paged",
                "slot": plugin.slot,
                "ok": False,
                "error": "could not record event %r on the progress page: %s" % (event_id, err),
            }
        )


# Rows a process shared by a folder's plugins keeps, so that the host ships each event's row
# once: an entry with ``keep`` is kept (the oldest dropped beyond ROWS_KEPT), an entry with
# ``held`` names one kept before. The host mirrors this list exactly (its wire::ROWS_KEPT).
ROWS_KEPT = 256
ROWS = {}
ROW_ORDER = collections.deque()


def take_row(entry, converter):
    """The event of an entry: converted now, or the one kept for an earlier entry."""
    event_id, _, row, extras, keep = entry
    if row is None:
        return ROWS[event_id]
    if extras is not None:
        converter.convert(row, extras)
    if keep:
        if len(ROW_ORDER) >= ROWS_KEPT:
            ROWS.pop(ROW_ORDER.popleft(), None)
        ROWS[event_id] = row
        ROW_ORDER.append(event_id)
    return row


def receive_events(message, converter):
    """Takes an ``events`` message: with a progress page each entry runs now, and a ``done``
    goes out halfway through and at the end, so the host can ship more before this runs dry;
    without one each entry waits for its ``run``."""
    plugin = PLUGINS.get(message["slot"])
    entries = converter.load(message["payload"])
    half = len(entries) // 2
    done = 0
    if plugin is not None and plugin.page is not None and not plugin.stopped:
        done = run_ahead(plugin, entries, half, converter)
    for position in range(done + 1, len(entries) + 1):
        entry = entries[position - 1]
        if plugin is None or plugin.stopped:
            # Shipped before the host heard of the stop (it ships them again); kept rows
            # are still counted, as the host counts them.
            if entry[4]:
                take_row(entry, converter)
            continue
        event_id, callbacks, row, extras, keep = entry
        if row is None or extras is not None or keep:
            row = take_row(entry, converter)
        if plugin.page is None:
            plugin.ahead.append((event_id, row))
        elif not run_event(plugin, event_id, row, callbacks):
            # Stopped: the rest must not run; the host resumes the plugin when it may.
            plugin.stopped = True
        plugin.entries += 1
        if position == half:
            report_done(plugin)
    report_done(plugin)


def run_ahead(plugin, entries, half, converter):
    """receive_events' loop while the plugin runs ahead with its progress page: what
    run_event and run_callback do for each entry, with what cannot change between two
    entries looked up once. Returns how many entries it took; it stops after a stop or a
    lost page, and receive_events takes the rest."""
    callbacks = plugin.callbacks
    count = len(callbacks)
    logger = plugin.logger
    enabled = logger.isEnabledFor
    session = STATE["use_session_uuid"]
    page = plugin.page
    write = page.map.write
    position = 0
    STATE["current"] = plugin
    try:
        for entry in entries:
            event_id, indexes, row, extras, keep = entry
            if row is None:
                row = ROWS[event_id]
            elif extras is not None or keep:
                row = take_row(entry, converter)
            position += 1
            index = indexes[0] if len(indexes) == 1 else -1
            if event_id.__class__ is not int or not 0 <= index < count:
                if not run_event(plugin, event_id, row, indexes):
                    plugin.stopped = True
                STATE["current"] = plugin
            else:
                callback = callbacks[index]
                if enabled(logging.DEBUG):
                    logger.debug("Dispatching event %s to callback %s.", row.get("id"), callback.name)
                if session:
                    callback.sg.set_session_uuid(row.get("session_uuid"))
                try:
                    callback.function(callback.sg, callback.logger, row, callback.args)
                    reply = OK
                except BaseException as err:
                    reply = callback_failed(callback, err)
                # As flush_streams, inline: this runs once per event.
                out = sys.stdout
                if out.__class__ is not PrintStream or out._buffer:
                    out.flush()
                out = sys.stderr
                if out.__class__ is not PrintStream or out._buffer:
                    out.flush()
                if reply is not OK:
                    if not send_reply(plugin, event_id, index, reply, True):
                        plugin.stopped = True
                else:
                    try:
                        write(b"%d\n" % event_id)  # one copy: the window has room
                    except ValueError:
                        record_progress(plugin, event_id)
                        if plugin.page is None:
                            send_result(plugin, RESULT_OK % (plugin.slot, event_id, index))
                        else:
                            write = plugin.page.map.write
            plugin.entries += 1
            if position == half:
                report_done(plugin)
            if plugin.stopped or plugin.page is not page:
                break
    finally:
        STATE["current"] = None
    return position


def open_page(message):
    """``page``: from now on, run shipped events at once and record each finished one on the
    progress page at ``path``."""
    plugin = PLUGINS[message["slot"]]
    try:
        page = ProgressPage(message["path"])
    except (OSError, ValueError) as err:
        return {"type": "paged", "slot": plugin.slot, "ok": False, "error": str(err)}
    drop_page(plugin)
    plugin.page = page
    plugin.ahead.clear()
    return {"type": "paged", "slot": plugin.slot, "ok": True, "error": None}


def empty_page(message):
    """``empty_page``: the daemon's cursor covers every id on the page."""
    plugin = PLUGINS[message["slot"]]
    if plugin.page is None:
        return {"type": "paged", "slot": plugin.slot, "ok": False, "error": "no progress page"}
    try:
        plugin.page.empty()
    except (OSError, ValueError) as err:
        drop_page(plugin)
        return {"type": "paged", "slot": plugin.slot, "ok": False, "error": str(err)}
    return {"type": "paged", "slot": plugin.slot, "ok": True, "error": None}


def run_shipped(message, converter):
    plugin = PLUGINS[message["slot"]]
    wanted = message["id"]
    ahead = plugin.ahead
    # Events shipped before this one were skipped by the daemon: drop them.
    while ahead:
        event_id, row = ahead.popleft()
        if event_id == wanted:
            run_event(plugin, wanted, row, message["callbacks"])
            return
    raise ValueError("event %r was not shipped before `run`" % (wanted,))


def handle(message, converter):
    kind = message.get("type")
    if kind == "events":
        receive_events(message, converter)
        return None
    if kind == "run":
        run_shipped(message, converter)
        return None
    if kind == "resume":
        plugin = PLUGINS[message["slot"]]
        plugin.stopped = False
        plugin.ahead.clear()
        # The host counts entries afresh from here, as this does.
        plugin.entries = 0
        plugin.reported = 0
        return None
    if kind == "page":
        return open_page(message)
    if kind == "empty_page":
        return empty_page(message)
    if kind == "configure":
        STATE["site_url"] = message.get("site_url")
        STATE["proxy"] = message.get("proxy")
        STATE["use_session_uuid"] = bool(message.get("use_session_uuid"))
        STATE["log_level"] = int(message.get("log_level") or logging.INFO)
        return None
    if kind == "load":
        slot = message["slot"]
        try:
            return load_plugin(slot, message["name"], message["path"])
        except LoadFailure as failure:
            return {
                "type": "load_failed",
                "slot": slot,
                "kind": failure.kind,
                "message": failure.message,
                "detail": failure.detail,
            }
    if kind == "unload":
        plugin = PLUGINS.pop(message["slot"], None)
        if plugin is not None:
            drop_page(plugin)
        return {"type": "unloaded", "slot": message["slot"]}
    raise ValueError("unknown message type %r" % (kind,))


def set_process_name(name):
    """Names the process ``sg-<plugin>`` in ps/top (Linux; 15 bytes at most)."""
    try:
        with open("/proc/self/comm", "w") as handle:
            handle.write(("sg-" + name)[:15])
    except (OSError, ValueError):
        pass


def fix_sys_path():
    """Running a file puts its folder (our cache) on sys.path, -c the working directory;
    upstream adds neither, so neither do we."""
    here = os.path.dirname(os.path.realpath(__file__)) if "__file__" in globals() else None
    if sys.path and (sys.path[0] in ("", "-c") or os.path.realpath(sys.path[0]) == here):
        del sys.path[0]


def hello_message():
    hello = {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "pid": os.getpid(),
        "python": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
        "shotgun_api3": getattr(shotgun_api3, "__version__", "unknown")
        if shotgun_api3 is not None
        else None,
    }
    if SG_IMPORT_ERROR is not None:
        hello["error"] = SG_IMPORT_ERROR
    return hello


def main():
    global CHANNEL
    if len(sys.argv) > 1:
        set_process_name(sys.argv[1])
    CHANNEL = take_channel()
    faulthandler.enable(file=sys.__stderr__)
    CHANNEL.send(hello_message())
    if shotgun_api3 is None:
        return 3

    root = logging.getLogger()
    root.addHandler(ForwardHandler())
    sys.stdout = PrintStream(logging.INFO, "plugin")
    sys.stderr = PrintStream(logging.WARNING, "plugin")
    converter = EventConverter()

    while True:
        message = CHANNEL.receive()
        if message is None or message.get("type") == "shutdown":
            break
        try:
            reply = handle(message, converter)
        except Exception:
            CHANNEL.send(
                {
                    "type": "log",
                    "logger": "sgevents.runner",
                    "level": logging.ERROR,
                    "message": "The runner could not handle a %r message:\n%s"
                    % (message.get("type"), traceback.format_exc()),
                }
            )
            reply = None
            if message.get("type") == "run":
                # Answer every callback, so the daemon is not left waiting.
                for index in message.get("callbacks") or ():
                    CHANNEL.send(
                        {
                            "type": "result",
                            "slot": message.get("slot"),
                            "id": message.get("id"),
                            "callback": index,
                            "ok": False,
                            "error": "the runner could not run this event (see the log)",
                        }
                    )
        if reply is not None:
            CHANNEL.send(reply)
    return 0


# ----------------------------------------------------------------------------------------
# The fork server: imports done once, one forked runner per plugin process.


def fork_server():
    """``--fork-server``: answers ``fork`` requests (with the new runner's channel, stdout
    and stderr passed as descriptors) with ``forked``, and reports each child's end with
    ``exited``. A forked child goes on as a normal runner. Returns the exit code, or None
    in a forked child once it is ready to run ``main()``."""
    control = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    set_process_name("forkserver")

    def send(message):
        control.sendall((json.dumps(message) + "\n").encode("utf-8"))

    send(hello_message())
    if shotgun_api3 is None:
        return 3
    prepare_children()
    # Objects imported so far stay out of the collector's way, so children keep sharing
    # their pages instead of copying them when a collection touches them.
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    int_size = array.array("i").itemsize
    buffer = b""
    fds = []
    while True:
        ready, _, _ = select.select([control, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 512)
            reap_children(send)
        if control not in ready:
            continue
        data, ancillary, _, _ = control.recvmsg(65536, socket.CMSG_LEN(16 * int_size))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                got = array.array("i")
                got.frombytes(payload[: len(payload) - (len(payload) % int_size)])
                fds.extend(got)
        if not data:
            return 0
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line.decode("utf-8"))
            if request.get("type") != "fork" or len(fds) < 3:
                continue
            passed, fds = fds[:3], fds[3:]
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.close(wake_r)
                os.close(wake_w)
                control.close()
                become_runner(passed, request.get("name") or "plugin")
                return None
            try:
                os.setpgid(pid, pid)  # the child does it too; whoever is first wins
            except OSError:
                pass
            for fd in passed:
                os.close(fd)
            send({"type": "forked", "pid": pid})


def prepare_children():
    """Imports and runs once, before any fork, what every child would otherwise import or
    run for the first time on its own: a module imported in a child is private to it, and
    so is each function whose bytecode Python specializes there (3.11+ rewrites a
    function's code in place on its first calls). Nothing here touches the network or
    changes what a child sees; a failure only costs memory, so it is ignored."""
    try:
        # shotgun_api3's HTTP client encodes the site's host name with the idna codec on
        # its first request (which registerCallback makes); it imports unicodedata and
        # stringprep, about 0.9 MB in every child.
        import encodings.idna  # noqa: F401
    except Exception:
        pass
    try:
        # A warning the client gives here must still be given in the child, the first time.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _rehearse_request()
    except Exception:
        pass
    try:
        converter = EventConverter()
        converter.load(pickle.dumps([(1, [0], {"created_at": None}, None, False)], 4))
        converter.date(0)
        converter.convert({"a": "x &lt; y"}, {"unescape": ["a"]})
    except Exception:
        pass
    # The rehearsal's debug call left an answer in a logger's level cache, which only
    # setLevel() empties: a plugin that sets `.level` directly must not meet it.
    logging.getLogger().setLevel(logging.getLogger().level)


class _CannedSocket(object):
    """What http.client.HTTPResponse reads a canned reply from."""

    def __init__(self, data):
        self._data = data

    def makefile(self, *args, **kwargs):
        import io

        return io.BytesIO(self._data)


def _rehearse_request():
    """The steps of a shotgun_api3 call that need no server: the client's set-up, the
    request's encoding, the reply's parsing and decoding."""
    # Imported here, not at the top: measured, the module-level names cost every child
    # about 0.2 MB more (where objects land decides which pages children copy).
    import http.client
    import urllib.parse

    sg = shotgun_api3.Shotgun(
        "https://warm-up.invalid", "warm-up", "warm-up", connect=False
    )
    params = sg._transform_outbound({"filters": [["id", "is", 1]], "fields": ["id"]})
    sg._encode_payload(sg._build_payload("info", params, include_auth_params=True))
    body = b'{"results": {"version": [8, 0, 0], "s3_uploads_enabled": true}}'
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
        b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n%s" % (len(body), body)
    )
    response = http.client.HTTPResponse(_CannedSocket(reply))
    response.begin()
    decoded = sg._decode_response(dict(response.getheaders()), response.read())
    sg._response_errors(decoded)
    sg._transform_inbound(decoded)
    urllib.parse.urljoin("https://warm-up.invalid/api3/json", "/api3/json")
    urllib.parse.urlsplit("https://warm-up.invalid/api3/json")
    "warm-up.invalid".encode("idna")
    # Below the level in force: nothing is written anywhere.
    logging.getLogger("shotgun_api3").debug("warm-up")


def reap_children(send):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        message = {"type": "exited", "pid": pid}
        if os.WIFSIGNALED(status):
            message["signal"] = os.WTERMSIG(status)
        else:
            message["code"] = os.WEXITSTATUS(status)
        send(message)


def become_runner(fds, name):
    """In a forked child: its own process group, the passed channel on fd 0 and the passed
    pipes on fds 1 and 2, as if the daemon had started it."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    for target, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.argv = [sys.argv[0], name]


if __name__ == "__main__":
    fix_sys_path()
    if sys.argv[1:] == ["--fork-server"]:
        code = fork_server()
        if code is None:
            code = main()
    else:
        code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
    finally:
        # Threads a plugin left running must not keep the process alive.
        os._exit(code)
