"""Talking to lifeline's admin HTTP API from tests (Python stdlib only): one request
(`request`), a Server-Sent Events reader (`EventStream`), and a Prometheus text parser
(`parse_metrics`) that also checks the exposition format."""
import http.client
import json
import re
import socket
import ssl
import threading

from harness import Failure, check, wait_until


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise Failure("not JSON (status %d): %r" % (self.status, self.body[:300]))

    def error_code(self):
        """The code of a {"error": {"code", "message"}} body, checked for shape."""
        err = self.json.get("error")
        check(isinstance(err, dict) and isinstance(err.get("code"), str) and
              isinstance(err.get("message"), str) and err["message"], "not an error body: %r", self.body)
        return err["code"]

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:200])


def _connection(port, timeout, tls_ca):
    if tls_ca:
        ctx = ssl.create_default_context(cafile=tls_ca)
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def request(port, method, path, token=None, body=None, headers=None, timeout=5.0, tls_ca=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    conn = _connection(port, timeout, tls_ca)
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode("utf-8", "replace"))
    finally:
        conn.close()


class EventStream:
    """GET /v1/events read on a thread of its own: `messages` holds every message as
    {"id", "event", "data" (parsed JSON)} and comments as {"comment": text}."""

    def __init__(self, port, path="/v1/events", token=None, last_event_id=None, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1", "Accept: text/event-stream"]
        if token:
            lines.append("Authorization: Bearer " + token)
        if last_event_id:
            lines.append("Last-Event-ID: " + last_event_id)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.messages, self.closed, self.status, self.head = [], False, None, ""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        wait_until(lambda: self.status is not None or self.closed, timeout, "the event stream's response head")

    def _read(self):
        buf = b""
        self.sock.settimeout(None)
        try:
            while b"\r\n\r\n" not in buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            self.head = head.decode()
            self.status = int(self.head.split()[1])
            while True:
                while b"\n\n" in buf:
                    block, buf = buf.split(b"\n\n", 1)
                    self._add(block.decode())
                chunk = self.sock.recv(4096)
                if not chunk:
                    return
                buf += chunk
        except OSError:
            return
        finally:
            self.closed = True

    def _add(self, block):
        msg = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                msg["comment"] = line[1:].strip()
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                msg["data"] = json.loads(value)
            elif field in ("id", "event", "retry"):
                msg[field] = value
            else:
                raise Failure("unexpected SSE line %r" % line)
        with self._lock:
            self.messages.append(msg)

    def snapshot(self):
        with self._lock:
            return list(self.messages)

    def events(self, kind=None):
        return [m for m in self.snapshot() if "event" in m and (kind is None or m["event"] == kind)]

    def wait_for(self, pred, timeout, what="an event"):
        def find():
            for m in self.snapshot():
                if pred(m):
                    return m
            return None
        return wait_until(find, timeout, what)

    def wait_closed(self, timeout):
        wait_until(lambda: self.closed, timeout, "the event stream to close")

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_]+="[^"]*"(,[a-zA-Z_]+="[^"]*")*)?\})? (\S+)$')


def parse_metrics(text):
    """Prometheus text format -> {name: {frozenset(labels.items()): value}}; checks that every
    sample has HELP and TYPE before it and that histogram buckets are cumulative and end in +Inf
    equal to _count."""
    out, types = {}, {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            check(kind in ("counter", "gauge", "histogram"), "bad TYPE line %r", line)
            types[name] = kind
            continue
        m = _SAMPLE.match(line)
        check(m is not None, "not a Prometheus sample line: %r", line)
        name, labels = m.group(1), {}
        if m.group(3):
            for pair in re.findall(r'([a-zA-Z_]+)="([^"]*)"', m.group(3)):
                labels[pair[0]] = pair[1]
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        check(name in types or base in types, "sample %s without a TYPE line", name)
        out.setdefault(name, {})[frozenset(labels.items())] = float(m.group(5))
    for name, kind in types.items():
        if kind != "histogram":
            continue
        buckets = sorted(((float(dict(k)["le"]), v) for k, v in out[name + "_bucket"].items()))
        counts = [v for _, v in buckets]
        check(counts == sorted(counts), "%s buckets are not cumulative: %r", name, buckets)
        check(buckets[-1][0] == float("inf") and buckets[-1][1] == out[name + "_count"][frozenset()],
              "%s: +Inf bucket is not _count", name)
    return out


def value(metrics, name, **labels):
    series = metrics.get(name)
    check(series is not None, "no series %s", name)
    key = frozenset(labels.items())
    check(key in series, "no %s%r (have %r)", name, labels, list(series))
    return series[key]


def wait_metric(port, name, pred, timeout, token=None, **labels):
    """Polls /metrics until pred(value) holds; returns the value."""
    last = [None]

    def ok():
        m = parse_metrics(request(port, "GET", "/metrics", token=token).body)
        last[0] = value(m, name, **labels)
        return pred(last[0]) or None
    try:
        wait_until(ok, timeout, "%s%r" % (name, labels))
    except Failure:
        raise Failure("%s%r stayed at %r" % (name, labels, last[0]))
    return last[0]

