"""A lifeline protocol client (versions 1 and 2), written from docs/protocol.md alone (stdlib only).

    c = Client("127.0.0.1", port)
    c.hello(id="sensor-7", interval_ms=1000, timeout_ms=3000, labels={"room": "lab"}, version=2)
    rtt = c.ping(); c.send(DATA, data=b"hello"); c.bye()
"""
import collections
import socket
import struct
import time

HELLO, WELCOME, PING, PONG, DATA, BYE, ERROR, LIST, LIST_REPLY, SUBSCRIBE, EVENT = range(1, 12)
NAMES = dict(enumerate("HELLO WELCOME PING PONG DATA BYE ERROR LIST LIST_REPLY SUBSCRIBE EVENT".split(), 1))
SERVER_PINGS, OBSERVER = 1, 2                         # HELLO/WELCOME flag bits
ONLINE, OFFLINE, TAKEOVER, GAP = 1, 2, 3, 4           # EVENT kinds (GAP: version 2)
SNAPSHOT, RESUME = 1, 2                               # SUBSCRIBE flag bits (version 2)
REASONS = dict(enumerate("bye closed reset timeout replaced kicked shutdown rejected protocol".split(), 1))
ERRORS = dict(enumerate("malformed too_large unknown_type handshake_required handshake_timeout "
                        "unsupported_version rejected flood slow_consumer shutting_down too_many_connections "
                        "unauthorized".split(), 1))
# (min, max) payload length per type (section 2); DATA's max is a server setting.
LIMITS = {HELLO: (14, 4096), WELCOME: (20, 1024), PING: (8, 8), PONG: (8, 8), DATA: (0, 65536),
          BYE: (3, 1024), ERROR: (4, 1024), LIST: (4, 4), LIST_REPLY: (11, 1 << 20),
          SUBSCRIBE: (0, 21), EVENT: (22, 4096)}

# Payload layouts (section 3). B/H/I/Q: big-endian unsigned ints, s: str16,
# L: u16 count + str16 key/value pairs, E: u16 count + LIST_REPLY entries, *: rest (opaque).
ENTRY = [("id", "s"), ("remote", "s"), ("since_ms", "Q"), ("last_seen_ms", "Q"), ("rtt_us", "I"),
         ("interval_ms", "I"), ("timeout_ms", "I"), ("labels", "L")]
LAYOUTS = {
    HELLO: [("version", "B"), ("flags", "B"), ("interval_ms", "I"), ("timeout_ms", "I"),
            ("id", "s"), ("labels", "L")],
    WELCOME: [("version", "B"), ("flags", "B"), ("interval_ms", "I"), ("timeout_ms", "I"),
              ("session", "Q"), ("id", "s")],
    PING: [("t_us", "Q")], PONG: [("t_us", "Q")], DATA: [("data", "*")],
    BYE: [("reason", "B"), ("text", "s")], ERROR: [("code", "H"), ("message", "s")],
    LIST: [("request_id", "I")],
    LIST_REPLY: [("request_id", "I"), ("last", "B"), ("online", "I"), ("entries", "E")],
    SUBSCRIBE: [],
    EVENT: [("seq", "Q"), ("kind", "B"), ("reason", "B"), ("at_ms", "Q"), ("id", "s"), ("remote", "s")],
}
# Version 2 (section 9) appends fields; SUBSCRIBE gets a payload, which may also be empty.
V2_TAIL = {WELCOME: [("instance", "Q")], EVENT: [("instance", "Q")], LIST_REPLY: [("seq", "Q"), ("instance", "Q")]}
V2_SUBSCRIBE = [("request_id", "I"), ("flags", "B"), ("instance", "Q"), ("after_seq", "Q")]


def layout(ftype, version, payload=None, fields=None):
    """The payload layout of `ftype` in `version`; WELCOME names its own version in its first byte."""
    if ftype == WELCOME:
        version = payload[0] if payload else fields["version"]
    if ftype == SUBSCRIBE:
        has_payload = bool(payload) if payload is not None else bool(fields)
        return V2_SUBSCRIBE if version >= 2 and has_payload else []
    return LAYOUTS[ftype] + (V2_TAIL.get(ftype, []) if version >= 2 else [])


