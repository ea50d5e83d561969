#!/usr/bin/env python3
"""Fault injection: a pulled network cable between one agent and the server.

    python3 tests/faults/test_cable_pull.py --lifeline PATH [-k NAME] [--seed N] [--keep]

Two network namespaces joined by a veth pair (tests/lib/netns.py; addresses exist only
inside them):

    llcbl-s-<pid>  10.213.N.1/30   lifeline serve (also on 127.0.0.1) + lifeline watch (loopback)
    llcbl-c-<pid>  10.213.N.2/30   lifeline agent --id a1

A "pulled cable" is iptables DROP rules in the client namespace only, so the host's
firewall is never touched. Each case starts its own server, watch and agent:

  both_directions: both directions dropped: the server reports `offline reason=timeout`
     within timeout + tick + slack, the agent `reconnecting` ("server silent") within
     timeout + slack; after the rules are removed the agent is online again and the watch
     sees it.
  server_to_client: server -> client dropped (client INPUT): the agent hears no PONG and
     reconnects within its bound; the server reports the old session offline (any reason)
     within 2 s.
  client_to_server: client -> server dropped (client OUTPUT): the server times the session
     out within its bound; the agent, hearing nothing either, detects within its bound too.

Every delay is measured from just before the iptables rules were installed, from the moment
the line reached this script (and, for reference, from the timestamp inside the line).
Processes, waits with deadlines and observation windows come from tests/lib/harness.py:
nothing here sleeps for synchronization. The only deliberate waits are observation windows
(nothing may happen during them) and a random extra up-time before each cut, so that the
cut falls at a random point of the heartbeat cycle (printed, reproducible with --seed).
Exit status: 0 all passed, 1 something failed, 77 skipped (no permission for network
namespaces or iptables).
"""
import argparse
import os
import random
import re
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import Collector, check, holds, log, now_ms, parse_ts, run, wait_until  # noqa: E402
from netns import NetnsPair  # noqa: E402

SKIP = 77

# Timings handed to the processes (milliseconds) and the bounds derived from them.
INTERVAL_MS, TIMEOUT_MS, TICK_MS = 200, 600, 10
BACKOFF_BASE_MS, BACKOFF_CAP_MS, CONNECT_TIMEOUT_MS = 100, 500, 500
SLACK_MS = 300
SERVER_BOUND_MS = TIMEOUT_MS + TICK_MS + SLACK_MS      # 910: server declares a silent agent dead
AGENT_BOUND_MS = TIMEOUT_MS + SLACK_MS                 # 900: agent declares a silent server dead
# Neither side may give up before `timeout` minus one heartbeat interval after the cut (the last
# byte crossed the wire at most one interval before it), minus a little scheduling slack.
EARLY_MS = TIMEOUT_MS - INTERVAL_MS - 50               # 350
ONE_WAY_SERVER_BOUND_MS = 2000                         # server_to_client: server notices "by some means"
RECONNECT_BOUND_MS = 5000                              # after healing: online again
OUTAGE_HOLD_S = 1.0                                    # keep the cable out this long after detection
STABLE_HOLD_S = 0.8                                    # the new session must survive this long
AGENT_ID = "a1"

PAIR = NetnsPair("llcbl", net=213)
RNG = random.Random()


def _on_signal(signum, _frame):
    harness.kill_all()          # processes first: a namespace lives on while one runs in it
    PAIR.cleanup()
    sys.stderr.write("test_cable_pull: signal %d, children killed, namespaces deleted\n" % signum)
    os._exit(128 + signum)


def agent_state(state):
    """agent --json: state lines on stdout."""
    return lambda x: x.get("state") == state


def watch_event(kind):
    """watch --json: presence events on stdout."""
    return lambda x: x.get("kind") == kind and x.get("id") == AGENT_ID


def server_line(pattern):
    """The server's log (stderr, collected with stdout as raw lines)."""
    rx = re.compile(pattern)
    return lambda x: rx.search(x.get("raw", "")) is not None


