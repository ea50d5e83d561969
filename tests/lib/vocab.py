"""The JSON vocabulary of docs/json.md, as one checker that every test of a JSON output uses
(ls --json, watch --json, agent --json, --log-format json). check(obj, kind) raises
AssertionError naming the first field that breaks the documented vocabulary: an unknown
field, a wrong type, a time that is not RFC 3339 UTC, the value "none" where a field
should be absent, or a missing schema version."""
import re

VERSION = 1
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
PEER = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.%a-z0-9]+\]):\d{1,5}$")
KINDS = {"online", "offline", "takeover", "gap", "join", "leave", "moved", "resumed"}
TRANSPORTS = {"tcp", "tls", "ws", "wss"}
REASONS = {"bye", "closed", "reset", "timeout", "replaced", "kicked", "shutdown", "rejected", "protocol", "node_lost"}
STATES = {"disconnected", "connecting", "online", "reconnecting", "stopped"}


def _time(v):
    return isinstance(v, str) and TIME.match(v) is not None


def _uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _str(v):
    return isinstance(v, str) and v != ""


def _labels(v):
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())


CLIENT = {  # one entry of a list (ls, watch --snapshot)
    "id": (True, _str), "peer": (True, lambda v: isinstance(v, str) and PEER.match(v) is not None),
    "since": (True, _time), "last_seen": (True, _time), "rtt_us": (False, lambda v: _uint(v) and v > 0),
    "interval_ms": (True, _uint), "timeout_ms": (True, _uint), "labels": (True, _labels),
    "transport": (True, lambda v: v in TRANSPORTS), "session": (False, lambda v: isinstance(v, int) and v > 0),
    "node": (False, _str),  # a cluster's entry (docs/cluster.md)
    # the admin API's list (docs/api.md) says more of each client
    "online": (False, lambda v: v is True),
}
OFFLINE_CLIENT = {  # a known client that is not online (admin API, ?state=all)
    "id": (True, _str), "online": (True, lambda v: v is False),
    "peer": (False, lambda v: isinstance(v, str) and PEER.match(v) is not None),
    "last_seen": (True, _time), "offline_at": (True, _time), "reason": (False, lambda v: v in REASONS | {"server_lost"}),
}
SCHEMAS = {
    "list": {"v": (True, None), "online": (True, _uint), "seq": (True, _uint),
             "instance": (True, lambda v: isinstance(v, str) and HEX16.match(v) is not None),
             "clients": (True, lambda v: isinstance(v, list)), "next": (False, _str),
             "cluster": (False, lambda v: isinstance(v, dict) and _str(v.get("node"))
                         and isinstance(v.get("degraded"), bool) and len(v) == 2)},
    "event": {"v": (True, None), "seq": (True, _uint), "kind": (True, lambda v: v in KINDS), "at": (True, _time),
              "instance": (True, lambda v: isinstance(v, str) and HEX16.match(v) is not None),
              "id": (False, _str), "peer": (False, _str), "reason": (False, lambda v: v in REASONS),
              "session": (False, lambda v: isinstance(v, int) and v > 0), "transport": (False, lambda v: v in TRANSPORTS),
              "last_seen": (False, _time), "node": (False, _str)},
    "agent": {"v": (True, None), "at": (True, _time), "id": (True, lambda v: isinstance(v, str)),
              "state": (True, lambda v: v in STATES), "from": (True, lambda v: v in STATES),
              "server": (False, _str), "reason": (False, _str), "interval_ms": (False, _uint),
              "timeout_ms": (False, _uint), "attempts": (False, _uint),
              "tls": (False, lambda v: v in {"full", "resumed"})},
    "log": {"v": (True, None), "at": (True, _time),
            "level": (True, lambda v: v in {"trace", "debug", "info", "warning", "error", "critical"}),
            "msg": (True, lambda v: isinstance(v, str)), "kind": (False, _str), "cause": (False, _str)},
}


def check(obj, kind):
    """Checks obj against the vocabulary of `kind` (list, event, agent, log); returns obj."""
    def fail(msg):
        raise AssertionError("JSON %s breaks docs/json.md: %s in %r" % (kind, msg, obj))
    if not isinstance(obj, dict):
        fail("not an object")
    if obj.get("v") != VERSION:
        fail("schema version v=%r, expected %d" % (obj.get("v"), VERSION))
    schema = SCHEMAS[kind]
    for key, value in obj.items():
        if value in ("none", None, ""):
            fail("field %r is %r: an empty field is absent, not spelled out" % (key, value))
        if key not in schema:
            if kind == "log" and re.match(r"^[a-z_]+$", key) and isinstance(value, str):
                continue  # a log line's key=value fields (id, peer, reason, ...) are strings
            fail("unknown field %r" % key)
        valid = schema[key][1]
        if valid is not None and not valid(value):
            fail("field %r has an invalid value %r" % (key, value))
    for key, (required, _) in schema.items():
        if required and key not in obj:
            fail("required field %r is missing" % key)
    if kind == "list":
        for c in obj["clients"]:
            schema = OFFLINE_CLIENT if c.get("online") is False else CLIENT
            for key, value in c.items():
                if key not in schema or not schema[key][1](value):
                    fail("client field %r=%r" % (key, value))
            for key, (required, _) in schema.items():
                if required and key not in c:
                    fail("client field %r is missing" % key)
    if kind == "event" and obj["kind"] != "gap" and "id" not in obj:
        fail("a %s event without an id" % obj["kind"])
    if kind == "event" and (obj["kind"] in ("offline", "leave")) != ("reason" in obj):
        fail("reason on a %s event (only offline and leave events have one)" % obj["kind"])
    return obj
