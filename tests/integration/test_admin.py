#!/usr/bin/env python3
"""The admin HTTP API (docs/api.md) against a real `lifeline serve --admin-listen`: every
route and error case, the event stream's resume and gap, kick, DATA, /metrics after a known
sequence of connects, timeouts and refusals, the token, TLS and the request limits.

    python3 tests/integration/test_admin.py --lifeline PATH [-k NAME] [--keep]
"""
import json
import os
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
import vocab  # noqa: E402
from admin_http import EventStream, parse_metrics, request, value, wait_metric  # noqa: E402
from harness import DATA, BYE, Failure, check, run, wait_until  # noqa: E402
from pki import Pki, new_secret  # noqa: E402

TOKEN = "admin-token-0123456789abcdef"


def token_file(env, text=TOKEN):
    path = env.path("admin.token")
    with open(path, "w") as f:
        f.write(text + "\n")
    return path


def get(srv, path, **kw):
    return request(srv.admin_port, "GET", path, **kw)


def test_clients_filters_and_pages(env):
    """GET /v1/clients: every field of docs/json.md, filtered by id prefix and label, paged
    with a cursor that visits every client exactly once; bad query values are 400."""
    srv = env.server(admin=[])
    for i in range(5):
        env.agent(srv, "sensor-%d" % i, labels={"room": "lab" if i % 2 else "hall", "n": str(i)})
    env.agent(srv, "pump-1", labels={"room": "lab"})
    wait_until(lambda: get(srv, "/v1/clients").json["online"] == 6 or None, 5, "6 clients online")
    listing = get(srv, "/v1/clients").json
    vocab.check(listing, "list")
    check([c["id"] for c in listing["clients"]] == sorted(c["id"] for c in listing["clients"]), "not sorted by id")
    c = listing["clients"][0]
    check(c["transport"] == "tcp" and c["interval_ms"] == 100 and c["timeout_ms"] == 300 and c["online"] is True,
          "client fields: %r", c)
    ids = [c["id"] for c in get(srv, "/v1/clients?prefix=sensor-").json["clients"]]
    check(ids == ["sensor-%d" % i for i in range(5)], "prefix filter: %r", ids)
    ids = [c["id"] for c in get(srv, "/v1/clients?label=room%3Dlab").json["clients"]]
    check(ids == ["pump-1", "sensor-1", "sensor-3"], "label filter: %r", ids)
    ids = [c["id"] for c in get(srv, "/v1/clients?label=room=lab&label=n=3").json["clients"]]
    check(ids == ["sensor-3"], "two labels: %r", ids)
    ids = [c["id"] for c in get(srv, "/v1/clients?label=n").json["clients"]]
    check(len(ids) == 5, "label key only: %r", ids)
    seen, path = [], "/v1/clients?limit=4"
    while path:
        page = get(srv, path).json
        check(len(page["clients"]) <= 4 and page["online"] == 6, "page: %r", page)
        seen += [c["id"] for c in page["clients"]]
        path = "/v1/clients?limit=4&cursor=" + page["next"] if "next" in page else None
    check(seen == sorted(set(seen)) and len(seen) == 6, "pages visited %r", seen)
    for bad in ("limit=0", "limit=abc", "limit=100000", "state=sleepy", "cursor=zz", "label=%3Dx", "prefix=%zz"):
        r = get(srv, "/v1/clients?" + bad)
        check(r.status == 400 and r.error_code() == "bad_request", "%s: %r", bad, r)


