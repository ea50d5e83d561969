#!/usr/bin/env python3
"""Security: token authentication (lifeline token, serve --auth-secret-file) and TLS
(serve --tls-cert/--tls-key, mutual TLS with --tls-client-ca; agent/ls/watch --tls-ca),
against real processes on loopback. Certificates are made at test time (openssl CLI) and
tokens partly by this file itself, from the format docs/protocol.md describes.

    python3 tests/integration/test_security.py --lifeline PATH [-k NAME] [--keep]
"""
import os
import re
import signal
import socket
import ssl
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import ERRORS, HELLO, WELCOME, check, frame, hello_payload, run, wait_until  # noqa: E402
from pki import Pki, make_token, new_secret  # noqa: E402

CODE = {name: code for code, name in ERRORS.items()}


def write(env, name, text):
    path = env.path(name)
    with open(path, "w") as f:
        f.write(text)
    return path


def issue(env, secret_file, id, ttl="1h", labels=()):
    argv = [harness.LIFELINE, "token", "issue", "--id", id, "--ttl", ttl, "--secret-file", secret_file]
    for label in labels:
        argv += ["--label", label]
    r = env.run(argv)
    check(r.returncode == 0, "token issue failed: %s", r.stderr)
    return r.stdout.strip()


def expect_unauthorized(env, srv, id, token, why_regex):
    """A raw HELLO with `token` is answered ERROR unauthorized naming the cause, then EOF."""
    r = env.raw(srv)
    r.send(frame(HELLO, hello_payload(id, token=token)))
    err, eof, _ = r.read_until_error_or_eof(5)
    check(err is not None, "no ERROR for id %s with token %r", id, token)
    check(err[0] == CODE["unauthorized"], "expected unauthorized, got %s: %s", ERRORS.get(err[0]), err[1])
    check(re.search(why_regex, err[1]), "ERROR message %r does not match %r", err[1], why_regex)
    check(eof, "the connection stayed open after ERROR unauthorized")
    srv.wait_log(r"unauthorized peer=%s id=%s: " % (re.escape(r.local), re.escape(id or "-")), 5)


def test_tokens_gate_every_hello(env):
    secret = new_secret()
    secret_file = write(env, "secret", "# made by the test\n%s\n" % secret)
    srv = env.server(extra=["--auth-secret-file", secret_file])
    srv.wait_log(r"listening on .*plain TCP, tokens required", 5)
    token = issue(env, secret_file, "alice", labels=["role=sensor", "site=lab"])

    # The token's labels are the server's word: the client's own role= is replaced.
    a = env.agent(srv, "alice", labels={"role": "spoofed", "zone": "z1"}, extra=["--token", token])
    a.wait_state("online", 5)
    tool = ["--token", issue(env, secret_file, "ops-console")]
    listed = {c["id"]: c for c in env.ls(srv, extra=tool)["clients"]}
    check("alice" in listed, "alice not listed: %s", listed)
    labels = listed["alice"]["labels"]
    check(labels.get("role") == "sensor" and labels.get("site") == "lab" and labels.get("zone") == "z1",
          "labels should merge with the token's winning: %s", labels)

    now = int(time.time())
    expect_unauthorized(env, srv, "bob", None, r"requires a token")
    expect_unauthorized(env, srv, "bob", token, r"token is for id 'alice', not 'bob'")
    expect_unauthorized(env, srv, "bob", make_token(secret, "bob", now - 60), r"expired at")
    expect_unauthorized(env, srv, "bob", make_token(new_secret(), "bob", now + 3600), r"signature is invalid")
    # One MAC character changed, inside the MAC: the last one also carries padding bits that
    # must be zero, and changing those makes the token malformed rather than forged.
    forged = make_token(secret, "bob", now + 3600)
    forged = forged[:-10] + ("A" if forged[-10] != "A" else "B") + forged[-9:]
    expect_unauthorized(env, srv, "bob", forged, r"signature is invalid")
    # Claims altered after signing (alice's MAC on bob's claims).
    alice_mac = token.rsplit(".", 1)[1]
    altered = make_token(secret, "bob", now + 3600).rsplit(".", 1)[0] + "." + alice_mac
    expect_unauthorized(env, srv, "bob", altered, r"signature is invalid")
    expect_unauthorized(env, srv, "bob", "not-a-token", r"malformed")

    # A token this file made from the documented format works like an issued one.
    r = env.raw(srv)
    r.send(frame(HELLO, hello_payload("bob", token=make_token(secret, "bob", now + 3600))))
    t, _ = r.read_frame(5)
    check(t == WELCOME, "a token made from docs/protocol.md was refused (frame type %r)", t)

    # Observers need a token too.
    r = env.run([harness.LIFELINE, "ls", "--server", srv.addr, "--json", "--connect-timeout", "1s"], timeout=10)
    check(r.returncode != 0, "ls without a token was answered: %s", r.stdout)

    # The agent reports a refusal as a warning, and never goes online.
    b = env.agent(srv, "carol", extra=["--token", token], log_level="warn")
    wait_until(lambda: "unauthorized" in b.stderr_text(), 5, "the agent to report 'unauthorized'")
    check(not b.states("online"), "carol went online with alice's token")


