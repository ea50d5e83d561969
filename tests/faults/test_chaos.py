#!/usr/bin/env python3
"""Fault matrix: 200 heartbeating agents (interval 200 ms, timeout 1 s), run as four agent
processes of 50 clients each, connect through a userspace fault proxy (tests/lib/chaos.py);
the watch and `ls` go to the server directly. Each fault is applied, checked and healed, in
shuffled order, for two rounds:

    latency, round trip with jitter <= (timeout - interval) / 2   no one goes offline
    1-byte segments                                   no one goes offline
    bandwidth cap above the heartbeat rate            no one goes offline
    latency above the timeout                         everyone is detected within the bound
    blackhole client->server (sockets kept open)      everyone is detected within the bound
    blackhole server->client                          everyone is detected within the bound
    connection reset                                  everyone is detected at once
    SIGSTOP of one agent process (50 clients)         its 50 go offline, reason timeout, within
                                                      the bound and not before timeout - 2 intervals;
                                                      the other 150 stay online; after SIGCONT each
                                                      frozen client handshakes anew
    SIGKILL of one agent process                      its 50 go offline at once (closed/reset, the
                                                      kernel closes the sockets), the others stay;
                                                      the restarted process brings them back
    SIGSTOP of the server                             every agent reports the silence within
                                                      timeout + slack; after SIGCONT the server ends
                                                      every frozen session and all 200 come back

After each heal all 200 are online again (the server lists them and every agent says so),
and while a process is stopped or dead `ls` lists exactly the others. Over the whole run
every id's events alternate (online, then offline or takeover, ...: exactly one event per
transition), the watch never lost its connection (so it saw every event: the server's
default heartbeat, which observers get, is 1 s / 10 s and outlasts a server freeze), no
session is left over, and the server's descriptor count and RSS come back to where they
started.

    python3 tests/faults/test_chaos.py --lifeline PATH [-k NAME] [--keep]
    LIFELINE_CHAOS_SEED=N ... repeats a run's order and its choice of victim processes
"""
import os
import random
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from chaos import Chaos  # noqa: E402
from harness import check, check_memory_returned, holds, log, parse_ts, raise_nofile, run  # noqa: E402

PROCS, PER_PROC = 4, 50          # agent processes (victims of SIGSTOP/SIGKILL) x clients each
AGENTS = PROCS * PER_PROC
INTERVAL_MS, TIMEOUT_MS, TICK_MS = 200, 1000, 10
# Detection bound of the disconnecting faults: timeout + tick, plus slack for a loaded
# 2-core machine running 200 agents, the proxy and (in CI) an ASan build.
SLACK_MS = 600
BOUND_MS = TIMEOUT_MS + TICK_MS + SLACK_MS
# A frozen client's last byte left at most one interval before the SIGSTOP (a late heartbeat
# on a loaded machine a little more), so no timeout may come sooner than this after it.
EARLY_MS = TIMEOUT_MS - 2 * INTERVAL_MS
# SIGKILL: the kernel closes the sockets, so detection is by EOF/RST, not by silence; this
# bound is below the earliest possible timeout detection (timeout - interval).
KILL_BOUND_MS = TIMEOUT_MS - INTERVAL_MS
# An agent notices a frozen server within its timeout (counted from its last PONG) + slack.
AGENT_BOUND_MS = TIMEOUT_MS + SLACK_MS
# The agents propose 200 ms / 1 s. The server's defaults, which observers (watch, ls) get
# since they propose none, are longer, so the watch outlasts a server freeze and sees every
# event; a watch that reconnected would have missed events and the alternation check
# would prove nothing.
OBSERVER_INTERVAL, OBSERVER_TIMEOUT = "1s", "10s"
SERVER_ARGS = ["--interval", OBSERVER_INTERVAL, "--timeout", OBSERVER_TIMEOUT, "--min-interval", "50ms",
               "--min-timeout", "150ms", "--tick", "%dms" % TICK_MS, "--handshake-timeout", "1s"]


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def count_by(items, key):
    out = {}
    for x in items:
        out[x[key]] = out.get(x[key], 0) + 1
    return out


