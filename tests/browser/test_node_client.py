#!/usr/bin/env python3
"""clients/js/lifeline.js outside a browser: Node.js with a global WebSocket (Node 22, or
Node 20 with --experimental-websocket) against a real `lifeline serve --ws-listen`: bad
arguments refused, the backoff's full jitter, online and listed as ws, DATA both ways,
close() says BYE. Skipped (77) where Node has no WebSocket.

    python3 tests/browser/test_node_client.py --lifeline PATH [-k NAME] [--keep]
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import harness  # noqa: E402
from admin_http import request  # noqa: E402
from harness import Collector, check, run  # noqa: E402


def node_argv():
    """node, with the flag that gives it a global WebSocket where it needs one; None if none does."""
    for argv in (["node"], ["node", "--experimental-websocket"]):
        p = subprocess.run(argv + ["-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"],
                           capture_output=True, timeout=30)
        if p.returncode == 0:
            return argv
    return None


def test_node_client_against_the_server(env):
    argv = node_argv()
    srv = env.server(ws=[], admin=[], extra=["--log-level", "debug"])
    watch = env.watch(srv)
    node = Collector(env, argv + [os.path.join(HERE, "node_client.mjs"), "ws://127.0.0.1:%d/lifeline" % srv.ws_port],
                     "node", json_lines=True)
    env.collectors.append(node)
    node.wait_for(lambda x: x.get("state") == "online", 10, what="the Node client online")
    listed = node.wait_for(lambda x: "listed" in x, 5, what="its list")
    check(["node-1", "ws"] in listed["listed"], "listed as ws: %s", listed)
    ev = watch.wait_event("online", "node-1", 5)
    check(ev["transport"] == "ws", "online event as ws: %s", ev)
    srv.wait_log(r"data from node-1: 15 bytes: hello from node", 5)
    r = request(srv.admin_port, "POST", "/v1/clients/node-1/data", body=b"quit")
    check(r.status == 200, "admin DATA: %s", r)
    node.wait_for(lambda x: x.get("data") == "quit", 5, what="DATA from the server")
    off = watch.wait_event("offline", "node-1", 5)
    check(off["reason"] == "bye", "close() says BYE: %s", off)
    check(not node.select(lambda x: "fail" in x), "no failure: %s", node.select(lambda x: "fail" in x))


if __name__ == "__main__":
    if node_argv() is None:
        print("SKIP: this Node.js has no WebSocket (Node 22, or 20 with --experimental-websocket)")
        sys.exit(77)
    run([test_node_client_against_the_server])
