#!/usr/bin/env python3
"""Fault injection: a pulled network cable between one agent and the server.

    python3 tests/faults/test_cable_pull.py --lifeline PATH [--seed N] [--keep]

Two network namespaces joined by a veth pair (addresses exist only inside them):

    llsrv-<pid>  10.213.N.1/30   lifeline serve (also on 127.0.0.1) + lifeline watch (loopback)
    llcli-<pid>  10.213.N.2/30   lifeline agent --id a1

A "pulled cable" is iptables DROP rules in the client namespace only, so the host's
firewall is never touched. Cases:

  1. both directions dropped: the server reports `offline reason=timeout` within
     timeout + tick + slack, the agent `reconnecting` ("server silent") within timeout + slack;
     after the rules are removed the agent is online again and the watch sees it.
  2a. server -> client dropped (client INPUT): the agent hears no PONG and reconnects within
     its bound; the server reports the old session offline (any reason) within 2 s.
  2b. client -> server dropped (client OUTPUT): the server times the session out within its
     bound; the agent, hearing nothing either, detects within its bound too.

Every delay is measured from just before the iptables rules were installed, from the moment
the line reached this script (and, for reference, from the timestamp inside the line).
Exit status: 0 all passed, 1 something failed, 77 skipped (no permission for network
namespaces or iptables). Nothing here sleeps for synchronization: every wait polls process
output with a deadline. The only deliberate waits are observation windows (nothing may happen
during them) and a random extra up-time before each cut, so that the cut falls at a random
point of the heartbeat cycle (printed, reproducible with --seed).
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
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from netns import sh  # noqa: E402

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
ONE_WAY_SERVER_BOUND_MS = 2000                         # case 2a: server notices "by some means"
RECONNECT_BOUND_MS = 5000                              # after healing: online again
OUTAGE_HOLD_S = 1.0                                    # keep the cable out this long after detection
STABLE_HOLD_S = 0.8                                    # the new session must survive this long
PORT = 7000

PID = os.getpid()
SRV_NS, CLI_NS = "llsrv-%d" % PID, "llcli-%d" % PID
SRV_IF, CLI_IF = "llvs%d" % PID, "llvc%d" % PID  # exist only inside the namespaces
NET = "10.213.%d" % (PID % 256)
SRV_IP, CLI_IP = NET + ".1", NET + ".2"
SRV_ADDR = "%s:%d" % (SRV_IP, PORT)
AGENT_ID = "a1"

T0 = time.monotonic()
RNG = random.Random()


def log(fmt, *args):
    sys.stdout.write("[%7.3f] %s\n" % (time.monotonic() - T0, fmt % args if args else fmt))
    sys.stdout.flush()


# ----------------------------------------------------------------------------- results

class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []

    def check(self, cond, what, *args):
        text = what % args if args else what
        if cond:
            self.passed += 1
            log("  ok   %s", text)
        else:
            self.failed += 1
            self.failures.append(text)
            log("  FAIL %s", text)
        return bool(cond)


R = Results()


class CaseAbort(Exception):
    """A step a case depends on did not happen; the failure is already recorded."""


def require(cond, what, *args):
    if not R.check(cond, what, *args):
        raise CaseAbort(what % args if args else what)


# ----------------------------------------------------------------------------- commands

def in_ns(ns, argv):
    return ["ip", "netns", "exec", ns] + argv


# ----------------------------------------------------------------------------- processes

def parse_iso_ms(ts):
    """'2026-11-23T15:33:09.466Z' -> Unix ms (None if it does not parse)."""
    try:
        if ts.endswith("Z"):
            ts = ts[:-1] + "+00:00"
        return datetime.datetime.fromisoformat(ts).timestamp() * 1000.0
    except (ValueError, AttributeError):
        return None


class Line:
    __slots__ = ("stream", "text", "mono", "wall_ms", "obj")

    def __init__(self, stream, text):
        self.stream = stream
        self.text = text
        self.mono = time.monotonic()
        self.wall_ms = time.time() * 1000.0
        self.obj = None
        if text.startswith("{"):
            try:
                self.obj = json.loads(text)
            except ValueError:
                pass


class Proc:
    """A child process whose stdout and stderr lines are collected, with arrival times, by
    reader threads; waits are condition-variable waits with deadlines."""

    def __init__(self, name, argv):
        self.name = name
        self.argv = argv
        self.lines = []
        self.cv = threading.Condition()
        self.eof = 0
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, bufsize=1, errors="replace", start_new_session=True)
        self.threads = [threading.Thread(target=self._read, args=(s, n), daemon=True)
                        for s, n in ((self.p.stdout, "out"), (self.p.stderr, "err"))]
        for t in self.threads:
            t.start()

    def _read(self, stream, name):
        for raw in stream:
            line = Line(name, raw.rstrip("\n"))
            with self.cv:
                self.lines.append(line)
                self.cv.notify_all()
        with self.cv:
            self.eof += 1
            self.cv.notify_all()

    def mark(self):
        with self.cv:
            return len(self.lines)

    def find(self, pred, start=0):
        with self.cv:
            return [ln for ln in self.lines[start:] if pred(ln)]

    def wait(self, pred, timeout_s, start=0):
        """First line from index `start` on satisfying pred, or None after timeout_s."""
        deadline = time.monotonic() + timeout_s
        i = start
        with self.cv:
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i]):
                        return self.lines[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or (self.eof == 2 and i >= len(self.lines)):
                    return None
                self.cv.wait(left)

    def alive(self):
        return self.p.poll() is None

    def stop(self, grace_s=3.0):
        """SIGTERM, then SIGKILL after grace_s. Returns 'exited', 'killed' or 'gone'."""
        if self.p.poll() is not None:
            return "gone"
        try:
            self.p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            return "gone"
        try:
            self.p.wait(grace_s)
            how = "exited"
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)
            how = "killed"
        for t in self.threads:
            t.join(2)
        return how

    def tail(self, n=25):
        with self.cv:
            return ["%s %s: %s" % (self.name, ln.stream, ln.text) for ln in self.lines[-n:]]


# agent: JSON state lines on stdout
def agent_state(state):
    return lambda ln: ln.obj is not None and ln.obj.get("state") == state


# watch: JSON presence events on stdout
def watch_event(kind, ident=AGENT_ID):
    return lambda ln: ln.obj is not None and ln.obj.get("kind") == kind and ln.obj.get("id") == ident


def server_line(pattern):
    rx = re.compile(pattern)
    return lambda ln: ln.stream == "err" and rx.search(ln.text) is not None


# ----------------------------------------------------------------------------- the world

class World:
    def __init__(self, lifeline, keep):
        self.lifeline = lifeline
        self.keep = keep
        self.procs = []
        self.ns_made = []
        self.server = self.watch = self.agent = None
        self.server_stop = None

    # -- setup --------------------------------------------------------------
    def make_namespaces(self):
        """Raises RuntimeError (-> skip) if namespaces cannot be created."""
        for ns in (SRV_NS, CLI_NS):
            sh(["ip", "netns", "add", ns])
            self.ns_made.append(ns)

    def make_link(self):
        # Created directly inside the namespaces: nothing appears in the host's namespace.
        cp = sh(["ip", "link", "add", SRV_IF, "netns", SRV_NS, "type", "veth", "peer", "name", CLI_IF,
                 "netns", CLI_NS], check=False)
        if cp.returncode != 0:  # older iproute2: create on the host, then move both ends
            sh(["ip", "link", "add", SRV_IF, "type", "veth", "peer", "name", CLI_IF])
            sh(["ip", "link", "set", SRV_IF, "netns", SRV_NS])
            sh(["ip", "link", "set", CLI_IF, "netns", CLI_NS])
        for ns, ifname, ip in ((SRV_NS, SRV_IF, SRV_IP), (CLI_NS, CLI_IF, CLI_IP)):
            sh(in_ns(ns, ["ip", "addr", "add", ip + "/30", "dev", ifname]))
            sh(in_ns(ns, ["ip", "link", "set", ifname, "up"]))
            sh(in_ns(ns, ["ip", "link", "set", "lo", "up"]))

    def probe_iptables(self):
        """Raises RuntimeError (-> skip) if iptables cannot be used in the client namespace."""
        for tool in ("iptables", "iptables-restore"):
            if shutil.which(tool) is None:
                raise RuntimeError("%s is not installed (apt-get install -y iptables)" % tool)
        sh(in_ns(CLI_NS, ["iptables", "-A", "INPUT", "-s", "192.0.2.1", "-j", "DROP"]))
        self.heal()
        rules = self.rules()
        if "192.0.2.1" in rules:
            raise RuntimeError("iptables rules in %s cannot be removed: %s" % (CLI_NS, rules))

    def spawn(self, name, ns, args):
        p = Proc(name, in_ns(ns, [self.lifeline] + args))
        self.procs.append(p)
        return p

    def start(self):
        ms = lambda v: "%dms" % v  # noqa: E731
        self.server = self.spawn("server", SRV_NS, [
            "serve", "--listen", SRV_ADDR, "--listen", "127.0.0.1:%d" % PORT,
            "--interval", ms(INTERVAL_MS), "--timeout", ms(TIMEOUT_MS), "--min-interval", "50ms",
            "--min-timeout", "150ms", "--tick", ms(TICK_MS)])
        for addr in (SRV_ADDR, "127.0.0.1:%d" % PORT):
            ln = self.server.wait(server_line(r"listening on %s\b" % re.escape(addr)), 5)
            require(ln is not None, "server listening on %s", addr)
        self.watch = self.spawn("watch", SRV_NS, ["watch", "--server", "127.0.0.1:%d" % PORT, "--json"])
        ln = self.watch.wait(lambda l: "watch: online" in l.text, 5)
        require(ln is not None, "watch connected to the server over the server namespace's loopback")
        self.agent = self.spawn("agent", CLI_NS, [
            "agent", "--id", AGENT_ID, "--server", SRV_ADDR, "--interval", ms(INTERVAL_MS),
            "--timeout", ms(TIMEOUT_MS), "--backoff-base", ms(BACKOFF_BASE_MS), "--backoff-cap", ms(BACKOFF_CAP_MS),
            "--connect-timeout", ms(CONNECT_TIMEOUT_MS), "--json"])
        on = self.agent.wait(agent_state("online"), 5)
        require(on is not None, "agent online across the veth")
        require(on.obj.get("timeout_ms") == TIMEOUT_MS and on.obj.get("interval_ms") == INTERVAL_MS,
                "agent got interval %s ms / timeout %s ms (expected %d / %d)", on.obj.get("interval_ms"),
                on.obj.get("timeout_ms"), INTERVAL_MS, TIMEOUT_MS)
        ev = self.watch.wait(watch_event("online"), 3)
        require(ev is not None and ev.obj.get("remote", "").startswith(CLI_IP + ":"),
                "watch saw a1 online from %s (got %s)", CLI_IP, ev.obj if ev else None)

    # -- the cable ----------------------------------------------------------
    def rules(self):
        return sh(in_ns(CLI_NS, ["iptables", "-S"])).stdout

    def cut(self, inbound, outbound):
        """Install DROP rules atomically; returns (wall ms, mono s) taken just before, and the
        time the command took (ms)."""
        lines = ["*filter"]
        if inbound:
            lines.append("-A INPUT -s %s/32 -j DROP" % SRV_IP)
        if outbound:
            lines.append("-A OUTPUT -d %s/32 -j DROP" % SRV_IP)
        lines += ["COMMIT", ""]
        wall, mono = time.time() * 1000.0, time.monotonic()
        cp = subprocess.run(in_ns(CLI_NS, ["iptables-restore", "--noflush"]), input="\n".join(lines), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        took = (time.monotonic() - mono) * 1000.0
        if cp.returncode != 0:
            raise RuntimeError("iptables-restore failed: %s" % cp.stderr.strip())
        return wall, mono, took

    def heal(self):
        """Remove every filter rule in the client namespace (atomic). Returns mono time before."""
        mono = time.monotonic()
        cp = subprocess.run(in_ns(CLI_NS, ["iptables-restore"]), input="*filter\nCOMMIT\n", text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        if cp.returncode != 0:
            raise RuntimeError("iptables-restore (flush) failed: %s" % cp.stderr.strip())
        return mono

    # -- teardown -----------------------------------------------------------
    def cleanup(self):
        """Idempotent (atexit calls it again). Further Ctrl-C / SIGTERM are ignored while it
        runs, so a second interrupt cannot leave processes or namespaces behind; it is bounded
        by the 3 s SIGTERM grace per process."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                signal.signal(sig, signal.SIG_IGN)
            except ValueError:  # not the main thread
                pass
        for p in reversed(self.procs):  # agent, watch, then server
            try:
                how = p.stop()
            except Exception as e:  # noqa: BLE001 - teardown must go on
                how = "error: %s" % e
            if p is self.server and how != "gone":
                self.server_stop = how
            if how == "killed":
                log("note: %s did not exit within 3 s of SIGTERM; killed", p.name)
        if self.keep:
            log("--keep: leaving namespaces %s", " ".join(self.ns_made))
            return
        while self.ns_made:
            sh(["ip", "netns", "del", self.ns_made.pop()], check=False)  # deletes its veth end (and the pair)


