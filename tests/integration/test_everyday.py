#!/usr/bin/env python3
"""Everyday use: host names and IPv6 (resolved on every attempt, every address tried),
refusals that no retry can fix end ls, watch and agent at once with the server's message,
and an agent that says why it cannot connect.

Names with two addresses come from a private /etc/hosts, bind-mounted in a mount
namespace of the client's own (`unshare -m`): the machine's file is never touched.

    python3 tests/integration/test_everyday.py --lifeline PATH [-k NAME] [--keep]
"""
import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
import vocab  # noqa: E402
from harness import check, host_port, log, run, wait_until  # noqa: E402
from pki import new_secret  # noqa: E402

NAME = "twoaddr.lifeline.test"
EXIT_REFUSED = 4  # docs/operations.md, "Signals and exit status"


def write(path, text):
    # In place (same inode): a bind-mounted file must keep its inode to change under the mount.
    with open(path, "w") as f:
        f.write(text)
    return path


def in_hosts(hosts_file):
    """argv prefix: run the rest with `hosts_file` as /etc/hosts, in a mount namespace of its own."""
    return ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', hosts_file]


def resolver_order(env, hosts_file, name):
    """The addresses getaddrinfo gives for `name` with that hosts file, in its order."""
    code = "import socket;print(' '.join(a[4][0] for a in socket.getaddrinfo(%r, 1, 0, socket.SOCK_STREAM)))" % name
    r = env.run(in_hosts(hosts_file) + [sys.executable, "-c", code])
    check(r.returncode == 0, "cannot run in a mount namespace with a private /etc/hosts: %s", r.stderr)
    return r.stdout.split()


def test_ipv6_loopback_end_to_end(env):
    """serve --listen [::1]:0; agent, watch and ls connect over IPv6; the list shows [::1] peers."""
    srv = env.server(host="::1")
    check(srv.addr.startswith("[::1]:"), "server address %s", srv.addr)
    w = env.watch(srv)
    env.agent(srv, "six").wait_state("online", 5)
    on = w.wait_event("online", "six", 5)
    check(on["peer"].startswith("[::1]:"), "online event remote %r, expected [::1]:port", on["peer"])
    entry = [c for c in env.ls(srv)["clients"] if c["id"] == "six"]
    check(entry and entry[0]["peer"] == on["peer"], "ls over IPv6: %s", entry)


def test_name_with_two_addresses_first_refuses(env):
    """A name resolving to two addresses, the first refusing: the client tries the second in
    the same attempt and goes online at once (no backoff round)."""
    hosts = write(env.path("hosts"), "::1 %s\n127.0.0.1 %s\n" % (NAME, NAME))
    order = resolver_order(env, hosts, NAME)
    check(len(order) == 2, "%s resolves to %s, expected two addresses", NAME, order)
    log("%s resolves to %s; the server listens on the second only", NAME, order)
    srv = env.server(host=order[1])
    a = env.agent(host_port(NAME, srv.port), "two", prefix=in_hosts(hosts), backoff_base="5s", backoff_cap="5s")
    t0 = time.monotonic()
    on = a.wait_state("online", 4)   # under the 5 s backoff: it was the first attempt
    log("online %.0f ms after start; attempts %s", (time.monotonic() - t0) * 1000, on.get("attempts"))
    check(on.get("server") == host_port(NAME, srv.port), "online via %r", on.get("server"))
    remote = [c["peer"] for c in env.ls(srv)["clients"] if c["id"] == "two"]
    family_v6 = ":" in order[1]
    check(remote and remote[0].startswith("[") == family_v6, "listed remote %s, expected %s", remote, order[1])


def test_name_resolved_again_on_every_attempt(env):
    """The name moves from an address nobody listens on to the server's: the retrying agent
    resolves it again and goes online, without a restart."""
    srv = env.server()
    hosts = write(env.path("hosts"), "127.0.0.2 %s\n" % NAME)
    a = env.agent(host_port(NAME, srv.port), "mover", prefix=in_hosts(hosts), backoff_base="100ms", backoff_cap="200ms")
    wait_until(lambda: "attempt 1 to %s" % host_port(NAME, srv.port) in a.stderr_text(), 5,
               "a warning about the first failed attempt")
    check(not a.states("online"), "online while %s pointed at 127.0.0.2", NAME)
    write(hosts, "127.0.0.1 %s\n" % NAME)
    a.wait_state("online", 5)


