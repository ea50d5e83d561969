"""Each language's example agent (examples/<lang>/) on the C ABI, against a real
`lifeline serve`: it comes online and is listed with its language label, says
hello (DATA, seen in the server's debug log), echoes DATA sent through the admin
API, reconnects by itself after a server restart, is declared offline when
killed, and says BYE when told to quit.

The examples are built here with each language's own toolchain (mcs, fpc, go),
in LIFELINE_BINDINGS_BUILD (a directory of the build tree, so a second run
reuses Go's cache). Paths come from the environment ctest sets:
LIFELINE_LIB_DIR (liblifeline.so.1), LIFELINE_C_AGENT (examples/c, built by CMake).
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.dont_write_bytecode = True
import admin_http  # noqa: E402
from harness import Collector, Failure, check, run, wait_until  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
LIB_DIR = os.environ.get("LIFELINE_LIB_DIR", "")
BUILD = os.environ.get("LIFELINE_BINDINGS_BUILD", "/tmp/lifeline-bindings")


def lib_env():
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = LIB_DIR + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env["LIFELINE_LIBRARY"] = os.path.join(LIB_DIR, "liblifeline.so.1")
    return env


# The examples, started by the harness, find the library the way a user's program would.
os.environ.update({k: v for k, v in lib_env().items() if k in ("LD_LIBRARY_PATH", "LIFELINE_LIBRARY")})


def build(argv, cwd=None, env=None, what="build"):
    """Runs a compiler; a failure is the test's, with the compiler's output."""
    p = subprocess.run(argv, cwd=cwd, env=env or lib_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=600)
    if p.returncode != 0:
        raise Failure("%s failed (%s): %s" % (what, " ".join(argv), p.stdout.decode("utf-8", "replace")[-3000:]))


def need(tool):
    path = shutil.which(tool)
    check(path is not None, "%s is not installed (scripts/bootstrap test installs it)", tool)
    return path


def command(lang):
    """The argv prefix that runs `lang`'s example (built first if need be)."""
    out = os.path.join(BUILD, lang)
    os.makedirs(out, exist_ok=True)
    if lang == "c":
        return [os.environ["LIFELINE_C_AGENT"]]
    if lang == "python":
        return [sys.executable, os.path.join(ROOT, "examples", "python", "agent.py")]
    if lang == "csharp":
        exe = os.path.join(out, "Agent.exe")
        build([need("mcs"), "-nologo", "-warnaserror", "-out:" + exe,
               os.path.join(ROOT, "bindings", "csharp", "Lifeline.cs"),
               os.path.join(ROOT, "examples", "csharp", "Agent.cs")], what="mcs")
        # Mono maps DllImport("lifeline") to liblifeline.so on LD_LIBRARY_PATH.
        return [need("mono"), "--debug", exe]
    if lang == "pascal":
        exe = os.path.join(out, "agent")
        build([need("fpc"), "-Mdelphi", "-vw", "-Sew", "-FU" + out, "-o" + exe, "-Fl" + LIB_DIR,
               "-Fu" + os.path.join(ROOT, "bindings", "pascal"),
               os.path.join(ROOT, "examples", "pascal", "agent.dpr")], what="fpc")
        return [exe]
    if lang == "go":
        exe = os.path.join(out, "agent")
        env = lib_env()
        env.update({"CGO_ENABLED": "1", "GOCACHE": os.path.join(BUILD, "gocache"), "GOFLAGS": "-mod=mod",
                    "GOPATH": os.path.join(BUILD, "gopath"), "GOPROXY": "off",
                    "CGO_CFLAGS": "-I" + os.path.join(ROOT, "include"), "CGO_LDFLAGS": "-L" + LIB_DIR})
        build([need("go"), "build", "-o", exe, "."], cwd=os.path.join(ROOT, "examples", "go"), env=env,
              what="go build")
        return [exe]
    raise Failure("no such language: " + lang)


def scenario(env, lang):
    argv = command(lang)
    srv = env.server(admin=[], extra=["--log-level", "debug"])
    ident = "ex-" + lang
    agent = Collector(env, argv + [srv.addr, ident], "agent-" + lang, json_lines=False)
    env.collectors.append(agent)
    lines = lambda prefix: (lambda i: i["raw"].startswith(prefix))  # noqa: E731
    agent.wait_for(lines("state online"), 10, what="state online")

    listed = [c for c in env.ls(srv)["clients"] if c["id"] == ident]
    check(len(listed) == 1, "%s is not listed by lifeline ls", ident)
    check(listed[0]["labels"].get("lang") == lang, "labels: %r", listed[0]["labels"])
    srv.wait_log(r"data from %s: \d+ bytes: hello from %s" % (ident, lang), 5, "the hello DATA in the server log")

    r = admin_http.request(srv.admin_port, "POST", "/v1/clients/%s/data" % ident, body=b"ping-" + lang.encode())
    check(r.status in (200, 202, 204), "admin POST data: %r", r)
    agent.wait_for(lines("data ping-" + lang), 5, what="the DATA from the admin API")
    srv.wait_log(r"data from %s: \d+ bytes: echo:ping-%s" % (ident, lang), 5, "the echo in the server log")

    # The server restarts: the agent notices and comes back by itself.
    mark = agent.mark()
    srv.stop()
    srv.start()
    agent.wait_for(lines("state reconnecting"), 5, start=mark, what="state reconnecting")
    agent.wait_for(lines("state online"), 10, start=mark, what="state online again")
    wait_until(lambda: any(c["id"] == ident for c in env.ls(srv)["clients"]), 5, "%s listed again" % ident)

    # Killed without a goodbye: declared offline.
    w = env.watch(srv)
    agent.kill()
    w.wait_event("offline", ident, 5)

    # Told to quit: says BYE and exits 0.
    agent2 = Collector(env, argv + [srv.addr, ident], "agent2-" + lang, json_lines=False)
    env.collectors.append(agent2)
    agent2.wait_for(lines("state online"), 10, what="state online")
    admin_http.request(srv.admin_port, "POST", "/v1/clients/%s/data" % ident, body=b"quit")
    agent2.wait_for(lines("bye"), 5, what="bye")
    check(agent2.wait_exit(5) == 0, "the %s agent exited with %s", lang, agent2.proc.returncode)
    ev = w.wait_event("offline", ident, 5, reason="bye")
    check(ev["reason"] == "bye", "offline reason %r", ev)


def test_c(env):
    scenario(env, "c")


def test_python(env):
    scenario(env, "python")


def test_csharp(env):
    scenario(env, "csharp")


def test_pascal(env):
    scenario(env, "pascal")


def test_go(env):
    scenario(env, "go")


if __name__ == "__main__":
    run([test_c, test_python, test_csharp, test_pascal, test_go])