def reap_stale_namespaces():
    """Namespaces left by an earlier run of this test that was SIGKILLed (its pid is gone)."""
    cp = sh(["ip", "netns", "list"], check=False)
    for line in cp.stdout.splitlines():
        m = re.match(r"^ll(srv|cli)-(\d+)\b", line.strip())
        if not m or int(m.group(2)) == PID:
            continue
        if not os.path.exists("/proc/%s" % m.group(2)):
            sh(["ip", "netns", "del", "ll%s-%s" % (m.group(1), m.group(2))], check=False)


# ----------------------------------------------------------------------------- steps

def wait_healthy(w, what):
    """Between cases: no rules, the agent's latest state online, the watch's latest a1 event
    online, and the agent's session older than two intervals (heartbeats are flowing). Then an
    observation window of a random length in [0, interval) during which nothing may change, so
    that the cut lands at a random point of the heartbeat cycle (a fixed point would always
    measure the same delay); reproducible with --seed. Returns the session's remote address."""
    w.heal()

    def latest(proc, pred):
        found = proc.find(pred)
        return found[-1] if found else None

    deadline = time.monotonic() + RECONNECT_BOUND_MS / 1000.0
    remote = None
    while time.monotonic() < deadline:
        st = latest(w.agent, lambda ln: ln.obj is not None and "state" in ln.obj)
        ev = latest(w.watch, lambda ln: ln.obj is not None and ln.obj.get("id") == AGENT_ID)
        if (st and st.obj["state"] == "online" and ev and ev.obj["kind"] in ("online", "takeover")
                and time.monotonic() - max(st.mono, ev.mono) > 2 * INTERVAL_MS / 1000.0):
            remote = ev.obj["remote"]
            break
        with w.agent.cv:
            w.agent.cv.wait(0.005)  # bounded poll of both processes' output
    require(remote is not None, "healthy baseline before %s (agent online, watch shows a1 online)", what)
    phase_s = RNG.uniform(0, INTERVAL_MS / 1000.0)
    am, wm = w.agent.mark(), w.watch.mark()
    quiet = stays(w.agent, lambda ln: ln.obj is not None, phase_s, am)
    require(quiet and not w.watch.find(lambda ln: ln.obj is not None, start=wm),
            "%s: session %s undisturbed for the random %.0f ms before the cut", what, remote, phase_s * 1000)
    return remote


