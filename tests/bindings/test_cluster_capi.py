#!/usr/bin/env python3
"""The C ABI on a cluster (docs/cluster.md, docs/bindings.md), through the Python
binding: a real redis-server, a `lifeline serve` node n1, and a node n3 that is an
ll_server in this very process (options "cluster", "node_id", "cluster_lease").

- the host's ll_server_online is the cluster's list: each entry's LL_FIELD_NODE, the
  list's node, LL_FIELD_DEGRADED; its poll gives the cluster's presence events;
- an ll_client connected to n1 gets the same from ll_client_list and ll_client_subscribe;
- ll_server_kick and ll_server_send of a client on another node: LL_ERR_NOT_FOUND with
  a message naming that node; of the host's own client: done;
- Redis killed: the host's list, and n1's as the client gets it, say degraded.

LIFELINE_LIBRARY names liblifeline (ctest sets it; by hand it is found next to
--lifeline's build tree).

    python3 tests/bindings/test_cluster_capi.py --lifeline PATH [--keep]
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.dont_write_bytecode = True
import harness  # noqa: E402
from harness import check, run, wait_until  # noqa: E402
from redis_server import Redis  # noqa: E402

LEASE = "1s"


def binding():
    """The Python binding on this build's liblifeline."""
    if not os.environ.get("LIFELINE_LIBRARY"):
        build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(harness.LIFELINE))))
        os.environ["LIFELINE_LIBRARY"] = os.path.join(build, "src", "capi", "liblifeline.so.1")
    sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))
    import lifeline
    return lifeline


def nodes_of(lst):
    return {e["id"]: e["node"] for e in lst.entries}


def next_event(handle, pred, timeout, what):
    """Polls `handle` until an event satisfies `pred`; returns it."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ev = handle.poll(max(0.0, deadline - time.monotonic()))
        if ev is not None:
            seen.append(ev)
            if pred(ev):
                return ev
    check(False, "no %s within %.1f s (saw %s)", what, timeout, seen[-5:])
    return None


def presence(kind, ident):
    return lambda e: e.type == "presence" and e.kind == kind and e.id == ident


def test_a_cluster_node_hosted_through_the_c_abi(env):
    lifeline = binding()
    redis = Redis(env)
    n1 = env.server(name="n1", extra=["--cluster", redis.url, "--node-id", "n1", "--cluster-lease", LEASE])
    n1.wait_log(r"cluster: node n1 joined", 10)
    with lifeline.Server(listen="127.0.0.1:0", cluster=redis.url, node_id="n3", cluster_lease=LEASE) as host:
        n3 = "127.0.0.1:%d" % host.port(0)
        on1, on3 = env.agent(n1, "on-n1"), env.agent(n3, "on-n3")
        for a in (on1, on3):
            a.wait_state("online", 5)
        want = {"on-n1": "n1", "on-n3": "n3"}
        # Synced (degraded 0) once both the node's lease and its stream reader are in step with Redis.
        wait_until(lambda: nodes_of(host.online()) == want and host.online().degraded == 0, 5,
                   "the host to list %s, synced (now %s)" % (want, vars(host.online())))
        lst = host.online()
        check(lst.node == "n3" and lst.online == 2, "the host's list: %s", vars(lst))

        # Its poll gives the cluster's events: a client arriving on n1 shows up, naming n1.
        late = env.agent(n1, "late")
        ev = next_event(host, presence("online", "late"), 5, "online event of 'late'")
        check(ev.node == "n1", "the host's event names the node: %r", vars(ev))

        # A client of this library on n1: its list and events are the cluster's too.
        viewer = lifeline.Client(servers=n1.addr, id="viewer")
        viewer.start()
        next_event(viewer, lambda e: e.type == "state" and e.state == "online", 5, "viewer online")
        want = {"on-n1": "n1", "on-n3": "n3", "late": "n1", "viewer": "n1"}
        wait_until(lambda: nodes_of(viewer.list()) == want, 5,
                   "the viewer's list %s (now %s)" % (want, nodes_of(viewer.list())))
        got = viewer.list()
        check(got.node == "n1" and got.degraded == 0, "the viewer's list header: %s", vars(got))
        viewer.subscribe()
        late.kill()
        ev = next_event(viewer, presence("offline", "late"), 5, "offline event of 'late'")
        check(ev.node == "n1" and ev.reason == "closed", "the viewer's event: %r", vars(ev))
        on3.kill()
        ev = next_event(viewer, presence("offline", "on-n3"), 5, "offline event of 'on-n3'")
        check(ev.node == "n3", "another node's event through n1: %r", vars(ev))

        # Kick and DATA reach the host's own clients; another node's is named, not "offline".
        for call in (lambda: host.kick("on-n1"), lambda: host.send("on-n1", "hi")):
            try:
                call()
                check(False, "a kick or send of a client on n1 succeeded on n3")
            except lifeline.Error as e:
                check(e.status == lifeline.ERR_NOT_FOUND and "online on node n1" in str(e),
                      "the refusal names the node: %d %s", e.status, e)
        try:
            host.kick("nobody")
            check(False, "kick of an unknown id succeeded")
        except lifeline.Error as e:
            check(e.status == lifeline.ERR_NOT_FOUND and "'nobody' is not online" in str(e), "unknown id: %s", e)
        own = env.agent(n3, "own")
        own.wait_state("online", 5)
        host.kick("own")
        ev = next_event(host, presence("offline", "own"), 5, "offline event of 'own'")
        check(ev.reason == "kicked" and ev.node == "n3", "the host kicked its own client: %r", vars(ev))

        # Redis gone: the host and n1 both say their lists are degraded.
        redis.kill()
        wait_until(lambda: host.online().degraded == 1, 10, "the host's list to say degraded")
        check(host.online().node == "n3", "a degraded list still names its node")
        wait_until(lambda: viewer.list().degraded == 1, 10, "n1's list, through ll_client_list, to say degraded")
        viewer.close()


if __name__ == "__main__":
    run([test_a_cluster_node_hosted_through_the_c_abi], __doc__)