class World:
    """Server and watch in the server namespace, the agent in the client's, on `port`."""

    def __init__(self, env, port):
        self.env = env
        PAIR.filter(PAIR.client, [])
        ms = lambda v: "%dms" % v  # noqa: E731
        srv_addr, local = "%s:%d" % (PAIR.server_ip, port), "127.0.0.1:%d" % port
        self.server = self._spawn("server", PAIR.server, [
            "serve", "--listen", srv_addr, "--listen", local, "--interval", ms(INTERVAL_MS), "--timeout",
            ms(TIMEOUT_MS), "--min-interval", "50ms", "--min-timeout", "150ms", "--tick", ms(TICK_MS)],
            json_lines=False, merge_stderr=True)
        for addr in (srv_addr, local):
            self.server.wait_for(server_line(r"listening on %s\b" % re.escape(addr)), 5, what="listening on " + addr)
        self.watch = self._spawn("watch", PAIR.server, ["watch", "--server", local, "--json"])
        wait_until(lambda: "watch: online" in self.watch.stderr_text(), 5,
                   "the watch to connect over the server namespace's loopback")
        self.agent = self._spawn("agent", PAIR.client, [
            "agent", "--id", AGENT_ID, "--server", srv_addr, "--interval", ms(INTERVAL_MS), "--timeout",
            ms(TIMEOUT_MS), "--backoff-base", ms(BACKOFF_BASE_MS), "--backoff-cap", ms(BACKOFF_CAP_MS),
            "--connect-timeout", ms(CONNECT_TIMEOUT_MS), "--json"])
        on = self.agent.wait_for(agent_state("online"), 5, what="the agent online across the veth")
        check(on.get("timeout_ms") == TIMEOUT_MS and on.get("interval_ms") == INTERVAL_MS,
              "agent got interval %s ms / timeout %s ms (expected %d / %d)", on.get("interval_ms"),
              on.get("timeout_ms"), INTERVAL_MS, TIMEOUT_MS)
        ev = self.watch.wait_for(watch_event("online"), 3, what="a1 online in the watch")
        check(ev.get("peer", "").startswith(PAIR.client_ip + ":"), "watch saw a1 online from %s, expected %s",
              ev.get("peer"), PAIR.client_ip)

    def _spawn(self, name, ns, args, json_lines=True, merge_stderr=False):
        c = Collector(self.env, PAIR.in_ns(ns, [harness.LIFELINE] + args), name, json_lines=json_lines,
                      merge_stderr=merge_stderr)
        self.env.collectors.append(c)
        return c

    def marks(self):
        return {"agent": self.agent.mark(), "watch": self.watch.mark(), "server": self.server.mark()}

    def cut(self, inbound, outbound):
        """Install the DROP rules (atomically); returns wall ms and mono s taken just before,
        and the time the command took (ms)."""
        rules = []
        if inbound:
            rules.append("-A INPUT -s %s/32 -j DROP" % PAIR.server_ip)
        if outbound:
            rules.append("-A OUTPUT -d %s/32 -j DROP" % PAIR.server_ip)
        wall, mono = now_ms(), time.monotonic()
        PAIR.filter(PAIR.client, rules)
        return wall, mono, (time.monotonic() - mono) * 1000.0

    def heal(self):
        """No rules (atomic). Returns the mono time taken just before."""
        mono = time.monotonic()
        PAIR.filter(PAIR.client, [])
        return mono

    def check_running(self):
        for c in (self.server, self.watch, self.agent):
            check(c.proc.poll() is None, "%s exited (status %s)", c.name, c.proc.poll())


# ----------------------------------------------------------------------------- steps

def wait_healthy(w, case):
    """The agent's latest state online, the watch's latest a1 event online, and both older
    than two intervals (heartbeats are flowing). Then an observation window of a random
    length in [0, interval) during which nothing may change, so that the cut lands at a
    random point of the heartbeat cycle (a fixed point would always measure the same delay);
    reproducible with --seed. Returns the session's remote address."""
    def healthy():
        st = w.agent.select(lambda x: "state" in x)
        ev = w.watch.select(lambda e: e.get("id") == AGENT_ID)
        if (st and st[-1]["state"] == "online" and ev and ev[-1]["kind"] in ("online", "takeover") and
                time.monotonic() - max(st[-1]["_mono"], ev[-1]["_mono"]) > 2 * INTERVAL_MS / 1000.0):
            return ev[-1]["peer"]
        return None
    remote = wait_until(healthy, RECONNECT_BOUND_MS / 1000.0, "a healthy baseline before %s" % case, poll=0.005)
    phase_s = RNG.uniform(0, INTERVAL_MS / 1000.0)
    am, wm = w.agent.mark(), w.watch.mark()
    holds(lambda: not w.agent.select(lambda x: "raw" not in x, am) and not w.watch.select(lambda x: "raw" not in x, wm),
          phase_s, "%s: session %s undisturbed for the random %.0f ms before the cut" % (case, remote, phase_s * 1e3))
    return remote


def begin(w, case, inbound, outbound):
    """Wait for a healthy session, take marks, pull the cable (the given directions).
    Returns (old remote, marks, (wall ms, mono s) just before the cut, iptables time ms)."""
    old_remote = wait_healthy(w, case)
    marks = w.marks()
    t_wall, t_mono, took = w.cut(inbound=inbound, outbound=outbound)
    log("%s: DROP %s installed (iptables-restore took %.0f ms); session %s", case,
        "+".join(d for d, on in (("in", inbound), ("out", outbound)) if on), took, old_remote)
    return old_remote, marks, (t_wall, t_mono), took


