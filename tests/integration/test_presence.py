#!/usr/bin/env python3
"""Presence semantics: duplicate ids (takeover / reject), goodbyes, server shutdown, the
online list (labels, fields), and server-driven heartbeats.

    python3 tests/integration/test_presence.py --lifeline PATH [-k NAME] [--keep]
"""
import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import PING, PONG, Raw, check, frame, holds, log, now_ms, parse_ts, run, wait_until  # noqa: E402


def test_duplicate_id_takeover(env):
    """A second connection with an online id takes over: watch sees `takeover` (no offline),
    the first agent is told BYE replaced and stops with that reason instead of taking the id
    back (last one wins: no flapping)."""
    srv = env.server()
    w = env.watch(srv)
    first = env.agent(srv, "dup", backoff_base="100ms", backoff_cap="200ms", name="first")
    on1 = w.wait_event("online", "dup", 5)
    first.wait_state("online", 5)
    mark, fmark = w.mark(), first.mark()
    second = env.agent(srv, "dup", name="second")
    take = w.wait_event("takeover", "dup", 5, start=mark)
    rec = first.wait_state("stopped", 3, start=fmark)
    on2 = second.wait_state("online", 3)
    log("takeover event %s; first agent: stopped (%s)",
        {k: take[k] for k in ("seq", "kind", "id", "peer")}, rec.get("reason"))
    check(take["peer"] != on1["peer"], "takeover event names the old remote %s", take["peer"])
    check("reason" not in take, "takeover event reason %r: only offline events have one (docs/json.md)",
          take.get("reason"))
    before = [e for e in w.snapshot(mark) if e["seq"] < take["seq"] and e.get("id") == "dup"]
    check(not before, "events for dup before the takeover: %s", before)
    check("replaced" in rec.get("reason", ""), "first agent's stopped reason %r lacks 'replaced'",
          rec.get("reason"))
    # it does not come back for the id: no reconnecting line, no further takeover, for many backoff windows
    holds(lambda: not first.states("reconnecting", start=fmark) and
          len(w.events("takeover", "dup", start=mark)) == 1, 1.0,
          "the replaced agent stays stopped (no flapping)")
    srv.wait_log(r"dup.*peer=%s.*replaced|replaced.*peer=%s" % (re.escape(on1["peer"]), re.escape(on1["peer"])),
                 2, "server log line about the replaced session")
    # no offline event for the takeover itself (only possibly later ones caused by killing `first`
    # if it had taken the id back; those carry first's new remote, never the takeover's)
    offs = [e for e in w.events("offline", "dup", start=mark) if e["peer"] in (on1["peer"], take["peer"])]
    check(not offs, "offline events around the takeover: %s", offs)
    ls = wait_until(lambda: (lambda l: l if [c["id"] for c in l["clients"]] == ["dup"] else None)(env.ls(srv)), 3,
                    "dup listed once")
    check(ls["clients"][0]["peer"] == take["peer"], "ls lists dup at %s, the takeover event said %s",
          ls["clients"][0]["peer"], take["peer"])
    check(on2.get("state") == "online", "second agent not online")


def test_duplicate_id_reject(env):
    """--duplicates reject: the newcomer gets ERROR rejected and never gets online; the first
    connection is untouched."""
    srv = env.server(extra=["--duplicates", "reject"])
    w = env.watch(srv)
    first = env.agent(srv, "solo", name="first")
    on1 = w.wait_event("online", "solo", 5)
    first.wait_state("online", 5)
    mark, fmark = w.mark(), first.mark()
    second = env.agent(srv, "solo", name="second", log_level="debug")
    # the newcomer's failed attempts are logged (debug) with the server's ERROR
    wait_until(lambda: re.search(r"failed: .*rejected", second.stderr_text()), 5,
               "the second agent's last error to mention 'rejected'")
    srv.wait_log(r"reason=rejected", 3)
    log("second agent: %s", [ln for ln in second.stderr_text().splitlines() if "rejected" in ln][0].strip())
    # observation window: the newcomer keeps being rejected, the first stays online
    holds(lambda: not second.states("online") and not first.snapshot(fmark) and
          not w.snapshot(mark), 1.5, "second never online, first untouched, no presence events")
    n = len(re.findall(r"rejected", second.stderr_text()))
    log("second agent rejected %d times in the window; first untouched", n)
    check(n >= 2, "second agent tried only %d times", n)
    ls = env.ls(srv)
    check([(c["id"], c["peer"]) for c in ls["clients"]] == [("solo", on1["peer"])], "ls: %s", ls)


