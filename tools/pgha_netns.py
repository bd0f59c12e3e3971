"""Network namespaces for the --netns mode of tools/pgha_cluster.py: one Linux bridge on the host
and one namespace per node, joined to the bridge by a veth pair, plus nftables partitions made
inside a node's namespace.

Everything derives from a net id N (1..254): subnet 10.N.0.0/24, bridge "pghaN-br" with 10.N.0.1
(the host side: etcd and the proxy bind there), namespaces "pghaN-node1".., nodes 10.N.0.11, .12,
.13 on "eth0" inside their namespace, host ends of the veths "pghaN-n1".. on the bridge. Nothing is
routed off the machine: no default route in the namespaces, no ip_forward, no NAT. Two clusters
with different net ids coexist; every device is created and deleted by its exact name.

A partition is the table `inet pgha_partition` inside the node's namespace; its rules carry the
comment "pgha-partition:SCOPE" so that the kernel's ruleset is the only record of it.

Runs as root (ip, nft). Not thread-safe: one NetnsNetwork per thread of control.
"""

import ipaddress
import re
import shutil
import subprocess

PARTITION_TABLE = "pgha_partition"
PARTITION_SCOPES = ("all", "etcd")
COMMAND_TIMEOUT = 10  # seconds for one ip/nft command


class NetnsError(RuntimeError):
    """An ip or nft command failed, or the network is in use by another cluster."""


