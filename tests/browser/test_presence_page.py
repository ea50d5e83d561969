#!/usr/bin/env python3
"""Browsers on lifeline: examples/web/presence.html and clients/js/lifeline.js in Debian's
headless Chromium (driven by playwright-core from npm, driver.mjs), against a real
`lifeline serve --ws-listen` and real TCP agents:

- the page comes online, `lifeline ls` lists it with transport ws, and it shows a TCP agent
  joining and leaving, live; closing the page is seen as `closed`;
- a page frozen with DevTools (Emulation.setScriptExecutionDisabled) is declared offline
  with reason `timeout` within the bound, and comes back by itself once thawed;
- after a server restart the page reconnects by itself and its list heals;
- over wss:// with a certificate from the test CA;
- several tabs with one id (--duplicates multi), beside a TCP session of the same id.

    python3 tests/browser/test_presence_page.py --lifeline PATH [--screenshot PNG] [-k NAME] [--keep]
"""
import base64
import functools
import http.server
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import harness  # noqa: E402
from harness import Failure, check, run, wait_until  # noqa: E402
from pki import Pki  # noqa: E402
from test_dashboard import CHROMIUM, ask_driver, close_driver, ensure_tools  # noqa: E402

SCREENSHOT = None  # --screenshot PNG: also write the picture the README shows
# The page answers the server's PINGs from its message handler; 1 s of silence is death.
BROWSER_SERVER = ["--interval", "200ms", "--timeout", "1s", "--min-interval", "50ms", "--min-timeout", "150ms",
                  "--tick", "10ms", "--handshake-timeout", "2s"]


class Browser:
    """driver.mjs: one command per line, one "ok JSON" or "fail ..." answer."""

    def __init__(self, env, flags=()):
        import json
        self.json = json
        self.proc = harness.spawn(["node", os.path.join(HERE, "driver.mjs"), CHROMIUM] + list(flags),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(env.path("chromium.log"), "ab"))
        self.ask(None, 60)

    def ask(self, line, timeout=15):
        return self.json.loads(ask_driver(self.proc, line, timeout))

    def wait(self, page, expr, ms=10000):
        return self.ask("wait %s %d %s" % (page, ms, expr), ms / 1000 + 5)

    def close(self):
        close_driver(self.proc)


class StaticSite:
    """The repository over HTTP on 127.0.0.1 (an ES module import needs http://, not file://)."""

    def __init__(self):
        handler = functools.partial(_QuietHandler, directory=ROOT)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.origin = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def page(self, ws_url, id, name=None):
        q = "server=%s&id=%s" % (ws_url, id) + ("&name=%s" % name if name else "")
        return "%s/examples/web/presence.html?%s" % (self.origin, q)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


ONLINE = "window.lifeline && window.lifeline.client.state === 'online'"


def row(id, attr="data-sessions"):
    return "document.querySelector('#rows tr[data-id=\"%s\"]')?.getAttribute('%s')" % (id, attr)


def no_row(id):
    return "!document.querySelector('#rows tr[data-id=\"%s\"]')" % id


def with_browser(env, flags=()):
    ensure_tools()
    site = StaticSite()
    browser = Browser(env, flags)
    env.socks.append(_Closer(lambda: (browser.close(), site.close())))
    return site, browser


class _Closer:
    def __init__(self, fn):
        self.fn = fn

    def close(self):
        self.fn()


def ws_url(srv, scheme="ws"):
    return "%s://127.0.0.1:%d/lifeline" % (scheme, srv.ws_port)


def test_page_is_listed_and_follows_presence_live(env):
    site, browser = with_browser(env)
    srv = env.server(args=BROWSER_SERVER, ws=["--ws-allowed-origin", site.origin])
    watch = env.watch(srv)
    browser.ask("open p1 " + site.page(ws_url(srv), "page-1"))
    browser.wait("p1", ONLINE)
    entry = next((c for c in env.ls(srv)["clients"] if c["id"] == "page-1"), None)
    check(entry is not None and entry["transport"] == "ws", "lifeline ls shows the page with transport ws: %r", entry)
    check(entry["labels"].get("page") == "presence", "the page's labels are listed: %r", entry)
    browser.wait("p1", row("page-1") + " === '1'")
    agent = env.agent(srv, "pump-2", labels={"room": "hall"})
    agent.wait_state("online", 5)
    transports = browser.wait("p1", row("pump-2", "data-transports"))
    check(transports == "tcp", "the TCP agent's row says tcp: %r", transports)
    # An event carries no labels: the page fills them in from a list.
    browser.wait("p1", "document.querySelector('#rows tr[data-id=\"pump-2\"]')?.textContent.includes('room=hall')")
    agent.kill()
    browser.wait("p1", no_row("pump-2"))
    browser.wait("p1", "document.querySelector('#activity li[data-kind=\"offline\"][data-id=\"pump-2\"]')")
    mark = watch.mark()
    browser.ask("close p1")
    ev = watch.wait_event("offline", "page-1", 5, start=mark)
    check(ev["reason"] in ("closed", "bye"), "a closed page is offline as closed or bye: %r", ev)
    check(not browser.ask("errors"), "no script errors in the page")