def stays(proc, pred, hold_s, start):
    """True if no line matching pred appears during hold_s (an observation window)."""
    return proc.wait(pred, hold_s, start=start) is None


def delays(line, t_wall, t_mono, stamp_ms):
    """(ms until the line reached us, ms by the timestamp inside the line or None)."""
    seen = (line.mono - t_mono) * 1000.0
    stamped = None if stamp_ms is None else stamp_ms - t_wall
    return seen, stamped


def fmt_delay(seen, stamped):
    return "%.0f ms (line arrived), %s (its own timestamp)" % (
        seen, "n/a" if stamped is None else "%.0f ms" % stamped)


MEASURED = []  # (case, side, what, seen ms, stamped ms, bound ms)


def measure_server_offline(w, case, t_wall, t_mono, marks, bound_ms, reason_rx, old_remote):
    """Wait for the server's log line and the watch's offline event for the old session."""
    peer = re.escape(old_remote)
    log_ln = w.server.wait(server_line(r"offline id=%s peer=%s reason=(%s)" % (AGENT_ID, peer, reason_rx)),
                           bound_ms / 1000.0 + 2, start=marks["server"])
    ev = w.watch.wait(watch_event("offline"), bound_ms / 1000.0 + 2, start=marks["watch"])
    if not R.check(log_ln is not None, "%s: server logged offline id=a1 peer=%s reason=%s", case, old_remote,
                   reason_rx):
        return None
    seen, _ = delays(log_ln, t_wall, t_mono, None)
    reason = re.search(r"reason=(\S+)", log_ln.text).group(1)
    log("  server: %s", log_ln.text)
    ev_seen, ev_stamped = (None, None)
    if R.check(ev is not None, "%s: watch got an offline event for a1", case):
        ev_seen, ev_stamped = delays(ev, t_wall, t_mono, ev.obj.get("at_ms"))
        R.check(ev.obj.get("remote") == old_remote and ev.obj.get("reason") == reason,
                "%s: watch offline event names remote %s reason %s (got %s)", case, old_remote, reason, ev.obj)
    log("  server offline (reason=%s): log line %.0f ms; watch event %s",
        reason, seen, "missing" if ev is None else fmt_delay(ev_seen, ev_stamped))
    MEASURED.append((case, "server", "offline reason=" + reason, seen, ev_stamped, bound_ms))
    R.check(seen <= bound_ms, "%s: server reported offline %.0f ms after the cut (bound %d ms)", case, seen, bound_ms)
    if ev_stamped is not None:
        R.check(ev_stamped <= bound_ms, "%s: offline event at_ms is %.0f ms after the cut (bound %d ms)", case,
                ev_stamped, bound_ms)
    return reason, seen


