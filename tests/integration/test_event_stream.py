#!/usr/bin/env python3
"""The presence event stream through the programs: `watch --snapshot` (the list as of a
sequence number, then every event after it), a watch across a server restart (the new
instance shows as a gap and a fresh snapshot), a watch whose connection is lost (it resumes
and gets exactly what it missed), and SIGTERM with watches connected (each gets every
client's `offline shutdown` before its own BYE).

    python3 tests/integration/test_event_stream.py --lifeline PATH [-k NAME] [--keep]
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402,F401
from chaos import Chaos  # noqa: E402
from harness import check, log, run, wait_until  # noqa: E402


def snapshots(w, start=0):
    """The snapshot lines `watch --snapshot --json` printed: {"online","seq","instance","clients"}."""
    return w.select(lambda e: "clients" in e, start)


def test_watch_snapshot_then_events(env):
    """The list first, stamped with the seq it reflects; the next event has seq + 1."""
    srv = env.server()
    agents = [env.agent(srv, "snap%d" % i) for i in range(3)]
    for a in agents:
        a.wait_state("online", 5)
    w = env.watch(srv, extra=["--snapshot"])
    snap = wait_until(lambda: (snapshots(w) or [None])[0], 5, "a snapshot line")
    ids = sorted(c["id"] for c in snap["clients"])
    log("snapshot at seq %d of instance %s: %s", snap["seq"], snap["instance"], ids)
    check(ids == ["snap0", "snap1", "snap2"], "snapshot lists %s", ids)
    check(snap["seq"] >= 3 and len(snap["instance"]) == 16, "snapshot stamp %s", snap)
    env.agent(srv, "late")
    ev = w.wait_event("online", "late", 5)
    check(ev["seq"] == snap["seq"] + 1, "first event after the snapshot has seq %d, snapshot %d", ev["seq"],
          snap["seq"])
    check(ev["instance"] == snap["instance"], "event instance %s, snapshot %s", ev["instance"], snap["instance"])


def test_watch_across_a_server_restart(env):
    """A restarted server is a new instance: its seqs start again, so the watch, resuming,
    gets a gap, then (with --snapshot) the list again, then the new run's events."""
    srv = env.server()
    a = env.agent(srv, "stays", backoff_base="50ms", backoff_cap="200ms")
    a.wait_state("online", 5)
    w = env.watch(srv, extra=["--snapshot"])
    first = wait_until(lambda: (snapshots(w) or [None])[0], 5, "the first snapshot")
    mark = w.mark()
    srv.stop()
    w.wait_event("offline", "stays", 5, start=mark, reason="shutdown")
    srv.start()
    w.wait_connected(10, count=2)
    gap = w.wait_for(lambda e: e.get("kind") == "gap", 10, start=mark, what="a gap after the restart")
    second = wait_until(lambda: (snapshots(w, mark) or [None])[0], 10, "a second snapshot")
    log("instance %s -> %s; gap up to #%d; second snapshot at #%d", first["instance"], second["instance"],
        gap["seq"], second["seq"])
    check(second["instance"] != first["instance"], "the restarted server kept instance %s", first["instance"])
    check(gap["instance"] == second["instance"], "gap from instance %s, snapshot from %s", gap["instance"],
          second["instance"])
    # The agent is back either before the watch (in the snapshot) or after it (an event of the new run).
    if "stays" not in [c["id"] for c in second["clients"]]:
        back = w.wait_event("online", "stays", 10, start=mark)
        check(back["instance"] == second["instance"], "the agent's return is from instance %s", back["instance"])
        check(back["seq"] > second["seq"], "online #%d is not after the snapshot #%d", back["seq"], second["seq"])


def test_watch_resumes_after_a_lost_connection(env):
    """Events the watch's connection lost are sent again when it reconnects: it asks to resume
    after the last seq it printed, and the server still has them. No gap, no second snapshot,
    every seq once. The watch talks through a fault proxy, which first swallows what the server
    sends and then resets the connection."""
    srv = env.server()
    proxy = Chaos(srv.port)
    try:
        env.agent(srv, "first").wait_state("online", 5)
        w = env.watch(proxy.port, extra=["--snapshot"])
        snap = wait_until(lambda: (snapshots(w) or [None])[0], 5, "the snapshot")
        proxy.blackhole("down")                      # the server's events for the watch vanish
        env.agent(srv, "second").wait_state("online", 5)
        env.agent(srv, "third").wait_state("online", 5)
        proxy.reset()                                # the watch notices and reconnects
        proxy.heal()
        w.wait_connected(10, count=2)
        w.wait_event("online", "third", 10)
        seqs = [e["seq"] for e in w.select(lambda e: "kind" in e)]
        log("snapshot at #%d, then %s across the reset", snap["seq"], seqs)
        check(seqs == list(range(snap["seq"] + 1, snap["seq"] + 1 + len(seqs))), "seqs %s: a gap or a double", seqs)
        check(not w.events("gap"), "a gap although the server still had the events")
        check(len(snapshots(w)) == 1, "%d snapshots: a resume needs none", len(snapshots(w)))
    finally:
        proxy.close()


def test_sigterm_sends_every_offline_to_every_watch(env):
    """Before its own BYE, every watch gets the `offline shutdown` of every client (the server
    used to send some watches their BYE first: 0 to 5 of 10 events seen)."""
    srv = env.server(extra=["--threads", "2"])
    watches = [env.watch(srv) for _ in range(3)]
    agents = [env.agent(srv, "bye%d" % i, backoff_base="2s", backoff_cap="4s") for i in range(10)]
    for a in agents:
        a.wait_state("online", 5)
    marks = [w.mark() for w in watches]
    srv.stop()
    # The server is gone once stop() returns: whatever a watch has, it got before its BYE.
    for w, m in zip(watches, marks):
        wait_until(lambda: "BYE (shutdown" in w.stderr_text(), 5, "%s to report the BYE" % w.name)
        try:
            wait_until(lambda: len(w.events("offline", start=m, reason="shutdown")) >= len(agents), 3,
                       "%s to print every offline shutdown event" % w.name)
        finally:
            got = sorted(e["id"] for e in w.events("offline", start=m, reason="shutdown"))
            log("%s: %d offline shutdown events before its BYE", w.name, len(got))
        check(got == sorted(a.id for a in agents), "%s got %s", w.name, got)


if __name__ == "__main__":
    run([test_watch_snapshot_then_events,
         test_watch_across_a_server_restart,
         test_watch_resumes_after_a_lost_connection,
         test_sigterm_sends_every_offline_to_every_watch])