def test_frozen_page_times_out_and_comes_back(env):
    site, browser = with_browser(env)
    srv = env.server(args=BROWSER_SERVER, ws=["--ws-allowed-origin", site.origin])
    watch = env.watch(srv)
    browser.ask("open p1 " + site.page(ws_url(srv), "frozen-page"))
    browser.wait("p1", ONLINE)
    mark = watch.mark()
    browser.ask("freeze p1")
    frozen = time.monotonic()
    ev = watch.wait_event("offline", "frozen-page", 10, start=mark)
    took = time.monotonic() - frozen
    check(ev["reason"] == "timeout", "a frozen page goes offline as timeout: %r", ev)
    check(took < 1.0 + 0.01 + 1.0, "declared %.2fs after the freeze (timeout 1 s, tick 10 ms)", took)
    mark = watch.mark()
    browser.ask("thaw p1")
    watch.wait_event("online", "frozen-page", 15, start=mark)
    browser.wait("p1", ONLINE)


def test_page_reconnects_after_a_server_restart(env):
    site, browser = with_browser(env)
    srv = env.server(args=BROWSER_SERVER, ws=["--ws-allowed-origin", site.origin])
    env.agent(srv, "sensor-1").wait_state("online", 5)
    browser.ask("open p1 " + site.page(ws_url(srv), "page-r"))
    browser.wait("p1", ONLINE)
    browser.wait("p1", row("sensor-1") + " === '1'")
    browser.ask("eval p1 (window.dbg = [], window.lifeline.client.on('presence', (e) => dbg.push(e.kind + ' ' + e.id)), "
                "window.lifeline.client.on('list', (l) => dbg.push('list ' + l.clients.map((c) => c.id).join(','))), "
                "window.lifeline.client.on('state', (s) => dbg.push('state ' + s.state + ': ' + s.reason)), 1)")
    before = browser.ask("eval p1 window.lifeline.client.instance")
    srv.stop()
    browser.wait("p1", "window.lifeline.client.state !== 'online'")
    srv.start()  # the same ports
    browser.wait("p1", ONLINE + " && window.lifeline.client.instance !== '%s'" % before, 20000)
    browser.wait("p1", row("sensor-1") + " === '1' && " + row("page-r") + " === '1'", 20000)
    count = browser.ask("eval p1 document.getElementById('count').textContent")
    check(count == "2", "the healed list counts 2: %r (%r)", count,
          browser.ask("eval p1 document.getElementById('rows').innerText + ' | ' + "
                      "document.getElementById('activity').innerText + ' | ' + JSON.stringify(dbg)"))
    wait_until(lambda: any(c["id"] == "page-r" for c in env.ls(srv)["clients"]), 10, "page-r listed again")


def test_client_reconnects_at_once_when_the_page_is_back_online(env):
    """Backoff pinned to its longest draw (ten minutes): only the page's `online` event can
    bring the client back in time."""
    site, browser = with_browser(env)
    srv = env.server(args=BROWSER_SERVER, ws=["--ws-allowed-origin", site.origin])
    browser.ask("open p1 " + site.page(ws_url(srv), "page-x"))
    browser.wait("p1", ONLINE)
    browser.ask("eval p1 import('/clients/js/lifeline.js').then((m) => { window.slow = new m.LifelineClient("
                "'%s', { id: 'slow-1', backoffBaseMs: 600000, backoffCapMs: 600000, random: () => 0.999 }); })"
                % ws_url(srv))
    browser.wait("p1", "window.slow && window.slow.state === 'online'")
    srv.stop()
    browser.wait("p1", "window.slow.state === 'offline'")
    srv.start()
    harness.holds(lambda: browser.ask("eval p1 window.slow.state") == "offline", 1.0,
                  "the client waiting out its backoff", poll=0.1)
    browser.ask("eval p1 (window.dispatchEvent(new Event('online')), 1)")
    browser.wait("p1", "window.slow.state === 'online'", 5000)
    wait_until(lambda: any(c["id"] == "slow-1" for c in env.ls(srv)["clients"]), 5, "slow-1 listed")


