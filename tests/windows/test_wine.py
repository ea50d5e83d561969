"""The Windows build (make windows: lifeline.exe, lifeline.dll, the C example)
under Debian's wine, against the Linux program and the other way round:

- lifeline.exe agent connects to a Linux server, is listed online, is declared
  offline when killed, and reconnects by itself after a server restart;
- lifeline.exe serve accepts Linux agents and declares a frozen one (SIGSTOP)
  offline with reason timeout within its bound (timeout + tick + slack);
- the C example, linked against lifeline.dll, comes online, says hello, echoes
  DATA and says BYE on "quit";
- lifeline.dll's wait handle (an event HANDLE) and its server, in one process;
- what the Windows build leaves out (history, the admin API, hooks, TLS) is
  refused by name.

LIFELINE_WINDOWS_BIN names the directory of the Windows build's programs. The
test exits 77 (skipped, with the reason) only where wine cannot start at all.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.dont_write_bytecode = True
import admin_http  # noqa: E402
from harness import FAST_SERVER, Collector, Failure, check, run, wait_until  # noqa: E402

WIN_BIN = os.environ.get("LIFELINE_WINDOWS_BIN", "")
EXE = os.path.join(WIN_BIN, "lifeline.exe")
C_AGENT = os.path.join(WIN_BIN, "agent.exe")
TIMEOUT_S, TICK_S = 0.3, 0.01


def wine_env():
    """Its own prefix in the build tree, quiet, and no display needed."""
    prefix = os.environ.get("WINEPREFIX") or os.path.join(os.path.dirname(os.path.abspath(WIN_BIN)), "wineprefix")
    os.environ.update({"WINEPREFIX": prefix, "WINEDEBUG": "-all", "WINEDLLOVERRIDES": "mscoree,mshtml=",
                       "DISPLAY": ""})


def wine_can_start():
    wine = shutil.which("wine")
    if wine is None:
        return "wine is not installed (scripts/bootstrap test installs wine)"
    try:
        p = subprocess.run([wine, EXE, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
    except subprocess.TimeoutExpired:
        return "wine did not start lifeline.exe within 180 s"
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0 or "lifeline" not in out:
        return "wine cannot run lifeline.exe (exit %d): %s" % (p.returncode, out[-400:])
    return None


def wine_agent(env, server_addr, ident, name=None):
    # A 1 s timeout: a wine process on a busy CI machine (ctest -j2) can stall past 300 ms, and
    # then the server rightly times it out (seen once: the kill below then found it offline already).
    argv = ["wine", EXE, "agent", "--id", ident, "--server", server_addr, "--json",
            "--interval", "200ms", "--timeout", "1s", "--backoff-base", "100ms", "--backoff-cap", "1s"]
    c = Collector(env, argv, name or "wine-agent-" + ident)
    env.collectors.append(c)
    return c


def online_ids(env, server):
    return {c["id"] for c in env.ls(server)["clients"]}


def test_windows_agent_against_linux_server(env):
    srv = env.server()
    a = wine_agent(env, srv.addr, "win-agent")
    a.wait_for(lambda x: x.get("state") == "online", 60, what="state online (first start of wine is slow)")
    check("win-agent" in online_ids(env, srv), "win-agent is not listed online")

    mark = a.mark()
    srv.stop()
    srv.start()
    a.wait_for(lambda x: x.get("state") == "reconnecting", 10, start=mark, what="state reconnecting")
    a.wait_for(lambda x: x.get("state") == "online", 15, start=mark, what="state online after the restart")
    wait_until(lambda: "win-agent" in online_ids(env, srv), 5, "win-agent listed again")

    # A watch connected before the kill: one started before the restart could
    # still be reconnecting then, and would see a gap instead of the event.
    w = env.watch(srv)
    wait_until(lambda: "win-agent" in online_ids(env, srv), 5, "win-agent listed when the watch is connected")
    a.kill()
    ev = w.wait_event("offline", "win-agent", 5)
    check(ev["reason"] in ("closed", "reset", "timeout"), "offline reason %r", ev["reason"])


def test_windows_server_detects_a_frozen_linux_agent(env):
    port_file = env.path("wine-server.port")
    log = open(env.path("wine-server.log"), "wb")
    argv = ["wine", EXE, "serve", "--listen", "127.0.0.1:0", "--port-file", port_file] + FAST_SERVER
    srv = Collector(env, argv, "wine-server", json_lines=False, merge_stderr=True)
    env.collectors.append(srv)
    log.close()
    port = int(wait_until(lambda: os.path.exists(port_file) and open(port_file).read().strip() or None, 60,
                          "the wine server's port file"))
    addr = "127.0.0.1:%d" % port
    w = env.watch(addr)
    agents = [env.agent(addr, "lin-%d" % i) for i in range(3)]
    for a in agents:
        a.wait_state("online", 10)
    wait_until(lambda: online_ids(env, addr) == {"lin-0", "lin-1", "lin-2"}, 5, "three Linux agents listed")

    frozen = agents[1]
    t0 = time.monotonic()
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        ev = w.wait_event("offline", "lin-1", 5)
        took = time.monotonic() - t0
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    check(ev["reason"] == "timeout", "offline reason %r, want timeout", ev["reason"])
    bound = TIMEOUT_S + TICK_S + 0.5  # slack for wine and a loaded machine
    check(took <= bound, "detected after %.2fs, bound %.2fs", took, bound)
    check({"lin-0", "lin-2"} <= online_ids(env, addr), "the other agents were affected")
    frozen.wait_for(lambda x: x.get("state") == "online", 10, start=1, what="the thawed agent back online")

    # Idle, the WSAPoll loop must sleep, not spin: under a tenth of a core.
    wpid = srv.pid
    def cpu_ticks():
        total = 0
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if b"lifeline.exe" not in f.read():
                        continue
                with open("/proc/%s/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except OSError:
                continue
        return total
    before, t1 = cpu_ticks(), time.monotonic()
    time.sleep(2.0)  # a measurement window, not synchronisation
    used = (cpu_ticks() - before) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t1)
    check(used < 0.1, "the wine server used %.2f of a core with 3 idle clients (pid %d)", used, wpid)


def test_c_example_on_lifeline_dll(env):
    srv = env.server(admin=[], extra=["--log-level", "debug"])
    agent = Collector(env, ["wine", C_AGENT, srv.addr, "ex-c-windows"], "wine-c-agent", json_lines=False)
    env.collectors.append(agent)
    agent.wait_for(lambda i: i["raw"].startswith("state online"), 60, what="state online")
    srv.wait_log(r"data from ex-c-windows: \d+ bytes: hello from c", 5, "the hello DATA")
    admin_http.request(srv.admin_port, "POST", "/v1/clients/ex-c-windows/data", body=b"ping-win")
    agent.wait_for(lambda i: i["raw"].rstrip("\r") == "data ping-win", 5, what="the DATA from the admin API")
    srv.wait_log(r"data from ex-c-windows: \d+ bytes: echo:ping-win", 5, "the echo")
    admin_http.request(srv.admin_port, "POST", "/v1/clients/ex-c-windows/data", body=b"quit")
    agent.wait_for(lambda i: i["raw"].rstrip("\r") == "bye", 5, what="bye")
    check(agent.wait_exit(10) == 0, "agent.exe exited with %s", agent.proc.returncode)


def test_wait_handle_and_server_in_lifeline_dll(env):
    """tests/windows/wait_handle.c: the client's event HANDLE and an in-process server, under wine."""
    p = env.run(["wine", os.path.join(WIN_BIN, "wait_handle.exe")], timeout=60)
    out = p.stdout.replace("\r", "")
    check(p.returncode == 0 and out.rstrip().endswith("PASS"), "wait_handle.exe exited %s: %s%s", p.returncode, out,
          p.stderr[-400:])


