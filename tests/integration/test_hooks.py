#!/usr/bin/env python3
"""Hooks on presence events: a command with the event in its environment (never in the
command text), and a signed JSON webhook to a receiver this test runs, with retries when it
fails, a give-up when it never answers, and a bounded queue whose overflow is counted.

    python3 tests/integration/test_hooks.py --lifeline PATH [-k NAME] [--keep]
"""
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
import vocab  # noqa: E402
from admin_http import parse_metrics, request, value  # noqa: E402
from harness import check, run, wait_until  # noqa: E402

SECRET = "webhook-secret-0123456789abcdef"


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST; `answers` is a list of status codes
    to give in turn (then 200), or "hang" to never answer."""

    def __init__(self, answers=()):
        self.posts, self.answers, self.lock = [], list(answers), threading.Lock()
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.posts.append((dict(self.headers), body))
                    status = outer.answers.pop(0) if outer.answers else 200
                if status == "hang":
                    outer.release.wait(30)  # no answer: the server's timeout must end it
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def secret_file(env):
    path = env.path("webhook.secret")
    with open(path, "w") as f:
        f.write(SECRET + "\n")
    return path


def test_command_gets_the_event_in_its_environment_only(env):
    out = env.path("events.txt")
    cmd = 'printf "%%s|%%s|%%s|%%s|%%s\\n" "$LIFELINE_EVENT" "$LIFELINE_ID" "$LIFELINE_PEER" "$LIFELINE_REASON" ' \
          '"$LIFELINE_LAST_SEEN" >> %s' % out
    srv = env.server(extra=["--on-online", cmd, "--on-offline", cmd])
    evil = "sensor@lab:7.a-b"  # ids cannot carry shell syntax; what they hold reaches the command as data
    a = env.agent(srv, evil, name="evil")
    a.wait_state("online", 5)
    a.kill()
    lines = wait_until(lambda: os.path.exists(out) and len(open(out).read().splitlines()) >= 2 and
                       open(out).read().splitlines() or None, 5, "two hook runs")
    online, offline = [ln.split("|") for ln in lines[:2]]
    check(online[:2] == ["online", evil] and online[2].startswith("127.0.0.1:") and online[3] == "",
          "online hook saw %r", online)
    check(offline[:2] == ["offline", evil] and offline[3] == "closed" and vocab.TIME.match(offline[4]),
          "offline hook saw %r", offline)
    check(open(env.path("server.log")).read().count("hook:") == 0, "a hook failed")


def test_command_timeout_kills_it(env):
    srv = env.server(admin=[], extra=["--on-online", "sleep 30", "--hook-timeout", "200ms"])
    env.agent(srv, "slow").wait_state("online", 5)
    srv.wait_log(r"hook: 'sleep 30' for online id=slow killed after 200ms", 5)
    m = parse_metrics(request(srv.admin_port, "GET", "/metrics").body)
    check(value(m, "lifeline_hooks_commands_failed_total") == 1, "failed commands")


def test_webhook_is_signed_and_retried(env):
    rx = Receiver(answers=[500, 503])
    try:
        srv = env.server(admin=[], extra=["--webhook", rx.url, "--webhook-secret-file", secret_file(env),
                                          "--webhook-retry-base", "50ms", "--webhook-timeout", "1s"])
        env.agent(srv, "w1").wait_state("online", 5)
        wait_until(lambda: len(rx.posts) >= 3 or None, 10, "three attempts (two failures, then 200)")
        harness.holds(lambda: len(rx.posts) == 3, 0.3, "no fourth attempt after the 200")
        deliveries = {h["X-Lifeline-Delivery"] for h, _ in rx.posts}
        check(len(deliveries) == 1, "one delivery id for every attempt: %r", deliveries)
        headers, body = rx.posts[-1]
        expect = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        check(headers["X-Lifeline-Signature"] == expect, "signature %r, expected %r",
              headers["X-Lifeline-Signature"], expect)
        event = vocab.check(json.loads(body), "event")
        check(event["kind"] == "online" and event["id"] == "w1" and headers["X-Lifeline-Event"] == "online" and
              headers["Content-Type"] == "application/json", "webhook %r %r", headers, event)
        check(list(deliveries)[0] == "%s-%d" % (event["instance"], event["seq"]), "delivery id %r", deliveries)
        m = parse_metrics(request(srv.admin_port, "GET", "/metrics").body)
        check(value(m, "lifeline_webhooks_delivered_total") == 1 and value(m, "lifeline_webhooks_retries_total") == 2,
              "webhook metrics")
    finally:
        rx.close()


def test_webhook_gives_up_and_the_queue_is_bounded(env):
    rx = Receiver(answers=["hang"] * 100)
    try:
        srv = env.server(extra=["--webhook", rx.url, "--webhook-secret-file", secret_file(env),
                                "--webhook-timeout", "1s", "--webhook-retries", "1",
                                "--webhook-retry-base", "10ms", "--hook-queue", "2"])
        # All six at once: their online events must arrive while the first delivery still
        # hangs (two attempts of 1 s), however slowly agents start (ASan).
        agents = [env.agent(srv, "q%d" % i) for i in range(6)]
        for a in agents:
            a.wait_state("online", 10)
        srv.wait_log(r"hooks: queue full \(2 events\), 1 events dropped so far", 10)
        srv.wait_log(r"webhook: [0-9a-f]{16}-1 for online id=q\d not delivered after 2 attempts: no answer within 1s",
                     10)
    finally:
        rx.close()


def test_bad_hook_configuration_is_refused(env):
    cases = [(["--webhook", "ftp://x"], "not an http"),
             (["--webhook", "http://127.0.0.1:1/x"], "webhook-secret-file"),
             (["--webhook", "http://127.0.0.1:1/x", "--webhook-secret-file", env.path("none")], "webhook secret file")]
    for args, expect in cases:
        p = env.run([harness.LIFELINE, "serve", "--listen", "127.0.0.1:0"] + args, 10)
        check(p.returncode == 2 and expect in p.stderr, "%r: %d %r", args, p.returncode, p.stderr)


if __name__ == "__main__":
    run([test_command_gets_the_event_in_its_environment_only,
         test_command_timeout_kills_it,
         test_webhook_is_signed_and_retried,
         test_webhook_gives_up_and_the_queue_is_bounded,
         test_bad_hook_configuration_is_refused])