def test_one_client_online_then_offline(env):
    """GET /v1/clients/{id}: an online client, then the same id frozen (SIGSTOP) until it times
    out: offline with last_seen, offline_at and reason; an id never seen is 404."""
    srv = env.server(admin=[])
    a = env.agent(srv, "frozen-1", labels={"room": "lab"})
    a.wait_state("online", 5)
    one = get(srv, "/v1/clients/frozen-1").json
    check(one["online"] is True and one["labels"] == {"room": "lab"} and one["v"] == 1, "online: %r", one)
    a.signal(signal.SIGSTOP)
    try:
        off = wait_until(lambda: (lambda j: j if not j["online"] else None)(get(srv, "/v1/clients/frozen-1").json),
                         5, "frozen-1 to be reported offline")
    finally:
        a.signal(signal.SIGCONT)
    check(off["reason"] == "timeout" and off["peer"].startswith("127.0.0.1:"), "offline: %r", off)
    last_seen, offline_at = harness.parse_ts(off["last_seen"]) / 1e3, harness.parse_ts(off["offline_at"]) / 1e3
    check(0.25 <= offline_at - last_seen <= 1.0, "detected %.3f s after the last byte (timeout 0.3 s)",
          offline_at - last_seen)
    everyone = get(srv, "/v1/clients?state=all").json["clients"]
    check(any(c["id"] == "frozen-1" for c in everyone) or get(srv, "/v1/clients/frozen-1").json["online"],
          "state=all lists offline clients: %r", everyone)
    r = get(srv, "/v1/clients/nobody")
    check(r.status == 404 and r.error_code() == "not_found", "unknown id: %r", r)
    r = get(srv, "/v1/clients/frozen-1/history")
    check(r.status == 404 and r.error_code() == "history_off", "history without --data-dir: %r", r)


def test_kick_and_data(env):
    """DELETE kicks (BYE kicked, exactly one offline event); POST .../data sends DATA; both
    are 404 for an id that is not online, and DATA over the server's limit is 413."""
    srv = env.server(admin=[], extra=["--max-data", "1000"])
    w = env.watch(srv)
    raw = env.raw(srv)
    raw.hello("target", interval_ms=60000, timeout_ms=120000)
    r = request(srv.admin_port, "POST", "/v1/clients/target/data", body=b"hello \x00 world")
    check(r.status == 200 and r.json == {"v": 1, "id": "target", "sent": 13}, "data: %r", r)
    deadline = time.monotonic() + 5
    while True:
        t, p = raw.read_frame(max(0.1, deadline - time.monotonic()))
        if t == DATA:
            break
    check(p == b"hello \x00 world", "DATA payload %r", p)
    r = request(srv.admin_port, "POST", "/v1/clients/target/data", body=b"x" * 1001)
    check(r.status == 413 and r.error_code() == "too_large", "oversized data: %r", r)
    r = request(srv.admin_port, "DELETE", "/v1/clients/target")
    check(r.status == 200 and r.json["kicked"] is True, "kick: %r", r)
    while True:
        t, p = raw.read_frame(5)
        if t in (BYE, None):
            break
    check(t == BYE and p[0] == 6, "expected BYE kicked (6), got %r %r", t, p)
    w.wait_event("offline", "target", 5, reason="kicked")
    harness.holds(lambda: len(w.events("offline", "target")) == 1, 0.5, "exactly one offline event")
    for method, path in (("DELETE", "/v1/clients/target"), ("POST", "/v1/clients/target/data")):
        r = request(srv.admin_port, method, path, body=b"x")
        check(r.status == 404 and r.error_code() == "not_found", "%s %s offline: %r", method, path, r)


