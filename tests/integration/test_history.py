#!/usr/bin/env python3
"""Presence history across restarts (serve --data-dir): a real SIGKILL leaves a session
open that the next run closes as server_lost at its last write; offline clients keep their
last seen; GET /v1/clients/{id}/history and `lifeline history` agree on sessions and
availability; a clean stop closes sessions as shutdown.

    python3 tests/integration/test_history.py --lifeline PATH [-k NAME] [--keep]
"""
import json
import os
import signal
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from admin_http import request  # noqa: E402
from harness import check, parse_ts, run, wait_until  # noqa: E402


def history(env, id, *extra, missing_ok=False):
    p = env.run([harness.LIFELINE, "history", id, "--data-dir", env.path("data"), "--json"] + list(extra), 10)
    if missing_ok and p.returncode == 1 and "no history" in p.stderr:
        return {}
    check(p.returncode == 0, "lifeline history exited %d: %s", p.returncode, p.stderr)
    return json.loads(p.stdout)


def test_sigkill_then_restart_closes_sessions_as_server_lost(env):
    data = env.path("data")
    srv = env.server(extra=["--data-dir", data], admin=[])
    a = env.agent(srv, "h1")
    a.wait_state("online", 5)
    gone = env.agent(srv, "gone")
    gone.wait_state("online", 5)
    gone.kill()
    # Committed (the writer commits within 200 ms) before the kill:
    wait_until(lambda: history(env, "gone", missing_ok=True).get("reason") == "closed" or None, 5, "gone's offline in the database")
    killed_at = time.time()
    mark = a.mark()  # before the kill: the agent may be back online before srv.start() returns
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(5)
    srv.start()
    a.wait_state("online", 10, start=mark)
    srv.wait_log(r"1 sessions a previous run left open were closed as server_lost", 5)
    h = wait_until(lambda: (lambda h: h if len(h["sessions"]) == 2 else None)(history(env, "h1")), 5,
                   "the new session in the database")
    lost, now = h["sessions"]
    check(lost["reason"] == "server_lost" and "until" not in now, "sessions: %r", h["sessions"])
    ended = parse_ts(lost["until"]) / 1e3
    check(killed_at - 1.2 <= ended <= killed_at, "closed at %.3f, killed at %.3f", ended, killed_at)
    check(0 < h["availability"] < 1 and h["online"] is True, "availability: %r", h)
    # Across the restart the admin API still knows the offline client, from the history.
    off = request(srv.admin_port, "GET", "/v1/clients/gone").json
    check(off["online"] is False and off["reason"] == "closed", "gone after the restart: %r", off)
    ids = [c["id"] for c in request(srv.admin_port, "GET", "/v1/clients?state=offline").json["clients"]]
    check(ids == ["gone"], "offline clients: %r", ids)
    q = urllib.parse.urlencode({"since": h["since"], "until": h["until"]})
    api = request(srv.admin_port, "GET", "/v1/clients/h1/history?" + q).json
    check(api["sessions"][0] == lost and api["online_ms"] >= h["online_ms"], "API %r vs CLI %r", api, h)
    r = request(srv.admin_port, "GET", "/v1/clients/h1/history?since=yesterday")
    check(r.status == 400 and r.error_code() == "bad_request", "bad since: %r", r)
    r = request(srv.admin_port, "GET", "/v1/clients/never/history")
    check(r.status == 404, "never seen: %r", r)
    m = request(srv.admin_port, "GET", "/metrics").body
    check("lifeline_history_degraded 0" in m and "lifeline_history_events_written_total" in m, "metrics: %s",
          m[-400:])


def test_availability_over_a_window_and_clean_shutdown(env):
    data = env.path("data")
    srv = env.server(extra=["--data-dir", data])
    start = time.time()
    a = env.agent(srv, "w")
    a.wait_state("online", 5)
    a.signal(signal.SIGSTOP)  # frozen: it times out
    try:
        wait_until(lambda: srv.log_lines("offline id=w") or None, 5, "w to time out")
    finally:
        a.signal(signal.SIGCONT)
    a.wait_state("online", 10, start=a.mark())
    srv.stop()
    h = history(env, "w", "--since", "-1m")
    reasons = [s["reason"] for s in h["sessions"]]
    check(reasons[0] == "timeout" and reasons[-1] == "shutdown", "reasons: %r", reasons)
    total = sum(parse_ts(s["until"]) - parse_ts(s["since"]) for s in h["sessions"])
    check(abs(total - h["online_ms"]) <= 2, "online_ms %d is not the sum %d", h["online_ms"], total)
    check(abs(h["availability"] - h["online_ms"] / 60000.0) < 1e-3, "availability %r", h["availability"])
    text = env.run([harness.LIFELINE, "history", "w", "--data-dir", data, "--since", "-1m"], 10).stdout
    check("timeout" in text and "shutdown" in text and "%" in text, "text output: %s", text)
    p = env.run([harness.LIFELINE, "history", "nobody", "--data-dir", data], 10)
    check(p.returncode == 1 and "no history for id 'nobody'" in p.stderr, "unknown id: %r", p.stderr)
    check(time.time() - start < 30, "took too long")


def test_newer_database_is_refused_and_bad_dir_degrades(env):
    import sqlite3
    data = env.path("newer")
    os.makedirs(data)
    db = sqlite3.connect(os.path.join(data, "history.sqlite3"))
    db.execute("PRAGMA user_version = 7")
    db.close()
    p = env.run([harness.LIFELINE, "serve", "--listen", "127.0.0.1:0", "--data-dir", data], 10)
    check(p.returncode == 2 and "schema version 7" in p.stderr, "newer database: %d %r", p.returncode, p.stderr)
    afile = env.path("a-file")
    open(afile, "w").close()
    srv = env.server(extra=["--data-dir", afile], admin=[])
    srv.wait_log(r"history: .*keeping history in memory", 5)
    env.agent(srv, "m").wait_state("online", 5)
    m = request(srv.admin_port, "GET", "/metrics").body
    check("lifeline_history_degraded 1" in m, "degraded metric: %s", m[-300:])


if __name__ == "__main__":
    run([test_sigkill_then_restart_closes_sessions_as_server_lost,
         test_availability_over_a_window_and_clean_shutdown,
         test_newer_database_is_refused_and_bad_dir_degrades])
