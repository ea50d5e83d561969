#!/usr/bin/env python3
"""The WebSocket transport (docs/protocol.md section 11) against a second, independent
implementation: tests/lib/wsclient.py, written from RFC 6455 with the standard library.
Interop (the handshake, fragmentation, control frames, several lifeline frames in one
message), the same presence as TCP (listed as ws, timeout, takeover, kick, tokens, DATA
both ways), `--duplicates multi` with TCP and WebSocket sessions mixed, and every bad input
with its defined outcome: an HTTP status or a close code that says what was wrong, the
offender closed, and a TCP agent and a WebSocket client connected meanwhile unaffected.

    python3 tests/integration/test_websocket.py --lifeline PATH [-k NAME] [--keep]
"""
import os
import re
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from admin_http import request  # noqa: E402
from harness import (BYE, DATA, ERROR, ERRORS, HELLO, PING, PONG, REASONS, WELCOME, check, frame,  # noqa: E402
                     hello_payload, run, str16, wait_until)
from pki import make_token, new_secret  # noqa: E402
from wsclient import BINARY, CLOSE, CONT, PING as WS_PING, PONG as WS_PONG, TEXT, Closed, WsClient, encode_frame, \
    read_http_response, upgrade_request  # noqa: E402

ORIGIN = "http://app.example"


def ws_server(env, extra=(), args=harness.FAST_SERVER, admin=None):
    return env.server(args=args, extra=extra, admin=admin, ws=["--ws-allowed-origin", ORIGIN])


def ws_hello(ws, id, interval_ms=1000, timeout_ms=5000, flags=0, token=None, labels=None):
    """HELLO; a long timeout by default, since these clients send only what a test says."""
    ws.send_binary(frame(HELLO, hello_payload(id, interval_ms, timeout_ms, flags, labels, version=3, token=token)))
    return next_frame(ws)


def next_frame(ws, timeout=3.0, skip=(PING, PONG)):
    """The next lifeline frame from binary messages, skipping heartbeats: (type, payload)."""
    deadline = time.monotonic() + timeout
    pending = ws.__dict__.setdefault("frames", [])
    while True:
        while pending:
            t, p = pending.pop(0)
            if t not in skip:
                return t, p
        op, msg = ws.recv(max(0.01, deadline - time.monotonic()))
        check(op == BINARY, "the server sent opcode %d, not a binary message", op)
        pending.extend(split_frames(msg))


def split_frames(msg):
    """The lifeline frames of one message: whole ones only (docs/protocol.md section 11)."""
    out = []
    while msg:
        check(len(msg) >= 5, "a server message ends inside a frame header: %r", msg)
        n, t = struct.unpack(">IB", msg[:5])
        check(len(msg) >= 5 + n, "a server message ends inside a frame (%d of %d bytes)", len(msg), 5 + n)
        out.append((t, msg[5:5 + n]))
        msg = msg[5 + n:]
    return out


def online_ws(env, srv, id, **kw):
    ws = WsClient(srv.ws_port, origin=ORIGIN)
    check(ws.status == 101, "upgrade answered %d: %r", ws.status, ws.body)
    t, _ = ws_hello(ws, id, **kw)
    check(t == WELCOME, "HELLO over WebSocket answered with frame type %d", t)
    env.socks.append(ws)
    return ws


class Bystanders:
    """A TCP agent and a WebSocket client that stays online by answering nothing but
    WebSocket pings of its own; verify() checks neither went offline."""

    def __init__(self, env, srv):
        self.env, self.srv = env, srv
        self.watch = env.watch(srv)
        self.agent = env.agent(srv, "steady-tcp")
        self.agent.wait_state("online", 5)
        self.ws = online_ws(env, srv, "steady-ws", timeout_ms=10000)
        self.watch.wait_event("online", "steady-ws", 5)

    def verify(self):
        offs = [e for e in self.watch.events() if e.get("id", "").startswith("steady") and e["kind"] != "online"]
        check(not offs, "a bystander was disturbed: %s", offs)
        self.ws.send_binary(frame(PING, struct.pack(">Q", 7)))
        check(next_frame(self.ws, skip=(PING,))[0] == PONG, "the WebSocket bystander still gets its PONG")
        ids = {c["id"] for c in self.env.ls(self.srv)["clients"]}
        check({"steady-tcp", "steady-ws"} <= ids, "both bystanders still listed: %s", ids)


