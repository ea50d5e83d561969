#!/usr/bin/env python3
"""Interop test: tests/interop/client.py (written from docs/protocol.md alone) against
the real lifeline server.

    python3 tests/interop/test_interop.py --vectors-only
    python3 tests/interop/test_interop.py --lifeline build/debug/apps/lifeline/lifeline [--only NAME]

Prints one PASS/FAIL line per case and ends with "N passed, M failed"; exits 1 on any failure.
Every wait has a deadline; the server is stopped (SIGTERM, SIGKILL after 5 s) no matter what.
"""
import argparse
import atexit
import itertools
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True                          # keep the source tree clean
from client import (BYE, DATA, ERROR, ERRORS, EVENT, GAP, HELLO, LIST, LIST_REPLY, NAMES, OBSERVER,  # noqa: E402
                    OFFLINE, ONLINE, PING, PONG, REASONS, RESUME, SERVER_PINGS, SNAPSHOT, WELCOME, Client,
                    FrameReader, ProtocolError, decode, encode)

VECTORS = os.path.join(HERE, "..", "vectors", "frames.txt")
HOST = "127.0.0.1"
ERROR_CODES = {name: code for code, name in ERRORS.items()}
ID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
SERVER_ARGS = ["--interval", "100ms", "--timeout", "300ms", "--min-interval", "50ms",
               "--min-timeout", "150ms", "--tick", "10ms", "--handshake-timeout", "500ms"]


class Failure(Exception):
    pass


def check(cond, msg, *args):
    if not cond:
        raise Failure(msg % args if args else msg)


def describe(f):
    """Short human form of a decoded frame, for failure messages."""
    if f is None:
        return "EOF"
    fields = {k: (v[:16] + b"..." if isinstance(v, bytes) and len(v) > 16 else v)
              for k, v in f.items() if k != "type"}
    if f["type"] == ERROR:
        fields["code"] = "%d (%s)" % (f["code"], ERRORS.get(f["code"], "?"))
    if f["type"] in (BYE, EVENT) and "reason" in f:
        fields["reason"] = "%d (%s)" % (f["reason"], REASONS.get(f["reason"], "-"))
    return "%s %s" % (NAMES.get(f["type"], "0x%02x" % f["type"]), fields)


# ---------------------------------------------------------------- test vectors

EXPECT = {  # field values read off docs/protocol.md section 8 and frames.txt, typed in by hand
    "hello_basic": dict(version=1, flags=0, interval_ms=1000, timeout_ms=3000, id="a1", labels={"room": "lab"}),
    "hello_server_pings_noid": dict(version=1, flags=1, interval_ms=0, timeout_ms=0, id="", labels={}),
    "hello_observer": dict(version=1, flags=2, interval_ms=500, timeout_ms=1500, id="tool.ls", labels={}),
    "welcome_basic": dict(version=1, flags=0, interval_ms=1000, timeout_ms=3000, session=42, id="a1"),
    "ping": dict(t_us=0x0102030405060708), "pong": dict(t_us=0x0102030405060708),
    "data_hi": dict(data=b"hi"), "data_empty": dict(data=b""),
    "bye_bye": dict(reason=1, text=""), "bye_shutdown": dict(reason=7, text="server stopping"),
    "error_unknown_type": dict(code=3, message="unknown frame type 0x7f"),
    "list_7": dict(request_id=7),
    "list_reply_one": dict(request_id=7, last=1, online=1, entries=[dict(
        id="a1", remote="127.0.0.1:5000", since_ms=0x18bcfe56800, last_seen_ms=0x18bcfe56be8,
        rtt_us=250, interval_ms=1000, timeout_ms=3000, labels={"room": "lab"})]),
    "list_reply_empty": dict(request_id=7, last=1, online=0, entries=[]),
    "subscribe": dict(),
    "event_online": dict(seq=5, kind=1, reason=0, at_ms=0x18bcfe56800, id="a1", remote="127.0.0.1:5000"),
    "event_offline_timeout": dict(seq=6, kind=2, reason=4, at_ms=0x18bcfe573b8, id="a1", remote="127.0.0.1:5000"),
    # version 2 (docs/protocol.md section 8, "Version 2"), instance 0123456789abcdef in each
    "hello_v2": dict(version=2, flags=0, interval_ms=1000, timeout_ms=3000, id="a1", labels={}),
    "welcome_v2": dict(version=2, flags=0, interval_ms=1000, timeout_ms=3000, session=42, id="a1",
                       instance=0x0123456789abcdef),
    "list_reply_v2_empty": dict(request_id=7, last=1, online=0, entries=[], seq=9, instance=0x0123456789abcdef),
    "subscribe_v2_resume": dict(request_id=3, flags=3, instance=0x0123456789abcdef, after_seq=1100),
    "event_v2_online": dict(seq=5, kind=1, reason=0, at_ms=0x18bcfe56800, id="a1", remote="127.0.0.1:5000",
                            instance=0x0123456789abcdef),
    "event_v2_gap": dict(seq=1200, kind=4, reason=0, at_ms=0x18bcfe56800, id="", remote="",
                         instance=0x0123456789abcdef),
}


