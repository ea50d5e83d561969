#!/usr/bin/env python3
"""Scale: 1,000 agents (4 processes x --count 250), a server crash and a restart on the same
port; all agents come back, and their reconnects are spread out by the jittered backoff
(no thundering herd).

    python3 tests/integration/test_scale.py --lifeline PATH [--keep]
"""
import collections
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import check, free_port, holds, log, now_ms, parse_ts, raise_nofile, run, wait_until  # noqa: E402

PROCS, PER_PROC = 4, 250
TOTAL = PROCS * PER_PROC
BUCKET_MS = 100


def _count_online(env, srv):
    try:
        return env.ls(srv, timeout=10)["online"]
    except AssertionError:
        return -1      # ls failed (server busy); the poll tries again before its deadline


def test_thousand_agents_survive_server_restart(env):
    limit = raise_nofile(TOTAL * 2 + 512)
    check(limit >= TOTAL + 256, "RLIMIT_NOFILE is %d, need > %d for %d connections", limit, TOTAL + 256, TOTAL)
    port = free_port()
    srv = env.server(port=port)
    groups = [env.agent(srv, "g%d" % g, count=PER_PROC, quiet=True, interval="500ms", timeout="2s",
                        backoff_base="500ms", backoff_cap="2s", name="agents-g%d" % g) for g in range(PROCS)]
    ids = ["g%d-%d" % (g, i) for g in range(PROCS) for i in range(PER_PROC)]

    t0 = time.monotonic()
    for a in groups:
        a.wait_count(lambda x: x.get("state") == "online", PER_PROC, 30, what="online lines")
    wait_until(lambda: _count_online(env, srv) == TOTAL, 30, "ls to show %d online" % TOTAL, poll=0.2)
    log("%d agents online after %.1f s", TOTAL, time.monotonic() - t0)
    ls = env.ls(srv, timeout=10)
    check(len(ls["clients"]) == TOTAL and sorted(c["id"] for c in ls["clients"]) == sorted(ids),
          "ls lists %d clients, not the %d expected ids", len(ls["clients"]), TOTAL)

    marks = [a.mark() for a in groups]
    t_kill = time.monotonic()
    srv.kill()
    for a, m in zip(groups, marks):
        a.wait_count(lambda x: x.get("state") == "reconnecting", PER_PROC, 5, start=m,
                     what="reconnecting lines after the server's SIGKILL")
    log("all %d agents printed reconnecting within %.0f ms of the SIGKILL", TOTAL, (time.monotonic() - t_kill) * 1000)

    t_restart = now_ms()
    srv.start(port=port)
    check(srv.port == port, "restarted on port %d, not %d", srv.port, port)
    t1 = time.monotonic()
    for a, m in zip(groups, marks):
        a.wait_count(lambda x: x.get("state") == "online", PER_PROC, 20, start=m, what="online lines after the restart")
    wait_until(lambda: _count_online(env, srv) == TOTAL, 10, "ls to show %d online after the restart" % TOTAL,
               poll=0.2)
    log("all %d agents online again %.1f s after the restart", TOTAL, time.monotonic() - t1)

    # exactly one reconnecting and (so far) one online line per agent for the outage
    holds(lambda: all(len(a.states("reconnecting", start=m)) == PER_PROC for a, m in zip(groups, marks)), 1.0,
          "one reconnecting line per agent (no second loss after the restart)")
    per_id = collections.defaultdict(list)
    for a, m in zip(groups, marks):
        for x in a.snapshot(m):
            per_id[x["id"]].append(x["state"])
    bad = {i: s for i, s in per_id.items() if s != ["reconnecting", "online"]}
    missing = [i for i in ids if i not in per_id]
    check(not missing, "%d agents printed nothing for the outage, e.g. %s", len(missing), missing[:5])
    check(not bad, "%d agents did not print exactly [reconnecting, online], e.g. %s", len(bad), list(bad.items())[:5])

    # the spread of the reconnects after the restart, from the agents' own timestamps
    onl = sorted(parse_ts(x["at"]) for a, m in zip(groups, marks) for x in a.snapshot(m) if x["state"] == "online")
    check(len(onl) == TOTAL, "%d online lines after the restart, expected %d", len(onl), TOTAL)
    first, last = onl[0], onl[-1]
    buckets = collections.Counter(int((t - first) // BUCKET_MS) for t in onl)
    log("reconnects after the restart (first %.0f ms after the restart began, span %.0f ms), per %d ms bucket:",
        first - t_restart, last - first, BUCKET_MS)
    peak = max(buckets.values())
    for b in range(max(buckets) + 1):
        n = buckets.get(b, 0)
        log("  %5d-%5d ms %4d %s", b * BUCKET_MS, (b + 1) * BUCKET_MS, n, "#" * int(round(60.0 * n / peak)))
    share = peak / float(TOTAL)
    log("largest bucket %d (%.0f%%), span %.0f ms", peak, share * 100, last - first)
    check(share <= 0.40, "%.0f%% of the reconnects fell in one %d ms bucket (limit 40%%): a thundering herd",
          share * 100, BUCKET_MS)
    check(last - first >= 200, "reconnects spanned only %.0f ms (expected >= 200 ms)", last - first)

    # and the server's log agrees: 1000 online lines after the restart
    log_after = srv.log().split("--- harness: start #%d" % srv.generation)[-1]
    n_online = log_after.count(" info online id=g")
    check(n_online >= TOTAL, "server logged %d online lines after the restart, expected >= %d", n_online, TOTAL)



def test_thousand_agents_server_sigterm(env):
    """SIGTERM a server with 1,000 clients: each gets BYE(shutdown) (its reconnecting reason
    says so), and the server exits 0 promptly."""
    raise_nofile(TOTAL * 2 + 512)
    srv = env.server()
    groups = [env.agent(srv, "h%d" % g, count=PER_PROC, quiet=True, interval="500ms", timeout="2s",
                        backoff_base="2s", backoff_cap="4s", name="agents-h%d" % g) for g in range(PROCS)]
    for a in groups:
        a.wait_count(lambda x: x.get("state") == "online", PER_PROC, 30, what="online lines")
    wait_until(lambda: _count_online(env, srv) == TOTAL, 30, "ls to show %d online" % TOTAL, poll=0.2)
    marks = [a.mark() for a in groups]
    t0 = time.monotonic()
    code = srv.stop(timeout=10)
    dt = time.monotonic() - t0
    log("server exited %s %.2f s after SIGTERM", code, dt)
    check(code == 0, "server exit code %s after SIGTERM", code)
    reasons = collections.Counter()
    for a, m in zip(groups, marks):
        got = a.wait_count(lambda x: x.get("state") == "reconnecting", PER_PROC, 5, start=m,
                           what="reconnecting lines after the server's SIGTERM")
        for x in got:
            reasons["shutdown" if "shutdown" in x.get("reason", "") else x.get("reason", "")] += 1
    log("agents' reconnecting reasons: %s", dict(reasons))
    line = srv.log_lines(r"BYE\(shutdown\) to \d+ clients")
    log("server: %s", line[0] if line else "-")
    check(reasons == {"shutdown": TOTAL}, "reasons %s, expected %d x shutdown", dict(reasons), TOTAL)
    check(line and "to %d clients" % TOTAL in line[0], "server log: %s", line)


if __name__ == "__main__":
    run([test_thousand_agents_survive_server_restart,
         test_thousand_agents_server_sigterm])