def measure_agent_reconnecting(w, case, t_wall, t_mono, marks, bound_ms, reason_rx):
    ln = w.agent.wait(agent_state("reconnecting"), bound_ms / 1000.0 + 2, start=marks["agent"])
    if not R.check(ln is not None, "%s: agent printed reconnecting", case):
        return None
    seen, stamped = delays(ln, t_wall, t_mono, parse_iso_ms(ln.obj.get("ts", "")))
    reason = ln.obj.get("reason", "")
    log("  agent: %s", ln.text)
    log("  agent reconnecting: %s", fmt_delay(seen, stamped))
    MEASURED.append((case, "agent", "reconnecting: " + reason, seen, stamped, bound_ms))
    R.check(re.search(reason_rx, reason) is not None, "%s: agent's reason %r matches /%s/", case, reason, reason_rx)
    R.check(seen <= bound_ms, "%s: agent reported reconnecting %.0f ms after the cut (bound %d ms)", case, seen,
            bound_ms)
    if stamped is not None:
        R.check(stamped <= bound_ms, "%s: agent's ts is %.0f ms after the cut (bound %d ms)", case, stamped,
                bound_ms)
    return reason, seen


def outage_and_heal(w, case, marks, old_remote):
    """With the cable still out: the agent must not get online and the watch must see no new
    online for a1 for OUTAGE_HOLD_S (its connect attempts fail meanwhile). Then heal and
    require the agent online again, on a new connection the watch reports."""
    R.check(stays(w.agent, agent_state("online"), OUTAGE_HOLD_S, w.agent.mark()),
            "%s: agent not online while the cable is out (%.1f s)", case, OUTAGE_HOLD_S)
    R.check(not w.watch.find(watch_event("online"), start=marks["watch"]) and
            not w.watch.find(watch_event("takeover"), start=marks["watch"]),
            "%s: no online/takeover event for a1 while the cable is out", case)
    rec = w.agent.find(agent_state("reconnecting"), start=marks["agent"])
    R.check(len(rec) == 1, "%s: exactly one reconnecting line for the outage (got %d)", case, len(rec))
    off = w.watch.find(watch_event("offline"), start=marks["watch"])
    R.check(len(off) == 1, "%s: exactly one offline event for the outage (got %d)", case, len(off))

    am, wm, sm = w.agent.mark(), w.watch.mark(), w.server.mark()
    t_heal = w.heal()
    R.check(w.rules().count("DROP") == 0, "%s: rules removed (cable plugged back)", case)
    on = w.agent.wait(agent_state("online"), RECONNECT_BOUND_MS / 1000.0, start=am)
    if not R.check(on is not None, "%s: agent online again within %d ms of healing", case, RECONNECT_BOUND_MS):
        return
    back_ms = (on.mono - t_heal) * 1000.0
    log("  agent online again %.0f ms after healing (attempts=%s)", back_ms, on.obj.get("attempts"))
    MEASURED.append((case, "agent", "online after heal", back_ms, None, RECONNECT_BOUND_MS))
    ev = w.watch.wait(watch_event("online"), 3, start=wm)
    if R.check(ev is not None, "%s: watch saw a1 online again", case):
        R.check(ev.obj.get("remote") != old_remote and ev.obj.get("remote", "").startswith(CLI_IP + ":"),
                "%s: new session from a new connection %s (old %s)", case, ev.obj.get("remote"), old_remote)
        R.check(w.server.wait(server_line(r"online id=%s peer=%s" % (AGENT_ID, re.escape(ev.obj["remote"]))), 2,
                              start=sm) is not None, "%s: server logged the new session online", case)
    # Stale packets of the dead connection (retransmitted FIN/BYE, SYN-ACKs of abandoned
    # attempts) arrive now; none of them may disturb the new session.
    R.check(stays(w.agent, agent_state("reconnecting"), STABLE_HOLD_S, w.agent.mark()) and
            not w.watch.find(watch_event("offline"), start=wm),
            "%s: the new session stays up for %.1f s after healing", case, STABLE_HOLD_S)


