"""Integration-test harness for the lifeline program (Python stdlib only).

A test file looks like this:

    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    sys.dont_write_bytecode = True
    from harness import run, check

    def test_something(env):
        srv = env.server()                       # lifeline serve on 127.0.0.1, fast timings
        w = env.watch(srv)                       # lifeline watch --json, events collected
        a = env.agent(srv, "a1")                 # lifeline agent --json, state lines collected
        w.wait_for(lambda e: e["kind"] == "online" and e["id"] == "a1", 5)
        check(env.ls(srv)["online"] == 1, "...")

    if __name__ == "__main__":
        run([test_something])                    # parses --lifeline PATH, prints PASS/FAIL

Rules this file enforces:
- Every child is started in its own process group (start_new_session) and is
  registered; each test's Env kills what it started in a finally block, and an
  atexit hook (plus SIGTERM/SIGINT/SIGHUP handlers) kills anything left, so no
  child outlives the test process.
- Every wait is a deadline-bounded poll (`wait_until`) or a blocking read with a
  timeout; there is no sleep used as synchronisation.
- Output: `PASS name (x.xs)` or `FAIL name: reason` per test, then exactly
  `N passed, M failed`; exit code 1 when anything failed.
"""
import argparse
import atexit
import datetime
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import vocab  # docs/json.md, checked on every JSON line a test reads

HOST = "127.0.0.1"

# Fast server timings used by most tests (see the brief / README).
FAST_SERVER = ["--interval", "100ms", "--timeout", "300ms", "--min-interval", "50ms",
               "--min-timeout", "150ms", "--tick", "10ms", "--handshake-timeout", "500ms"]

LIFELINE = None          # path of the binary, set by run() from --lifeline
VERBOSE = False

# --------------------------------------------------------------------------- errors and waits


class Failure(AssertionError):
    """A test expectation did not hold."""


def check(cond, msg, *args):
    if not cond:
        raise Failure(msg % args if args else msg)


def wait_until(pred, timeout, what="condition", poll=0.01):
    """Poll pred() until it returns a truthy value or `timeout` seconds pass.

    Returns the truthy value; raises Failure naming `what` on timeout.
    The short sleep between polls is pacing, not synchronisation: the result
    depends only on pred() becoming true before the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        now = time.monotonic()
        if now >= deadline:
            raise Failure("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(min(poll, deadline - now))


def holds(pred_ok, duration, what="condition", poll=0.02):
    """Observation window: pred_ok() must stay true for `duration` seconds (polled).
    Fails at the first violation. This asserts that nothing happens during a window;
    it is not used to wait for something to happen."""
    deadline = time.monotonic() + duration
    while True:
        if not pred_ok():
            raise Failure("%s stopped holding" % what)
        now = time.monotonic()
        if now >= deadline:
            return
        time.sleep(min(poll, deadline - now))


def now_ms():
    """Unix time in ms (same clock as the server's event and last_seen times on this host)."""
    return time.time() * 1000.0


def parse_ts(ts):
    """An RFC 3339 UTC time of docs/json.md ('2026-11-23T15:33:09.462Z') -> Unix ms (float)."""
    d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return d.timestamp() * 1000.0


# --------------------------------------------------------------------------- process registry

_procs = []
_procs_lock = threading.Lock()


def _register(p):
    with _procs_lock:
        _procs.append(p)


def kill_proc(p, wait=5.0):
    """SIGKILL p's whole process group (it was started with its own session) and reap it."""
    if p is None:
        return
    if p.poll() is None:
        for sig in (signal.SIGCONT, signal.SIGKILL):   # SIGCONT: a stopped process dies at once anyway,
            try:                                      # but its group may hold stopped children
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
    try:
        p.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        pass


def kill_all():
    with _procs_lock:
        procs = list(_procs)
        _procs.clear()
    for p in procs:
        kill_proc(p)


atexit.register(kill_all)


def _on_signal(signum, _frame):
    kill_all()
    sys.stderr.write("harness: signal %d, children killed\n" % signum)
    os._exit(128 + signum)


for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def _pdeathsig_setup():
    """Build the child-side setup: if this test process dies, even by SIGKILL (where atexit
    cannot run), the kernel kills the child (PR_SET_PDEATHSIG). Linux only; a no-op elsewhere."""
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def setup():
        prctl(1, int(signal.SIGKILL), 0, 0, 0)      # PR_SET_PDEATHSIG
        if os.getppid() != parent:                    # the parent died before prctl
            os._exit(1)
    return setup


_CHILD_SETUP = _pdeathsig_setup()


def spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL):
    """Start a child in its own process group (start_new_session), registered for cleanup.
    Call from the main thread only: PR_SET_PDEATHSIG is tied to the spawning thread."""
    if VERBOSE:
        sys.stderr.write("spawn: %s\n" % " ".join(argv))
    p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True,
                         close_fds=True, preexec_fn=_CHILD_SETUP)
    _register(p)
    return p


