"""lifeline for Python: the C ABI (liblifeline.so.1 / lifeline.dll) through ctypes.

Standard library only. The library is looked for in $LIFELINE_LIBRARY, then
beside this file, then by the system's loader.

    import lifeline
    with lifeline.Client(servers="127.0.0.1:7000", id="py-1", label=["team=ops"]) as c:
        for ev in c.events(timeout=1.0):          # an iterator over events
            if ev.type == "state" and ev.state == "online":
                c.send(b"hello")

Every failing call raises lifeline.Error, whose message is the library's own
(ll_last_error) and whose .status is the LL_ERR_* code.
"""
import ctypes
import ctypes.util
import os
import sys

__all__ = ["Error", "Client", "Server", "Event", "library"]

OK, ERR_INVALID, ERR_STATE, ERR_NOT_FOUND, ERR_TIMEOUT, ERR_SYSTEM, ERR_HANDLE, ERR_INTERNAL = range(8)
_EVENT_TYPES = {1: "state", 2: "data", 3: "presence", 4: "list", 5: "overflow"}
_TEXT = {"id": 1, "remote": 2, "kind": 3, "reason": 4, "server": 5, "labels": 7, "transport": 8, "instance": 9,
         "node": 10}
_NUM = {"state": 20, "previous_state": 21, "seq": 22, "session": 23, "at_ms": 24, "last_seen_ms": 25,
        "since_ms": 26, "rtt_us": 27, "interval_ms": 28, "timeout_ms": 29, "count": 30, "online": 31,
        "request_id": 32, "attempts": 33, "degraded": 34}
_STATE_NAMES = ["disconnected", "connecting", "online", "reconnecting", "stopped"]


