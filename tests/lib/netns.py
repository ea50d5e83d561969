"""Two network namespaces joined by a veth pair, for fault tests that need the kernel's
own TCP (retransmission, backoff) under iptables-made packet loss. Python stdlib only.

    pair = NetnsPair("lllos")              # namespaces lllos-s-<pid> and lllos-c-<pid>
    pair.setup()                           # RuntimeError: not permitted here (-> skip, 77)
    pair.run_in(pair.client, ["ip", "addr"])
    pair.filter(pair.client, ["-A INPUT -s %s/32 -j DROP" % pair.server_ip])   # atomic
    pair.filter(pair.client, [])           # heal: no rules
    pair.cleanup()                         # idempotent; also registered with atexit

Addresses 10.<net>.<pid % 256>.1 (server side) and .2 (client side), /30, exist only
inside the namespaces: nothing is added to the host's namespace or its firewall. The
rules live in the namespaces' own tables and vanish with them. Namespaces left behind by
an earlier run that was SIGKILLed (its pid no longer exists) are deleted by setup().
Processes are not this module's business: kill what runs inside before cleanup() (a
namespace with processes in it lives on after `ip netns del` until they exit).
"""
import atexit
import os
import re
import shutil
import subprocess


def sh(argv, check=True, timeout=10, input=None):
    """Run a short command; returns CompletedProcess. Raises RuntimeError on failure if check."""
    try:
        cp = subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        if check:
            raise RuntimeError("%s: %s" % (" ".join(argv), e))
        return subprocess.CompletedProcess(argv, 255, "", str(e))
    if check and cp.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), cp.returncode, (cp.stderr or cp.stdout).strip()))
    return cp


class NetnsPair:
    def __init__(self, prefix, net=214):
        pid = os.getpid()
        self.prefix = prefix
        self.server, self.client = "%s-s-%d" % (prefix, pid), "%s-c-%d" % (prefix, pid)
        # Interface names: at most 15 characters; they exist only inside the namespaces.
        self.server_if, self.client_if = "%ss%d" % (prefix[:4], pid), "%sc%d" % (prefix[:4], pid)
        base = "10.%d.%d" % (net, pid % 256)
        self.server_ip, self.client_ip = base + ".1", base + ".2"
        self.made = []
        atexit.register(self.cleanup)

    @staticmethod
    def in_ns(ns, argv):
        return ["ip", "netns", "exec", ns] + list(argv)

    def run_in(self, ns, argv, check=True, timeout=10, input=None):
        return sh(self.in_ns(ns, argv), check=check, timeout=timeout, input=input)

    def reap_stale(self):
        """Namespaces of this prefix whose creating process is gone (a SIGKILLed run)."""
        cp = sh(["ip", "netns", "list"], check=False)
        rx = re.compile(r"^%s-[sc]-(\d+)\b" % re.escape(self.prefix))
        for line in cp.stdout.splitlines():
            m = rx.match(line.strip())
            if m and int(m.group(1)) != os.getpid() and not os.path.exists("/proc/%s" % m.group(1)):
                sh(["ip", "netns", "del", line.split()[0]], check=False)

    def setup(self):
        """Namespaces, veth, addresses, loopback up, and a probe that the statistic match
        works in the client namespace. RuntimeError when any of it is not permitted."""
        for tool in ("ip", "iptables", "iptables-restore"):
            if shutil.which(tool) is None:
                raise RuntimeError("the `%s` command is not installed (apt-get install -y iproute2 iptables)" % tool)
        self.reap_stale()
        for ns in (self.server, self.client):
            sh(["ip", "netns", "add", ns])
            self.made.append(ns)
        # Created directly inside the namespaces: nothing appears in the host's namespace.
        cp = sh(["ip", "link", "add", self.server_if, "netns", self.server, "type", "veth", "peer", "name",
                 self.client_if, "netns", self.client], check=False)
        if cp.returncode != 0:  # older iproute2: create on the host, then move both ends
            sh(["ip", "link", "add", self.server_if, "type", "veth", "peer", "name", self.client_if])
            sh(["ip", "link", "set", self.server_if, "netns", self.server])
            sh(["ip", "link", "set", self.client_if, "netns", self.client])
        for ns, ifname, ip in ((self.server, self.server_if, self.server_ip),
                               (self.client, self.client_if, self.client_ip)):
            self.run_in(ns, ["ip", "addr", "add", ip + "/30", "dev", ifname])
            self.run_in(ns, ["ip", "link", "set", ifname, "up"])
            self.run_in(ns, ["ip", "link", "set", "lo", "up"])
        # The statistic match is a kernel module (xt_statistic): probe it, then remove the probe.
        self.filter(self.client, ["-A INPUT -s 192.0.2.1/32 -m statistic --mode random --probability 0.5 -j DROP"])
        self.filter(self.client, [])
        if "192.0.2.1" in self.rules(self.client):
            raise RuntimeError("iptables rules in %s cannot be removed" % self.client)

    def filter(self, ns, rules):
        """Replace the whole filter table of `ns` with `rules` (iptables-save lines such as
        "-A INPUT ... -j DROP") in one atomic iptables-restore."""
        text = "\n".join(["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"] +
                         list(rules) + ["COMMIT", ""])
        self.run_in(ns, ["iptables-restore"], input=text)

    def rules(self, ns):
        return self.run_in(ns, ["iptables", "-S"]).stdout

    def counters(self, ns, chain):
        """[(packets, rule text)] of `chain` in `ns`, in order (exact counts)."""
        out = self.run_in(ns, ["iptables", "-L", chain, "-n", "-v", "-x"]).stdout.splitlines()
        rows = []
        for line in out[2:]:
            fields = line.split()
            if fields and fields[0].isdigit():
                rows.append((int(fields[0]), " ".join(fields[2:])))
        return rows

    def cleanup(self):
        """Deletes the namespaces (and with them the veth pair and the rules). Idempotent."""
        while self.made:
            sh(["ip", "netns", "del", self.made.pop()], check=False)