def _sigterm_rounds(env, rounds, settle):
    """Start an agent, wait until it is online (+ `settle` seconds of it staying online),
    SIGTERM it; returns a list of problems (empty = every round was a clean goodbye)."""
    srv = env.server()
    w = env.watch(srv)
    problems = []
    for i in range(rounds):
        m0 = w.mark()             # before the agent exists: its online event comes after this
        a = env.agent(srv, "polite", name="polite-%d" % i)
        on = w.wait_event("online", "polite", 5, start=m0)
        a.wait_state("online", 5)
        if settle:
            holds(lambda: not a.states("reconnecting"), settle, "agent online")
        m = w.mark()
        t0 = now_ms()
        a.signal(signal.SIGTERM)
        off = w.wait_event("offline", "polite", 3, start=m)
        code = a.wait_exit(5)
        a.thread.join(5)          # all of its stdout has been read
        states = [x.get("state") for x in a.snapshot()]
        got = []
        if off["reason"] != "bye":
            line = srv.log_lines(r"offline id=polite peer=%s" % re.escape(on["peer"]))
            got.append("server saw offline reason %r, not bye (%s)" % (off["reason"], line[0] if line else "-"))
        if off["peer"] != on["peer"]:
            got.append("offline remote %s != %s" % (off["peer"], on["peer"]))
        if code != 0:
            got.append("exit code %d" % code)
        if states[-1:] != ["stopped"]:
            got.append("last printed states %s, no final 'stopped'" % states)
        if got:
            problems.append("round %d (SIGTERM %.0f ms after online): %s" % (i, t0 - parse_ts(on["at"]), "; ".join(got)))
        a.close()
    return problems


def test_agent_sigterm_says_bye(env):
    """SIGTERM an agent that has been online for a while: BYE (offline reason bye), a final
    `stopped` line, exit code 0. 12 rounds, every one must be clean."""
    problems = _sigterm_rounds(env, 12, settle=0.25)
    log("%d/12 rounds clean", 12 - len(problems))
    check(not problems, "%d/12 rounds not clean: %s", len(problems), " | ".join(problems))


def test_agent_sigterm_right_after_online_says_bye(env):
    """SIGTERM an agent the moment it is online (the server is probing its RTT then): it must
    still say BYE. 12 rounds, every one must be clean."""
    problems = _sigterm_rounds(env, 12, settle=0)
    log("%d/12 rounds clean", 12 - len(problems))
    check(not problems, "%d/12 rounds not clean: %s", len(problems), " | ".join(problems))


def test_server_sigterm_says_shutdown(env):
    srv = env.server()
    agents = [env.agent(srv, "s%d" % i, backoff_base="1s", backoff_cap="2s") for i in range(3)]
    for a in agents:
        a.wait_state("online", 5)
    marks = [a.mark() for a in agents]
    code = srv.stop()
    check(code == 0, "server exited %s after SIGTERM", code)
    for a, m in zip(agents, marks):
        r = a.wait_state("reconnecting", 3, start=m)
        log("%s: reconnecting (%s)", a.id, r.get("reason"))
        check("shutdown" in r.get("reason", ""), "%s: reason %r lacks 'shutdown'", a.id, r.get("reason"))
    line = srv.wait_log(r"BYE\(shutdown\) to \d+ clients", 1)
    check("to 3 clients" in line, "server log: %s", line)


def test_server_sigterm_exits_promptly(env):
    """SIGTERM must stop the server (exit 0, 'server stopped') every time, whatever the tick.
    25 rounds with --tick 1ms and no clients."""
    import subprocess
    hung, bad = [], []
    for i in range(25):
        srv = env.server(args=["--tick", "1ms"], name="tick-%d" % i)
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        try:
            code = srv.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            hung.append(i)
            srv.kill()
            if len(hung) >= 3:
                break           # enough evidence; keeps the file well under a minute
            continue
        if code != 0 or not srv.log_lines(r"server stopped"):
            bad.append("round %d: exit %s after %.2fs" % (i, code, time.monotonic() - t0))
    rounds = i + 1
    log("%d/%d rounds hung (no exit within 3 s of SIGTERM), %d other problems", len(hung), rounds, len(bad))
    check(not hung and not bad, "%d/%d servers still running 3 s after SIGTERM (rounds %s; killed); %s",
          len(hung), rounds, hung, bad)