def uses_library(pid, name):
    """True if process `pid` has a shared library whose path contains `name` ("libasan", "libtsan")."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            return any(name in line for line in f)
    except OSError:
        return False


def check_memory_returned(pid, rss0_kb, rss1_kb, stop, limit_kb=16 * 1024):
    """After a long run, the server gave its memory back. Under ASan RSS says nothing (its
    quarantine holds freed blocks back, up to 256 MB: one CI run grew 16.5 MB), so there
    `stop()` ends the server (SIGTERM; returns its exit code) and LeakSanitizer, which
    reports at that exit, decides: exit 0 or a failure."""
    if uses_library(pid, "libasan"):
        code = stop()
        check(code == 0, "the ASan server (pid %d) exited %s on SIGTERM: a leak report?", pid, code)
    else:
        check(rss1_kb - rss0_kb < limit_kb, "server RSS grew by %d kB", rss1_kb - rss0_kb)


def send_signal(p, sig):
    """Signal one process (not its group: these are single processes)."""
    os.kill(p.pid, sig)


def raise_nofile(want):
    """Raise this process's RLIMIT_NOFILE soft limit (children inherit it) up to `want`
    (bounded by the hard limit); returns the resulting soft limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


# --------------------------------------------------------------------------- ports


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A free TCP port on 127.0.0.1 *outside* the ephemeral range.

    Outside, because clients that keep reconnecting to a port with no listener
    can otherwise be given that very port as their source port and connect to
    themselves (TCP simultaneous open), which would block the server's restart."""
    lo, hi = _ephemeral_range()
    candidates = [p for p in range(10000, 65000) if not (lo <= p <= hi)]
    for _ in range(200):
        port = random.choice(candidates)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((HOST, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise Failure("no free port found")


# --------------------------------------------------------------------------- line collectors


def host_port(host, port):
    """"host:port", an IPv6 literal in brackets."""
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def address_of(server):
    """The --server value for a Server (its own address), an "host:port" string, or a port on HOST."""
    if hasattr(server, "addr"):
        return server.addr
    if isinstance(server, str) and ":" in server:
        return server
    return host_port(HOST, int(server))


class Collector:
    vocab_kind = None  # item -> its docs/json.md kind, for programs that print JSON
    """Runs a program whose stdout is one line (usually JSON) per event and collects the
    lines in a background thread. Each item is a dict: the parsed JSON (or {"raw": line})
    plus "_mono" and "_wall_ms", the moment this process read it. merge_stderr=True
    collects stderr lines the same way (a server's log, timed as it arrives)."""

    def __init__(self, env, argv, name, json_lines=True, merge_stderr=False):
        self.env, self.name, self.json_lines = env, name, json_lines
        self.stderr_path = env.path(name + ".stderr")
        self.stdout_path = env.path(name + ".stdout")
        self._stderr_f = open(self.stderr_path, "wb")
        self._stdout_copy = open(self.stdout_path, "w")
        self.proc = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge_stderr else self._stderr_f)
        self.items = []
        self.vocab_errors = []   # JSON lines that break docs/json.md (checked by vocab.py as they arrive)
        self.cond = threading.Condition()
        self.eof = False
        self.thread = threading.Thread(target=self._read, name="reader-" + name, daemon=True)
        self.thread.start()

    @property
    def pid(self):
        return self.proc.pid

    def _read(self):
        f = self.proc.stdout
        try:
            for raw in iter(f.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                mono, wall = time.monotonic(), now_ms()
                self._stdout_copy.write(line + "\n")
                self._stdout_copy.flush()
                item = None
                if self.json_lines:
                    try:
                        item = json.loads(line)
                    except ValueError:
                        item = None
                if not isinstance(item, dict):
                    item = {"raw": line}
                elif self.vocab_kind:
                    try:
                        vocab.check(item, self.vocab_kind(item))
                    except AssertionError as e:
                        self.vocab_errors.append(str(e))
                item["_mono"], item["_wall_ms"] = mono, wall
                with self.cond:
                    self.items.append(item)
                    self.cond.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            with self.cond:
                self.eof = True
                self.cond.notify_all()

    def mark(self):
        """Index to pass as `start` so later waits only consider lines read after now."""
        with self.cond:
            return len(self.items)

    def snapshot(self, start=0):
        with self.cond:
            if self.vocab_errors:
                raise Failure("%s printed JSON outside docs/json.md: %s" % (self.name, self.vocab_errors[0]))
            return list(self.items[start:])

    def select(self, pred, start=0):
        return [i for i in self.snapshot(start) if pred(i)]

    def wait_for(self, pred, timeout, start=0, what=None):
        """Block (condition variable, deadline) until an item at index >= start matches pred.
        Returns that item; raises Failure on timeout or if the program exits first."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.items):
                    if self.vocab_errors:
                        raise Failure("%s printed JSON outside docs/json.md: %s" % (self.name, self.vocab_errors[0]))
                    if pred(self.items[i]):
                        return self.items[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    break
                self.cond.wait(left)
        tail = [self._brief(x) for x in self.items[max(start, len(self.items) - 8):]]
        raise Failure("%s: %s %s after %.1fs; last lines: %s" % (
            self.name, "exited before" if self.eof else "timed out waiting for",
            what or "a matching line", timeout, tail))

    def wait_count(self, pred, n, timeout, start=0, what=None):
        """Wait until at least n items at index >= start match pred; returns them."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [x for x in self.items[start:] if pred(x)]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    break
                self.cond.wait(left)
        raise Failure("%s: %d/%d %s after %.1fs%s" % (self.name, len(got), n, what or "matching lines",
                                                     timeout, " (exited)" if self.eof else ""))

    @staticmethod
    def _brief(x):
        return {k: v for k, v in x.items() if not k.startswith("_")}

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def signal(self, sig):
        send_signal(self.proc, sig)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure("%s (pid %d) did not exit within %.1fs" % (self.name, self.pid, timeout))

    def kill(self):
        kill_proc(self.proc)

    def close(self):
        kill_proc(self.proc)
        self.thread.join(timeout=5)
        for f in (self._stderr_f, self._stdout_copy):
            try:
                f.close()
            except OSError:
                pass


class Agent(Collector):
    """`lifeline agent --json`: items are state changes {"v","at","id","state","from",...} (docs/json.md)."""

    @staticmethod
    def vocab_kind(item):
        return "agent"

    def __init__(self, env, server, id, interval="100ms", timeout="300ms", backoff_base="100ms",
                 backoff_cap="1s", count=1, quiet=False, labels=None, extra=(), log_level=None, name=None,
                 prefix=()):
        argv = list(prefix) + [LIFELINE]
        if log_level:
            argv += ["--log-level", log_level]
        argv += ["agent", "--id", id, "--server", address_of(server), "--json",
                 "--backoff-base", backoff_base, "--backoff-cap", backoff_cap]
        if interval:
            argv += ["--interval", interval]
        if timeout:
            argv += ["--timeout", timeout]
        if count != 1:
            argv += ["--count", str(count)]
        if quiet:
            argv += ["--quiet"]
        for k, v in (labels or {}).items():
            argv += ["--label", "%s=%s" % (k, v)]
        argv += list(extra)
        self.id = id
        super().__init__(env, argv, name or ("agent-" + id))

    def states(self, state=None, id=None, start=0):
        return self.select(lambda x: (state is None or x.get("state") == state) and
                           (id is None or x.get("id") == id), start)

    def wait_state(self, state, timeout, id=None, start=0):
        return self.wait_for(lambda x: x.get("state") == state and (id is None or x.get("id") == id),
                             timeout, start, what="state %s%s" % (state, "" if id is None else " of " + id))


class Watch(Collector):
    """`lifeline watch --json`: items are presence events {"v","seq","kind","at","id","peer",...} and, with
    --snapshot, lists (docs/json.md)."""

    @staticmethod
    def vocab_kind(item):
        return "list" if "clients" in item else "event"

    def __init__(self, env, server, name="watch", extra=(), prefix=()):
        super().__init__(env, list(prefix) + [LIFELINE, "watch", "--server", address_of(server), "--json"] +
                         list(extra), name)

    def wait_connected(self, timeout=5.0, count=1):
        """Wait until watch's stderr says it is online (count-th time: after a server restart)."""
        wait_until(lambda: self.stderr_text().count("watch: online") >= count, timeout,
                   "%s to report 'watch: online' (#%d)" % (self.name, count))

    def events(self, kind=None, id=None, start=0, reason=None):
        return self.select(lambda e: (kind is None or e.get("kind") == kind) and
                           (id is None or e.get("id") == id) and
                           (reason is None or e.get("reason") == reason), start)

    def wait_event(self, kind, id, timeout, start=0, reason=None):
        return self.wait_for(lambda e: e.get("kind") == kind and e.get("id") == id and
                             (reason is None or e.get("reason") == reason), timeout, start,
                             what="%s event for %s%s" % (kind, id, "" if reason is None else " (" + reason + ")"))


# --------------------------------------------------------------------------- server


class Server:
    """`lifeline serve` on 127.0.0.1. port=0: any free port (read from --port-file)."""

    def __init__(self, env, port=0, args=FAST_SERVER, extra=(), name="server", host=HOST, admin=None, ws=None,
                 prefix=()):
        """admin: None (no admin API), or a list of extra --admin-* arguments ([] for the defaults
        plus --insecure-admin unless a token file is given); the admin port is admin_port.
        ws: None (no WebSocket), or a list of extra --ws-* arguments; the port is ws_port (kept
        across restarts)."""
        self.env, self.name, self.host = env, name, host
        self.prefix = list(prefix)  # e.g. ["ip", "netns", "exec", NS]: run it there
        self.ws = None if ws is None else list(ws)
        self.ws_port = None
        self.requested_port = port
        self.args = list(args) + list(extra)
        self.admin = None if admin is None else list(admin)
        self.admin_port = None
        self.port = None
        self.proc = None
        self.generation = 0
        self.log_path = env.path(name + ".log")
        open(self.log_path, "wb").close()

    @property
    def pid(self):
        return self.proc.pid

    @property
    def addr(self):
        return host_port(self.host, self.port)

    def start(self, port=None, timeout=10.0):
        """Start (or restart) the server; port=None reuses the port of the last run, if any.
        Retries while the port is still in use, until `timeout`."""
        if port is None:
            port = self.port if self.port is not None else self.requested_port
        deadline = time.monotonic() + timeout
        while True:
            self.generation += 1
            pf = self.env.path("%s.port.%d" % (self.name, self.generation))
            argv = self.prefix + [LIFELINE, "serve", "--listen", host_port(self.host, port), "--port-file", pf] + self.args
            apf = self.env.path("%s.admin-port.%d" % (self.name, self.generation))
            if self.ws is not None:
                wpf = self.env.path("%s.ws-port.%d" % (self.name, self.generation))
                argv += ["--ws-listen", "127.0.0.1:%d" % (self.ws_port or 0), "--ws-port-file", wpf] + self.ws
            if self.admin is not None:
                admin_port = self.admin_port or 0
                argv += ["--admin-listen", "127.0.0.1:%d" % admin_port, "--admin-port-file", apf] + self.admin
                if "--admin-token-file" not in self.admin and "--insecure-admin" not in self.admin:
                    argv.append("--insecure-admin")
            logf = open(self.log_path, "ab")
            logf.write(("--- harness: start #%d: %s\n" % (self.generation, " ".join(argv[1:]))).encode())
            logf.flush()
            self.proc = spawn(argv, stderr=logf, stdout=logf)
            logf.close()

            def ready():
                if os.path.exists(pf):
                    with open(pf) as f:
                        txt = f.read().strip()
                    if txt.isdigit():
                        return int(txt)
                if self.proc.poll() is not None:
                    return -1
                return 0
            got = wait_until(lambda: ready() or None, max(0.1, deadline - time.monotonic()),
                             "%s to write its port file" % self.name)
            if got > 0:
                self.port = got
                if self.ws is not None:
                    self.ws_port = int(open(wpf).read().strip())  # written before the main port file
                if self.admin is not None:
                    self.admin_port = int(wait_until(lambda: os.path.exists(apf) and open(apf).read().strip() or None,
                                                     5, "%s to write its admin port file" % self.name))
                return self
            # exited before listening
            log = self.log_tail(5)
            if port != 0 and "in use" in log and time.monotonic() < deadline:
                time.sleep(0.05)   # pacing between bind retries, not synchronisation
                continue
            raise Failure("%s exited with %s before listening: %s" % (self.name, self.proc.returncode, log))

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n=20):
        return "\n".join(self.log().splitlines()[-n:])

    def log_lines(self, regex):
        r = re.compile(regex)
        return [ln for ln in self.log().splitlines() if r.search(ln)]

    def wait_log(self, regex, timeout, what=None):
        r = re.compile(regex)

        def find():
            for ln in self.log().splitlines():
                if r.search(ln):
                    return ln
            return None
        return wait_until(find, timeout, what or ("server log line /%s/" % regex))

    def signal(self, sig):
        send_signal(self.proc, sig)

    def kill(self):
        """SIGKILL and reap."""
        kill_proc(self.proc)

    def stop(self, timeout=5.0):
        """SIGTERM; returns the exit code (SIGKILL after `timeout`)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        try:
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_proc(self.proc)
            raise Failure("%s did not exit within %.1fs of SIGTERM" % (self.name, timeout))

    def uses_library(self, name):
        """True if the running server has a shared library whose path contains `name`
        (say "libtsan": a ThreadSanitizer build, whose memory use is several times larger)."""
        return uses_library(self.proc.pid, name)

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
        raise Failure("no VmRSS for pid %d" % self.proc.pid)


# --------------------------------------------------------------------------- raw protocol client

HELLO, WELCOME, PING, PONG, DATA, BYE, ERROR, LIST, LIST_REPLY, SUBSCRIBE, EVENT = range(1, 12)
ERRORS = dict(enumerate("malformed too_large unknown_type handshake_required handshake_timeout "
                        "unsupported_version rejected flood slow_consumer shutting_down too_many_connections "
                        "unauthorized".split(), 1))
REASONS = dict(enumerate("bye closed reset timeout replaced kicked shutdown rejected protocol".split(), 1))


def frame(ftype, payload=b"", length=None):
    """A frame; `length` overrides the header's length field (to lie about it)."""
    return struct.pack(">IB", len(payload) if length is None else length, ftype) + payload


def str16(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def hello_payload(id, interval_ms=100, timeout_ms=300, flags=0, labels=None, version=1, token=None):
    labels = labels or {}
    out = struct.pack(">BBII", version, flags, interval_ms, timeout_ms) + str16(id)
    out += struct.pack(">H", len(labels)) + b"".join(str16(k) + str16(v) for k, v in labels.items())
    if token is not None:
        out += str16(token)
    return out


class Raw:
    """A raw TCP connection to the server, for sending bad input."""

    def __init__(self, port, timeout=5.0, source=None):
        self.sock = socket.create_connection((HOST, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local = "%s:%d" % self.sock.getsockname()
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def hello(self, id, **kw):
        """Send HELLO and read WELCOME (returns its raw payload)."""
        self.send(frame(HELLO, hello_payload(id, **kw)))
        t, p = self.read_frame(5.0)
        check(t == WELCOME, "expected WELCOME, got type %r payload %r" % (t, p))
        return p

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("read timed out")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return False
            if not chunk:
                return False
            self.buf += chunk
        return True

    def read_frame(self, timeout):
        """(type, payload), or (None, None) on EOF/RST; raises socket.timeout on timeout."""
        deadline = time.monotonic() + timeout
        if not self._fill(5, deadline):
            return None, None
        length, ftype = struct.unpack(">IB", self.buf[:5])
        if not self._fill(5 + length, deadline):
            return None, None
        payload, self.buf = self.buf[5:5 + length], self.buf[5 + length:]
        return ftype, payload

    def read_until_error_or_eof(self, timeout):
        """Skip PING/PONG etc.; returns ((code, message) or None, eof_seen, frames_skipped)."""
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            t, p = self.read_frame(max(0.0, deadline - time.monotonic()))
            if t is None:
                return None, True, skipped
            if t == ERROR:
                code, n = struct.unpack(">HH", p[:4])
                msg = p[4:4 + n].decode("utf-8", "replace")
                eof = self.wait_eof(max(0.5, deadline - time.monotonic()))
                return (code, msg), eof, skipped
            skipped.append(t)

    def wait_eof(self, timeout):
        """True if the server closes the connection within timeout (data before it is discarded)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------- per-test environment


class Env:
    """Everything one test starts; close() (called by the runner in a finally block) kills it all."""

    def __init__(self, name, root):
        self.name = name
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.servers, self.collectors, self.raws, self.socks = [], [], [], []
        self._n = 0

    def path(self, fname):
        return os.path.join(self.dir, fname)

    def server(self, port=0, args=FAST_SERVER, extra=(), name=None, start=True, host=HOST, admin=None, ws=None,
               prefix=()):
        s = Server(self, port=port, args=args, extra=extra, host=host, admin=admin, ws=ws, prefix=prefix,
                   name=name or ("server" if not self.servers else "server%d" % len(self.servers)))
        self.servers.append(s)
        if start:
            s.start()
        return s

    def agent(self, server, id, **kw):
        if "name" not in kw:
            self._n += 1
            kw["name"] = "agent-%s-%d" % (id, self._n)
        a = Agent(self, server, id, **kw)
        self.collectors.append(a)
        return a

    def watch(self, server, name=None, connected_timeout=5.0, extra=(), prefix=()):
        self._n += 1
        w = Watch(self, server, name=name or "watch-%d" % self._n, extra=extra, prefix=prefix)
        self.collectors.append(w)
        if connected_timeout:
            w.wait_connected(connected_timeout)
        return w

    def raw(self, server, timeout=5.0, source=None):
        """A raw connection; `source` is a local address to connect from (127.0.0.x)."""
        r = Raw(server.port if hasattr(server, "port") else int(server), timeout, source)
        self.raws.append(r)
        return r

    def ls(self, server, timeout=5.0, extra=()):
        return ls_json(address_of(server), timeout, extra)

    def run(self, argv, timeout=10.0):
        """Run a short-lived command; returns CompletedProcess (killed at the deadline)."""
        p = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_proc(p)
            raise Failure("%s did not finish within %.1fs" % (" ".join(argv[1:3]), timeout))
        return subprocess.CompletedProcess(argv, p.returncode, out.decode("utf-8", "replace"),
                                           err.decode("utf-8", "replace"))

    def diagnostics(self, lines=25):
        out = []
        for s in self.servers[:4]:
            out.append("---- %s log (last %d lines, %s)\n%s" % (s.name, lines, s.log_path, s.log_tail(lines)))
        for c in self.collectors[:8]:
            items = [Collector._brief(x) for x in c.snapshot()[-6:]]
            out.append("---- %s (pid %d) last lines: %s\n     stderr: %s" % (
                c.name, c.pid, json.dumps(items)[:1500], c.stderr_text()[-600:].strip()))
        return "\n".join(out)

    def close(self):
        for r in self.raws:
            r.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        for c in self.collectors:
            c.close()
        for s in self.servers:
            if s.proc is not None:
                kill_proc(s.proc)


def ls_json(server, timeout=5.0, extra=()):
    """Run `lifeline ls --json` against a Server, "host:port" or a port on HOST; returns the parsed object."""
    p = spawn([LIFELINE, "ls", "--server", address_of(server), "--json", "--connect-timeout", "2s"] + list(extra),
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_proc(p)
        raise Failure("lifeline ls did not finish within %.1fs" % timeout)
    if p.returncode != 0:
        raise Failure("lifeline ls exited %d: %s" % (p.returncode, err.decode("utf-8", "replace").strip()))
    text = out.decode().strip().splitlines()
    try:
        obj = json.loads(text[0])
    except (ValueError, IndexError):
        raise Failure("lifeline ls printed no JSON: %r" % out[:300])
    check(len(text) == 1, "lifeline ls --json printed %d lines, expected one object", len(text))
    try:
        return vocab.check(obj, "list")
    except AssertionError as e:
        raise Failure(str(e))


# --------------------------------------------------------------------------- runner


def known_bug(description):
    """Mark a test that currently fails because of a server/client bug. It still runs and
    still counts as FAIL (the expectation is not weakened); the description is printed."""
    def deco(fn):
        fn.known_bug = description
        return fn
    return deco


def log(msg, *args):
    """Measurements and notes, printed between the PASS/FAIL lines."""
    sys.stdout.write("    " + (msg % args if args else msg) + "\n")
    sys.stdout.flush()


def run(tests, description=None):
    global LIFELINE, VERBOSE
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--lifeline", required=True, help="path of the lifeline binary")
    ap.add_argument("-k", "--only", action="append", default=[], help="run tests whose name contains this")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    LIFELINE = os.path.abspath(args.lifeline)
    VERBOSE = args.verbose
    if not os.access(LIFELINE, os.X_OK):
        print("FAIL setup: %s is not an executable" % LIFELINE)
        print("0 passed, 1 failed")
        sys.exit(1)
    root = tempfile.mkdtemp(prefix="lifeline-it-")
    passed = failed = 0
    selected = [t for t in tests if not args.only or any(o in t.__name__ for o in args.only)]
    try:
        for fn in selected:
            name = fn.__name__
            env = Env(name, root)
            t0 = time.monotonic()
            err = None
            try:
                fn(env)
            except Failure as e:
                err = str(e)
            except Exception as e:  # noqa: BLE001 - any crash of a test is a failure of that test
                err = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
            diag = env.diagnostics() if err else ""
            env.close()
            dt = time.monotonic() - t0
            bug = getattr(fn, "known_bug", None)
            if err is None:
                passed += 1
                print("PASS %s (%.1fs)%s" % (name, dt, " [marked known_bug, now passing]" if bug else ""))
            else:
                failed += 1
                print("FAIL %s: %s%s" % (name, err.strip(), " [KNOWN BUG: %s]" % bug if bug else ""))
                sys.stderr.write(diag + "\n")
            sys.stdout.flush()
            sys.stderr.flush()
    finally:
        kill_all()
        if args.keep or failed:
            sys.stderr.write("logs kept in %s\n" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    sys.exit(1 if failed else 0)