def test_no_takeover_without_a_token(env):
    secret_file = write(env, "secret", new_secret() + "\n")
    srv = env.server(extra=["--auth-secret-file", secret_file])
    watch = env.watch(srv, extra=["--token", issue(env, secret_file, "watcher")])
    alice = env.agent(srv, "alice", extra=["--token", issue(env, secret_file, "alice")])
    first = watch.wait_event("online", "alice", 5)
    expect_unauthorized(env, srv, "alice", None, r"requires a token")
    expect_unauthorized(env, srv, "alice", issue(env, secret_file, "mallory"), r"is for id 'mallory'")
    check(not watch.events("offline", "alice") and not watch.events("takeover", "alice"),
          "a client without alice's token disturbed alice: %s", watch.events(id="alice"))
    check(not alice.states("reconnecting"), "alice was disconnected")
    # Whoever holds alice's token may take over, as without authentication.
    env.agent(srv, "alice", name="alice-2", extra=["--token", issue(env, secret_file, "alice")])
    watch.wait_event("takeover", "alice", 5, start=watch.snapshot().index(first))


def test_secret_rotation_accepts_both_secrets(env):
    old, new = new_secret(), new_secret()
    old_file = write(env, "old", old + "\n")
    both = write(env, "both", "# new secret first: it signs; the old one still verifies\n%s\n%s\n" % (new, old))
    srv = env.server(extra=["--auth-secret-file", both])
    env.agent(srv, "old-holder", extra=["--token", issue(env, old_file, "old-holder")]).wait_state("online", 5)
    env.agent(srv, "new-holder", extra=["--token", issue(env, both, "new-holder")]).wait_state("online", 5)
    expect_unauthorized(env, srv, "third", make_token(new_secret(), "third", int(time.time()) + 60),
                        r"signature is invalid")
    # After the change-over the old secret is dropped, and its tokens stop working.
    srv.stop()
    new_only = write(env, "new", new + "\n")
    srv2 = env.server(extra=["--auth-secret-file", new_only], name="server-after")
    expect_unauthorized(env, srv2, "old-holder", issue(env, old_file, "old-holder"), r"signature is invalid")


def test_bad_secret_files_refused_at_startup(env):
    short = write(env, "short", "too-short\n")
    empty = write(env, "empty", "# only a comment\n\n")
    cases = [(env.path("missing"), r"cannot read secret file"), (short, r"line 1: secret is 9 bytes, at least 32"),
             (empty, r"holds no secret")]
    for path, msg in cases:
        r = env.run([harness.LIFELINE, "serve", "--listen", "127.0.0.1:0", "--auth-secret-file", path])
        check(r.returncode == 2, "serve with secret file %s exited %d, not 2", path, r.returncode)
        check(re.search(msg, r.stderr), "stderr %r does not say %r", r.stderr, msg)
    r = env.run([harness.LIFELINE, "token", "issue", "--id", "x", "--secret-file", short])
    check(r.returncode == 2 and "at least 32" in r.stderr, "token issue with a short secret: %s", r.stderr)
    r = env.run([harness.LIFELINE, "token", "issue", "--id", "bad id!", "--secret-file", write(env, "ok", "k" * 40)])
    check(r.returncode == 2 and "invalid" in r.stderr, "token issue with a bad id: %s", r.stderr)


def tls_server(env, pki, extra=()):
    return env.server(extra=["--tls-cert", pki.server_cert, "--tls-key", pki.server_key] + list(extra))