class ProtocolError(Exception):
    """The peer sent something this protocol does not allow."""


class ServerError(Exception):
    """The server sent ERROR (it closes the connection next)."""
    def __init__(self, frame):
        super().__init__("ERROR %s (%d): %s" % (ERRORS.get(frame["code"], "?"), frame["code"], frame["message"]))
        self.code, self.message = frame["code"], frame["message"]


class Closed(Exception):
    """The server closed the connection (after BYE, if `bye` is set)."""
    def __init__(self, bye=None):
        super().__init__("closed by server" + (" with BYE %s %r" % (REASONS.get(bye["reason"]), bye["text"]) if bye else ""))
        self.bye = bye


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def _pack(layout, fields):
    out = b""
    for name, kind in layout:
        v = fields[name]
        if kind in "BHIQ":
            out += struct.pack(">" + kind, v)
        elif kind == "s":
            out += _str(v)
        elif kind == "L":
            pairs = list(v.items() if isinstance(v, dict) else v)
            out += struct.pack(">H", len(pairs)) + b"".join(_str(k) + _str(x) for k, x in pairs)
        elif kind == "E":
            out += struct.pack(">H", len(v)) + b"".join(_pack(ENTRY, e) for e in v)
        else:
            out += bytes(v)
    return out


def encode(ftype, *, layout_version=1, **fields):
    """One complete frame: 4-byte length, 1-byte type, payload (in `layout_version`'s layout)."""
    payload = _pack(layout(ftype, layout_version, fields=fields), fields)
    return struct.pack(">IB", len(payload), ftype) + payload


def _unpack(layout, buf, pos):
    fields = {}
    for name, kind in layout:
        if kind in "BHIQ":
            (fields[name],), pos = struct.unpack_from(">" + kind, buf, pos), pos + struct.calcsize(">" + kind)
        elif kind == "s":
            (n,) = struct.unpack_from(">H", buf, pos)
            if pos + 2 + n > len(buf):
                raise struct.error("string runs past the payload")
            fields[name], pos = bytes(buf[pos + 2:pos + 2 + n]).decode(), pos + 2 + n
        elif kind in "LE":
            (count,), pos, items = struct.unpack_from(">H", buf, pos), pos + 2, []
            for _ in range(count):
                item, pos = _unpack([("k", "s"), ("v", "s")] if kind == "L" else ENTRY, buf, pos)
                items.append(item)
            fields[name] = {i["k"]: i["v"] for i in items} if kind == "L" else items
        else:
            fields[name], pos = bytes(buf[pos:]), len(buf)
    return fields, pos


def decode(ftype, payload, version=1):
    """Payload -> dict of fields plus 'type'; ProtocolError if it does not parse exactly."""
    if ftype not in LAYOUTS:
        raise ProtocolError("unknown frame type 0x%02x" % ftype)
    try:
        fields, end = _unpack(layout(ftype, version, payload=payload), payload, 0)
    except (struct.error, UnicodeDecodeError) as e:
        raise ProtocolError("malformed %s: %s" % (NAMES[ftype], e))
    if end != len(payload):
        raise ProtocolError("malformed %s: %d trailing bytes" % (NAMES[ftype], len(payload) - end))
    fields["type"] = ftype
    return fields


class FrameReader:
    """Incremental decoder: feed() any split of the byte stream, next() yields whole frames."""
    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data

    def next(self):
        """(type, payload) of the next complete frame, or None if more bytes are needed."""
        if len(self.buf) < 5:
            return None
        length, ftype = struct.unpack_from(">IB", self.buf)
        if ftype not in LIMITS:               # checked from the header alone, like the server does
            raise ProtocolError("unknown frame type 0x%02x" % ftype)
        lo, hi = LIMITS[ftype]
        if not lo <= length <= hi:
            raise ProtocolError("%s length %d outside %d..%d" % (NAMES[ftype], length, lo, hi))
        if len(self.buf) < 5 + length:
            return None
        payload = bytes(self.buf[5:5 + length])
        del self.buf[:5 + length]
        return ftype, payload