def test_unresolvable_name_is_a_clear_retried_error(env):
    """ls names the host that does not resolve; an agent warns with the cause and keeps trying."""
    r = env.run([harness.LIFELINE, "ls", "--server", "nosuchhost.invalid:7000", "--connect-timeout", "1s"], 15)
    check(r.returncode == 1, "ls exit %d: %s", r.returncode, r.stderr)
    check("cannot resolve 'nosuchhost.invalid'" in r.stderr, "ls stderr: %r", r.stderr)
    a = env.agent("nosuchhost.invalid:7000", "lost", backoff_base="20ms", backoff_cap="20ms")
    wait_until(lambda: "attempt 11 to nosuchhost.invalid:7000 failed: cannot resolve" in a.stderr_text(), 10,
               "the agent's warning on attempt 11")
    check(a.proc.poll() is None, "the agent gave up: %s", a.stderr_text()[-300:])


def test_serve_listen_accepts_names(env):
    """serve --listen localhost:0 works; a name that does not resolve stops serve with status 1
    naming it; an unbracketed IPv6 address is a usage error (2) that shows the right spelling."""
    srv = env.server(host="localhost")
    env.agent(srv, "local").wait_state("online", 5)
    r = env.run([harness.LIFELINE, "serve", "--listen", "nosuchhost.invalid:7000"], 15)
    check(r.returncode == 1, "serve exit %d", r.returncode)
    check("cannot resolve 'nosuchhost.invalid'" in r.stdout + r.stderr, "serve output: %r", r.stdout + r.stderr)
    r = env.run([harness.LIFELINE, "serve", "--listen", "::1:7000"], 15)
    check(r.returncode == 2 and "[::1]:7000" in r.stderr, "serve exit %d: %r", r.returncode, r.stderr)


def test_permanent_refusal_ends_ls_watch_agent(env):
    """A server that requires tokens: ls and watch without one, and an agent with a bad
    literal token, end at once with the server's message and status 4. An agent whose token
    comes from a file keeps trying (the file is read again) and goes online once it is fixed."""
    secret = write(env.path("secret"), new_secret() + "\n")
    srv = env.server(extra=["--auth-secret-file", secret])
    for tool in ("ls", "watch"):
        t0 = time.monotonic()
        r = env.run([harness.LIFELINE, tool, "--server", srv.addr, "--connect-timeout", "5s"], 10)
        took = time.monotonic() - t0
        check(r.returncode == EXIT_REFUSED, "%s exit %d: %s", tool, r.returncode, r.stderr)
        check("unauthorized" in r.stderr and "requires a token" in r.stderr, "%s stderr: %r", tool, r.stderr)
        check(took < 3, "%s took %.1f s to give up (its wait is 6 s)", tool, took)
    a = env.agent(srv, "bad", extra=["--token", "not-a-token"])
    check(a.wait_exit(5) == EXIT_REFUSED, "agent with a bad token: exit %s", a.proc.returncode)
    check("unauthorized" in a.stderr_text(), "agent stderr: %r", a.stderr_text())

    token_file = write(env.path("token"), "not-a-token\n")
    b = env.agent(srv, "fixme", extra=["--token-file", token_file], backoff_base="50ms", backoff_cap="100ms")
    wait_until(lambda: b.stderr_text().count("unauthorized") >= 2, 5, "two refused attempts")
    check(b.proc.poll() is None, "the agent with a token file gave up")
    r = env.run([harness.LIFELINE, "token", "issue", "--id", "fixme", "--ttl", "1h", "--secret-file", secret])
    check(r.returncode == 0, "token issue: %s", r.stderr)
    write(token_file, r.stdout)
    b.wait_state("online", 5)


def test_agent_warns_about_failing_connections(env):
    """At the default log level an agent that cannot connect says why: the first failure of
    an outage and every 10th after it."""
    a = env.agent("127.0.0.1:1", "nowhere", backoff_base="10ms", backoff_cap="10ms")
    wait_until(lambda: "attempt 11 to 127.0.0.1:1 failed" in a.stderr_text(), 10, "the 11th attempt's warning")
    text = a.stderr_text()
    check("warning attempt 1 to 127.0.0.1:1 failed: connect failed: Connection refused" in text, "stderr: %r", text)
    check("attempt 2 to" not in text, "attempt 2 was logged at the default level: %r", text)


def test_unreadable_files_are_named_with_the_os_reason(env):
    """A directory or a missing file given as --config, a secret file or a TLS file stops serve
    with status 2, naming the file and the OS's reason (a directory was read as an empty
    config, and the server started on the default address)."""
    d = env.path("a-directory")
    os.makedirs(d, exist_ok=True)
    missing = env.path("missing.toml")
    for argv, what, path, why in [
            (["serve", "--config", d], "config file", d, "Is a directory"),
            (["serve", "--config", missing], "config file", missing, "No such file or directory"),
            (["serve", "--listen", "127.0.0.1:0", "--auth-secret-file", d], "secret file", d, "Is a directory"),
            (["serve", "--listen", "127.0.0.1:0", "--tls-cert", d, "--tls-key", d], "TLS certificate", d,
             "Is a directory")]:
        r = env.run([harness.LIFELINE] + argv, 10)
        want = "cannot read %s '%s': %s" % (what, path, why)
        check(r.returncode == 2 and want in r.stderr, "%s: exit %d, stderr %r (expected %r)", " ".join(argv),
              r.returncode, r.stderr, want)
    srv = env.server()
    a = env.agent(srv, "tok", extra=["--token-file", d], backoff_base="50ms", backoff_cap="50ms")
    wait_until(lambda: "cannot read token file '%s': Is a directory" % d in a.stderr_text(), 5,
               "the agent's warning naming its token file")