def test_event_stream_resume_and_gap(env):
    """GET /v1/events: a snapshot, then events with ids <instance>-<seq>; a reader that comes
    back with Last-Event-ID gets exactly what it missed; one too far behind, or from another
    server run, gets a gap (with ?snapshot=1 then the list as it is); idle streams get comments."""
    srv = env.server(admin=["--admin-keepalive", "200ms"], extra=["--event-buffer", "16"])
    env.agent(srv, "first").wait_state("online", 5)
    s = EventStream(srv.admin_port, "/v1/events?snapshot=1")
    check(s.status == 200 and "text/event-stream" in s.head, "head: %s", s.head)
    snap = s.wait_for(lambda m: m.get("event") == "snapshot", 5)
    check([c["id"] for c in snap["data"]["clients"]] == ["first"], "snapshot: %r", snap)
    instance = snap["data"]["instance"]
    check(snap["id"] == "%s-%d" % (instance, snap["data"]["seq"]), "snapshot id %r", snap["id"])
    second = env.agent(srv, "second")
    m = s.wait_for(lambda m: m.get("event") == "online" and m["data"]["id"] == "second", 5)
    vocab.check(m["data"], "event")
    check(m["id"] == "%s-%d" % (instance, m["data"]["seq"]), "event id %r", m)
    s.wait_for(lambda m: m.get("comment") == "keepalive", 2, "a keepalive comment")
    s.close()
    resume_from = m["id"]
    second.kill()
    third = env.agent(srv, "third")
    third.wait_state("online", 5)
    wait_until(lambda: srv.log_lines("offline id=second") or None, 5, "second offline")
    r = EventStream(srv.admin_port, "/v1/events", last_event_id=resume_from)
    got = r.wait_for(lambda m: m.get("event") == "online" and m["data"]["id"] == "third", 5)
    missed = r.events()
    check([(e["event"], e["data"]["id"]) for e in missed] == [("offline", "second"), ("online", "third")],
          "resumed with %r", missed)
    seqs = [e["data"]["seq"] for e in missed]
    check(seqs == list(range(int(resume_from.split("-")[1]) + 1, got["data"]["seq"] + 1)), "seqs %r", seqs)
    r.close()
    other = EventStream(srv.admin_port, "/v1/events", last_event_id="0123456789abcdef-3")
    gap = other.wait_for(lambda m: "event" in m, 5)
    check(gap["event"] == "gap" and gap["data"]["kind"] == "gap", "another run's id: %r", gap)
    other.close()
    for i in range(20):  # more than the 16-event buffer
        env.agent(srv, "churn-%d" % i, count=1).wait_state("online", 5)
    old = EventStream(srv.admin_port, "/v1/events?snapshot=1", last_event_id=resume_from)
    first_two = wait_until(lambda: len(old.events()) >= 2 and old.events()[:2] or None, 5, "gap and snapshot")
    check([e["event"] for e in first_two] == ["gap", "snapshot"], "too old a resume: %r", first_two)
    check(len(first_two[1]["data"]["clients"]) == 22, "snapshot after the gap: %d clients",
          len(first_two[1]["data"]["clients"]))
    old.close()
    bad = request(srv.admin_port, "GET", "/v1/events", headers={"Last-Event-ID": "yesterday"})
    check(bad.status == 400 and bad.error_code() == "bad_request", "bad Last-Event-ID: %r", bad)


def test_metrics_after_a_known_sequence(env):
    """/metrics parses as Prometheus text, and after two clients, one timeout, one token
    refusal and one refused connection the series say exactly that."""
    secret = env.path("secret")
    with open(secret, "w") as f:
        f.write(new_secret() + "\n")
    srv = env.server(admin=[], extra=["--max-connections", "3"])
    m = parse_metrics(get(srv, "/metrics").body)
    check(value(m, "lifeline_clients_online") == 0 and value(m, "lifeline_connections_accepted_total") == 0,
          "fresh server")
    a = env.agent(srv, "m1")
    b = env.agent(srv, "m2")
    a.wait_state("online", 5)
    b.wait_state("online", 5)
    b.signal(signal.SIGSTOP)
    try:
        wait_metric(srv.admin_port, "lifeline_disconnections_total", lambda v: v == 1, 5, reason="timeout")
        # One connection is m1, one m2 closing; two more raw ones reach the limit of 3.
        extra = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(3)]
        env.socks.extend(extra)
        wait_metric(srv.admin_port, "lifeline_connections_refused_total", lambda v: v >= 1, 5,
                    cause="too_many_connections")
    finally:
        b.signal(signal.SIGCONT)
    m = parse_metrics(get(srv, "/metrics").body)
    check(value(m, "lifeline_connections_accepted_total") >= 5, "accepted")
    check(value(m, "lifeline_protocol_errors_total", code="too_many_connections") >= 1, "errors by code")
    check(value(m, "lifeline_detection_delay_seconds_count") == 1, "one detection")
    delay = value(m, "lifeline_detection_delay_seconds_sum")
    check(0.3 <= delay <= 0.6, "detection delay %.3f s for a 300 ms timeout at a 10 ms tick", delay)
    # The server probes each client's RTT once after its handshake (m2 may freeze before it answers).
    wait_metric(srv.admin_port, "lifeline_rtt_seconds_count", lambda v: v >= 1, 5)
    check(value(m, "lifeline_wheel_tick_lag_seconds_count") > 10, "wheel ticks")
    for name in ("lifeline_frames_received_total", "lifeline_frames_sent_total", "lifeline_bytes_received_total",
                 "lifeline_bytes_sent_total", "process_open_fds", "process_resident_memory_bytes"):
        check(value(m, name) > 0, "%s is 0", name)
    check(value(m, "lifeline_info", instance=get(srv, "/v1/clients").json["instance"]) == 1, "info")
    for s in extra:
        s.close()
    tok = env.server(admin=[], extra=["--auth-secret-file", secret], name="tokens")
    env.agent(tok, "no-token")
    wait_metric(tok.admin_port, "lifeline_auth_refusals_total", lambda v: v >= 1, 5)
    m = parse_metrics(get(tok, "/metrics").body)
    check(value(m, "lifeline_protocol_errors_total", code="unauthorized") >= 1, "unauthorized by code")


