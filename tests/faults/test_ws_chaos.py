#!/usr/bin/env python3
"""WebSocket faults: 24 WebSocket clients (tests/lib/wsclient.py, each a thread that sends a
lifeline PING in a masked binary message every 200 ms and closes after 1 s without a byte from
the server) reach `lifeline serve --ws-listen` through the userspace fault proxy
(tests/lib/chaos.py); the watch goes to the server directly. Each fault, for every client:

    latency with jitter below the budget      no one goes offline
    1-byte segments (upgrade and frames too)  no one goes offline: requests and frame
                                              headers are reassembled across reads
    bandwidth cap above the heartbeat rate    no one goes offline
    blackhole client->server                  everyone offline within the bound (`timeout`, or
                                              `closed` where the client's own timeout won)
    blackhole server->client                  everyone's client notices, closes; offline at once
    connection reset                          everyone offline at once (`closed`/`reset`)

A TCP agent connected directly stays online throughout, and the server ends with no session
left over.

    python3 tests/faults/test_ws_chaos.py --lifeline PATH [-k NAME] [--keep]
"""
import os
import struct
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from chaos import Chaos  # noqa: E402
from harness import HELLO, PING, check, frame, hello_payload, run, wait_until  # noqa: E402
from wsclient import Closed, WsClient  # noqa: E402

CLIENTS = 24
INTERVAL_MS, TIMEOUT_MS, TICK_MS = 200, 1000, 10
BOUND_MS = TIMEOUT_MS + TICK_MS + 600  # slack for a loaded 2-core machine (and ASan)
SERVER = ["--interval", "200ms", "--timeout", "1s", "--min-interval", "50ms", "--min-timeout", "150ms",
          "--tick", "10ms", "--handshake-timeout", "5s"]


class Heartbeater(threading.Thread):
    """One WebSocket client: HELLO, then a PING each interval; it closes when the server
    closes or is silent for the timeout. `ended` says how."""

    def __init__(self, port, id):
        super().__init__(daemon=True)
        self.port, self.id = port, id
        self.ended = None
        self.stop = threading.Event()
        self.ready = threading.Event()

    def run(self):
        try:
            ws = WsClient(self.port, timeout=10)
            ws.send_binary(frame(HELLO, hello_payload(self.id, INTERVAL_MS, TIMEOUT_MS, version=3)))
            ws.recv(10)
        except (OSError, Closed, AssertionError) as e:
            self.ended = "handshake: %s" % e
            self.ready.set()
            return
        self.ready.set()
        last_rx = time.monotonic()
        next_ping = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_ping:
                try:
                    ws.send_binary(frame(PING, struct.pack(">Q", int(now * 1e6))))
                except OSError:
                    self.ended = "send failed"
                    break
                next_ping = now + INTERVAL_MS / 1000
            try:
                ws.recv(max(0.01, next_ping - time.monotonic()))
                last_rx = time.monotonic()
            except Closed:
                self.ended = "server closed"
                break
            except (OSError, ValueError):
                pass  # nothing within the wait: timed out
            if time.monotonic() - last_rx > TIMEOUT_MS / 1000:
                self.ended = "server silent"
                break
        ws.close()


class Fleet:
    def __init__(self, env):
        self.env = env
        self.srv = env.server(args=SERVER, ws=[])
        self.proxy = Chaos(self.srv.ws_port)
        env.socks.append(_Closer(self.close))
        self.watch = env.watch(self.srv)
        self.agent = env.agent(self.srv, "tcp-steady", interval="200ms", timeout="1s")
        self.agent.wait_state("online", 5)
        self.clients = []
        self.round = 0

    def start_clients(self):
        self.round += 1
        mark = self.watch.mark()
        self.clients = [Heartbeater(self.proxy.port, "ws-%d-%d" % (self.round, i)) for i in range(CLIENTS)]
        for c in self.clients:
            c.start()
        ids = {c.id for c in self.clients}
        self.watch.wait_count(lambda e: e["kind"] == "online" and e["id"] in ids, CLIENTS, 20, start=mark)
        return ids

    def stop_clients(self):
        for c in self.clients:
            c.stop.set()
        for c in self.clients:
            c.join(5)

    def close(self):
        self.stop_clients()
        self.proxy.close()

    def offline(self, ids, mark):
        return [e for e in self.watch.events("offline", start=mark) if e["id"] in ids]


