#!/usr/bin/env python3
"""SIGHUP reloads lifeline serve's configuration without dropping anyone: auth secrets,
connection limits, the log level and the admin token change; what needs a restart is named;
a bad file keeps the running settings and says why.

    python3 tests/integration/test_reload.py --lifeline PATH [-k NAME] [--keep]
"""
import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from admin_http import request  # noqa: E402
from harness import check, holds, run, wait_until  # noqa: E402
from pki import make_token, new_secret  # noqa: E402


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def config(env, max_connections, level="info", max_data=65536):
    return write(env.path("server.toml"),
                 'max-connections = %d\nlog-level = "%s"\nmax-data = %d\nauth-secret-file = "%s"\n'
                 'admin-token-file = "%s"\n' % (max_connections, level, max_data, env.path("secrets"),
                                                env.path("admin.token")))


def token_for(secret, id):
    return make_token(secret, id, int(time.time()) + 3600)


def test_sighup_applies_secrets_limits_log_level_and_admin_token(env):
    s1, s2 = new_secret(), new_secret()
    write(env.path("secrets"), s1 + "\n")
    write(env.path("admin.token"), "first-admin-token-0123\n")
    cfg = config(env, 3)
    srv = env.server(extra=["--config", cfg], admin=["--admin-token-file", env.path("admin.token")])
    a = env.agent(srv, "a", extra=["--token", token_for(s1, "a")])
    a.wait_state("online", 5)
    mark = a.mark()
    write(env.path("secrets"), s2 + "\n" + s1 + "\n")  # a rotation: s2 signs, s1 still verifies
    write(env.path("admin.token"), "second-admin-token-0123\n")
    config(env, 5, level="debug", max_data=1000)
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"reloaded: auth secrets: 1 -> 2", 5)
    srv.wait_log(r"reloaded: max-connections 3 -> 5", 5)
    srv.wait_log(r"reloaded: log text/info -> text/debug", 5)
    srv.wait_log(r"reloaded: admin token", 5)
    srv.wait_log(r"not reloaded, needs a restart: max-data 65536 -> 1000", 5)
    holds(lambda: not a.states("reconnecting", start=mark), 0.3, "the online client stays connected")
    env.agent(srv, "b", extra=["--token", token_for(s2, "b")]).wait_state("online", 5)
    check(request(srv.admin_port, "GET", "/v1/clients", token="first-admin-token-0123").status == 401,
          "the old admin token still works")
    check(request(srv.admin_port, "GET", "/v1/clients", token="second-admin-token-0123").status == 200,
          "the new admin token does not work")
    srv.wait_log(r"debug", 5)  # the new level logs what info did not
    write(env.path("secrets"), s2 + "\n")  # s1 retired
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"auth secrets: 2 -> 1", 5)
    old = env.agent(srv, "old", extra=["--token", token_for(s1, "old")])
    wait_until(lambda: old.proc.poll() is not None or None, 5, "an agent with a retired secret's token to stop")
    check(old.proc.returncode == 4, "refused agent exited %s", old.proc.returncode)


def test_bad_file_keeps_the_running_settings(env):
    s1 = new_secret()
    write(env.path("secrets"), s1 + "\n")
    write(env.path("admin.token"), "first-admin-token-0123\n")
    cfg = config(env, 2)
    srv = env.server(extra=["--config", cfg])
    env.agent(srv, "a", extra=["--token", token_for(s1, "a")]).wait_state("online", 5)
    for bad, why in (("max-connections = \"many\"\n", "max-connections"),
                     ("this is not toml\n", "config file"),
                     ("no-such-key = 1\n", "unknown key 'no-such-key'")):
        write(cfg, bad)
        n = len(srv.log_lines(r"not reloaded, the running one stays"))
        srv.signal(signal.SIGHUP)
        wait_until(lambda: len(srv.log_lines(r"not reloaded, the running one stays")) > n or None, 5,
                   "the refusal of %r" % bad)
        check(why in srv.log_lines(r"not reloaded, the running one stays")[-1], "no reason for %r: %s", bad,
              srv.log_tail(3))
    write(env.path("secrets"), "short\n")
    config(env, 2)
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"not reloaded.*auth-secret-file", 5)
    # The running settings still hold: the limit of 2 refuses a third connection.
    env.agent(srv, "b", extra=["--token", token_for(s1, "b")]).wait_state("online", 5)
    third = env.raw(srv)
    t, _ = third.read_frame(5)
    check(t == harness.ERROR, "a third connection was not refused (got %r)", t)


if __name__ == "__main__":
    run([test_sighup_applies_secrets_limits_log_level_and_admin_token,
         test_bad_file_keeps_the_running_settings])