def load_vectors():
    valid, invalid = [], []
    with open(VECTORS) as fh:
        for line in fh:
            if line.strip() and not line.startswith("#"):
                name, kind, hexstr = line.split()
                kind, _, version = kind.partition("/")  # "EVENT/2": version 2's layout
                (invalid if kind.startswith("!") else valid).append(
                    (name, kind.lstrip("!"), bytes.fromhex(hexstr), int(version or 1)))
    return valid, invalid


def vector_cases():
    valid, invalid = load_vectors()
    cases = []
    for name, tname, frame, version in valid:
        def run(name=name, tname=tname, frame=frame, version=version):
            check(NAMES.get(frame[4]) == tname, "type byte 0x%02x is not %s", frame[4], tname)
            whole, bytewise = FrameReader(), FrameReader()
            whole.feed(frame)
            ftype, payload = whole.next()
            check(whole.next() is None and not whole.buf, "reader left bytes over")
            for i, b in enumerate(frame):           # split at every byte: nothing until the last one
                bytewise.feed(bytes([b]))
                got = bytewise.next()
                check((got is not None) == (i == len(frame) - 1), "byte-wise reader wrong at byte %d", i)
            check(got == (ftype, payload), "byte-wise read differs")
            fields = decode(ftype, payload, version)
            del fields["type"]
            check(encode(ftype, layout_version=version, **fields) == frame, "decode+encode round trip differs")
            if name in EXPECT:
                check(fields == EXPECT[name], "decoded %r, expected %r", fields, EXPECT[name])
                check(encode(ftype, layout_version=version, **EXPECT[name]) == frame,
                      "encoding the documented fields gives %s",
                      encode(ftype, layout_version=version, **EXPECT[name]).hex())
            return "%d bytes" % len(frame) + ("" if name in EXPECT else " (round trip only)")
        cases.append(("vector " + name, run))

    def stream():
        frames = [f for _, _, f, v in valid if v == 1]
        data, rng, reader, got = b"".join(frames), random.Random(1), FrameReader(), []
        pos = 0
        while pos < len(data):                       # random splits, several frames per chunk
            n = rng.randint(1, 40)
            reader.feed(data[pos:pos + n])
            pos += n
            while (f := reader.next()) is not None:
                got.append(encode(f[0], **{k: v for k, v in decode(*f).items() if k != "type"}))
        check(got == frames, "stream decode gave %d frames, expected %d", len(got), len(frames))
        return "%d frames in random chunks" % len(frames)
    cases.append(("vectors as one stream", stream))

    def bad():
        rejected = []
        for name, err, frame, _ in invalid:
            check(err in ERROR_CODES, "%s: unknown error name %s", name, err)
            check(len(frame) >= 5, "%s: shorter than a header", name)
            try:
                r = FrameReader()
                r.feed(frame)
                f = r.next()
                if f:
                    decode(*f)
            except ProtocolError:
                rejected.append(name)
        return "%d invalid vectors; client codec itself rejects: %s" % (len(invalid), ", ".join(rejected))
    cases.append(("invalid vectors readable", bad))
    return cases


# ---------------------------------------------------------------- the server