def test_windows_server_over_websocket(env):
    """lifeline.exe serve --ws-listen: the same session code behind the WSAPoll loop; SHA-1
    for the handshake from CNG."""
    import struct
    from harness import HELLO, PING, PONG, WELCOME, frame, hello_payload
    from wsclient import WsClient
    pf, wpf = env.path("wine-ws.port"), env.path("wine-ws.wsport")
    argv = ["wine", EXE, "serve", "--listen", "127.0.0.1:0", "--port-file", pf, "--ws-listen", "127.0.0.1:0",
            "--ws-port-file", wpf] + FAST_SERVER
    srv = Collector(env, argv, "wine-ws-server", json_lines=False, merge_stderr=True)
    env.collectors.append(srv)
    port = int(wait_until(lambda: os.path.exists(pf) and open(pf).read().strip() or None, 60, "the port file"))
    ws_port = int(open(wpf).read().strip())  # written before the main port file
    w = env.watch("127.0.0.1:%d" % port)
    ws = WsClient(ws_port)  # checks Sec-WebSocket-Accept: CNG's SHA-1 is right
    check(ws.status == 101, "upgrade answered %d: %r", ws.status, ws.body)
    env.socks.append(ws)
    ws.send_binary(frame(HELLO, hello_payload("win-tab", 100, 300, version=3)))
    op, msg = ws.recv(10)
    check(msg[4] == WELCOME, "WELCOME over WebSocket from lifeline.exe, not type %d", msg[4])
    ev = w.wait_event("online", "win-tab", 10)
    check(ev["transport"] == "ws", "online as ws: %s", ev)
    ws.send_binary(frame(PING, struct.pack(">Q", 42)))
    deadline = time.monotonic() + 5
    while True:
        op, msg = ws.recv(max(0.1, deadline - time.monotonic()))
        if msg[4] == PONG:
            break
    ws.close()
    ev = w.wait_event("offline", "win-tab", 5)
    check(ev["reason"] in ("closed", "reset"), "offline when the client goes: %s", ev)