def test_token_methods_and_limits(env):
    """Every route but /healthz needs the token (header or access_token); wrong methods are
    405 with Allow; oversized, slow and malformed requests and one connection too many get
    their own JSON errors, and the server stays up for everyone else."""
    srv = env.server(admin=["--admin-token-file", token_file(env), "--admin-request-timeout", "300ms",
                            "--admin-max-connections", "3"])
    port = srv.admin_port
    check(get(srv, "/healthz").json == {"v": 1, "status": "ok"}, "healthz needs no token")
    for path in ("/", "/readyz", "/metrics", "/v1/clients", "/v1/clients/x", "/v1/openapi.json", "/v1/events"):
        r = get(srv, path)
        check(r.status == 401 and r.error_code() == "unauthorized" and "Bearer" in r.headers["www-authenticate"],
              "%s without a token: %r", path, r)
    r = get(srv, "/v1/clients", token="wrong-token-0123456789")
    check(r.status == 401 and "wrong" in r.json["error"]["message"], "wrong token: %r", r)
    check(get(srv, "/v1/clients", token=TOKEN).status == 200, "right token")
    check(get(srv, "/v1/clients?access_token=" + TOKEN).status == 200, "access_token query")
    check(get(srv, "/readyz", token=TOKEN).json["status"] == "ready", "readyz")
    page = get(srv, "/", token=TOKEN)
    check(page.status == 200 and page.headers["content-type"].startswith("text/html"), "dashboard: %r", page)
    spec = get(srv, "/v1/openapi.json", token=TOKEN).json
    check(spec["openapi"].startswith("3.") and "/v1/clients/{id}" in spec["paths"] and "/v1/events" in spec["paths"],
          "openapi: %r", list(spec.get("paths", {})))
    r = request(port, "PUT", "/v1/clients", token=TOKEN, body=b"{}")
    check(r.status == 405 and r.headers["allow"] == "GET", "PUT: %r", r)
    r = request(port, "POST", "/v1/clients/x", token=TOKEN)
    check(r.status == 405 and "DELETE" in r.headers["allow"], "POST one client: %r", r)
    r = get(srv, "/v2/nothing", token=TOKEN)
    check(r.status == 404 and r.error_code() == "not_found", "unknown path: %r", r)
    big = socket.create_connection(("127.0.0.1", port))  # refused from its header, before the body is read
    env.socks.append(big)
    big.sendall(b"POST /v1/clients/x/data HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() +
                b"\r\nContent-Length: 2097152\r\n\r\n" + b"x" * 4096)
    big.settimeout(3)
    reply = big.recv(4096).decode()
    check(reply.startswith("HTTP/1.1 413") and '"too_large"' in reply, "2 MiB request: %r", reply)
    slow = socket.create_connection(("127.0.0.1", port))
    env.socks.append(slow)
    slow.sendall(b"GET /v1/clients HTTP/1.1\r\nHost: x\r\n")  # and never the rest
    slow.settimeout(3)
    reply = slow.recv(4096).decode()
    check(reply.startswith("HTTP/1.1 408") and '"timeout"' in reply, "slow request: %r", reply)
    bad = socket.create_connection(("127.0.0.1", port))
    env.socks.append(bad)
    bad.sendall(b"NOT HTTP AT ALL\r\n\r\n")
    bad.settimeout(3)
    reply = bad.recv(4096).decode()
    check(reply.startswith("HTTP/1.1 400") and '"bad_request"' in reply, "garbage: %r", reply)
    streams = [EventStream(port, token=TOKEN) for _ in range(3)]
    r = get(srv, "/v1/clients", token=TOKEN)
    check(r.status == 503 and r.error_code() == "too_many_connections", "fourth connection: %r", r)
    for s in streams:
        s.close()
    wait_until(lambda: get(srv, "/healthz").status == 200 or None, 5, "a free connection again")
    env.agent(srv, "still-fine").wait_state("online", 5)