def test_tls_heartbeats_and_liveness(env):
    pki = Pki(env.path("pki"))
    srv = tls_server(env, pki)
    tls = ["--tls-ca", pki.ca]
    watch = env.watch(srv, extra=tls)
    a = env.agent(srv, "secure", extra=tls)
    a.wait_state("online", 5)
    listed = env.ls(srv, extra=tls)
    check([c["id"] for c in listed["clients"]] == ["secure"], "ls over TLS: %s", listed)
    # Liveness works through TLS: a frozen agent times out, and after SIGCONT it comes back.
    start = len(watch.snapshot())
    a.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    watch.wait_event("offline", "secure", 3, start=start, reason="timeout")
    # timeout 300 ms + tick 10 ms, with the slack the fault tests allow a loaded machine and sanitizer builds
    check(time.monotonic() - t0 < 0.3 + 0.01 + 0.6, "timeout detection over TLS took %.2fs", time.monotonic() - t0)
    a.signal(signal.SIGCONT)
    watch.wait_event("online", "secure", 5, start=start)
    # A plain-TCP client cannot talk to a TLS server: the server logs why.
    plain = env.agent(srv, "plain", log_level="warn")
    srv.wait_log(r"reason=protocol \(TLS handshake failed: .*(wrong version|http request|record)", 5)
    check(not plain.states("online"), "a plain client went online on a TLS server")


def test_tls_any_language_client(env):
    """A client from the documentation alone: Python's ssl module and the frame format."""
    pki = Pki(env.path("pki"))
    srv = tls_server(env, pki)
    ctx = ssl.create_default_context(cafile=pki.ca)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(frame(HELLO, hello_payload("pyclient")))
            head = b""
            while len(head) < 5:
                head += s.recv(5 - len(head))
            length, ftype = struct.unpack(">IB", head)
            check(ftype == WELCOME, "expected WELCOME over TLS, got type %d", ftype)
    srv.wait_log(r"online id=pyclient", 5)


def test_tls_verifies_the_server(env):
    pki = Pki(env.path("pki"))
    srv = tls_server(env, pki)
    cases = [
        ("wrong-name", ["--tls-ca", pki.ca, "--tls-server-name", "other.example"], r"hostname mismatch"),
        ("untrusted", ["--tls-ca", pki.other_ca], r"unable to get local issuer certificate"),
        ("system-store", ["--tls"], r"unable to get local issuer certificate"),
    ]
    agents = [(name, env.agent(srv, name, extra=extra, log_level="warn"), why) for name, extra, why in cases]
    for name, agent, why in agents:
        wait_until(lambda: re.search(r"TLS handshake failed: .*" + why, agent.stderr_text()), 5,
                   "%s to report a TLS certificate failure" % name)
        check(not agent.states("online"), "%s went online", name)
    # Hostname checking can be turned off explicitly; the CA still is checked.
    env.agent(srv, "no-hostname-check", extra=["--tls-ca", pki.ca, "--tls-server-name", "other.example",
                                               "--tls-no-verify-hostname"]).wait_state("online", 5)


def test_tls_handshake_counts_against_the_handshake_deadline(env):
    pki = Pki(env.path("pki"))
    srv = tls_server(env, pki)   # FAST_SERVER: --handshake-timeout 500ms
    silent = env.raw(srv)
    stalled = env.raw(srv)
    stalled.send(b"\x16\x03\x01\x02\x00\x01")   # the first bytes of a ClientHello, then nothing
    t0 = time.monotonic()
    check(silent.wait_eof(3) and stalled.wait_eof(3), "a stalled TLS handshake was not closed")
    check(time.monotonic() - t0 < 0.5 + 1.0, "closed only after %.2fs", time.monotonic() - t0)
    srv.wait_log(r"TLS handshake not done within 500 ms", 5)