def fmt_delay(seen, stamped):
    return "%.0f ms (line arrived), %.0f ms (its own timestamp)" % (seen, stamped)


def measure_server_offline(w, case, t, marks, bound_ms, reason_rx, old_remote):
    """The server's log line and the watch's offline event for the old session; returns
    (reason, ms until the log line arrived)."""
    t_wall, t_mono = t
    ln = w.server.wait_for(server_line(r"offline id=%s peer=%s reason=(%s)" % (AGENT_ID, re.escape(old_remote),
                                                                               reason_rx)),
                           bound_ms / 1000.0 + 2, start=marks["server"],
                           what="offline id=a1 peer=%s reason=%s in the server log" % (old_remote, reason_rx))
    seen = (ln["_mono"] - t_mono) * 1000.0
    reason = re.search(r"reason=(\S+)", ln["raw"]).group(1)
    log("%s: server: %s", case, ln["raw"])
    ev = w.watch.wait_for(watch_event("offline"), bound_ms / 1000.0 + 2, start=marks["watch"],
                          what="a1 offline in the watch")
    check(ev.get("peer") == old_remote and ev.get("reason") == reason,
          "%s: watch offline event should name remote %s reason %s, got %s", case, old_remote, reason, ev)
    ev_seen, ev_stamped = (ev["_mono"] - t_mono) * 1000.0, parse_ts(ev["at"]) - t_wall
    log("%s: server offline (reason=%s): log line %.0f ms; watch event %s", case, reason, seen,
        fmt_delay(ev_seen, ev_stamped))
    check(seen <= bound_ms, "%s: server reported offline %.0f ms after the cut (bound %d ms)", case, seen, bound_ms)
    check(ev_stamped <= bound_ms, "%s: offline event at_ms is %.0f ms after the cut (bound %d ms)", case,
          ev_stamped, bound_ms)
    return reason, seen


def measure_agent_reconnecting(w, case, t, marks, bound_ms, reason_rx):
    """The agent's reconnecting line; returns (reason, ms until it arrived)."""
    t_wall, t_mono = t
    ln = w.agent.wait_for(agent_state("reconnecting"), bound_ms / 1000.0 + 2, start=marks["agent"],
                          what="the agent reconnecting")
    seen, stamped = (ln["_mono"] - t_mono) * 1000.0, parse_ts(ln["at"]) - t_wall
    reason = ln.get("reason", "")
    log("%s: agent reconnecting (%s): %s", case, reason, fmt_delay(seen, stamped))
    check(re.search(reason_rx, reason) is not None, "%s: agent's reason %r should match /%s/", case, reason, reason_rx)
    check(seen <= bound_ms, "%s: agent reported reconnecting %.0f ms after the cut (bound %d ms)", case, seen,
          bound_ms)
    check(stamped <= bound_ms, "%s: agent's ts is %.0f ms after the cut (bound %d ms)", case, stamped, bound_ms)
    return reason, seen


def check_not_early(case, side, measured_ms, early_ms):
    check(measured_ms >= early_ms, "%s: %s declared the other side dead early (%.0f ms < %.0f ms)", case, side,
          measured_ms, early_ms)