class Matrix:
    def __init__(self, env, rng):
        raise_nofile(4096)
        self.env, self.rng = env, rng
        self.srv = env.server(args=SERVER_ARGS)
        self.watch = env.watch(self.srv)
        self.proxy = Chaos(self.srv.port)
        env.socks.append(self)   # closed with the env (see close())
        self.proc_ids = [["chaos-%d-%d" % (k, i) for i in range(PER_PROC)] for k in range(PROCS)]
        self.ids = [i for ids in self.proc_ids for i in ids]
        self.agents = [self.start_agents(k) for k in range(PROCS)]
        self.restarts = 0
        self.wait_all_online(20, "startup")
        got = {(x.get("interval_ms"), x.get("timeout_ms")) for a in self.agents for x in a.states("online")}
        check(got == {(INTERVAL_MS, TIMEOUT_MS)}, "agents got heartbeats %s, expected %d/%d ms", got, INTERVAL_MS,
              TIMEOUT_MS)

    def start_agents(self, k):
        """Agent process k: clients chaos-k-0 .. chaos-k-49, all through the proxy."""
        return self.env.agent(self.proxy.port, "chaos-%d" % k, interval="%dms" % INTERVAL_MS,
                              timeout="%dms" % TIMEOUT_MS, count=PER_PROC, backoff_base="100ms",
                              backoff_cap="500ms", quiet=True, extra=["--connect-timeout", "2s"])

    def close(self):
        self.proxy.close()

    def online_ids(self):
        return {c["id"] for c in self.env.ls(self.srv)["clients"] if c["id"].startswith("chaos-")}

    def agents_online(self):
        """Ids whose agent last reported `online` (a client still waiting for a WELCOME
        that a fault swallowed is listed by the server, but its agent says otherwise)."""
        last = {}
        for a in self.agents:
            for x in a.states():
                last[x.get("id")] = x.get("state")
        return {i for i, st in last.items() if st == "online"}

    def wait_all_online(self, seconds, what):
        """Healed: the server lists every id, and every agent says it is online."""
        deadline = time.monotonic() + seconds
        while True:
            ls = self.env.ls(self.srv)
            ids = [c["id"] for c in ls["clients"] if c["id"].startswith("chaos-")]
            if len(ids) == AGENTS and set(ids) == set(self.ids) and self.agents_online() == set(self.ids):
                return
            if time.monotonic() > deadline:
                missing = sorted(set(self.ids) - set(ids))
                not_agent = sorted(set(self.ids) - self.agents_online())
                check(False, "%s: %d of %d listed after %d s (missing e.g. %s); agents not online e.g. %s", what,
                      len(ids), AGENTS, seconds, missing[:5], not_agent[:5])
            time.sleep(0.1)   # poll interval of a deadline-bounded wait

    def offlines_since(self, mark):
        return [e for e in self.watch.events("offline", start=mark) if e["id"].startswith("chaos-")]

    def ends_since(self, mark):
        """Sessions ended since `mark`: offline events, and takeovers as reason `replaced`."""
        out = []
        for e in self.watch.events(start=mark):
            if e.get("id", "").startswith("chaos-") and e["kind"] in ("offline", "takeover"):
                out.append(e if e["kind"] == "offline" else dict(e, reason="replaced"))
        return out

    def expect_none_offline(self, name, seconds):
        mark = self.watch.mark()
        holds(lambda: not self.offlines_since(mark), seconds, "%s: no offline" % name, poll=0.1)
        check(len(self.online_ids()) == AGENTS, "%s: not all online at the end", name)
        return "0 offline in %.1f s" % seconds

    def expect_detected(self, name, t0_ms, mark, ids=None, bound_ms=BOUND_MS, early_ms=0, reasons=None):
        """Every id of `ids` (default: all) goes offline, each within bound_ms of the fault
        (and not before early_ms), with a reason from `reasons` (any if None); no other id
        goes offline meanwhile. Returns the first offline event per id and a summary."""
        ids = set(self.ids if ids is None else ids)
        # Count ids, not events: a client that reconnects during the fault can go
        # offline twice (its new session dies too) before the last id's first offline.
        # A client that noticed the fault first may reconnect before the server has
        # seen its old connection close (the close and the new HELLO race through the
        # proxy): then the old session ends as a `takeover`, and that is its end.
        deadline = time.monotonic() + bound_ms / 1000.0 + 10
        while True:
            first = {}
            for e in self.ends_since(mark):
                first.setdefault(e["id"], e)
            if ids <= set(first) or time.monotonic() > deadline:
                break
            time.sleep(0.05)   # poll interval of a deadline-bounded wait
        check(ids <= set(first), "%s: offline for %d of %d ids (missing e.g. %s)", name, len(ids & set(first)),
              len(ids), sorted(ids - set(first))[:5])
        others = sorted(set(first) - ids)
        check(not others, "%s: %d bystanders went offline too, e.g. %s", name, len(others),
              [first[i] for i in others[:3]])
        delays = sorted(parse_ts(e["at"]) - t0_ms for e in first.values())
        late = [d for d in delays if d > bound_ms]
        early = [d for d in delays if d < early_ms]
        reason_count = count_by(first.values(), "reason")
        check(not late, "%s: %d detected later than %d ms (max %d ms)", name, len(late), bound_ms, delays[-1])
        check(not early, "%s: %d detected sooner than %d ms (min %d ms)", name, len(early), early_ms, delays[0])
        check(reasons is None or set(reason_count) <= set(reasons), "%s: reasons %s, expected only %s", name,
              reason_count, reasons)
        return first, "%d of %d detected, %d..%d ms (bound %d), reasons %s" % (
            len(ids), AGENTS, delays[0], delays[-1], bound_ms, reason_count)

    def expect_listed(self, name, expected):
        """While a fault holds: the server lists exactly `expected` (no ghost of a dead or
        frozen client, no live one missing)."""
        listed = self.online_ids()
        check(listed == set(expected), "%s: the server lists %d ids, expected %d (ghosts e.g. %s, missing e.g. %s)",
              name, len(listed), len(expected), sorted(listed - set(expected))[:3], sorted(set(expected) - listed)[:3])

    def expect_bystanders_untouched(self, name, victims, mark, agent_marks):
        """No id outside `victims` went offline and no client outside them reconnected."""
        offs = [e for e in self.offlines_since(mark) if e["id"] not in victims]
        check(not offs, "%s: bystanders went offline: %s", name, offs[:3])
        for a, m in zip(self.agents, agent_marks):
            rec = [x for x in a.states("reconnecting", start=m) if x.get("id") not in victims]
            check(not rec, "%s: bystanders reconnected: %s", name, rec[:3])

    # ---- proxy faults: each applies, checks and heals; returns a summary ----
    def latency_below(self):
        # The worst silence a client sees starts when the fault does: its last PONG came
        # just before, the next PING goes one interval later and its PONG needs the full
        # round trip, so interval + 2 * (latency + jitter) must stay below the timeout.
        # (timeout - interval) / 4 one way, jitter included, leaves half of that margin
        # for scheduling on a loaded machine.
        lat = (TIMEOUT_MS - INTERVAL_MS) / 1000.0 / 6
        self.proxy.latency(lat, jitter=lat / 2)
        try:
            return self.expect_none_offline("latency %.0f ms + jitter %.0f ms" % (lat * 1000, lat * 500), 3)
        finally:
            self.proxy.heal()

    def slice_bytes(self):
        self.proxy.slice(True)
        try:
            return self.expect_none_offline("1-byte segments", 2)
        finally:
            self.proxy.heal()

    def bandwidth(self):
        self.proxy.bandwidth(2000)   # per direction per connection; heartbeats need ~65 B/s
        try:
            return self.expect_none_offline("2000 B/s", 2)
        finally:
            self.proxy.heal()

    def _disconnecting(self, name, apply):
        mark = self.watch.mark()
        t0_ms = time.time() * 1000
        apply()
        try:
            return self.expect_detected(name, t0_ms, mark)[1]
        finally:
            self.proxy.heal()
            self.wait_all_online(15, "after " + name)

    def latency_above(self):
        return self._disconnecting("latency %d ms" % (TIMEOUT_MS * 2), lambda: self.proxy.latency(TIMEOUT_MS * 2 / 1000))

    def blackhole_up(self):
        return self._disconnecting("blackhole client->server", lambda: self.proxy.blackhole("up"))

    def blackhole_down(self):
        return self._disconnecting("blackhole server->client", lambda: self.proxy.blackhole("down"))

    def reset(self):
        return self._disconnecting("reset", self.proxy.reset)

    # ---- process faults ----
    def agent_sigstop(self):
        """Freeze one agent process: its clients fall silent with their sockets open."""
        k = self.rng.randrange(PROCS)
        victim, ids = self.agents[k], set(self.proc_ids[k])
        name = "SIGSTOP agents %d" % k
        before = {e["id"]: e["peer"] for e in self.online_events() if e["id"] in ids}
        mark, amarks = self.watch.mark(), [a.mark() for a in self.agents]
        t0_ms = time.time() * 1000
        victim.signal(signal.SIGSTOP)
        try:
            _, summary = self.expect_detected(name, t0_ms, mark, ids, early_ms=EARLY_MS, reasons=("timeout",))
            self.expect_listed(name, set(self.ids) - ids)
        finally:
            victim.signal(signal.SIGCONT)
        self.wait_all_online(15, "after SIGCONT of agents %d" % k)
        # Woken, each frozen client finds its session gone (the server's BYE and FIN are
        # waiting in its socket, or its own watchdog fires first) and handshakes anew.
        woke = {}
        for x in victim.states(start=amarks[k]):
            woke.setdefault(x["id"], []).append(x["state"])
        stale = sorted(i for i in ids if woke.get(i, [])[:1] != ["reconnecting"] or woke[i][-1] != "online")
        check(not stale, "%s: clients that did not reconnect after SIGCONT: %s (%s)", name, stale[:5],
              [woke.get(i) for i in stale[:3]])
        again = {e["id"]: e["peer"] for e in self.online_events(mark) if e["id"] in ids}
        same = sorted(i for i in ids if again.get(i) is None or again[i] == before.get(i))
        check(not same, "%s: no new session seen for %s", name, same[:5])
        self.expect_bystanders_untouched(name, ids, mark, amarks)
        why = count_by([{"r": x.get("reason", "").split(" (")[0].split(" for ")[0]}
                        for x in victim.states("reconnecting", start=amarks[k])], "r")
        return summary + "; woken clients reconnected (%s)" % why

    def agent_sigkill(self):
        """Kill one agent process: the kernel closes its sockets; then start it again."""
        k = self.rng.randrange(PROCS)
        victim, ids = self.agents[k], set(self.proc_ids[k])
        name = "SIGKILL agents %d" % k
        mark, amarks = self.watch.mark(), [a.mark() for a in self.agents]
        t0_ms = time.time() * 1000
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait_exit(5)
        _, summary = self.expect_detected(name, t0_ms, mark, ids, bound_ms=KILL_BOUND_MS, reasons=("closed", "reset"))
        self.expect_listed(name, set(self.ids) - ids)
        self.expect_bystanders_untouched(name, ids, mark, amarks)
        victim.close()
        t1 = time.monotonic()
        self.agents[k] = self.start_agents(k)
        self.restarts += 1
        self.wait_all_online(15, "after restarting agents %d" % k)
        return summary + "; restarted, all online again in %.1f s" % (time.monotonic() - t1)

    def server_sigstop(self):
        """Freeze the server: its kernel still ACKs and queues, only silence tells."""
        name = "SIGSTOP server"
        mark, amarks = self.watch.mark(), [a.mark() for a in self.agents]
        t0 = time.monotonic()
        self.srv.signal(signal.SIGSTOP)
        try:
            deadline = t0 + AGENT_BOUND_MS / 1000.0 + 10
            while True:
                first = {}
                for a, m in zip(self.agents, amarks):
                    for x in a.states("reconnecting", start=m):
                        first.setdefault(x["id"], x)
                if len(first) == AGENTS or time.monotonic() > deadline:
                    break
                time.sleep(0.05)   # poll interval of a deadline-bounded wait
            check(len(first) == AGENTS, "%s: %d of %d agents noticed (missing e.g. %s)", name, len(first), AGENTS,
                  sorted(set(self.ids) - set(first))[:5])
            delays = sorted((x["_mono"] - t0) * 1000 for x in first.values())
            silent = [x for x in first.values() if not x.get("reason", "").startswith("server silent")]
            check(delays[-1] <= AGENT_BOUND_MS, "%s: slowest agent noticed after %d ms (bound %d)", name, delays[-1],
                  AGENT_BOUND_MS)
            check(delays[0] >= EARLY_MS, "%s: fastest agent noticed after %d ms, sooner than %d", name, delays[0],
                  EARLY_MS)
            check(not silent, "%s: reasons other than silence: %s", name, silent[:3])
        finally:
            t_cont, tc_ms = time.monotonic(), time.time() * 1000
            self.srv.signal(signal.SIGCONT)
        # Awake, the server ends every frozen session (the agent's FIN is queued, or the
        # wheel finds it overdue; a reconnect queued in the backlog may take it over).
        deadline = t_cont + 10
        while True:
            ended = {}
            for e in self.watch.events(start=mark):
                if e["id"].startswith("chaos-") and e["kind"] in ("offline", "takeover"):
                    ended.setdefault(e["id"], e)
            if len(ended) == AGENTS or time.monotonic() > deadline:
                break
            time.sleep(0.05)   # poll interval of a deadline-bounded wait
        check(len(ended) == AGENTS, "%s: %d of %d frozen sessions ended after SIGCONT (missing e.g. %s)", name,
              len(ended), AGENTS, sorted(set(self.ids) - set(ended))[:5])
        after = sorted(parse_ts(e["at"]) - tc_ms for e in ended.values())
        self.wait_all_online(15, "after SIGCONT of the server")
        kinds = count_by([{"k": e["kind"] if e["kind"] == "takeover" else e["reason"]} for e in ended.values()], "k")
        return ("agents noticed in %d..%d ms (bound %d); after SIGCONT the server ended all %d frozen sessions in "
                "%d..%d ms (%s), all online again %.1f s after SIGCONT" % (
                    delays[0], delays[-1], AGENT_BOUND_MS, AGENTS, after[0], after[-1], kinds,
                    time.monotonic() - t_cont))

    def online_events(self, start=0):
        return [e for e in self.watch.events(start=start) if e["kind"] in ("online", "takeover")]

    def check_watch_connected(self):
        """The watch never lost its connection, so it missed no event."""
        err = self.watch.stderr_text()
        check(err.count("watch: online") == 1 and "reconnecting" not in err,
              "the watch reconnected (events may be missing): %s", err.strip()[-400:])

    def check_transitions(self):
        """Every id's events alternate: exactly one event per transition, none missing."""
        state, bad = {}, []
        for e in self.watch.events():
            i = e.get("id", "")
            if not i.startswith("chaos-"):
                continue
            was = state.get(i, "offline")
            kind = e["kind"]
            ok = (kind == "online" and was == "offline") or (kind in ("offline", "takeover") and was == "online")
            if not ok:
                bad.append((i, was, kind, e["seq"]))
            state[i] = "offline" if kind == "offline" else "online"
        check(not bad, "events out of order per id (id, state, event, seq): %s", bad[:5])
        online = {i for i, s in state.items() if s == "online"}
        check(online == set(self.ids), "the watch ends with %d online, expected all %d", len(online), AGENTS)
        return len(self.watch.events())


