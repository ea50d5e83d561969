#!/usr/bin/env python3
"""A lifeline agent in Python (bindings/python/lifeline.py, standard library only).

    agent.py HOST:PORT[,HOST:PORT...] ID

Stays online, reconnects by itself, says hello once online, echoes every DATA
back as "echo:<payload>", and says BYE and exits on a DATA "quit".
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python"))
import lifeline  # noqa: E402


def main(servers, ident):
    with lifeline.Client(servers=servers, id=ident, label="lang=python", backoff_cap="2s") as client:
        for ev in client.events():
            if ev.type == "state":
                print("state", ev.state, ev.server, ev.reason, flush=True)
                if ev.state == "online":
                    client.send("hello from python")
            elif ev.type == "data":
                print("data", ev.data.decode("utf-8", "replace"), flush=True)
                if ev.data == b"quit":
                    client.stop()
                    print("bye", flush=True)
                    return 0
                client.send(b"echo:" + ev.data)
            elif ev.type == "overflow":
                print("overflow", ev.count, flush=True)
    return 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: agent.py HOST:PORT[,HOST:PORT...] ID")
    try:
        sys.exit(main(sys.argv[1], sys.argv[2]))
    except lifeline.Error as e:
        sys.exit("lifeline: %s" % e)
