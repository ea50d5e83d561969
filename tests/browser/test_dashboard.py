#!/usr/bin/env python3
"""The dashboard end to end in headless Chromium (Debian's, driven by playwright-core from
npm): the page shows agents come online, greys one out after it is killed, within the
timeout, with no reload, and goes live again by itself after a server restart.

    python3 tests/browser/test_dashboard.py --lifeline PATH [--screenshot PNG] [-k NAME] [--keep]
"""
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import harness  # noqa: E402
from harness import Failure, check, run  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = None  # --screenshot PNG: also write the picture docs/ shows


def ask_driver(proc, line, timeout):
    """Sends `line` (None: nothing) to a driver process (dashboard.mjs, driver.mjs) and returns
    the rest of its "ok ..." answer; a "fail ..." answer, its exit or silence is a Failure."""
    if line is not None:
        proc.stdin.write((line + "\n").encode())
        proc.stdin.flush()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if ready:
            answer = proc.stdout.readline().decode().strip()
            if not answer:
                raise Failure("the browser driver exited (%s)" % line)
            if answer.startswith("fail"):
                raise Failure("%s: %s" % (line, answer))
            return answer[3:]
    raise Failure("no answer to %r within %.0fs" % (line, timeout))


def close_driver(proc):
    """Asks a driver to quit (it closes Chromium), then makes sure it is gone."""
    try:
        ask_driver(proc, "quit", 1)
    except Failure:
        pass
    harness.kill_proc(proc)


class Page:
    """dashboard.mjs: one command per line, one "ok ..." or "fail ..." answer."""

    def __init__(self, env, url):
        self.proc = harness.spawn(["node", os.path.join(HERE, "dashboard.mjs"), url, CHROMIUM],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(env.path("chromium.log"), "wb"))
        self.ask(None, 60)

    def ask(self, line, timeout=15):
        return ask_driver(self.proc, line, timeout)

    def close(self):
        close_driver(self.proc)


def ensure_tools():
    if not os.path.exists(CHROMIUM):
        raise Failure("%s is missing: scripts/bootstrap test installs Debian's chromium" % CHROMIUM)
    # The browser tests run in parallel (ctest -j): one installs, the others wait on
    # the lock and find it done. npm writes node_modules/.package-lock.json last, so a
    # half-finished install (interrupted, or still running) is never taken for done.
    import fcntl
    with open(os.path.join(tempfile.gettempdir(), "lifeline-browser-npm.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(HERE, "node_modules", ".package-lock.json")):
            npm = shutil.which("npm")
            if npm is None:
                raise Failure("npm is missing: scripts/bootstrap test installs it")
            subprocess.run([npm, "ci", "--prefix", HERE, "--no-audit", "--no-fund"], check=True, timeout=300)


def test_dashboard_follows_presence_live(env):
    ensure_tools()
    srv = env.server(admin=[])
    env.agent(srv, "sensor-1", labels={"room": "lab"}).wait_state("online", 5)
    env.agent(srv, "pump-2", labels={"room": "hall", "floor": "2"}).wait_state("online", 5)
    page = Page(env, "http://127.0.0.1:%d/" % srv.admin_port)
    try:
        page.ask("state sensor-1 online 10000")
        page.ask("count 2 10000")
        doomed = env.agent(srv, "door-3", labels={"room": "lab"})
        page.ask("state door-3 online 10000")  # came online while the page was open
        killed = time.monotonic()
        doomed.kill()
        row = page.ask("state door-3 offline 5000")
        took = time.monotonic() - killed
        check("offline" in row and "closed" in row, "the row of a killed agent: %r", row)
        check(took < 0.3 + 2.0, "greyed out %.2fs after the kill (timeout 0.3 s)", took)
        frozen = env.agent(srv, "frozen-4")
        page.ask("state frozen-4 online 10000")
        frozen.signal(signal.SIGSTOP)
        try:
            row = page.ask("state frozen-4 offline 5000")
            check("timeout" in row, "a frozen agent's row: %r", row)
        finally:
            frozen.signal(signal.SIGCONT)
        page.ask("count 3 10000")
        page.ask("noreload")
        if SCREENSHOT:
            page.ask("screenshot " + os.path.abspath(SCREENSHOT))
        srv.stop()
        page.ask("status reconnecting 10000")
        srv.start()
        page.ask("status live 15000")
        page.ask("state sensor-1 online 15000")
        page.ask("noreload")
    finally:
        page.close()


if __name__ == "__main__":
    if "--screenshot" in sys.argv:
        i = sys.argv.index("--screenshot")
        SCREENSHOT = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    run([test_dashboard_follows_presence_live])