def test_fault_matrix(env):
    seed = int(os.environ.get("LIFELINE_CHAOS_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    log("seed %d (LIFELINE_CHAOS_SEED=%d repeats this order)", seed, seed)
    m = Matrix(env, rng)
    pid = m.srv.proc.pid
    fd0, rss0 = fd_count(pid), m.srv.rss_kb()
    faults = [m.latency_below, m.slice_bytes, m.bandwidth, m.latency_above, m.blackhole_up, m.blackhole_down,
              m.reset, m.agent_sigstop, m.agent_sigkill, m.server_sigstop]
    outcomes = []
    for rnd in (1, 2):
        order = faults[:]
        rng.shuffle(order)
        for f in order:
            t = time.monotonic()
            summary = f()
            outcomes.append((rnd, f.__name__, summary))
            log("round %d %-15s %s [%.1f s]", rnd, f.__name__, summary, time.monotonic() - t)
    events = m.check_transitions()
    m.check_watch_connected()
    m.wait_all_online(10, "end")
    # Sessions the last fault left closing (draining for up to 1 s, or waiting for a
    # handshake that will never come) must all be gone within a few seconds.
    deadline = time.monotonic() + 10
    while fd_count(pid) > fd0 + 5 and time.monotonic() < deadline:
        time.sleep(0.1)   # poll interval of a deadline-bounded wait
    fd1, rss1 = fd_count(pid), m.srv.rss_kb()
    log("server fds %d -> %d, RSS %d -> %d kB; %d events, all alternating; proxy accepted %d connections; "
        "%d agent processes restarted", fd0, fd1, rss0, rss1, events, m.proxy.accepted, m.restarts)
    check(fd1 <= fd0 + 5, "server descriptors grew from %d to %d", fd0, fd1)
    check(len(m.online_ids()) == AGENTS, "ghost or missing sessions at the end")
    check_memory_returned(pid, rss0, rss1, lambda: m.srv.stop(10))


if __name__ == "__main__":
    run([test_fault_matrix], __doc__)
