#!/usr/bin/env python3
"""Fault matrix through a userspace fault proxy (tests/lib/chaos.py): 200 heartbeating
agents connect through the proxy, the watch and `ls` go to the server directly. Each
fault is applied, checked and healed, in shuffled order, for two rounds:

    latency below timeout - interval (with jitter)   no one goes offline
    1-byte segments                                   no one goes offline
    bandwidth cap above the heartbeat rate            no one goes offline
    latency above the timeout                         everyone is detected within the bound
    blackhole client->server (sockets kept open)      everyone is detected within the bound
    blackhole server->client                          everyone is detected within the bound
    connection reset                                  everyone is detected at once

After each heal all 200 are online again. Over the whole run every id's events alternate
(online, then offline or takeover, ...: exactly one event per transition), no session is
left over, and the server's descriptor count and RSS come back to where they started.

    python3 tests/faults/test_chaos.py --lifeline PATH [-k NAME] [--keep]
"""
import os
import random
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from chaos import Chaos  # noqa: E402
from harness import check, log, raise_nofile, run  # noqa: E402

AGENTS = 200
INTERVAL_MS, TIMEOUT_MS, TICK_MS = 200, 1000, 10
# Detection bound of the disconnecting faults: timeout + tick, plus slack for a loaded
# 2-core machine running 200 agents, the proxy and (in CI) an ASan build.
SLACK_MS = 600
BOUND_MS = TIMEOUT_MS + TICK_MS + SLACK_MS
SERVER_ARGS = ["--interval", "%dms" % INTERVAL_MS, "--timeout", "%dms" % TIMEOUT_MS, "--min-interval", "50ms",
               "--min-timeout", "150ms", "--tick", "%dms" % TICK_MS, "--handshake-timeout", "1s"]


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Matrix:
    def __init__(self, env):
        raise_nofile(4096)
        self.env = env
        self.srv = env.server(args=SERVER_ARGS)
        self.watch = env.watch(self.srv)
        self.proxy = Chaos(self.srv.port)
        env.socks.append(self)   # closed with the env (see close())
        self.ids = ["chaos-%d" % i for i in range(AGENTS)]
        self.agent = env.agent(self.proxy.port, "chaos", interval="%dms" % INTERVAL_MS,
                               timeout="%dms" % TIMEOUT_MS, count=AGENTS, backoff_base="100ms",
                               backoff_cap="500ms", quiet=True, extra=["--connect-timeout", "2s"])
        self.wait_all_online(20, "startup")

    def close(self):
        self.proxy.close()

    def online_ids(self):
        return {c["id"] for c in self.env.ls(self.srv)["clients"] if c["id"].startswith("chaos-")}

    def agents_online(self):
        """Ids whose agent last reported `online` (a client still waiting for a WELCOME
        that a fault swallowed is listed by the server, but its agent says otherwise)."""
        last = {}
        for x in self.agent.states():
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

    def expect_none_offline(self, name, seconds):
        mark = self.watch.mark()
        end = time.monotonic() + seconds
        while time.monotonic() < end:   # the whole window is the observation
            offs = self.offlines_since(mark)
            check(not offs, "%s: false offline %s", name, offs[:3])
            time.sleep(0.1)
        check(len(self.online_ids()) == AGENTS, "%s: not all online at the end", name)
        return "0 offline in %.1f s" % seconds

    def expect_all_detected(self, name, t0_ms, mark):
        """Every agent's session goes offline, each within BOUND_MS of the fault."""
        # Count ids, not events: a client that reconnects during the fault can go
        # offline twice (its new session dies too) before the last id's first offline.
        deadline = time.monotonic() + BOUND_MS / 1000.0 + 10
        while True:
            first = {}
            for e in self.offlines_since(mark):
                first.setdefault(e["id"], e)
            if set(first) == set(self.ids) or time.monotonic() > deadline:
                break
            time.sleep(0.05)   # poll interval of a deadline-bounded wait
        check(set(first) == set(self.ids), "%s: offline for %d of %d ids (missing e.g. %s)", name, len(first),
              AGENTS, sorted(set(self.ids) - set(first))[:5])
        delays = sorted(e["at_ms"] - t0_ms for e in first.values())
        late = [d for d in delays if d > BOUND_MS]
        reasons = {}
        for e in first.values():
            reasons[e["reason"]] = reasons.get(e["reason"], 0) + 1
        check(not late, "%s: %d detected later than %d ms (max %d ms)", name, len(late), BOUND_MS, delays[-1])
        return "all %d detected, %d..%d ms (bound %d), reasons %s" % (AGENTS, delays[0], delays[-1], BOUND_MS,
                                                                     reasons)

    # ---- faults: each applies, checks and heals; returns a summary ----
    def latency_below(self):
        lat = (TIMEOUT_MS - INTERVAL_MS) / 1000.0 / 3   # one-way; a round trip stays well under the margin
        self.proxy.latency(lat, jitter=lat / 2)
        try:
            return self.expect_none_offline("latency %.0f ms + jitter" % (lat * 1000), 3)
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
            return self.expect_all_detected(name, t0_ms, mark)
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
    m = Matrix(env)
    pid = m.srv.proc.pid
    fd0, rss0 = fd_count(pid), m.srv.rss_kb()
    faults = [m.latency_below, m.slice_bytes, m.bandwidth, m.latency_above, m.blackhole_up, m.blackhole_down,
              m.reset]
    seed = int(os.environ.get("LIFELINE_CHAOS_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    log("seed %d (LIFELINE_CHAOS_SEED=%d repeats this order)", seed, seed)
    outcomes = []
    for rnd in (1, 2):
        order = faults[:]
        rng.shuffle(order)
        for f in order:
            summary = f()
            outcomes.append((rnd, f.__name__, summary))
            log("round %d %-15s %s", rnd, f.__name__, summary)
    events = m.check_transitions()
    m.wait_all_online(10, "end")
    # Sessions the last fault left closing (draining for up to 1 s, or waiting for a
    # handshake that will never come) must all be gone within a few seconds.
    deadline = time.monotonic() + 10
    while fd_count(pid) > fd0 + 5 and time.monotonic() < deadline:
        time.sleep(0.1)   # poll interval of a deadline-bounded wait
    fd1, rss1 = fd_count(pid), m.srv.rss_kb()
    log("server fds %d -> %d, RSS %d -> %d kB; %d events, all alternating; proxy accepted %d connections",
        fd0, fd1, rss0, rss1, events, m.proxy.accepted)
    check(fd1 <= fd0 + 5, "server descriptors grew from %d to %d", fd0, fd1)
    check(rss1 - rss0 < 16 * 1024, "server RSS grew by %d kB", rss1 - rss0)
    check(len(m.online_ids()) == AGENTS, "ghost or missing sessions at the end")


if __name__ == "__main__":
    run([test_fault_matrix], __doc__)