def test_mutual_tls_binds_id_to_certificate(env):
    pki = Pki(env.path("pki"))
    alice_cert, alice_key = pki.issue("alice", "alice")
    rogue_cert, rogue_key = pki.issue("rogue", "alice", ca="other-ca")
    srv = tls_server(env, pki, extra=["--tls-client-ca", pki.ca])
    srv.wait_log(r"listening on .*, mutual TLS\)", 5)
    tls = ["--tls-ca", pki.ca]
    ops_cert, ops_key = pki.issue("ops", "ops")
    watch = env.watch(srv, extra=tls + ["--tls-cert", ops_cert, "--tls-key", ops_key])
    env.agent(srv, "alice", extra=tls + ["--tls-cert", alice_cert, "--tls-key", alice_key]).wait_state("online", 5)
    watch.wait_event("online", "alice", 5)
    # Alice's certificate does not make her bob.
    bob = env.agent(srv, "bob", extra=tls + ["--tls-cert", alice_cert, "--tls-key", alice_key], log_level="warn")
    wait_until(lambda: "certificate is for 'alice', not 'bob'" in bob.stderr_text(), 5, "bob to be refused")
    srv.wait_log(r"unauthorized peer=\S+ id=bob: client certificate is for 'alice', not 'bob'", 5)
    # No certificate, or one from another CA with the right name: the handshake fails.
    env.agent(srv, "nocert", extra=tls)
    env.agent(srv, "alice", name="rogue", extra=tls + ["--tls-cert", rogue_cert, "--tls-key", rogue_key])
    wait_until(lambda: len(srv.log_lines(r"TLS handshake failed")) >= 2, 5, "two failed handshakes in the log")
    check(len(watch.events("online", "alice")) == 1 and not watch.events("offline", "alice"),
          "alice was disturbed: %s", watch.events(id="alice"))


def test_tls_resumption_across_restarts_and_rotation(env):
    """--tls-ticket-key-file: a client resumes its TLS session (a ticket) after the server
    restarts with the same keys; a new first key still opens the old tickets and reissues
    them; without the file a restarted server has new random keys and shakes hands in full.
    Both sides say which it was: the agent's online line and the server's log."""
    pki = Pki(env.path("pki"))
    key_a, key_b = new_secret(), new_secret()
    keys = write(env, "tickets", "# TLS ticket keys\n%s\n" % key_a)
    srv = tls_server(env, pki, extra=["--tls-ticket-key-file", keys])
    a = env.agent(srv, "resumer", extra=["--tls-ca", pki.ca])
    a.wait_state("online", 5)
    check(a.states("online")[-1].get("tls") == "full", "first connection: %s", a.states("online")[-1])
    srv.wait_log(r"online id=resumer .* tls=full", 5)

    def restart_and_expect(kind, why):
        mark = a.mark()
        log_mark = len(srv.log_lines(r"online id=resumer"))
        srv.stop()
        srv.start()
        online = a.wait_state("online", 10, start=mark)
        check(online.get("tls") == kind, "%s: the agent's handshake was %s, not %s", why, online.get("tls"), kind)
        wait_until(lambda: len(srv.log_lines(r"online id=resumer")) > log_mark, 5, "the server's online line")
        line = srv.log_lines(r"online id=resumer")[-1]
        check(("tls=%s" % kind) in line, "%s: the server logged %r", why, line)

    restart_and_expect("resumed", "same ticket key file")
    # Rotation, step 1: a new first key seals; the old one still opens the client's ticket.
    write(env, "tickets", "%s\n%s\n" % (key_b, key_a))
    restart_and_expect("resumed", "old key second in the file")
    # Step 2: the old key gone. The ticket reissued under the new key at step 1 still opens.
    write(env, "tickets", "%s\n" % key_b)
    restart_and_expect("resumed", "old key removed after a reissue")
    # No key file: random keys per run, so a restart costs a full handshake...
    srv.args = [x for x in srv.args if x not in ("--tls-ticket-key-file", keys)]
    restart_and_expect("full", "no ticket key file")
    # ...but a reconnect to the same run resumes: freeze the agent past its timeout, thaw it.
    srv.signal(signal.SIGHUP)   # a reload without ticket keys keeps this run's random keys
    srv.wait_log(r"reloaded: nothing changed", 5)
    mark = a.mark()
    a.signal(signal.SIGSTOP)
    srv.wait_log(r"offline id=resumer .*reason=timeout", 5)
    a.signal(signal.SIGCONT)
    online = a.wait_state("online", 10, start=mark)
    check(online.get("tls") == "resumed", "a reconnect to the same server run: %s", online)