def test_ls_labels_and_fields(env):
    srv = env.server()
    w = env.watch(srv)
    t_before = now_ms()
    a = env.agent(srv, "lab1", labels={"room": "lab", "rack": "7", "empty": ""})
    b = env.agent(srv, "plain")
    on_a = w.wait_event("online", "lab1", 5)
    on_b = w.wait_event("online", "plain", 5)
    a.wait_state("online", 5)
    b.wait_state("online", 5)

    # the server measures RTT right after the handshake: rtt_us > 0 well within ~1 s
    def measured():
        ls = env.ls(srv)
        return ls if len(ls["clients"]) == 2 and all(c["rtt_us"] > 0 for c in ls["clients"]) else None
    ls = wait_until(measured, 1.5, "rtt_us > 0 for both clients", poll=0.05)
    t_after = now_ms()
    log("ls: %s", ls)
    check(ls["online"] == 2, "online %r, expected 2 (observers such as watch/ls must not count)", ls["online"])
    by = {c["id"]: c for c in ls["clients"]}
    check(set(by) == {"lab1", "plain"}, "ids %s", sorted(by))
    check(by["lab1"]["labels"] == {"room": "lab", "rack": "7", "empty": ""}, "labels %r", by["lab1"]["labels"])
    check(by["plain"]["labels"] == {}, "labels of plain %r", by["plain"]["labels"])
    for c, on in ((by["lab1"], on_a), (by["plain"], on_b)):
        check(c["peer"] == on["peer"], "%s remote %s, watch said %s", c["id"], c["peer"], on["peer"])
        check(t_before - 5 <= parse_ts(c["since"]) <= parse_ts(c["last_seen"]) <= t_after + 5,
              "%s: since_ms %d / last_seen_ms %d not within [%d, %d]", c["id"], parse_ts(c["since"]), parse_ts(c["last_seen"]),
              t_before, t_after)
        check(abs(parse_ts(c["since"]) - parse_ts(on["at"])) <= 5, "%s since_ms %d != online at_ms %d", c["id"], parse_ts(c["since"]),
              parse_ts(on["at"]))
        check(t_after - parse_ts(c["last_seen"]) <= 300 + 200, "%s last seen %d ms ago", c["id"], t_after - parse_ts(c["last_seen"]))
        check(0 < c["rtt_us"] < 200000, "%s rtt_us %d", c["id"], c["rtt_us"])
        check(c["interval_ms"] == 100 and c["timeout_ms"] == 300, "%s heartbeat %d/%d", c["id"], c["interval_ms"],
              c["timeout_ms"])
    # text mode shows the labels too
    r = env.run([harness.LIFELINE, "ls", "--server", srv.addr], 5)
    check(r.returncode == 0 and "room=lab" in r.stdout and "2 online" in r.stdout, "ls text: %r", r.stdout)


def test_server_pings_mode_stays_online(env):
    """--server-pings: the server drives the heartbeat, the agent only answers; it must stay
    online (no timeout on either side) for well over several timeouts."""
    srv = env.server()
    w = env.watch(srv)
    a = env.agent(srv, "passive", extra=["--server-pings"])
    on = w.wait_event("online", "passive", 5)
    a.wait_state("online", 5)
    t0 = time.monotonic()
    holds(lambda: not w.events("offline", "passive") and not a.states("reconnecting"), 1.6,
          "passive agent online (no offline event, no reconnecting)")
    ls = env.ls(srv)
    c = [c for c in ls["clients"] if c["id"] == "passive"]
    check(c and c[0]["peer"] == on["peer"], "ls: %s", ls)
    log("server-pings agent online for %.1f s; ls: rtt_us=%d last_seen %.0f ms ago", time.monotonic() - t0,
        c[0]["rtt_us"], now_ms() - parse_ts(c[0]["last_seen"]))
    check(c[0]["rtt_us"] > 0, "rtt_us %d: the server's PINGs measure it", c[0]["rtt_us"])
    check(now_ms() - parse_ts(c[0]["last_seen"]) <= 300 + 200, "last seen %.0f ms ago", now_ms() - parse_ts(c[0]["last_seen"]))


def test_server_pings_keep_the_interval(env):
    """SERVER_PINGS at a 200 ms interval on a 50 ms tick: the server pings every 200 ms, not
    one tick late every time (it pinged every 250 ms: each PING was counted as sent when the
    tick carried it, and the lateness added up). A raw client answers PINGs and times them."""
    args = [a if a != "10ms" else "50ms" for a in harness.FAST_SERVER]  # --tick 50ms
    check("--tick" in args and args[args.index("--tick") + 1] == "50ms", "args %s", args)
    srv = env.server(args=args)
    c = Raw(srv.port)
    c.hello("metronome", interval_ms=200, timeout_ms=2000, flags=1)  # SERVER_PINGS
    arrivals, end = [], time.monotonic() + 3.0
    while (left := end - time.monotonic()) > 0:
        try:
            t, p = c.read_frame(left)
        except OSError:  # socket.timeout: the window is over
            break
        check(t is not None, "server closed after %d PINGs", len(arrivals))
        if t == PING:
            arrivals.append(time.monotonic())
            c.send(frame(PONG, p))
    gaps = sorted(b - a for a, b in zip(arrivals[1:], arrivals[2:]))  # the first PING comes right after WELCOME
    median = gaps[len(gaps) // 2] * 1000 if gaps else 0
    log("%d PINGs in 3 s; spacing median %.0f ms, min %.0f ms, max %.0f ms", len(arrivals), median,
        gaps[0] * 1000 if gaps else 0, gaps[-1] * 1000 if gaps else 0)
    check(len(arrivals) >= 14, "%d PINGs in 3 s at a 200 ms interval (one tick late each: about 12)", len(arrivals))
    check(180 <= median <= 225, "median PING spacing %.0f ms, expected 200 (+ at most half a tick)", median)
    c.close()


if __name__ == "__main__":
    run([test_duplicate_id_takeover,
         test_duplicate_id_reject,
         test_agent_sigterm_says_bye,
         test_agent_sigterm_right_after_online_says_bye,
         test_server_sigterm_says_shutdown,
         test_server_sigterm_exits_promptly,
         test_ls_labels_and_fields,
         test_server_pings_mode_stays_online,
         test_server_pings_keep_the_interval])