def begin(w, case, inbound, outbound):
    """Wait for a healthy session, take marks, pull the cable (the given directions).
    Returns (old remote, marks, wall ms and mono s just before the cut, iptables time ms)."""
    old_remote = wait_healthy(w, case)
    marks = {"agent": w.agent.mark(), "watch": w.watch.mark(), "server": w.server.mark()}
    t_wall, t_mono, took = w.cut(inbound=inbound, outbound=outbound)
    log("  DROP %s installed (iptables-restore took %.0f ms); session %s",
        "+".join(d for d, on in (("in", inbound), ("out", outbound)) if on), took, old_remote)
    return old_remote, marks, t_wall, t_mono, took


def check_not_early(case, side, measured, early_ms):
    """`measured` is what measure_* returned ((reason, ms) or None if that already failed)."""
    if measured:
        R.check(measured[1] >= early_ms, "%s: %s did not declare the other side dead early (%.0f ms >= %.0f ms)",
                case, side, measured[1], early_ms)


def case_both_directions(w):
    case = "both-ways"
    log("case 1: cable pulled, both directions dropped")
    old_remote, marks, t_wall, t_mono, took = begin(w, case, inbound=True, outbound=True)
    srv = measure_server_offline(w, case, t_wall, t_mono, marks, SERVER_BOUND_MS, "timeout", old_remote)
    agt = measure_agent_reconnecting(w, case, t_wall, t_mono, marks, AGENT_BOUND_MS, r"server silent")
    check_not_early(case, "server", srv, EARLY_MS - took)
    check_not_early(case, "agent", agt, EARLY_MS - took)
    outage_and_heal(w, case, marks, old_remote)


