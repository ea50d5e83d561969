"""Test certificates and tokens, made at test time (openssl CLI, Python stdlib).

Pki(dir) writes a CA, a server certificate for 127.0.0.1/localhost and client
certificates on demand. make_token() builds a token the way docs/protocol.md
("Authentication") describes it, independently of the C++ code, so the tests
also check that the document is enough to write one."""
import base64
import hashlib
import hmac
import os
import subprocess


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=30)


class Pki:
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca, self.ca_key = self._self_signed("ca", "lifeline-test-ca")
        self.other_ca, self.other_ca_key = self._self_signed("other-ca", "someone-elses-ca")
        self.server_cert, self.server_key = self.issue("server", "lifeline-test-server",
                                                       san="IP:127.0.0.1,DNS:localhost")

    def path(self, name):
        return os.path.join(self.dir, name)

    def _self_signed(self, name, cn):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", name + ".key", "-out", name + ".pem", "-days", "2", "-subj", "/CN=" + cn, cwd=self.dir)
        return self.path(name + ".pem"), self.path(name + ".key")

    def issue(self, name, cn, san=None, ca="ca"):
        """A certificate for `cn` signed by the test CA (or ca="other-ca"); returns (cert, key)."""
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=self.dir)
        args = ["x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2"]
        if san:
            with open(self.path(name + ".ext"), "w") as f:
                f.write("subjectAltName=%s\n" % san)
            args += ["-extfile", name + ".ext"]
        _openssl(*args, cwd=self.dir)
        return self.path(name + ".pem"), self.path(name + ".key")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(secret, id, expires_unix, labels=None):
    """ll1.<base64url(claims)>.<base64url(HMAC-SHA256(secret, "ll1." + base64url(claims)))>"""
    claims = "%s\n%d" % (id, expires_unix) + "".join("\n%s=%s" % kv for kv in (labels or {}).items())
    signed = "ll1." + b64url(claims.encode())
    mac = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()
    return signed + "." + b64url(mac)


def new_secret():
    return os.urandom(32).hex()