class Server:
    def __init__(self, binary):
        self.binary, self.proc, self.port = binary, None, None
        self.dir = tempfile.mkdtemp(prefix="lifeline-interop-")
        self.port_file, self.log_path = os.path.join(self.dir, "port"), os.path.join(self.dir, "server.log")

    def start(self):
        cmd = [self.binary, "serve", "--listen", HOST + ":0", "--port-file", self.port_file] + SERVER_ARGS
        print("starting: " + " ".join(cmd), flush=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline, last = time.monotonic() + 10, None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure("server exited with %s before writing its port file\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                with open(self.port_file) as fh:
                    text = fh.read()
            except FileNotFoundError:
                text = ""
            if re.fullmatch(r"\d+\n?", text) and (text.endswith("\n") or text == last):  # complete or stable
                self.port = int(text)
                return self.port
            last = text
            time.sleep(0.02)
        raise Failure("no port in %s within 10 s (last content %r)\n%s" % (self.port_file, last, self.log_tail()))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as fh:
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=30):
        return "".join("    | " + line + "\n" for line in self.log_text().splitlines()[-n:])


SRV = None
NOTES = []
OBSERVER_IDS = set()                                   # OBSERVER connections: never listed, so no presence EVENTs
_ids = itertools.count(1)


def uid(tag):
    return "it-%d-%d-%s" % (os.getpid(), next(_ids), tag)


def connect(timeout=5.0):
    return Client(HOST, SRV.port, timeout)


def list_online():
    """{id: entry} of the online list, asked by a fresh OBSERVER connection."""
    o, oid = connect(), uid("ls")
    OBSERVER_IDS.add(oid)
    o.hello(id=oid, flags=OBSERVER)
    n, entries = o.list(request_id=next(_ids))
    o.bye()
    ids = [e["id"] for e in entries]
    check(n == len(entries), "LIST_REPLY online=%d but %d entries", n, len(entries))
    check(oid not in ids, "the OBSERVER connection %s is listed as online", oid)
    return {e["id"]: e for e in entries}


def watcher():
    """A subscribed OBSERVER; the LIST round trip proves SUBSCRIBE took effect (frames are in order)."""
    w, wid = connect(), uid("watch")
    OBSERVER_IDS.add(wid)
    w.hello(id=wid, flags=OBSERVER | SERVER_PINGS)
    w.subscribe()
    w.list(request_id=next(_ids))
    w.seen = []
    return w


def wait_event(w, id, kind, timeout=2.0):
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            check(remaining > 0, "timeout")
            ev = w.event(timeout=remaining)
        except (socket.timeout, Failure):
            raise Failure("no %s EVENT for %s within %.1f s; events seen: %s" % (
                {ONLINE: "online", OFFLINE: "offline"}.get(kind, kind), id, timeout, [describe(e) for e in w.seen]))
        if w.seen:
            check(ev["seq"] > w.seen[-1]["seq"], "EVENT seq not increasing: %d after %d", ev["seq"], w.seen[-1]["seq"])
        w.seen.append(ev)
        check(ev["id"] not in OBSERVER_IDS, "EVENT for an OBSERVER connection: %s", describe(ev))
        if ev["id"] == id and ev["kind"] == kind:
            return ev


def read_until_closed(c, timeout=2.0):
    """None once the peer closed (EOF or reset); fails on any frame (server PINGs are answered by the client), or on the deadline."""
    try:
        f = c.recv_frame(timeout)
    except (ConnectionResetError, BrokenPipeError):
        return None
    except socket.timeout:
        raise Failure("connection still open %.1f s later" % timeout)
    check(f is None, "expected the connection to close, got %s", describe(f))


def expect_bye_and_close(c, reason, what, timeout):
    """The next frame is BYE with `reason` (a reset or the deadline instead fails), then EOF."""
    try:
        f = c.recv_frame(timeout)
    except (ConnectionResetError, socket.timeout) as e:
        f = e
    check(isinstance(f, dict) and f["type"] == BYE and f["reason"] == reason,
          "%s, got %s", what, f if not isinstance(f, dict) else describe(f))
    read_until_closed(c)
    return f


def expect_error_and_close(c, err, skip=(), timeout=3.0):
    """Read until ERROR (frames of the types in `skip` allowed before it), check its code, then EOF."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            f = c.recv_frame(max(0.0, deadline - time.monotonic()))
        except (ConnectionResetError, BrokenPipeError):
            raise Failure("connection reset before any ERROR arrived")
        except socket.timeout:
            raise Failure("no ERROR within %.1f s" % timeout)
        check(f is not None, "connection closed without ERROR (expected %s)", err)
        if f["type"] == ERROR:
            break
        check(f["type"] in skip, "expected ERROR %s, got %s", err, describe(f))
    check(f["code"] == ERROR_CODES[err], "got ERROR %s %r, expected %s (%d)",
          f["code"], f["message"], err, ERROR_CODES[err])
    read_until_closed(c)
    return f


def note_log(port, what):
    """Section 6: the server logs a line naming the cause and the peer address. Noted, not failed."""
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        if ":%d" % port in SRV.log_text():
            return
        time.sleep(0.05)
    NOTES.append("%s: server log has no line naming peer port %d" % (what, port))


class Keeper(threading.Thread):
    """An unrelated client that pings every 50 ms in a thread; must survive other clients' errors."""
    def __init__(self):
        super().__init__(daemon=True)
        self.id, self.cli, self.error, self.pongs = uid("keeper"), connect(), None, 0
        self.cli.hello(id=self.id, interval_ms=100, timeout_ms=300, labels={"role": "keeper"})
        self.stopping = threading.Event()
        self.start()

    def run(self):
        try:
            while not self.stopping.wait(0.05):
                self.cli.ping(timeout=2.0)
                self.pongs += 1
        except Exception as e:  # noqa: BLE001 - reported by check_alive
            self.error = e

    def check_alive(self):
        check(self.error is None, "unrelated client %s failed: %r", self.id, self.error)
        check(self.id in list_online(), "unrelated client %s is no longer listed online", self.id)

    def stop(self):
        self.stopping.set()
        self.join(3)
        self.cli.bye()


KEEPER = None


def keeper():
    global KEEPER
    if KEEPER is None:
        KEEPER = Keeper()
    return KEEPER


# ---------------------------------------------------------------- server cases

CASES = []


def case(name):
    def register(fn):
        CASES.append((name, fn))
        return fn
    return register


@case("handshake")
def _():
    c, i = connect(), uid("hs")
    w = c.hello(id=i, interval_ms=100, timeout_ms=300, labels={"room": "lab"})
    check((w["version"], w["flags"], w["interval_ms"], w["timeout_ms"], w["id"]) == (1, 0, 100, 300, i),
          "WELCOME %s, expected v1 flags 0 interval 100 timeout 300 id %s", describe(w), i)
    c2 = connect()
    w2 = c2.hello(id=uid("hs"), interval_ms=100, timeout_ms=300)
    # Section 3: session is unique among live connections; both are live here.
    check(w["session"] != w2["session"], "two live connections got the same session number %d", w["session"])
    c.bye(), c2.bye()
    return "WELCOME %d/%d ms, session numbers of two connections: %d, %d" % (
        w["interval_ms"], w["timeout_ms"], w["session"], w2["session"])


@case("clamping")
def _():
    out = []
    for iv, to in [(1, 0), (1, 1), (100, 150), (0, 0)]:
        c = connect()
        w = c.hello(id=uid("clamp"), interval_ms=iv, timeout_ms=to)
        c.bye()
        gi, gt = w["interval_ms"], w["timeout_ms"]
        out.append("%d/%d->%d/%d" % (iv, to, gi, gt))
        check(gi >= 50 and gt >= 150 and gt >= 2 * gi, "proposed %d/%d, got %d/%d: below minimum or timeout < 2*interval",
              iv, to, gi, gt)
        if (iv, to) == (100, 150):
            check(gi == 100, "interval 100 is in range but became %d", gi)
        if (iv, to) == (0, 0):
            check((gi, gt) == (100, 300), "0 = server default (100/300), got %d/%d", gi, gt)
    return ", ".join(out)


@case("clamping: 0 means the server default for each field")
def _():
    out, bad = [], []
    # Section 3: a missing timeout is 3 x interval, a missing interval is timeout / 3, then clamp.
    for iv, to, want in [(1, 0, (50, 150)), (0, 600, (200, 600))]:
        c = connect()
        w = c.hello(id=uid("clamp0"), interval_ms=iv, timeout_ms=to)
        c.bye()
        got = (w["interval_ms"], w["timeout_ms"])
        out.append("%d/%d->%d/%d" % (iv, to, *got))
        if got != want:
            bad.append("HELLO interval %d timeout %d: WELCOME %d/%d, expected %d/%d" % (iv, to, *got, *want))
    check(not bad, "%s (missing timeout = 3 x interval, missing interval = timeout / 3, clamp into [50, max] / [150, max], timeout >= 2*interval)",
          "; ".join(bad))
    return ", ".join(out)


@case("assigned id")
def _():
    c = connect()
    w = c.hello(id="")
    c.bye()
    check(ID_RE.match(w["id"]), "assigned id %r is not 1..128 of [A-Za-z0-9._:@-]", w["id"])
    return "assigned %r" % w["id"]


@case("framing: split and coalesced frames")
def _():
    c = connect()
    hello = encode(HELLO, version=1, flags=0, interval_ms=100, timeout_ms=300, id=uid("split"), labels={"a": "b"})
    for b in hello:                                  # one byte per segment (TCP_NODELAY)
        c.sock.sendall(bytes([b]))
        time.sleep(0.002)                            # pacing, so the bytes are not coalesced
    c.welcome = c.expect(WELCOME)
    c.sock.sendall(encode(PING, t_us=1) + encode(PING, t_us=2) + encode(LIST, request_id=9))
    got = [c.recv_frame(2.0) for _ in range(3)]
    check([f and f["type"] for f in got[:2]] == [PONG, PONG] and [f["t_us"] for f in got[:2]] == [1, 2],
          "three frames in one segment: got %s", [describe(f) for f in got])
    check(got[2] and got[2]["type"] == LIST_REPLY and got[2]["request_id"] == 9, "expected LIST_REPLY 9, got %s", describe(got[2]))
    ping = encode(PING, t_us=3)
    # The sleeps pace the three pieces into separate TCP segments on purpose (not synchronisation).
    c.sock.sendall(ping[:3])
    time.sleep(0.05)
    c.sock.sendall(ping[3:7])
    time.sleep(0.05)
    c.sock.sendall(ping[7:])
    f = c.recv_frame(2.0)
    check(f and f["type"] == PONG and f["t_us"] == 3, "PING in 3 pieces: got %s", describe(f))
    c.bye()
    return "HELLO in %d one-byte sends, 3 frames in one send, PING in 3 pieces" % len(hello)


@case("heartbeat: PING/PONG round trip")
def _():
    c = connect()
    c.hello(id=uid("hb"), interval_ms=100, timeout_ms=300)
    rtts = sorted(c.ping(timeout=2.0) for _ in range(10))
    c.bye()
    check(rtts[-1] < 0.5, "RTT up to %.1f ms", rtts[-1] * 1e3)
    return "10 PONGs with matching t_us; RTT min %.0f us, median %.0f us, max %.0f us" % (
        rtts[0] * 1e6, rtts[5] * 1e6, rtts[-1] * 1e6)


@case("stay online >= 1 s, seen by LIST")
def _():
    c, i, labels = connect(), uid("stay"), {"room": "lab", "floor": "2", "empty": ""}
    c.hello(id=i, interval_ms=100, timeout_ms=300, labels=labels)
    start = time.monotonic()
    t0_ms = time.time() * 1000
    n = 0
    while time.monotonic() - start < 1.2:            # PING every 100 ms
        c.ping(timeout=1.0)
        n += 1
        time.sleep(max(0.0, start + n * 0.1 - time.monotonic()))
    entries = list_online()
    now_ms = time.time() * 1000
    check(i in entries, "%s not in LIST after %.1f s of pings; listed: %s", i, time.monotonic() - start, sorted(entries))
    e = entries[i]
    check(e["labels"] == labels, "labels %r, expected %r", e["labels"], labels)
    check(e["remote"] == c.local, "remote %r, expected %r", e["remote"], c.local)
    check((e["interval_ms"], e["timeout_ms"]) == (100, 300), "interval/timeout %d/%d", e["interval_ms"], e["timeout_ms"])
    check(abs(e["since_ms"] - t0_ms) < 1000, "since_ms %d is %.0f ms from the connect time", e["since_ms"], e["since_ms"] - t0_ms)
    check(e["since_ms"] <= e["last_seen_ms"] <= now_ms + 1000 and now_ms - e["last_seen_ms"] < 500,
          "last_seen_ms %d (since %d, now %d)", e["last_seen_ms"], e["since_ms"], now_ms)
    c.bye()
    return "%d PINGs over 1.2 s; listed with labels, remote %s, rtt_us %d" % (n, e["remote"], e["rtt_us"])


@case("DATA keeps the connection, no reply")
def _():
    c = connect()
    c.hello(id=uid("data"), interval_ms=100, timeout_ms=300)
    for payload in (b"hi", b"", bytes(range(256)) * 256):   # last one is exactly max_data = 65536
        c.send(DATA, data=payload)
    c.ping(timeout=2.0)
    check(not c.backlog, "server answered DATA with %s", [describe(f) for f in c.backlog])
    c.bye()
    return "DATA of 2, 0 and 65536 bytes, then PING answered"


@case("subscription: online and bye events")
def _():
    w, x = watcher(), uid("sub")
    w.subscribe()                                    # subscribing twice is harmless
    c = connect()
    c.hello(id=x, interval_ms=100, timeout_ms=300)
    on = wait_event(w, x, ONLINE)
    check(on["remote"] == c.local, "online EVENT remote %r, expected %r", on["remote"], c.local)
    check(on["reason"] == 0, "online EVENT reason %d, expected 0", on["reason"])
    check(abs(on["at_ms"] - time.time() * 1000) < 2000, "at_ms %d is far from now", on["at_ms"])
    c.bye(1)
    off = wait_event(w, x, OFFLINE)
    check(off["reason"] == 1, "offline EVENT reason %s, expected 1 (bye)", describe(off))
    mine = [e for e in w.seen if e["id"] == x]
    check(len(mine) == 2, "expected exactly one online and one offline EVENT for %s, got %s", x, [describe(e) for e in mine])
    w.bye()
    return "online seq %d, offline seq %d reason bye" % (on["seq"], off["seq"])


def watcher_v2(**subscribe):
    """A version 2 OBSERVER, subscribed with `subscribe` (SUBSCRIBE's fields; none: live events)."""
    w, wid = connect(), uid("watch2")
    OBSERVER_IDS.add(wid)
    w.hello(id=wid, flags=OBSERVER | SERVER_PINGS, version=2)
    w.subscribe(**subscribe)
    w.seen = []
    return w


@case("version 2: instance in WELCOME, EVENT and LIST_REPLY; LIST_REPLY's seq; version 1 unchanged")
def _():
    w1, w2, x = watcher(), watcher_v2(), uid("v2")
    w2.list(request_id=next(_ids))                   # SUBSCRIBE took effect
    inst = w2.welcome["instance"]
    check(w2.welcome["version"] == 2 and inst != 0, "WELCOME %s, expected version 2 and an instance", describe(w2.welcome))
    check(w1.welcome["version"] == 1 and "instance" not in w1.welcome, "a version 1 WELCOME changed: %s",
          describe(w1.welcome))
    c = connect()
    c.hello(id=x, interval_ms=100, timeout_ms=300, version=2)
    check(c.welcome["instance"] == inst, "two connections see two instances: %x, %x", inst, c.welcome["instance"])
    on2, on1 = wait_event(w2, x, ONLINE), wait_event(w1, x, ONLINE)
    check(on2["instance"] == inst, "EVENT instance %x, expected %x", on2["instance"], inst)
    check(on1["seq"] == on2["seq"] and "instance" not in on1, "version 1 EVENT %s vs %s", describe(on1), describe(on2))
    _, entries = w2.list(request_id=next(_ids))
    check(w2.list_seq >= on2["seq"], "LIST_REPLY seq %d is before the online EVENT %d", w2.list_seq, on2["seq"])
    check(x in [e["id"] for e in entries], "%s not in the list at seq %d", x, w2.list_seq)
    c.bye(), w1.bye(), w2.bye()
    return "instance %016x, online seq %d, list at seq %d" % (inst, on2["seq"], w2.list_seq)


@case("version 2: SUBSCRIBE SNAPSHOT gives the list at seq S, then events from S+1")
def _():
    held = [connect() for _ in range(3)]
    for i, c in enumerate(held):
        c.hello(id=uid("snap%d" % i), interval_ms=100, timeout_ms=300)
    rid = next(_ids)
    w = watcher_v2(request_id=rid, flags=SNAPSHOT)
    _, entries = w.list(request_id=rid, send=False)
    ids = {e["id"] for e in entries}
    check(all(c.welcome["id"] in ids for c in held), "snapshot %s lacks a held client", sorted(ids))
    x = uid("after-snap")
    c = connect()
    c.hello(id=x, interval_ms=100, timeout_ms=300)
    ev = wait_event(w, x, ONLINE)
    check(w.seen[0]["seq"] == w.list_seq + 1, "first EVENT after the snapshot has seq %d, snapshot seq %d",
          w.seen[0]["seq"], w.list_seq)
    for h in held + [c, w]:
        h.bye()
    return "%d online at seq %d; next event seq %d" % (len(entries), w.list_seq, ev["seq"])


@case("version 2: SUBSCRIBE RESUME replays after a seq; another instance gets a gap")
def _():
    w = watcher_v2()
    w.list(request_id=next(_ids))
    x = uid("resume")
    c = connect()
    c.hello(id=x, interval_ms=100, timeout_ms=300)
    on = wait_event(w, x, ONLINE)
    c.bye()
    off = wait_event(w, x, OFFLINE)
    inst = w.welcome["instance"]
    r = watcher_v2(flags=RESUME, instance=inst, after_seq=on["seq"] - 1)
    got = [r.event()]
    while got[-1]["seq"] < off["seq"]:
        got.append(r.event())
    check((got[0]["seq"], got[0]["kind"], got[0]["id"]) == (on["seq"], ONLINE, x), "replay began with %s",
          describe(got[0]))
    check([e["seq"] for e in got] == list(range(on["seq"], off["seq"] + 1)), "replay skipped or doubled: %s",
          [describe(e) for e in got])
    g = watcher_v2(flags=RESUME, instance=inst ^ 1, after_seq=on["seq"])
    gap = g.event()
    check(gap["kind"] == GAP and gap["seq"] >= off["seq"] and gap["id"] == "",
          "resuming another instance gave %s, expected a gap up to at least %d", describe(gap), off["seq"])
    for h in (w, r, g):
        h.bye()
    return "replayed from seq %d; another instance: gap up to %d" % (on["seq"], gap["seq"])


@case("EOF, incomplete frame and RST go offline")
def _():
    w, out = watcher(), []
    for how, reason in (("eof", 2), ("partial", 2), ("rst", 3)):
        c, x = connect(), uid(how)
        c.hello(id=x, interval_ms=100, timeout_ms=300)
        if how == "partial":
            c.sock.sendall(encode(PING, t_us=7)[:6])  # header + 1 of 8 payload bytes, then EOF
        if how == "rst":
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        ev = wait_event(w, x, OFFLINE)
        check(ev["reason"] == reason, "%s: offline reason %s, expected %d (%s)", how, describe(ev), reason, REASONS[reason])
        out.append("%s->%s" % (how, REASONS[ev["reason"]]))
    w.bye()
    return ", ".join(out)


@case("silent client times out (reason 4)")
def _():
    w, x = watcher(), uid("silent")
    c = connect()
    c.hello(id=x, interval_ms=100, timeout_ms=300)
    # The server's last byte from us arrives between the PING's send and the
    # PONG's receipt. The delay is measured on the server's clock (the EVENT's
    # at_ms, wall clock like time.time()), so the watcher's delivery and this
    # process's scheduling are not counted. Contract (docs/operations.md):
    # offline at timeout + tick after the last byte, never before the timeout;
    # the slack is the one docs/reliability.md allows a loaded 2-core machine.
    sent = time.time()
    c.ping(timeout=1.0)
    answered = time.time()
    ev = wait_event(w, x, OFFLINE, timeout=5.0)
    check(ev["reason"] == 4, "offline EVENT %s, expected reason 4 (timeout)", describe(ev))
    timeout_ms, tick_ms, slack_ms = 300, 10, 600
    earliest, latest = ev["at_ms"] - answered * 1e3, ev["at_ms"] - sent * 1e3  # bounds of the true delay
    check(latest >= timeout_ms - 1,  # at_ms is truncated to the millisecond
          "offline %.0f ms after the last byte at the latest, before the %d ms timeout", latest, timeout_ms)
    check(earliest <= timeout_ms + tick_ms + slack_ms, "offline %.0f ms after the last byte at the earliest, "
          "expected timeout + tick + slack (%d ms)", earliest, timeout_ms + tick_ms + slack_ms)
    expect_bye_and_close(c, 4, "timed-out client expected BYE timeout (4)", timeout=2.0)
    w.bye()
    return "offline (timeout) %.0f-%.0f ms after its last byte, BYE timeout received" % (earliest, latest)


@case("SERVER_PINGS: server drives the heartbeat")
def _():
    c, x = connect(), uid("srvping")
    w = c.hello(id=x, flags=SERVER_PINGS, interval_ms=100, timeout_ms=300)
    check(w["flags"] == SERVER_PINGS, "WELCOME flags %d, expected SERVER_PINGS (1)", w["flags"])
    c.answer_pings = False  # see the PINGs, answer them by hand
    start, pings = time.monotonic(), 0
    while (left := start + 1.2 - time.monotonic()) > 0:     # never ping, only answer
        try:
            f = c.recv_frame(left)
        except socket.timeout:
            break
        check(f is not None, "server closed after %d PINGs (%.2f s)", pings, time.monotonic() - start)
        check(f["type"] == PING, "expected only PINGs, got %s", describe(f))
        c.send(PONG, t_us=f["t_us"])
        pings += 1
    check(pings >= 5, "only %d PINGs from the server in 1.2 s at interval 100 ms", pings)
    entries = list_online()
    check(x in entries, "%s not listed after 1.2 s", x)
    check(entries[x]["rtt_us"] > 0, "rtt_us still 0 after %d server PINGs were answered", pings)
    c.bye()
    return "%d PINGs in 1.2 s answered; still online, server rtt_us %d" % (pings, entries[x]["rtt_us"])


@case("BYE: server closes, id leaves the list")
def _():
    c, x = connect(), uid("bye")
    c.hello(id=x, interval_ms=100, timeout_ms=300)
    c.send(BYE, reason=1, text="done")
    c.sock.shutdown(socket.SHUT_WR)
    read_until_closed(c)
    c.close()
    deadline = time.monotonic() + 1.0
    while x in list_online():
        check(time.monotonic() < deadline, "%s still listed 1 s after BYE", x)
    return "closed without ERROR, no longer listed"


def malformed_case(name, err, frame):
    def run():
        k = keeper()
        c = connect()
        if name.startswith("bad_hello"):
            w = None
        else:
            w, x = watcher(), uid("bad")
            c.hello(id=x, interval_ms=100, timeout_ms=300)
        port = c.sock.getsockname()[1]
        try:
            c.sock.sendall(frame)
        except OSError:                              # the server may close before reading it all
            pass
        e = expect_error_and_close(c, err)
        if w:
            ev = wait_event(w, x, OFFLINE)
            check(ev["reason"] == 9, "offline EVENT %s, expected reason 9 (protocol)", describe(ev))
            w.bye()
        k.check_alive()
        note_log(port, name)
        return "ERROR %s %r, closed%s; unrelated client online" % (err, e["message"], ", offline protocol" if w else "")
    return run


def register_malformed():
    _, invalid = load_vectors()
    for name, err, frame, _ in invalid:
        CASES.append(("malformed " + name, malformed_case(name, err, frame)))
    over = struct.pack(">IB", 65537, DATA) + bytes(65537)
    CASES.append(("malformed DATA over max_data (65537)", malformed_case("data_65537", "too_large", over)))
    CASES.append(("malformed second HELLO", malformed_case("second_hello", "handshake_required", encode(
        HELLO, version=1, flags=0, interval_ms=0, timeout_ms=0, id="x", labels={}))))


@case("takeover: same id again replaces the old connection")
def _():
    w, x = watcher(), uid("dup")                     # assumes the server's duplicate policy is takeover
    a, b = connect(), connect()
    a.hello(id=x, interval_ms=100, timeout_ms=300)
    wait_event(w, x, ONLINE)
    b.hello(id=x, interval_ms=100, timeout_ms=300)
    ev = wait_event(w, x, 3)
    check(ev["remote"] == b.local, "takeover EVENT remote %r, expected the new connection %r", ev["remote"], b.local)
    expect_bye_and_close(a, 5, "old connection expected BYE replaced (5)", timeout=2.0)
    b.ping(timeout=2.0)
    b.bye()
    wait_event(w, x, OFFLINE)
    kinds = [e["kind"] for e in w.seen if e["id"] == x]
    check(kinds == [ONLINE, 3, OFFLINE], "events for %s: %s, expected online, takeover, offline", x,
          [describe(e) for e in w.seen if e["id"] == x])
    w.bye()
    return "old connection got BYE replaced; events online, takeover, offline"


@case("PING before HELLO -> handshake_required")
def _():
    c = connect()
    c.send(PING, t_us=1)
    e = expect_error_and_close(c, "handshake_required")
    keeper().check_alive()
    return "ERROR %r" % e["message"]


@case("oversized PING before HELLO -> too_large (length is checked first)")
def _():
    # protocol.md section 6, "Order of checks": the length check (2) comes before
    # the handshake check (4), so a PING of length 9 before HELLO is too_large.
    c = connect()
    c.sock.sendall(struct.pack(">IB", 9, PING) + bytes(9))
    e = expect_error_and_close(c, "too_large")
    keeper().check_alive()
    return "ERROR %r" % e["message"]


@case("silence -> handshake_timeout after ~500 ms")
def _():
    # The deadline starts at accept, after connect() began, and is at most one
    # tick late: the ERROR never comes before 500 ms from here. A loaded machine
    # delays it, so the upper bound only tells --handshake-timeout 500ms apart
    # from the 5 s default.
    start = time.monotonic()
    c = connect()
    e = expect_error_and_close(c, "handshake_timeout", timeout=4.0)
    elapsed = time.monotonic() - start
    check(0.5 <= elapsed < 3.0, "ERROR after %.0f ms, expected 500 ms + tick + slack (< 3000)", elapsed * 1e3)
    keeper().check_alive()
    return "ERROR %r after %.0f ms" % (e["message"], elapsed * 1e3)


@case("PING flood -> flood")
def _():
    w, c, x = watcher(), connect(), uid("flood")
    c.hello(id=x, interval_ms=100, timeout_ms=300)   # limit max(20, 40)/s, burst 80
    try:
        c.sock.sendall(b"".join(encode(PING, t_us=n) for n in range(400)))
    except OSError:
        pass
    e = expect_error_and_close(c, "flood", skip=(PONG,))
    ev = wait_event(w, x, OFFLINE)
    check(ev["reason"] == 9, "offline EVENT %s, expected reason 9 (protocol)", describe(ev))
    w.bye()
    keeper().check_alive()
    return "400 PINGs at once -> ERROR %r" % e["message"]


@case("PING rate: sustained 70/s exceeds 40/s -> flood")
def _():
    # Section 4 at interval 100 ms: at most max(20, 40) = 40 PINGs/s averaged over one second, burst 80.
    # 70/s is under the burst but far over the average, so it must end in ERROR flood within 5 s.
    c = connect()
    c.hello(id=uid("rate"), interval_ms=100, timeout_ms=300)
    start, sent = time.monotonic(), 0
    while time.monotonic() - start < 5.0:
        try:
            c.send(PING, t_us=sent)
        except OSError:
            break
        sent += 1
        next_send = start + sent / 70.0
        while (left := next_send - time.monotonic()) > 0:
            try:
                f = c.recv_frame(left)
            except socket.timeout:
                break
            except ConnectionResetError:
                raise Failure("connection reset after %d PINGs without ERROR" % sent)
            check(f is not None, "closed after %d PINGs without ERROR", sent)
            if f["type"] == ERROR:
                check(f["code"] == ERROR_CODES["flood"], "got %s", describe(f))
                read_until_closed(c)
                keeper().check_alive()
                return "ERROR flood after %d PINGs in %.1f s" % (sent, time.monotonic() - start)
            check(f["type"] == PONG, "expected PONG, got %s", describe(f))
    c.bye()
    raise Failure("sent %d PINGs over %.1f s (70/s, limit 40/s averaged over one second) and the server "
                  "accepted all of them" % (sent, time.monotonic() - start))


@case("shutdown: SIGTERM sends BYE shutdown")
def _():
    global KEEPER
    if KEEPER:
        KEEPER.stop()
        KEEPER = None
    c = connect()
    c.hello(id=uid("shut"), flags=SERVER_PINGS, interval_ms=100, timeout_ms=300)
    SRV.proc.send_signal(signal.SIGTERM)
    try:
        f = c.expect(BYE, timeout=5.0)
    except Exception as e:  # noqa: BLE001
        raise Failure("expected BYE shutdown, got %r" % e)
    check(f["reason"] == 7, "expected BYE reason 7 (shutdown), got %s", describe(f))
    read_until_closed(c, 5.0)
    try:
        code = SRV.proc.wait(5)
    except subprocess.TimeoutExpired:
        raise Failure("server still running 5 s after SIGTERM")
    return "BYE %r, server exited with %d" % (f["text"], code)


# ---------------------------------------------------------------- main

def run_cases(cases, only):
    passed = failed = 0
    for name, fn in cases:
        if only and only not in name:
            continue
        if SRV and SRV.proc and SRV.proc.poll() is not None:
            failed += 1
            print("FAIL %s: not run, the server exited with %s" % (name, SRV.proc.returncode), flush=True)
            continue
        start = time.monotonic()
        try:
            detail = fn()
            passed += 1
            print("PASS %s (%.0f ms)%s" % (name, (time.monotonic() - start) * 1e3, ": " + detail if detail else ""), flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            kind = "" if isinstance(e, Failure) else "%s: " % type(e).__name__
            print("FAIL %s (%.0f ms): %s%s" % (name, (time.monotonic() - start) * 1e3, kind, e), flush=True)
            if not isinstance(e, (Failure, AssertionError)):
                traceback.print_exc(limit=3, file=sys.stdout)
            if SRV and SRV.proc:
                print(SRV.log_tail(10), end="", flush=True)
    return passed, failed


def main():
    global SRV
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lifeline", help="path to the lifeline server binary")
    ap.add_argument("--vectors-only", action="store_true", help="only check the codec against tests/vectors/frames.txt")
    ap.add_argument("--only", help="run only cases whose name contains this")
    args = ap.parse_args()
    if not args.vectors_only and not args.lifeline:
        ap.error("--lifeline PATH is required (or --vectors-only)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))    # so the finally below still runs
    passed, failed = run_cases(vector_cases(), args.only)
    if not args.vectors_only:
        SRV = Server(args.lifeline)
        atexit.register(SRV.stop)
        try:
            SRV.start()
            print("server listening on port %d, log %s" % (SRV.port, SRV.log_path), flush=True)
            register_malformed()
            order = [c for c in CASES if not c[0].startswith("shutdown")] + [c for c in CASES if c[0].startswith("shutdown")]
            p, f = run_cases(order, args.only)
            passed, failed = passed + p, failed + f
        except (Failure, OSError) as e:
            failed += 1
            print("FAIL server start: %s" % e, flush=True)
        finally:
            if KEEPER:
                KEEPER.stopping.set()
            SRV.stop()
        for n in NOTES:
            print("NOTE " + n)
        if failed:
            print("server log kept in %s" % SRV.log_path)
        else:
            shutil.rmtree(SRV.dir, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