def spki_hash(cert):
    """base64(SHA-256(SubjectPublicKeyInfo)): what --ignore-certificate-errors-spki-list pins."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"], check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, check=True,
                         capture_output=True).stdout
    import hashlib
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_page_over_wss_with_a_test_ca(env):
    pki = Pki(env.path("pki"))
    # The browser trusts the key of the certificate the test CA issued to the server, nothing else.
    site, browser = with_browser(env, ["--ignore-certificate-errors-spki-list=" + spki_hash(pki.server_cert)])
    srv = env.server(args=BROWSER_SERVER + ["--tls-cert", pki.server_cert, "--tls-key", pki.server_key],
                     ws=["--ws-allowed-origin", site.origin])
    browser.ask("open p1 " + site.page(ws_url(srv, "wss"), "secure-page"))
    browser.wait("p1", ONLINE)
    listed = env.ls(srv, extra=["--tls-ca", pki.ca])["clients"]
    entry = next((c for c in listed if c["id"] == "secure-page"), None)
    check(entry is not None and entry["transport"] == "wss", "listed with transport wss: %r", entry)
    env.agent(srv, "tls-agent", extra=["--tls-ca", pki.ca]).wait_state("online", 5)
    browser.wait("p1", row("tls-agent", "data-transports") + " === 'tls'")


def test_tabs_of_one_user_with_multi(env):
    site, browser = with_browser(env)
    srv = env.server(args=BROWSER_SERVER + ["--duplicates", "multi", "--max-sessions-per-id", "4"],
                     ws=["--ws-allowed-origin", site.origin])
    watch = env.watch(srv)
    env.agent(srv, "pump-2", labels={"room": "hall"}).wait_state("online", 5)
    env.agent(srv, "sensor-7", labels={"room": "lab"}).wait_state("online", 5)
    phone = env.agent(srv, "ann", labels={"device": "phone"})
    phone.wait_state("online", 5)
    browser.ask("open tab1 " + site.page(ws_url(srv), "ann", "Ann"))
    browser.wait("tab1", ONLINE)
    browser.ask("open tab2 " + site.page(ws_url(srv), "ann", "Ann"))
    browser.wait("tab2", ONLINE)
    browser.wait("tab1", row("ann") + " === '3'")
    sessions = [c for c in env.ls(srv)["clients"] if c["id"] == "ann"]
    check(sorted(c["transport"] for c in sessions) == ["tcp", "ws", "ws"], "ann's three sessions: %r", sessions)
    check(len({c["session"] for c in sessions}) == 3, "each with its own session number: %r", sessions)
    check(env.ls(srv)["online"] == 3, "online counts ids (ann, pump-2, sensor-7)")
    mark = watch.mark()
    browser.ask("close tab2")
    leave = watch.wait_event("leave", "ann", 5, start=mark)
    check(leave.get("transport") == "ws", "the closed tab leaves: %r", leave)
    browser.wait("tab1", row("ann") + " === '2'")
    phone.kill()
    watch.wait_event("leave", "ann", 5, start=mark + 1)
    browser.wait("tab1", row("ann") + " === '1'")
    check(not watch.events("offline", id="ann", start=mark), "ann never went offline while a tab was open")
    if SCREENSHOT:
        env.agent(srv, "door-3", labels={"room": "lab"}).wait_state("online", 5)
        browser.wait("tab1", "document.querySelector('#rows tr[data-id=\"door-3\"]')?.textContent.includes('room=lab')")
        browser.ask("screenshot tab1 " + os.path.abspath(SCREENSHOT))
    browser.ask("close tab1")
    off = watch.wait_event("offline", "ann", 5, start=mark)
    check(off["reason"] in ("closed", "bye"), "the last tab ends ann's presence: %r", off)


if __name__ == "__main__":
    if "--screenshot" in sys.argv:
        i = sys.argv.index("--screenshot")
        SCREENSHOT = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    run([test_page_is_listed_and_follows_presence_live, test_frozen_page_times_out_and_comes_back,
         test_page_reconnects_after_a_server_restart, test_client_reconnects_at_once_when_the_page_is_back_online,
         test_page_over_wss_with_a_test_ca,
         test_tabs_of_one_user_with_multi])