# ----------------------------------------------------------------------------- interop


def test_handshake_heartbeat_and_listing(env):
    srv = ws_server(env)
    ws = online_ws(env, srv, "tab-1", labels={"page": "home"})
    ws.send_binary(frame(PING, struct.pack(">Q", 123456)))
    t, p = next_frame(ws, skip=(PING,))
    check(t == PONG and struct.unpack(">Q", p)[0] == 123456, "PONG echoes the PING over WebSocket")
    entry = [c for c in env.ls(srv)["clients"] if c["id"] == "tab-1"]
    check(len(entry) == 1 and entry[0]["transport"] == "ws", "listed with transport ws: %s", entry)
    check(entry[0]["labels"] == {"page": "home"}, "labels as sent: %s", entry)
    # A WebSocket ping (a non-browser client's heartbeat) gets its pong with the same payload.
    ws.send(WS_PING, b"are you there")
    op, payload = ws.recv()
    check(op == WS_PONG and payload == b"are you there", "pong answers ping: %d %r", op, payload)


def test_fragmented_messages_interleaved_control_and_batched_frames(env):
    srv = ws_server(env)
    ws = WsClient(srv.ws_port)  # no Origin: not a browser, always accepted
    check(ws.status == 101, "no Origin header is accepted: %d", ws.status)
    hello = frame(HELLO, hello_payload("frag", 100, 300, version=3))
    # HELLO in three fragments, with a ping between two of them.
    ws.send(BINARY, hello[:3], fin=False)
    ws.send(WS_PING, b"x")
    ws.send(CONT, hello[3:10], fin=False)
    ws.send(CONT, hello[10:], fin=True)
    check(ws.recv() == (WS_PONG, b"x"), "the pong of a ping inside a fragmented message comes first")
    check(next_frame(ws)[0] == WELCOME, "a fragmented HELLO is whole")
    # Two PINGs in one message: two PONGs.
    ws.send_binary(frame(PING, struct.pack(">Q", 1)) + frame(PING, struct.pack(">Q", 2)))
    got = [struct.unpack(">Q", next_frame(ws, skip=(PING,))[1])[0] for _ in range(2)]
    check(got == [1, 2], "each frame of a message is answered in order: %s", got)
    # A frame header split over two TCP writes of one WebSocket frame.
    raw = encode_frame(BINARY, frame(PING, struct.pack(">Q", 3)))
    ws.send_raw(raw[:3])
    time.sleep(0.05)  # two segments, not one (pacing, not synchronisation)
    ws.send_raw(raw[3:])
    check(struct.unpack(">Q", next_frame(ws, skip=(PING,))[1])[0] == 3, "a frame split across reads")


def test_websocket_pings_alone_keep_a_session_alive_and_silence_times_out(env):
    srv = ws_server(env)
    watch = env.watch(srv)
    ws = online_ws(env, srv, "pinger", interval_ms=100, timeout_ms=300)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:  # three timeouts long, only WebSocket pings
        ws.send(WS_PING, b"")
        op, payload = ws.recv()
        while op == BINARY:  # the server's RTT probe, left unanswered
            op, payload = ws.recv()
        check((op, payload) == (WS_PONG, b""), "pong: %d %r", op, payload)
        time.sleep(0.05)  # the heartbeat's own pace
    check(not watch.events("offline", "pinger"), "WebSocket pings count as liveness")
    silent = time.monotonic()
    ev = watch.wait_event("offline", "pinger", 3)
    took = time.monotonic() - silent
    check(ev["reason"] == "timeout" and ev["transport"] == "ws", "a silent WebSocket client times out: %s", ev)
    check(took < 0.3 + 0.01 + 0.5, "declared %.2fs after it fell silent (timeout 0.3 s)", took)
    frames, closed = ws.recv_until_closed()
    byes = [REASONS[p[0]] for _, m in frames for t, p in split_frames(m) if t == BYE]
    check(byes == ["timeout"], "BYE timeout first: %s", byes)
    check(closed.code == 1000, "then a normal close frame: %s", closed.code)


