"""A redis-server of a test's own (the cluster's engine, docs/cluster.md), installed by
scripts/bootstrap: on a free loopback port, with no persistence, killed with the test."""
import socket

import harness
from harness import wait_until


class Redis:
    """A redis-server of this test's own on a free loopback port, with no persistence:
    a restart comes back empty."""

    def __init__(self, env, port=None):
        self.env, self.port, self.proc = env, port or harness.free_port(), None
        self.start()

    def start(self):
        logf = open(self.env.path("redis.log"), "ab")
        self.proc = harness.spawn(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--protected-mode", "no"], stdout=logf, stderr=logf)
        logf.close()
        wait_until(lambda: self.ping(), 10, "redis-server to answer PING on port %d" % self.port)

    def ping(self):
        try:
            return self.command("PING") == "+PONG"
        except OSError:
            return False

    def command(self, *args):
        """One command, RESP2; returns the first line of the reply (enough for PING, DBSIZE)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            req = "*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a.encode()), a) for a in args)
            s.sendall(req.encode())
            return s.makefile("rb").readline().decode().strip()

    def kill(self):
        harness.kill_proc(self.proc)

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port