def run(cmd, check=True, timeout=COMMAND_TIMEOUT):
    """Runs cmd (argv list) to completion under a deadline; returns CompletedProcess (text). With
    check, a non-zero exit raises NetnsError carrying the command and its stderr."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise NetnsError(f"{cmd[0]} not found (tools/install-deps installs iproute2 and nftables)") from None
    except subprocess.TimeoutExpired:
        raise NetnsError(f"`{' '.join(cmd)}` did not finish within {timeout} s") from None
    if check and r.returncode != 0:
        raise NetnsError(f"`{' '.join(cmd)}` failed ({r.returncode}): {r.stderr.strip()}")
    return r


def listening_sockets(host):
    """Ports with a TCP socket in LISTEN bound exactly to IPv4 `host` in this (the host's) network
    namespace, from /proc/net/tcp; wildcard listeners are not counted."""
    want = "".join(f"{int(b):02X}" for b in reversed(host.split(".")))
    ports = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            addr, port = fields[1].split(":")
            if fields[3] == "0A" and addr == want:
                ports.add(int(port, 16))
    return ports


class NetnsNetwork:
    """The bridge, namespaces and veths of one net id, for the nodes `node_names` (in order: the
    first gets .11)."""

    def __init__(self, net_id, node_names):
        if not 1 <= int(net_id) <= 254:
            raise NetnsError(f"net id {net_id} out of range 1..254")
        self.net_id = int(net_id)
        self.node_names = list(node_names)
        self.prefix = f"pgha{self.net_id}"
        self.subnet = ipaddress.ip_network(f"10.{self.net_id}.0.0/24")
        self.bridge = f"{self.prefix}-br"
        self.bridge_ip = f"10.{self.net_id}.0.1"

    def __repr__(self):
        return f"<NetnsNetwork {self.subnet} bridge {self.bridge}>"

    # names and addresses
    def _index(self, node):
        try:
            return self.node_names.index(node) + 1
        except ValueError:
            raise NetnsError(f"unknown node {node!r} (one of {self.node_names})") from None

    def namespace(self, node):
        return f"{self.prefix}-{node}"

    def host_veth(self, node):
        return f"{self.prefix}-n{self._index(node)}"

    def node_ip(self, node):
        return f"10.{self.net_id}.0.{10 + self._index(node)}"

    def exec_prefix(self, node):
        """argv prefix that runs a command inside the node's namespace."""
        return ["ip", "netns", "exec", self.namespace(node)]

    # state of the host
    def existing_namespaces(self):
        out = run(["ip", "netns", "list"]).stdout.split("\n")
        present = {line.split()[0] for line in out if line.strip()}
        return [self.namespace(n) for n in self.node_names if self.namespace(n) in present]

    @staticmethod
    def link_exists(name):
        return run(["ip", "link", "show", "dev", name], check=False).returncode == 0

    def in_use(self):
        """Why this net id belongs to a running cluster (processes inside one of its namespaces,
        listeners on the bridge address), or None if whatever exists of it is stale."""
        for ns in self.existing_namespaces():
            pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
            if pids:
                return f"processes {', '.join(pids[:5])} run in namespace {ns}"
        ports = listening_sockets(self.bridge_ip)
        if ports:
            return f"something listens on {self.bridge_ip} (ports {sorted(ports)})"
        return None

    def _check_subnet_free(self):
        """Refuses a subnet that an interface not of ours already uses."""
        for line in run(["ip", "-o", "-4", "addr", "show"]).stdout.splitlines():
            fields = line.split()
            dev, addr = fields[1], fields[3]
            if dev != self.bridge and ipaddress.ip_interface(addr).network.overlaps(self.subnet):
                raise NetnsError(f"{self.subnet} overlaps {addr} on {dev}: choose another --net-id")

    # lifecycle
    def create(self):
        """Creates bridge, namespaces and veths. Stale devices of this net id (an aborted run) are
        removed first; a net id in use by a running cluster is refused."""
        busy = self.in_use()
        if busy:
            raise NetnsError(f"net id {self.net_id} is in use by a running cluster: {busy}; "
                             "stop it or choose another --net-id")
        self.destroy()
        self._check_subnet_free()
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        run(["ip", "addr", "add", f"{self.bridge_ip}/{self.subnet.prefixlen}", "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])
        for node in self.node_names:
            ns, host_end, peer = self.namespace(node), self.host_veth(node), self.host_veth(node) + "p"
            run(["ip", "netns", "add", ns])
            run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", peer])
            run(["ip", "link", "set", host_end, "master", self.bridge])
            run(["ip", "link", "set", host_end, "up"])
            run(["ip", "link", "set", peer, "netns", ns])
            run(["ip", "-n", ns, "link", "set", peer, "name", "eth0"])
            run(["ip", "-n", ns, "addr", "add", f"{self.node_ip(node)}/{self.subnet.prefixlen}", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def destroy(self):
        """Deletes this net id's namespaces, veths and bridge, each by its exact name, whichever
        exist (idempotent; works after a partial create). A namespace's veth end goes with it.
        Returns the names deleted."""
        deleted = []
        for ns in self.existing_namespaces():
            run(["ip", "netns", "del", ns])
            deleted.append(ns)
        for node in self.node_names:
            for link in (self.host_veth(node), self.host_veth(node) + "p"):
                if self.link_exists(link):
                    run(["ip", "link", "del", link])
                    deleted.append(link)
        if self.link_exists(self.bridge):
            run(["ip", "link", "del", self.bridge])
            deleted.append(self.bridge)
        return deleted

    # partitions
    @staticmethod
    def _require_nft():
        if shutil.which("nft") is None:
            raise NetnsError("nft not found (tools/install-deps installs nftables)")

    def partition(self, node, scope, etcd_ports):
        """Cuts `node` off: scope "all" drops every packet in and out of its namespace except on
        lo; "etcd" drops only its traffic to and from the bridge address on `etcd_ports` (client and
        peer). Replaces an earlier partition of the node atomically. Drop, not reject: established
        connections stall, as on a real network partition."""
        if scope not in PARTITION_SCOPES:
            raise NetnsError(f"unknown partition scope {scope!r} (one of {', '.join(PARTITION_SCOPES)})")
        self._require_nft()
        mark = f'comment "pgha-partition:{scope}"'
        if scope == "all":
            rule_in, rule_out = f'iifname "lo" accept\n    drop {mark}', f'oifname "lo" accept\n    drop {mark}'
        else:
            ports = ", ".join(str(p) for p in etcd_ports)
            rule_in = f"ip saddr {self.bridge_ip} tcp sport {{ {ports} }} drop {mark}"
            rule_out = f"ip daddr {self.bridge_ip} tcp dport {{ {ports} }} drop {mark}"
        script = (f"add table inet {PARTITION_TABLE}\n"
                  f"delete table inet {PARTITION_TABLE}\n"
                  f"table inet {PARTITION_TABLE} {{\n"
                  "  chain input {\n    type filter hook input priority -10; policy accept;\n"
                  f"    {rule_in}\n  }}\n"
                  "  chain output {\n    type filter hook output priority -10; policy accept;\n"
                  f"    {rule_out}\n  }}\n}}\n")
        try:
            r = subprocess.run(self.exec_prefix(node) + ["nft", "-f", "-"], input=script, text=True,
                               capture_output=True, timeout=COMMAND_TIMEOUT)
        except FileNotFoundError:
            raise NetnsError("ip not found (tools/install-deps installs iproute2)") from None
        except subprocess.TimeoutExpired:
            raise NetnsError(f"{node}: nft did not finish within {COMMAND_TIMEOUT} s") from None
        if r.returncode != 0:
            raise NetnsError(f"{node}: nft failed ({r.returncode}): {r.stderr.strip()}")

    def heal(self, node):
        """Removes the node's partition, if any. Returns True if there was one."""
        if self.partition_scope(node) is None:
            return False
        run(self.exec_prefix(node) + ["nft", "delete", "table", "inet", PARTITION_TABLE])
        return True

    def partition_scope(self, node):
        """"all", "etcd" or None, as the node's namespace's ruleset says."""
        self._require_nft()
        r = run(self.exec_prefix(node) + ["nft", "list", "table", "inet", PARTITION_TABLE], check=False)
        if r.returncode != 0:
            if "No such file" in r.stderr or "does not exist" in r.stderr:
                return None
            raise NetnsError(f"{node}: nft list failed ({r.returncode}): {r.stderr.strip()}")
        m = re.search(r"pgha-partition:(\w+)", r.stdout)
        return m.group(1) if m else None