class Error(Exception):
    """A call the library refused: .status (LL_ERR_*) and the library's message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _load():
    names = []
    if os.environ.get("LIFELINE_LIBRARY"):
        names.append(os.environ["LIFELINE_LIBRARY"])
    here = os.path.dirname(os.path.abspath(__file__))
    names += [os.path.join(here, "lifeline.dll" if sys.platform == "win32" else "liblifeline.so.1")]
    names += [ctypes.util.find_library("lifeline") or "liblifeline.so.1"]
    last = None
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError as e:
            last = e
    raise ImportError("lifeline: cannot load the C library (set LIFELINE_LIBRARY): %s" % last)


library = _load()
_c_event_p = ctypes.c_void_p
_P = ctypes.POINTER
for _name, _res, _args in [
    ("ll_version", ctypes.c_char_p, []), ("ll_abi_version", ctypes.c_int, []),
    ("ll_last_error", ctypes.c_char_p, []), ("ll_strerror", ctypes.c_char_p, [ctypes.c_int]),
    ("ll_event_type", ctypes.c_int, [_c_event_p]),
    ("ll_event_str", ctypes.c_char_p, [_c_event_p, ctypes.c_int]),
    ("ll_event_int", ctypes.c_int64, [_c_event_p, ctypes.c_int]),
    ("ll_event_data", ctypes.c_void_p, [_c_event_p, _P(ctypes.c_size_t)]),
    ("ll_event_count", ctypes.c_size_t, [_c_event_p]),
    ("ll_event_entry_str", ctypes.c_char_p, [_c_event_p, ctypes.c_size_t, ctypes.c_int]),
    ("ll_event_entry_int", ctypes.c_int64, [_c_event_p, ctypes.c_size_t, ctypes.c_int]),
    ("ll_event_free", None, [_c_event_p]),
    ("ll_client_new", ctypes.c_int, [_P(ctypes.c_void_p)]),
    ("ll_client_set", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]),
    ("ll_client_start", ctypes.c_int, [ctypes.c_void_p]),
    ("ll_client_stop", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
    ("ll_client_destroy", ctypes.c_int, [ctypes.c_void_p]),
    ("ll_client_send", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]),
    ("ll_client_request_list", ctypes.c_int, [ctypes.c_void_p, ctypes.c_uint32]),
    ("ll_client_list", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, _P(ctypes.c_void_p)]),
    ("ll_client_subscribe", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
    ("ll_client_get_state", ctypes.c_int, [ctypes.c_void_p, _P(ctypes.c_int)]),
    ("ll_client_get_rtt", ctypes.c_int, [ctypes.c_void_p, _P(ctypes.c_int64)]),
    ("ll_client_error", ctypes.c_char_p, [ctypes.c_void_p]),
    ("ll_client_id", ctypes.c_char_p, [ctypes.c_void_p]),
    ("ll_client_poll", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, _P(ctypes.c_void_p)]),
    ("ll_client_wait_handle", ctypes.c_int, [ctypes.c_void_p, _P(ctypes.c_ssize_t)]),
    ("ll_server_new", ctypes.c_int, [_P(ctypes.c_void_p)]),
    ("ll_server_set", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]),
    ("ll_server_start", ctypes.c_int, [ctypes.c_void_p]),
    ("ll_server_port", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, _P(ctypes.c_int)]),
    ("ll_server_stop", ctypes.c_int, [ctypes.c_void_p]),
    ("ll_server_destroy", ctypes.c_int, [ctypes.c_void_p]),
    ("ll_server_online", ctypes.c_int, [ctypes.c_void_p, _P(ctypes.c_void_p)]),
    ("ll_server_kick", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
    ("ll_server_send", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]),
    ("ll_server_poll", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, _P(ctypes.c_void_p)]),
    ("ll_server_wait_handle", ctypes.c_int, [ctypes.c_void_p, _P(ctypes.c_ssize_t)]),
]:
    _f = getattr(library, _name)
    _f.restype, _f.argtypes = _res, _args


def _text(b):
    return b.decode("utf-8", "replace") if b is not None else ""


def _check(status):
    if status != OK:
        raise Error(status, _text(library.ll_last_error()) or _text(library.ll_strerror(status)))


def _bytes(s):
    return s if isinstance(s, bytes) else str(s).encode("utf-8")


class Event:
    """One event, copied out of the library: .type is "state", "data",
    "presence", "list" or "overflow"; the rest depends on it (.state, .id,
    .kind, .reason, .data, .entries, .count, ...; see docs/bindings.md)."""

    def __init__(self, ptr):
        lib = library
        self.type = _EVENT_TYPES.get(lib.ll_event_type(ptr), "unknown")
        for name, field in _TEXT.items():
            setattr(self, name, _text(lib.ll_event_str(ptr, field)))
        for name, field in _NUM.items():
            setattr(self, name, lib.ll_event_int(ptr, field))
        if self.type == "state":
            self.previous = _STATE_NAMES[self.previous_state]
            self.state = _STATE_NAMES[self.state]
        n = ctypes.c_size_t()
        p = lib.ll_event_data(ptr, ctypes.byref(n))
        self.data = ctypes.string_at(p, n.value) if p else b""
        self.entries = []
        for i in range(lib.ll_event_count(ptr)):
            e = {k: _text(lib.ll_event_entry_str(ptr, i, f)) for k, f in _TEXT.items() if k in
                 ("id", "remote", "labels", "transport", "node")}
            e.update({k: lib.ll_event_entry_int(ptr, i, _NUM[k]) for k in
                      ("session", "since_ms", "last_seen_ms", "rtt_us", "interval_ms", "timeout_ms")})
            e["labels"] = dict(kv.split("=", 1) for kv in e["labels"].split("\n") if kv)
            self.entries.append(e)

    def __repr__(self):
        keys = {"state": ("state", "server", "reason"), "data": ("id", "data"), "presence": ("kind", "id", "reason"),
                "list": ("online", "node", "entries"), "overflow": ("count",)}.get(self.type, ())
        return "Event(%s)" % ", ".join([self.type] + ["%s=%r" % (k, getattr(self, k)) for k in keys])


def _take(ptr):
    try:
        return Event(ptr)
    finally:
        library.ll_event_free(ptr)


class _Handle:
    _prefix = ""

    def __init__(self, **options):
        self._h = None  # close() and __del__ must work even if the next line fails
        h = ctypes.c_void_p()
        _check(getattr(library, self._prefix + "new")(ctypes.byref(h)))
        self._h = h
        for key, value in options.items():
            for v in (value if isinstance(value, (list, tuple)) else [value]):
                self.set(key, v)

    def _call(self, name, *args):
        if self._h is None:
            raise Error(ERR_HANDLE, "%s%s: the handle was closed" % (self._prefix, name))
        _check(getattr(library, self._prefix + name)(self._h, *args))

    def set(self, key, value):
        """One option (lifeline.h lists the keys); booleans as True/False."""
        if isinstance(value, bool):
            value = "true" if value else "false"
        self._call("set", _bytes(key), _bytes(value))

    def poll(self, timeout=None):
        """The next event, or None after `timeout` seconds (None = wait for ever)."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        out = ctypes.c_void_p()
        status = getattr(library, self._prefix + "poll")(self._h, ms, ctypes.byref(out))
        if status == ERR_TIMEOUT:
            return None
        _check(status)
        return _take(out)

    def events(self, timeout=None):
        """Iterates over events; ends after `timeout` seconds without one (None = never)."""
        while True:
            ev = self.poll(timeout)
            if ev is None:
                return
            yield ev

    def wait_handle(self):
        """An fd (Linux) or HANDLE (Windows) that is ready while an event is queued."""
        out = ctypes.c_ssize_t()
        self._call("wait_handle", ctypes.byref(out))
        return out.value

    def close(self):
        if self._h is not None:
            getattr(library, self._prefix + "destroy")(self._h)
            self._h = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Client(_Handle):
    """A client that stays connected, heartbeats and reconnects by itself.
    Keyword arguments are options: Client(servers="h:p", id="x", label=["k=v"])."""
    _prefix = "ll_client_"

    def start(self):
        self._call("start")

    def stop(self, timeout=1.0):
        """Says BYE and stops reconnecting."""
        self._call("stop", int(timeout * 1000))

    def send(self, data):
        b = _bytes(data)
        self._call("send", b, len(b))

    def request_list(self, request_id=0):
        self._call("request_list", request_id)

    def list(self, timeout=2.0):
        """The online list, as a "list" Event with .entries."""
        out = ctypes.c_void_p()
        self._call("list", int(timeout * 1000), ctypes.byref(out))
        return _take(out)

    def subscribe(self, snapshot=False):
        self._call("subscribe", 1 if snapshot else 0)

    @property
    def state(self):
        s = ctypes.c_int()
        self._call("get_state", ctypes.byref(s))
        return _STATE_NAMES[s.value]

    @property
    def rtt_us(self):
        v = ctypes.c_int64()
        self._call("get_rtt", ctypes.byref(v))
        return None if v.value < 0 else v.value

    @property
    def id(self):
        return _text(library.ll_client_id(self._h))

    @property
    def error(self):
        return _text(library.ll_client_error(self._h))


class Server(_Handle):
    """A lifeline server in this process. Keyword arguments are options."""
    _prefix = "ll_server_"

    def start(self):
        self._call("start")

    def stop(self):
        self._call("stop")

    def port(self, index=0):
        p = ctypes.c_int()
        self._call("port", index, ctypes.byref(p))
        return p.value

    def online(self):
        out = ctypes.c_void_p()
        self._call("online", ctypes.byref(out))
        return _take(out)

    def kick(self, id):
        self._call("kick", _bytes(id))

    def send(self, id, data):
        b = _bytes(data)
        self._call("send", _bytes(id), b, len(b))


def version():
    return _text(library.ll_version())