def test_log_options_after_the_subcommand_and_in_the_config(env):
    """`serve --log-format json` (after the subcommand) and the TOML keys log-format and
    log-level work; every JSON log line follows docs/json.md, and an offline line carries
    kind, id, peer, reason and cause as fields."""
    srv = env.server(extra=["--log-format", "json"])
    w = env.watch(srv)
    a = env.agent(srv, "logged")
    on = w.wait_event("online", "logged", 5)
    a.kill()
    w.wait_event("offline", "logged", 5)
    line = srv.wait_log(r'"kind":"offline"', 5)
    rec = vocab.check(json.loads(line), "log")
    check(rec.get("id") == "logged" and rec.get("peer") == on["peer"] and rec.get("reason") in ("closed", "reset")
          and rec.get("cause"), "offline log fields: %s", rec)
    lines = [ln for ln in srv.log().splitlines() if not ln.startswith("--- harness")]
    for ln in lines:
        vocab.check(json.loads(ln), "log")
    log("%d JSON log lines follow docs/json.md; offline: %s", len(lines), line)

    conf = write(env.path("server.toml"), 'log-format = "json"\nlog-level = "warn"\n')
    quiet = env.server(extra=["--config", conf], name="quiet")
    env.agent(quiet, "unlogged").wait_state("online", 5)
    quiet.stop()
    text = [ln for ln in quiet.log().splitlines() if not ln.startswith("--- harness")]
    check(not text, "log-level warn from the config, yet the server logged: %s", text[:3])
    r = env.run([harness.LIFELINE, "serve", "--log-level", "chatty"], 10)
    check(r.returncode == 2 and "unknown log level 'chatty'" in r.stderr, "bad level: %d %r", r.returncode, r.stderr)


def test_one_time_format_everywhere(env):
    """Text logs, agent lines and the ls table print RFC 3339 UTC times (text logs printed
    local time without a zone)."""
    srv = env.server()
    env.agent(srv, "clock").wait_state("online", 5)
    first = [ln for ln in srv.log().splitlines() if not ln.startswith("--- harness")][0]
    check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info ", first), "server log line: %r", first)
    text_agent = harness.Collector(env, [harness.LIFELINE, "agent", "--id", "plain", "--server", srv.addr],
                                   "agent-plain", json_lines=False)
    env.collectors.append(text_agent)
    line = text_agent.wait_for(lambda x: "state=online" in x["raw"], 5)["raw"]
    check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z id=plain state=online", line), "agent line: %r", line)
    p = env.run([harness.LIFELINE, "ls", "--server", srv.addr], 10)
    rows = p.stdout.splitlines()
    check(len(rows) == 4 and re.search(r" \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", rows[1]), "ls: %r", p.stdout)


def test_ls_table_aligns_long_ids(env):
    """The ls table's columns fit their widest cell: an id over 24 characters does not push
    its row out of line."""
    srv = env.server()
    long_id = "a-very-long-client-identifier-0123456789"
    env.agent(srv, long_id).wait_state("online", 5)
    env.agent(srv, "b").wait_state("online", 5)
    rows = env.run([harness.LIFELINE, "ls", "--server", srv.addr], 10).stdout.splitlines()
    starts = {row.find("127.0.0.1:") for row in rows[1:3]}
    check(len(starts) == 1 and rows[0].find("PEER") in starts, "columns out of line:\n%s", "\n".join(rows))


if __name__ == "__main__":
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        print("note: unshare -m is not permitted here; the tests with a private /etc/hosts will fail")
    run([test_ipv6_loopback_end_to_end,
         test_name_with_two_addresses_first_refuses,
         test_name_resolved_again_on_every_attempt,
         test_unresolvable_name_is_a_clear_retried_error,
         test_serve_listen_accepts_names,
         test_permanent_refusal_ends_ls_watch_agent,
         test_agent_warns_about_failing_connections,
         test_unreadable_files_are_named_with_the_os_reason,
         test_log_options_after_the_subcommand_and_in_the_config,
         test_one_time_format_everywhere,
         test_ls_table_aligns_long_ids])