def test_close_frame_is_offline_closed_and_answered(env):
    srv = ws_server(env)
    watch = env.watch(srv)
    ws = online_ws(env, srv, "leaver")
    ws.send(CLOSE, struct.pack(">H", 1001) + "tab closed".encode())
    frames, closed = ws.recv_until_closed()
    check(closed.code == 1001, "the server echoes the close code: %s", closed.code)
    ev = watch.wait_event("offline", "leaver", 3)
    check(ev["reason"] == "closed", "a close frame is reason closed: %s", ev)
    srv.wait_log(r"offline id=leaver .*WebSocket closed by the peer \(code 1001: tab closed\)", 3)


def test_takeover_kick_data_and_tokens_across_transports(env):
    secret = new_secret()
    path = env.path("secrets")
    with open(path, "w") as f:
        f.write(secret + "\n")
    srv = ws_server(env, extra=["--auth-secret-file", path, "--log-level", "debug"], admin=[])
    token = make_token(secret, "dual", int(time.time()) + 600)
    # No token: refused over WebSocket as over TCP.
    ws = WsClient(srv.ws_port)
    t, p = ws_hello(ws, "dual")
    check(t == ERROR and ERRORS[struct.unpack(">H", p[:2])[0]] == "unauthorized", "no token: ERROR unauthorized")
    agent = env.agent(srv, "dual", extra=["--token", token])
    agent.wait_state("online", 5)
    ws = online_ws(env, srv, "dual", token=token)
    stopped = agent.wait_state("stopped", 5)  # replaced: an agent does not fight back
    check("replaced" in stopped.get("reason", ""), "the TCP agent was replaced: %s", stopped)
    wait_until(lambda: request(srv.admin_port, "GET", "/v1/clients/dual").json.get("transport") == "ws", 5,
               "the WebSocket session to hold dual")
    # DATA both ways.
    r = request(srv.admin_port, "POST", "/v1/clients/dual/data", body=b"to the tab")
    check(r.status == 200, "admin DATA accepted: %s", r)
    t, p = next_frame(ws)
    check(t == DATA and p == b"to the tab", "DATA reached the WebSocket client: %d %r", t, p)
    ws.send_binary(frame(DATA, b"from the tab"))
    srv.wait_log(r"data from dual: 12 bytes", 3)
    # Kicked: BYE kicked, then a close frame.
    request(srv.admin_port, "DELETE", "/v1/clients/dual")
    frames, closed = ws.recv_until_closed()
    byes = [REASONS[p[0]] for _, m in frames for t, p in split_frames(m) if t == BYE]
    check(byes == ["kicked"], "BYE kicked before the close: %s", byes)