def test_tls_and_bad_configuration(env):
    """With the server's certificate the admin API is HTTPS; serve refuses an admin API
    without a token (unless --insecure-admin) and a token file it cannot use, naming it."""
    pki = Pki(env.path("pki"))
    cert, key = pki.server_cert, pki.server_key
    srv = env.server(admin=["--admin-token-file", token_file(env)], extra=["--tls-cert", cert, "--tls-key", key])
    r = request(srv.admin_port, "GET", "/v1/clients", token=TOKEN, tls_ca=pki.ca)
    check(r.status == 200 and r.json["online"] == 0, "https: %r", r)
    plain = socket.create_connection(("127.0.0.1", srv.admin_port))
    env.socks.append(plain)
    plain.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    plain.settimeout(3)
    try:
        got = plain.recv(100)
    except OSError:
        got = b""
    check(not got.startswith(b"HTTP/1.1 200"), "plain HTTP answered on the TLS port: %r", got)
    short = token_file(env, "short")
    cases = [(["--admin-listen"], "token is required"),
             (["--admin-listen", "127.0.0.1:0", "--admin-token-file", short], "shorter than 16 bytes"),
             (["--admin-listen", "127.0.0.1:0", "--admin-token-file", env.path("missing")], "admin token file"),
             (["--admin-listen", "nonsense", "--insecure-admin"], "nonsense")]
    for args, expect in cases:
        p = env.run([harness.LIFELINE, "serve", "--listen", "127.0.0.1:0"] + args, 10)
        check(p.returncode != 0 and expect in p.stderr, "%r: exit %d, %r", args, p.returncode, p.stderr)


def test_default_admin_address(env):
    """--admin-listen with no value serves on 127.0.0.1:7001."""
    p = harness.spawn([harness.LIFELINE, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "--insecure-admin"],
                      stderr=open(env.path("default.log"), "wb"))
    try:
        def up():
            try:
                return request(7001, "GET", "/healthz", timeout=1).status == 200 or None
            except OSError:
                return None
        wait_until(up, 5, "the admin API on 127.0.0.1:7001")
    finally:
        harness.kill_proc(p)


def test_ls_and_watch_through_the_admin_api(env):
    """ls --admin and watch --admin print what ls and watch print over the protocol; watch
    reconnects by itself after a server restart and says it missed events (a gap); a wrong
    token ends both with status 4."""
    tf = token_file(env)
    srv = env.server(admin=["--admin-token-file", tf])
    env.agent(srv, "a", labels={"room": "lab"}).wait_state("online", 5)
    url = "http://127.0.0.1:%d" % srv.admin_port
    via_admin = harness.ls_json(srv, extra=["--admin", url, "--admin-token-file", tf])
    direct = env.ls(srv)
    check([(c["id"], c["peer"], c["labels"]) for c in via_admin["clients"]] ==
          [(c["id"], c["peer"], c["labels"]) for c in direct["clients"]] and via_admin["seq"] == direct["seq"],
          "ls --admin %r vs ls %r", via_admin, direct)
    w = harness.Watch(env, srv, name="admin-watch", extra=["--admin", url, "--admin-token-file", tf, "--snapshot"])
    env.collectors.append(w)
    w.wait_connected(5)
    w.wait_for(lambda x: "clients" in x and [c["id"] for c in x["clients"]] == ["a"], 5, what="the snapshot")
    b = env.agent(srv, "b")
    w.wait_event("online", "b", 5)
    b.kill()
    w.wait_event("offline", "b", 5)
    srv.stop()
    srv.start()
    w.wait_connected(10, count=2)
    w.wait_for(lambda x: x.get("kind") == "gap", 5, what="a gap after the restart")
    bad = env.path("bad.token")
    with open(bad, "w") as f:
        f.write("not-the-token-0123456789\n")
    for tool in (["ls"], ["watch"]):
        p = env.run([harness.LIFELINE] + tool + ["--admin", url, "--admin-token-file", bad], 10)
        check(p.returncode == 4 and "wrong" in p.stderr, "%s with a wrong token: %d %r", tool, p.returncode, p.stderr)


if __name__ == "__main__":
    run([test_clients_filters_and_pages,
         test_one_client_online_then_offline,
         test_kick_and_data,
         test_event_stream_resume_and_gap,
         test_metrics_after_a_known_sequence,
         test_token_methods_and_limits,
         test_tls_and_bad_configuration,
         test_default_admin_address,
         test_ls_and_watch_through_the_admin_api])