def test_windows_build_refuses_what_it_lacks(env):
    """Options of the layers the Windows build leaves out are refused by name, not ignored."""
    cases = [
        (["serve", "--listen", "127.0.0.1:0", "--data-dir", env.path("hist")], "--data-dir (history)"),
        (["serve", "--listen", "127.0.0.1:0", "--admin-listen"], "--admin-listen (the admin API)"),
        (["serve", "--listen", "127.0.0.1:0", "--on-online", "echo"], "(hooks)"),
        (["ls", "--admin", "http://127.0.0.1:1"], "--admin is not available in the Windows build"),
        (["agent", "--server", "127.0.0.1:1", "--tls"], "no TLS"),
    ]
    for args, needle in cases:
        p = env.run(["wine", EXE] + args, timeout=60)
        out = p.stdout + p.stderr
        check(p.returncode != 0, "lifeline.exe %s exited 0", " ".join(args))
        check(needle in out, "lifeline.exe %s: %r not in %r", " ".join(args), needle, out[-400:])


if __name__ == "__main__":
    if not os.path.exists(EXE):
        print("FAIL setup: no %s (LIFELINE_WINDOWS_BIN; make windows builds it)" % EXE)
        sys.exit(1)
    wine_env()
    why = wine_can_start()
    if why:
        print("SKIP: " + why)
        sys.exit(77)
    try:
        run([test_windows_agent_against_linux_server, test_windows_server_detects_a_frozen_linux_agent,
             test_c_example_on_lifeline_dll, test_wait_handle_and_server_in_lifeline_dll,
             test_windows_server_over_websocket, test_windows_build_refuses_what_it_lacks])
    finally:
        subprocess.run(["wineserver", "-k"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
