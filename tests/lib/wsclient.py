"""A WebSocket client written from RFC 6455 with the standard library only: the
independent second implementation the server's WebSocket transport is tested
against (tests/integration/test_websocket.py). It can also break every rule
on purpose: unmasked frames, bad opcodes, split or oversized control frames.

    ws = WsClient(port)            # upgrade, then
    ws.send_binary(frame(...))     # one lifeline frame per binary message
    op, payload = ws.recv()        # (opcode, bytes), or raises Closed
"""
import base64
import hashlib
import os
import socket
import ssl
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class Closed(Exception):
    """The server closed the connection: .code and .reason from its close frame, if any."""

    def __init__(self, code=None, reason=""):
        super().__init__("closed (code %s: %s)" % (code, reason))
        self.code, self.reason = code, reason


def upgrade_request(path="/lifeline", host="127.0.0.1", key=None, origin=None, version="13", extra=""):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % host, "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: %s" % key]
    if version is not None:
        lines.append("Sec-WebSocket-Version: %s" % version)
    if origin is not None:
        lines.append("Origin: %s" % origin)
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode(), key


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def encode_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """One client frame; `length` overrides the header's length field (to lie)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n <= 0xFFFF:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_http_response(sock, deadline):
    """The status code, headers (lower-case names) and body of one HTTP response."""
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    want = int(headers.get("content-length", "0"))
    while len(rest) < want:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest


class WsClient:
    def __init__(self, port, path="/lifeline", origin=None, host="127.0.0.1", timeout=5.0, tls_ca=None,
                 request=None):
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls_ca is not None:
            ctx = ssl.create_default_context(cafile=tls_ca)
            ctx.check_hostname = False
            sock = ctx.wrap_socket(sock)
        self.sock = sock
        self.buf = b""
        req, key = request if request is not None else upgrade_request(path, host, origin=origin)
        sock.sendall(req)
        deadline = time.monotonic() + timeout
        self.status, self.headers, rest = read_http_response(sock, deadline)
        self.body = rest if self.status != 101 else b""
        if self.status == 101:
            self.buf = rest
            if self.headers.get("sec-websocket-accept") != accept_for(key):
                raise AssertionError("wrong Sec-WebSocket-Accept: %r" % self.headers)

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, opcode, payload=b"", **kw):
        self.sock.sendall(encode_frame(opcode, payload, **kw))

    def send_binary(self, payload):
        self.send(BINARY, payload)

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                chunk = b""
            if not chunk:
                raise Closed()
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self, timeout=5.0):
        """The next whole frame from the server as (opcode, payload); a close frame raises Closed."""
        deadline = time.monotonic() + timeout
        b0, b1 = self._need(2, deadline)
        if b1 & 0x80:
            raise AssertionError("a server frame must not be masked")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._need(2, deadline))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._need(8, deadline))[0]
        payload = self._need(n, deadline)
        op = b0 & 0x0F
        if op == CLOSE:
            code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
            raise Closed(code, payload[2:].decode("utf-8", "replace"))
        return op, payload

    def recv_until_closed(self, timeout=5.0):
        """Every frame until the server's close frame or EOF: (frames, Closed)."""
        frames = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                frames.append(self.recv(max(0.01, deadline - time.monotonic())))
            except Closed as c:
                return frames, c

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