class Client:
    def __init__(self, host, port, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout, self.reader, self.backlog = timeout, FrameReader(), collections.deque()
        self.welcome, self.pings_answered, self.version = None, 0, 1
        self.answer_pings = True  # section 4: either side answers every PING it receives

    @property
    def local(self):
        return "%s:%d" % self.sock.getsockname()[:2]

    def send(self, ftype, **fields):
        self.sock.sendall(encode(ftype, layout_version=self.version, **fields))

    def recv_frame(self, timeout=None):
        """Next frame as a dict, None on EOF; socket.timeout if none arrives in time.
        PINGs are answered and skipped unless answer_pings is False."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            frame = self.reader.next()
            if frame:
                f = decode(*frame, version=self.version)
                if f["type"] == PING and self.answer_pings:
                    self.send(PONG, t_us=f["t_us"])
                    self.pings_answered += 1
                    continue
                return f
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("no frame within %.2f s" % (self.timeout if timeout is None else timeout))
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                return None
            self.reader.feed(data)

    def expect(self, *types, timeout=None):
        """Next frame of one of `types`. Meanwhile answers PINGs, drops stray PONGs,
        raises on ERROR, BYE or EOF, and sets other frames aside for later calls."""
        for f in list(self.backlog):
            if f["type"] in types:
                self.backlog.remove(f)
                return f
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                raise Closed()
            if f["type"] in types:
                return f
            if f["type"] == PING:
                self.send(PONG, t_us=f["t_us"])
                self.pings_answered += 1
            elif f["type"] == ERROR:
                raise ServerError(f)
            elif f["type"] == BYE:
                raise Closed(f)
            elif f["type"] != PONG:
                self.backlog.append(f)

    def hello(self, id="", flags=0, interval_ms=0, timeout_ms=0, labels=None, version=1):
        self.send(HELLO, version=version, flags=flags, interval_ms=interval_ms,
                  timeout_ms=timeout_ms, id=id, labels=labels or {})
        self.welcome = self.expect(WELCOME)
        self.version = self.welcome["version"]  # the layouts of this connection from now on
        return self.welcome

    def ping(self, timeout=None):
        """Send PING with our monotonic clock in t_us; return the round-trip time in seconds."""
        t_us = time.monotonic_ns() // 1000
        self.send(PING, t_us=t_us)
        while self.expect(PONG, timeout=timeout)["t_us"] != t_us:
            pass
        return (time.monotonic_ns() // 1000 - t_us) / 1e6

    def list(self, request_id=1, send=True):
        """(online, entries) from LIST_REPLY frames up to the one with last=1; self.list_seq is
        the seq it reflects (version 2). send=False reads a reply already asked for (a snapshot)."""
        if send:
            self.send(LIST, request_id=request_id)
        entries = []
        while True:
            f = self.expect(LIST_REPLY)
            if f["request_id"] == request_id:
                entries += f["entries"]
                if f["last"]:
                    self.list_seq = f.get("seq")
                    return f["online"], entries

    def subscribe(self, request_id=0, flags=0, instance=0, after_seq=0):
        """Live events; in version 2 also SNAPSHOT and/or RESUME after (instance, after_seq)."""
        if flags or instance or after_seq:
            self.send(SUBSCRIBE, request_id=request_id, flags=flags, instance=instance, after_seq=after_seq)
        else:
            self.send(SUBSCRIBE)

    def event(self, timeout=None):
        return self.expect(EVENT, timeout=timeout)

    def bye(self, reason=1, text=""):
        try:
            self.send(BYE, reason=reason, text=text)
        finally:
            self.close()

    def close(self):
        self.sock.close()