def test_tls_ticket_key_file_reload_and_bad_files(env):
    pki = Pki(env.path("pki"))
    keys = write(env, "tickets", new_secret() + "\n")
    srv = tls_server(env, pki, extra=["--tls-ticket-key-file", keys])
    write(env, "tickets", "%s\n%s\n" % (new_secret(), new_secret()))
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"reloaded: TLS ticket keys: 1 -> 2", 5)
    write(env, "tickets", "short\n")
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"configuration not reloaded, the running one stays: .*tls-ticket-key-file.*line 1: secret is 5 "
                 r"bytes, at least 32", 5)
    cases = [(["--tls-ticket-key-file", env.path("missing")], r"--tls-ticket-key-file: cannot read secret file"),
             (["--tls-ticket-key-file", write(env, "empty", "# none\n")], r"holds no secret"),
             (["--tls-ticket-key-file", write(env, "ok", new_secret())], r"tls-ticket-key-file needs tls-cert")]
    for i, (extra, msg) in enumerate(cases):
        tls = ["--tls-cert", pki.server_cert, "--tls-key", pki.server_key] if i < 2 else []
        r = env.run([harness.LIFELINE, "serve", "--listen", "127.0.0.1:0"] + tls + extra)
        check(r.returncode == 2, "serve %s exited %d, not 2", extra, r.returncode)
        check(re.search(msg, r.stderr), "stderr %r does not say %r", r.stderr, msg)


def test_tls_handshakes_under_way_are_bounded(env):
    """At most 1024 TLS handshakes are under way at once: further connections wait in the
    listen backlog until some finish (or, here, hit the handshake deadline), so a storm
    cannot start more handshakes than can finish in time. 1024 silent connections fill the
    quota; an agent that connects behind them goes online only once they were closed."""
    harness.raise_nofile(4096)   # before the server starts: it inherits the limit
    pki = Pki(env.path("pki"))
    srv = tls_server(env, pki)   # FAST_SERVER: --handshake-timeout 500ms
    # The listen queue is first in, first out: the server accepts these 1024 first, and
    # the agent's connection, made after them, comes out of the queue only once it resumes.
    stalled = [env.raw(srv) for _ in range(1024)]
    a = env.agent(srv, "patient", extra=["--tls-ca", pki.ca, "--connect-timeout", "10s"])
    first_online = a.wait_state("online", 10)
    deadline_hits = srv.log_lines(r"TLS handshake not done within 500 ms")
    check(len(deadline_hits) >= 1, "the agent went online before any stalled handshake was closed: %s",
          first_online)
    for r in stalled:
        check(r.wait_eof(5), "a stalled TLS connection was not closed at the handshake deadline")


def test_mutual_tls_resumes_and_keeps_the_certificate_id(env):
    """A resumed session under mutual TLS still carries the client's certificate: the id
    stays bound to it, and the first reconnect after a restart resumes (no failed attempt)."""
    pki = Pki(env.path("pki"))
    alice_cert, alice_key = pki.issue("alice", "alice")
    keys = write(env, "tickets", new_secret() + "\n")
    srv = tls_server(env, pki, extra=["--tls-client-ca", pki.ca, "--tls-ticket-key-file", keys])
    a = env.agent(srv, "alice", extra=["--tls-ca", pki.ca, "--tls-cert", alice_cert, "--tls-key", alice_key],
                  log_level="warn")
    check(a.wait_state("online", 5).get("tls") == "full", "first connection not a full handshake")
    mark = a.mark()
    srv.stop()
    srv.start()
    online = a.wait_state("online", 10, start=mark)
    check(online.get("tls") == "resumed", "mutual TLS reconnect after a restart: %s", online)
    check("TLS handshake failed" not in a.stderr_text(), "a resumption attempt failed: %s", a.stderr_text())
    ops_cert, ops_key = pki.issue("ops", "ops")
    listed = env.ls(srv, extra=["--tls-ca", pki.ca, "--tls-cert", ops_cert, "--tls-key", ops_key])
    check([c["id"] for c in listed["clients"]] == ["alice"], "the resumed session's id: %s", listed)


if __name__ == "__main__":
    run([test_tokens_gate_every_hello, test_no_takeover_without_a_token, test_secret_rotation_accepts_both_secrets,
         test_bad_secret_files_refused_at_startup, test_tls_heartbeats_and_liveness, test_tls_any_language_client,
         test_tls_verifies_the_server, test_tls_handshake_counts_against_the_handshake_deadline,
         test_mutual_tls_binds_id_to_certificate, test_tls_resumption_across_restarts_and_rotation,
         test_tls_ticket_key_file_reload_and_bad_files, test_tls_handshakes_under_way_are_bounded,
         test_mutual_tls_resumes_and_keeps_the_certificate_id])