def test_multi_mixes_tcp_and_websocket_sessions(env):
    srv = ws_server(env, extra=["--duplicates", "multi", "--max-sessions-per-id", "3"])
    watch = env.watch(srv)
    phone = env.agent(srv, "ann")
    phone.wait_state("online", 5)
    tab1 = online_ws(env, srv, "ann")
    tab2 = online_ws(env, srv, "ann")
    joins = watch.wait_count(lambda e: e["kind"] == "join" and e["id"] == "ann", 2, 3)
    check(all(j["transport"] == "ws" for j in joins), "two WebSocket joins: %s", joins)
    tab3 = WsClient(srv.ws_port)
    t, p = ws_hello(tab3, "ann")
    msg = p[4:].decode()
    check(t == ERROR and "has 3 sessions already" in msg and "--max-sessions-per-id 3" in msg,
          "a fourth session is refused, naming the limit: %r", msg)
    ls = env.ls(srv)
    anns = [c for c in ls["clients"] if c["id"] == "ann"]
    check(sorted(c["transport"] for c in anns) == ["tcp", "ws", "ws"], "three sessions listed: %s", anns)
    check(ls["online"] == 1, "one id online: %s", ls["online"])
    mark = watch.mark()
    phone.kill()
    leave = watch.wait_event("leave", "ann", 3, start=mark)
    check(leave["transport"] == "tcp" and leave["reason"] in ("closed", "reset"), "the phone leaves: %s", leave)
    tab1.send(CLOSE, struct.pack(">H", 1000))
    watch.wait_count(lambda e: e["kind"] == "leave" and e["id"] == "ann", 2, 3, start=mark)
    check(not watch.events("offline", "ann"), "ann stays online while a session remains")
    tab2.close()
    off = watch.wait_event("offline", "ann", 3, start=mark)
    check(off["transport"] == "ws" and off["reason"] == "closed", "the last session takes ann offline: %s", off)


# ----------------------------------------------------------------------------- bad input: the upgrade


def raw_upgrade(srv, data, timeout=3.0):
    """Sends `data` as the upgrade request; returns (status, body, closed_after)."""
    s = socket.create_connection(("127.0.0.1", srv.ws_port), timeout=timeout)
    s.sendall(data)
    status, _headers, body = read_http_response(s, time.monotonic() + timeout)
    s.settimeout(timeout)
    try:
        closed = s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        closed = False
    s.close()
    return status, body.decode(errors="replace"), closed


def test_bad_upgrade_requests(env):
    srv = ws_server(env, extra=["--ws-max-upgrade-bytes", "2048"])
    b = Bystanders(env, srv)
    req = lambda **kw: upgrade_request(**kw)[0]  # noqa: E731
    cases = [
        ("plain HTTP", b"GET /lifeline HTTP/1.1\r\nHost: x\r\n\r\n", 426, "send Upgrade: websocket"),
        ("wrong path", req(path="/other"), 404, "no WebSocket endpoint at /other"),
        ("POST", req().replace(b"GET", b"POST", 1), 405, "is a GET, not POST"),
        ("no version", req(version=None), 426, "Sec-WebSocket-Version must be 13"),
        ("version 8", req(version="8"), 426, "Sec-WebSocket-Version must be 13"),
        ("no key", req(key=""), 400, "Sec-WebSocket-Key"),
        ("short key", req(key="c2hvcnQ="), 400, "Sec-WebSocket-Key"),
        ("bad origin", req(origin="http://evil.example"), 403, "origin http://evil.example is not allowed"),
        ("oversized", req(extra="X-Pad: %s\r\n" % ("a" * 4000)), 431, "larger than 2048 bytes"),
        ("not HTTP", b"\x16\x03\x01\x02\x00garbage\r\n\r\n", 400, "malformed HTTP request"),
        ("HTTP/1.0", req().replace(b"HTTP/1.1", b"HTTP/1.0", 1), 400, "needs HTTP/1.1"),
        ("with a body", req(extra="Content-Length: 3\r\n") + b"abc", 400, "has no body"),
    ]
    for name, data, status, text in cases:
        got, body, closed = raw_upgrade(srv, data)
        check(got == status, "%s: HTTP %d, not %d (%r)", name, got, status, body)
        check(text in body, "%s: the response says %r: %r", name, text, body)
        check(closed, "%s: the server closed the connection", name)
        srv.wait_log(re.escape("WebSocket upgrade refused: ") + ".*" + re.escape(text.split(":")[0]), 3)
    # Slow: half a request, then nothing, until the handshake timeout (500 ms here).
    s = socket.create_connection(("127.0.0.1", srv.ws_port), timeout=3)
    s.sendall(req()[:40])
    status, _h, body = read_http_response(s, time.monotonic() + 3)
    check(status == 408, "a slow upgrade gets 408: %d %r", status, body)
    srv.wait_log(r"WebSocket upgrade request not complete within 500 ms", 3)
    b.verify()


