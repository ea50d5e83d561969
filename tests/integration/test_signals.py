#!/usr/bin/env python3
"""Signals and exit status of the programs: SIGHUP makes serve reload its configuration
(test_reload.py) and is logged and ignored by agent and watch; SIGTERM ends `watch --exit-after` early; an agent whose id another connection took
over exits with status 3 instead of idling.

    python3 tests/integration/test_signals.py --lifeline PATH [-k NAME] [--keep]
"""
import os
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402,F401
from harness import check, holds, log, run, wait_until  # noqa: E402

EXIT_REPLACED = 3  # docs/operations.md, "Exit status"


def test_sighup_is_logged_and_ignored(env):
    """SIGHUP used to kill the server (status 129, no BYE to anyone). Now the server
    reloads and every program goes on; SIGTERM still stops each one cleanly."""
    srv = env.server()
    a = env.agent(srv, "hup")
    a.wait_state("online", 5)
    w = env.watch(srv)
    mark = a.mark()
    for p in (srv, a, w):
        p.signal(signal.SIGHUP)
    srv.wait_log(r"SIGHUP received: reloading", 3)
    srv.wait_log(r"reloaded: nothing changed", 3)
    wait_until(lambda: "SIGHUP received and ignored" in a.stderr_text(), 3, "the agent to log the SIGHUP")
    wait_until(lambda: "SIGHUP received and ignored" in w.stderr_text(), 3, "watch to log the SIGHUP")
    holds(lambda: not a.states("reconnecting", start=mark) and srv.proc.poll() is None and
          w.proc.poll() is None, 0.5, "everyone still running, the agent still online")
    check("hup" in [c["id"] for c in env.ls(srv)["clients"]], "the agent is no longer listed")
    w.signal(signal.SIGTERM)
    check(w.wait_exit(5) == 0, "watch exited %s after SIGTERM", w.proc.returncode)
    a.signal(signal.SIGTERM)
    check(a.wait_exit(5) == 0, "agent exited %s after SIGTERM", a.proc.returncode)
    code = srv.stop()
    check(code == 0, "server exited %s after SIGTERM", code)


def test_watch_exit_after_stops_on_sigterm(env):
    """`watch --exit-after N` used to wait for its N events with the signals blocked: it
    outlived `timeout 3` by ten minutes."""
    srv = env.server()
    w = env.watch(srv, extra=["--exit-after", "1000"])
    w.signal(signal.SIGTERM)
    code = w.wait_exit(3)
    log("watch --exit-after 1000: exit status %d after SIGTERM", code)
    check(code == 0, "watch exited %d", code)


def test_watch_exit_after_exits_after_n_events(env):
    srv = env.server()
    w = env.watch(srv, extra=["--exit-after", "2"])
    env.agent(srv, "e1").wait_state("online", 5)
    env.agent(srv, "e2").wait_state("online", 5)
    check(w.wait_exit(5) == 0, "watch exited %s", w.proc.returncode)
    check(len(w.events("online")) == 2, "watch printed %s", w.snapshot())


def test_ls_stops_on_sigterm_while_waiting(env):
    """`ls` used to wait out its whole limit with the signals blocked."""
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)                                   # connections complete, nothing ever answers
    try:
        p = harness.spawn([harness.LIFELINE, "ls", "--server", "127.0.0.1:%d" % mute.getsockname()[1],
                           "--connect-timeout", "30s"], stderr=harness.subprocess.PIPE)
        mute.settimeout(5)
        conn, _ = mute.accept()                      # it has connected: it is waiting for WELCOME
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            _, err = p.communicate(timeout=3)
        except harness.subprocess.TimeoutExpired:
            harness.kill_proc(p)
            raise harness.Failure("ls still waiting 3 s after SIGTERM")
        log("ls: exit %d %.0f ms after SIGTERM: %s", p.returncode, (time.monotonic() - t0) * 1e3,
            err.decode().strip())
        check(p.returncode == 1 and "signal" in err.decode(), "ls exited %d: %s", p.returncode, err)
        conn.close()
    finally:
        mute.close()


def test_replaced_agent_exits_with_status_3(env):
    """An agent told BYE replaced stops instead of taking its id back (no flapping); it used
    to idle forever, so a supervisor could not notice."""
    srv = env.server()
    first = env.agent(srv, "twin", name="first")
    first.wait_state("online", 5)
    second = env.agent(srv, "twin", name="second")
    second.wait_state("online", 5)
    code = first.wait_exit(5)
    log("replaced agent exit status %d; stderr: %s", code, first.stderr_text().strip().splitlines()[-1:])
    check(code == EXIT_REPLACED, "replaced agent exited %d, expected %d", code, EXIT_REPLACED)
    check("took over" in first.stderr_text(), "the replaced agent does not say why it exits")
    check(second.proc.poll() is None, "the new agent exited too")


if __name__ == "__main__":
    run([test_sighup_is_logged_and_ignored,
         test_watch_exit_after_stops_on_sigterm,
         test_watch_exit_after_exits_after_n_events,
         test_ls_stops_on_sigterm_while_waiting,
         test_replaced_agent_exits_with_status_3])