def case_server_to_client(w):
    case = "srv->cli dropped"
    log("case 2a: one direction, server -> client dropped (client INPUT from the server)")
    old_remote, marks, t_wall, t_mono, took = begin(w, case, inbound=True, outbound=False)
    agt = measure_agent_reconnecting(w, case, t_wall, t_mono, marks, AGENT_BOUND_MS, r"server silent")
    srv = measure_server_offline(w, case, t_wall, t_mono, marks, ONE_WAY_SERVER_BOUND_MS, r"\w+", old_remote)
    check_not_early(case, "agent", agt, EARLY_MS - took)
    if srv:
        log("  the server kept receiving PINGs; it learned of the loss by reason=%s", srv[0])
    outage_and_heal(w, case, marks, old_remote)


def case_client_to_server(w):
    case = "cli->srv dropped"
    log("case 2b: one direction, client -> server dropped (client OUTPUT to the server)")
    old_remote, marks, t_wall, t_mono, took = begin(w, case, inbound=False, outbound=True)
    srv = measure_server_offline(w, case, t_wall, t_mono, marks, SERVER_BOUND_MS, "timeout", old_remote)
    # The agent's PINGs are lost, so it hears no PONG: its own watchdog fires at about the same
    # moment the server's does; the server's BYE(timeout) can still reach it and may win.
    agt = measure_agent_reconnecting(w, case, t_wall, t_mono, marks, AGENT_BOUND_MS,
                                     r"server silent|server said BYE \(timeout")
    check_not_early(case, "server", srv, EARLY_MS - took)
    check_not_early(case, "agent", agt, EARLY_MS - took)
    outage_and_heal(w, case, marks, old_remote)


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lifeline", required=True, help="path to the lifeline program")
    ap.add_argument("--keep", action="store_true", help="leave the namespaces in place (debugging)")
    ap.add_argument("--seed", type=int, default=None, help="seed for the cut phases (default: random)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    RNG.seed(seed)
    log("seed %d (rerun with --seed %d for the same cut phases)", seed, seed)
    lifeline = os.path.abspath(args.lifeline)
    if not (os.path.isfile(lifeline) and os.access(lifeline, os.X_OK)):
        print("error: %s is not an executable file" % lifeline)
        print("0 passed, 1 failed")
        return 1
    if shutil.which("ip") is None:
        print("SKIP: cannot create network namespaces: the `ip` command (iproute2) is not installed")
        return SKIP

    w = World(lifeline, args.keep)
    atexit.register(w.cleanup)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)

    # SIGINT too: a shell without job control starts background jobs with SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    try:
        reap_stale_namespaces()
        try:
            w.make_namespaces()
        except RuntimeError as e:
            print("SKIP: cannot create network namespaces: %s" % e)
            return SKIP
        try:
            w.probe_iptables()
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print("SKIP: cannot use iptables in a network namespace: %s" % e)
            return SKIP
        w.make_link()
        log("namespaces %s (%s) and %s (%s), veth %s <-> %s", SRV_NS, SRV_IP, CLI_NS, CLI_IP, SRV_IF, CLI_IF)
        try:
            w.start()
            for case in (case_both_directions, case_server_to_client, case_client_to_server):
                try:
                    case(w)
                except CaseAbort as e:
                    log("  case aborted: %s", e)
                    if not (w.server.alive() and w.agent.alive() and w.watch.alive()):
                        R.check(False, "all processes still running (server %s, watch %s, agent %s)",
                                w.server.p.poll(), w.watch.p.poll(), w.agent.p.poll())
                        break
        except CaseAbort as e:
            log("setup aborted: %s", e)
        except RuntimeError as e:
            R.check(False, "environment command failed: %s", e)
        for p in (w.server, w.watch, w.agent):
            if p is not None:
                R.check(p.alive(), "%s still running at the end (exit status %s)", p.name, p.p.poll())
    except KeyboardInterrupt as e:
        log("interrupted (%s): cleaning up", e or "Ctrl-C")
        R.check(False, "run interrupted")
    finally:
        if R.failed:
            for p in (w.server, w.watch, w.agent):
                if p is not None:
                    log("last output of %s:\n    %s", p.name, "\n    ".join(p.tail()) or "(none)")
        w.cleanup()

    if MEASURED:
        log("measured detection delays (from just before the DROP rules were installed):")
        for case, side, what, seen, stamped, bound in MEASURED:
            log("  %-17s %-6s %6.0f ms (stamped %s) bound %5d ms  %s", case, side, seen,
                "  n/a" if stamped is None else "%5.0f" % stamped, bound, what)
    if w.server_stop == "killed":
        log("note: the server needed SIGKILL at teardown (SIGTERM did not make it exit within 3 s)")
    print("%d passed, %d failed" % (R.passed, R.failed))
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main())