def test_full_server_answers_503(env):
    srv = ws_server(env, extra=["--max-connections", "1"])
    online_ws(env, srv, "first")
    got, body, closed = raw_upgrade(srv, upgrade_request()[0])
    check(got == 503 and "too_many_connections" in body, "a full server answers 503 and why: %d %r", got, body)
    check(closed, "and closes")


# ----------------------------------------------------------------------------- bad input: frames


def expect_close(ws, code, text):
    frames, closed = ws.recv_until_closed()
    check(closed.code == code, "close code %s, not %d (%r)", closed.code, code, closed.reason)
    check(text in closed.reason, "the close reason says %r: %r", text, closed.reason)
    return frames


def test_bad_frames(env):
    srv = ws_server(env)
    b = Bystanders(env, srv)
    cases = [
        ("unmasked", encode_frame(BINARY, frame(PING, bytes(8)), mask=False), 1002, "not masked"),
        ("fragmented ping", encode_frame(WS_PING, b"a", fin=False), 1002, "fragmented control frame"),
        ("oversized ping", encode_frame(WS_PING, b"p" * 126), 1002, "control frame of 126 bytes"),
        ("text", encode_frame(TEXT, b"hello"), 1003, "text message"),
        ("RSV bits", encode_frame(BINARY, b"", rsv=4), 1002, "RSV bits"),
        ("reserved opcode", encode_frame(3, b""), 1002, "reserved opcode 3"),
        ("stray continuation", encode_frame(CONT, b"x"), 1002, "continuation frame with no fragmented message"),
        ("new message mid-message", encode_frame(BINARY, b"ab", fin=False) + encode_frame(BINARY, b"cd"), 1002,
         "a new message began"),
        ("huge message", encode_frame(BINARY, b"", length=1 << 40), 1009, "message of more than"),
        ("close code 1005", encode_frame(CLOSE, struct.pack(">H", 1005)), 1002, "close code 1005"),
        ("close code 999", encode_frame(CLOSE, struct.pack(">H", 999)), 1002, "close code 999"),
        ("1-byte close", encode_frame(CLOSE, b"\x03"), 1002, "1-byte payload"),
        ("bad UTF-8 close", encode_frame(CLOSE, struct.pack(">H", 1000) + b"\xc3\x28"), 1007, "not UTF-8"),
    ]
    for name, data, code, text in cases:
        ws = online_ws(env, srv, "bad-" + name.replace(" ", "-").replace("/", ""))
        ws.send_raw(data)
        expect_close(ws, code, text)
        srv.wait_log(r"reason=protocol \(WebSocket: .*" + re.escape(text), 3)
        ws.close()
    # Half a lifeline frame in one message: ERROR malformed inside the WebSocket, then close 1002.
    ws = online_ws(env, srv, "half-frame")
    ws.send_binary(frame(PING, struct.pack(">Q", 1))[:7])
    frames = expect_close(ws, 1002, "")
    errors = [p[4:].decode(errors="replace") for _, m in frames for t, p in split_frames(m) if t == ERROR]
    check(errors and "ended inside a lifeline frame" in errors[0], "ERROR says why: %s", errors)
    # Before the upgrade nothing but HTTP counts: frames sent instead of a request are a bad request.
    got, body, _ = raw_upgrade(srv, encode_frame(BINARY, b"x" * 20) + b"\r\n\r\n")
    check(got == 400, "a frame instead of an upgrade request: %d %r", got, body)
    b.verify()


if __name__ == "__main__":
    run([test_handshake_heartbeat_and_listing, test_fragmented_messages_interleaved_control_and_batched_frames,
         test_websocket_pings_alone_keep_a_session_alive_and_silence_times_out,
         test_close_frame_is_offline_closed_and_answered, test_takeover_kick_data_and_tokens_across_transports,
         test_multi_mixes_tcp_and_websocket_sessions, test_bad_upgrade_requests, test_full_server_answers_503,
         test_bad_frames])