class _Closer:
    def __init__(self, fn):
        self.fn = fn

    def close(self):
        self.fn()


def quiet_fault(f, name, apply, seconds):
    ids = f.start_clients()
    mark = f.watch.mark()
    apply()
    try:
        harness.holds(lambda: not f.offline(ids, mark) and all(c.ended is None for c in f.clients), seconds,
                      "%s: every WebSocket client online" % name, poll=0.05)
        offs = f.offline(ids, mark)
        check(not offs, "%s: %d WebSocket clients went offline: %s", name, len(offs), offs[:3])
        check(all(c.ended is None for c in f.clients), "%s: a client ended: %s", name,
              [c.ended for c in f.clients if c.ended][:3])
    finally:
        f.proxy.heal()
        f.stop_clients()
        f.watch.wait_count(lambda e: e["kind"] == "offline" and e["id"] in ids, CLIENTS, 10, start=mark)


def disconnecting_fault(f, name, apply, reasons, bound_ms):
    ids = f.start_clients()
    mark = f.watch.mark()
    t0 = time.time() * 1000
    apply()
    try:
        offs = f.watch.wait_count(lambda e: e["kind"] == "offline" and e["id"] in ids, CLIENTS, bound_ms / 1000 + 5,
                                  start=mark)
        late = [(e["id"], harness.parse_ts(e["at"]) - t0) for e in offs if harness.parse_ts(e["at"]) - t0 > bound_ms]
        check(not late, "%s: detected after the %d ms bound: %s", name, bound_ms, late[:3])
        bad = [e for e in offs if e["reason"] not in reasons]
        check(not bad, "%s: reasons %s, not one of %s", name, sorted({e["reason"] for e in bad}), reasons)
    finally:
        f.proxy.heal()
        f.stop_clients()


def test_websocket_fault_matrix(env):
    f = Fleet(env)
    lat = (TIMEOUT_MS - INTERVAL_MS) / 1000.0 / 6
    quiet_fault(f, "latency", lambda: f.proxy.latency(lat, jitter=lat / 2), 3)
    quiet_fault(f, "1-byte segments", lambda: f.proxy.slice(True), 2)
    quiet_fault(f, "2000 B/s", lambda: f.proxy.bandwidth(2000), 2)
    # Sliced from the first byte: the upgrade request and the HELLO arrive a byte at a time.
    f.proxy.slice(True)
    try:
        quiet_fault(f, "1-byte segments from the upgrade on", lambda: None, 1)
    finally:
        f.proxy.heal()
    # Both ends fall silent at once (no PING through, so no PONG back): the server's timeout
    # and the client's own close race, and either ends the session within the bound.
    disconnecting_fault(f, "blackhole client->server", lambda: f.proxy.blackhole("up"), ("timeout", "closed"),
                        BOUND_MS)
    # The clients notice the silence (timeout) and close; the server sees each close at once.
    disconnecting_fault(f, "blackhole server->client", lambda: f.proxy.blackhole("down"),
                        ("closed", "reset", "timeout"), BOUND_MS)
    disconnecting_fault(f, "reset", f.proxy.reset, ("closed", "reset"), 1000)
    offs = f.watch.events("offline", "tcp-steady")
    check(not offs, "the TCP agent beside them went offline: %s", offs)
    wait_until(lambda: [c["id"] for c in env.ls(f.srv)["clients"]] == ["tcp-steady"], 10,
               "only the TCP agent listed at the end")


if __name__ == "__main__":
    run([test_websocket_fault_matrix])