def outage_and_heal(w, case, marks, old_remote):
    """With the cable still out: the agent must not get online and the watch must see no new
    online for a1 for OUTAGE_HOLD_S (its connect attempts fail meanwhile). Then heal and
    require the agent online again, on a new connection the watch reports."""
    am = w.agent.mark()
    holds(lambda: not w.agent.select(agent_state("online"), am), OUTAGE_HOLD_S,
          "%s: agent not online while the cable is out (%.1f s)" % (case, OUTAGE_HOLD_S))
    back = w.watch.select(lambda e: e.get("id") == AGENT_ID and e.get("kind") in ("online", "takeover"), marks["watch"])
    check(not back, "%s: online/takeover event for a1 while the cable is out: %s", case, back)
    rec = w.agent.select(agent_state("reconnecting"), marks["agent"])
    check(len(rec) == 1, "%s: %d reconnecting lines for the outage, expected exactly one", case, len(rec))
    off = w.watch.select(watch_event("offline"), marks["watch"])
    check(len(off) == 1, "%s: %d offline events for the outage, expected exactly one", case, len(off))

    am, wm, sm = w.agent.mark(), w.watch.mark(), w.server.mark()
    t_heal = w.heal()
    check(PAIR.rules(PAIR.client).count("DROP") == 0, "%s: rules still in place after healing", case)
    on = w.agent.wait_for(agent_state("online"), RECONNECT_BOUND_MS / 1000.0, start=am,
                          what="the agent online again within %d ms of healing" % RECONNECT_BOUND_MS)
    back_ms = (on["_mono"] - t_heal) * 1000.0
    log("%s: agent online again %.0f ms after healing (attempts=%s)", case, back_ms, on.get("attempts"))
    ev = w.watch.wait_for(watch_event("online"), 3, start=wm, what="a1 online again in the watch")
    check(ev.get("peer") != old_remote and ev.get("peer", "").startswith(PAIR.client_ip + ":"),
          "%s: new session should come from a new connection, got %s (old %s)", case, ev.get("peer"), old_remote)
    w.server.wait_for(server_line(r"online id=%s peer=%s" % (AGENT_ID, re.escape(ev["peer"]))), 2, start=sm,
                      what="the new session online in the server log")
    # Stale packets of the dead connection (retransmitted FIN/BYE, SYN-ACKs of abandoned
    # attempts) arrive now; none of them may disturb the new session.
    am = w.agent.mark()
    holds(lambda: not w.agent.select(agent_state("reconnecting"), am) and
          not w.watch.select(watch_event("offline"), wm), STABLE_HOLD_S,
          "%s: the new session staying up for %.1f s after healing" % (case, STABLE_HOLD_S))
    w.check_running()


# ----------------------------------------------------------------------------- cases

def test_both_directions(env):
    case = "both-ways"
    w = World(env, 7000)
    old_remote, marks, t, took = begin(w, case, inbound=True, outbound=True)
    _, srv_ms = measure_server_offline(w, case, t, marks, SERVER_BOUND_MS, "timeout", old_remote)
    _, agt_ms = measure_agent_reconnecting(w, case, t, marks, AGENT_BOUND_MS, r"server silent")
    check_not_early(case, "server", srv_ms, EARLY_MS - took)
    check_not_early(case, "agent", agt_ms, EARLY_MS - took)
    outage_and_heal(w, case, marks, old_remote)


def test_server_to_client(env):
    case = "srv->cli dropped"
    w = World(env, 7001)
    old_remote, marks, t, took = begin(w, case, inbound=True, outbound=False)
    _, agt_ms = measure_agent_reconnecting(w, case, t, marks, AGENT_BOUND_MS, r"server silent")
    reason, _ = measure_server_offline(w, case, t, marks, ONE_WAY_SERVER_BOUND_MS, r"\w+", old_remote)
    check_not_early(case, "agent", agt_ms, EARLY_MS - took)
    log("%s: the server kept receiving PINGs; it learned of the loss by reason=%s", case, reason)
    outage_and_heal(w, case, marks, old_remote)


def test_client_to_server(env):
    case = "cli->srv dropped"
    w = World(env, 7002)
    old_remote, marks, t, took = begin(w, case, inbound=False, outbound=True)
    _, srv_ms = measure_server_offline(w, case, t, marks, SERVER_BOUND_MS, "timeout", old_remote)
    # The agent's PINGs are lost, so it hears no PONG: its own watchdog fires at about the same
    # moment the server's does; the server's BYE(timeout) can still reach it and may win.
    _, agt_ms = measure_agent_reconnecting(w, case, t, marks, AGENT_BOUND_MS,
                                           r"server silent|server said BYE \(timeout")
    check_not_early(case, "server", srv_ms, EARLY_MS - took)
    check_not_early(case, "agent", agt_ms, EARLY_MS - took)
    outage_and_heal(w, case, marks, old_remote)


def main():
    tests = [test_both_directions, test_server_to_client, test_client_to_server]
    # --seed is this file's own option; harness.run() parses the rest.
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--seed", type=int, default=None)
    own, rest = ap.parse_known_args()
    sys.argv = sys.argv[:1] + rest
    if any(a in ("-h", "--help") for a in rest):
        run(tests, __doc__)
    seed = own.seed if own.seed is not None else random.SystemRandom().randrange(1 << 31)
    RNG.seed(seed)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)
    try:
        PAIR.setup()
    except RuntimeError as e:
        PAIR.cleanup()
        print("SKIP: cannot use network namespaces with iptables here: %s" % e)
        sys.exit(SKIP)
    log("seed %d (rerun with --seed %d for the same cut phases)", seed, seed)
    log("namespaces %s (%s) and %s (%s)", PAIR.server, PAIR.server_ip, PAIR.client, PAIR.client_ip)
    run(tests, __doc__)   # exits; atexit deletes the namespaces


if __name__ == "__main__":
    main()
