"""Local HA cluster: 3 etcd members, 3 PostgreSQL 15 nodes under Patroni, one proxy; on loopback,
or (netns mode) with each node in its own network namespace so that partitions can be made.

Used by the `tools/pgha-cluster` CLI (demo) and by tests/integration (fault tests). Everything the
cluster owns lives in one directory (default /tmp/pgha-cluster): data, per-node Patroni configs,
logs, pid files and a timestamped event log. Processes are started in their own session so they
outlive the CLI, recorded as "PID STARTTIME" in DIR/pids/, and stopped by exactly those PIDs (the
start time guards against a recycled PID). Every wait has a deadline.

Layout (fixed ports, as in conf/haproxy.cfg):
  etcd1..3   client 127.0.0.1:2379/2479/2579, peer 2380/2480/2580
  node1..3   PostgreSQL 127.0.0.1:5434/5435/5436, Patroni REST 127.0.0.1:8008/8009/8010, scope "postgres"
  proxy      127.0.0.1:5432 (write), 127.0.0.1:5433 (read); pgha-proxy's admin API on 127.0.0.1:8404

Netns mode (`up --netns`, tools/pgha_netns.py) keeps the ports but moves the addresses: a bridge
10.N.0.1 on the host (N = net id, default 77) where etcd and the proxy bind (never 127.0.0.1 or a
wildcard, so it runs beside a loopback cluster), and node1..3 at 10.N.0.11..13, each agent and its
PostgreSQL inside the node's namespace. The proxy runs a copy of its config with the addresses
rewritten (DIR/proxy-netns.*). Node.host, Cluster.proxy_host and Cluster.etcd_host say where the
host side reaches each part in either mode; partition()/heal() cut a node off with nftables.

Runs as root (it starts PostgreSQL and Patroni as the `postgres` OS user with a clean environment).
Only the standard library and psycopg2 (imported lazily, for writes through the proxy) are used.
Not thread-safe: one Cluster object per thread of control.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import string
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from pgha_netns import PARTITION_SCOPES, NetnsError, NetnsNetwork, listening_sockets
from pgha_tls import ClusterPki, PkiError

REPO = Path(__file__).resolve().parent.parent
PG_BIN = "/usr/lib/postgresql/15/bin"
CLEAN_PATH = f"{PG_BIN}:/usr/bin:/bin"
DEFAULT_DIR = "/tmp/pgha-cluster"
PATRONI_TEMPLATE = REPO / "conf" / "patroni" / "patroni.yml.in"
DEFAULT_PROXY_CONFIG = REPO / "conf" / "haproxy.cfg"

# Patroni timing profiles. "classic" is the classic patroni.yml (Patroni's defaults) and is the default, so
# that what the launcher shows (and what pgha-proxy is compared against) is the setup the project
# promises to replace drop-in; its failover takes ~30-45 s. "fast" keeps Patroni's constraint
# loop_wait + 2*retry_timeout <= ttl and is for fault tests that need several failovers per run.
PROFILES = {
    "classic": {"ttl": 30, "loop_wait": 10, "retry_timeout": 10},
    "fast": {"ttl": 10, "loop_wait": 2, "retry_timeout": 4},
    # pgha-agent only (Patroni takes whole seconds): etcd leases are whole seconds, so ttl 4 with
    # loop_wait 1 leaves a decimal retry_timeout of 1.5 s (loop_wait + 2*retry_timeout = ttl). A
    # failover then takes ~ttl + 0.6 s, and 1.5 s of retries rides out an etcd leader election,
    # barely: the leader's keepalive gap reached 2.45 s of the 2.5 s allowed (docs/agent.md).
    "agent": {"ttl": 4, "loop_wait": 1, "retry_timeout": 1.5},
    # pgha-agent only, with a faster etcd election (ETCD_TIMING): a lost leader node is replaced in
    # ~3.5 s, and 1.25 s of retries (1.75 s since the last refresh) ride out an etcd Raft leader's
    # loss and the 1.3-1.6 s etcd fsync stalls seen here when PostgreSQL checkpoints on the same
    # disk (docs/agent.md has the figures).
    "quick": {"ttl": 3, "loop_wait": 0.5, "retry_timeout": 1.25},
    # pgha-agent only: ttl 2 is etcd's shortest lease at its default 1 s election timeout, so a lost
    # leader node is replaced in ~2.6 s; but 0.75 s of retries (1.25 s since the last refresh, the
    # watchdog at 1.5 s) do not ride out such a stall: with etcd on PostgreSQL's disk it failed over
    # a healthy leader here. Its etcd keeps its data in memory (ETCD_IN_MEMORY).
    "quickest": {"ttl": 2, "loop_wait": 0.5, "retry_timeout": 0.75},
}
# Profiles Patroni cannot run (a decimal loop_wait or retry_timeout).
AGENT_ONLY_PROFILES = ("agent", "quick", "quickest")
# etcd's --heartbeat-interval / --election-timeout (ms) for profiles that need a faster Raft
# election than etcd's 100 / 1000; the others run etcd with its defaults.
ETCD_TIMING = {"quick": (50, 500), "quickest": (50, 500)}
# Profiles whose etcd keeps its data in memory (/dev/shm), standing for the dedicated low-latency
# disk etcd asks for: on the disk PostgreSQL writes to, a checkpoint stalls etcd's fsync for up to
# ~1.6 s here, longer than quickest's retry budget.
ETCD_IN_MEMORY = ("quickest",)
DEFAULT_PROFILE = "classic"
MANAGERS = ("patroni", "pgha-agent")
PROXIES = ("pgha-proxy", "haproxy", "none")

ETCD_MEMBERS = [("etcd1", 2379, 2380), ("etcd2", 2479, 2480), ("etcd3", 2579, 2580)]
NODES = [("node1", 5434, 8008), ("node2", 5435, 8009), ("node3", 5436, 8010)]
WRITE_PORT = 5432
READ_PORT = 5433
PROXY_ADMIN_PORT = 8404

SUPERUSER = ("patroni_super", "patroni_super_pass")
REPLICATOR = ("patroni_replicator", "patroni_replicator_pass")
CHECK_USER = ("admin", "admin")
BENCH_USER = "pgha_bench"  # trust on 127.0.0.1 (and the netns subnet): cheap connections for probes
PROBE_TABLE = "pgha_probe"
LOOPBACK = "127.0.0.1"
DEFAULT_NET_ID = 77


class ClusterError(RuntimeError):
    """A step of the launcher failed; the message says which and where to look."""


def wait_for(predicate, timeout, what="condition", interval=0.1):
    """Polls predicate() until it returns a truthy value, which is returned. Raises TimeoutError
    naming `what` after `timeout` seconds. Exceptions from predicate count as "not yet"; the last
    one is reported on timeout."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - polling through transient failures is the point
            last_error = e
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def http_get(url, timeout=1.0, context=None, data=None):
    """GET url (POST `data` when given); returns (status, body text), or (None, error text) when
    nothing answered. `context`: the ssl.SSLContext of an https URL."""
    try:
        with urllib.request.urlopen(url, data=data, timeout=timeout, context=context) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (OSError, ValueError) as e:
        return None, str(e)


# ---- processes -------------------------------------------------------------------------------

def _proc_stat(pid):
    """(state, ppid, starttime) of pid from /proc, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def pid_alive(pid, starttime=None):
    """True if pid runs (a zombie counts as dead) and, when given, started at `starttime`."""
    st = _proc_stat(pid)
    if st is None or st[0] in ("Z", "X"):
        return False
    return starttime is None or st[2] == starttime


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def terminate(pids, timeout, sig=signal.SIGTERM, reap=None):
    """Sends `sig` to every live pid in `pids` (dict pid -> starttime or None), waits up to timeout
    for them to exit, then SIGKILLs the rest and waits again (bounded). Returns the pids that
    still run (should be empty). `reap` is called while waiting so our own children do not stay
    zombies."""
    live = {p: s for p, s in pids.items() if pid_alive(p, s)}
    for p in live:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass

    def gone():
        if reap:
            reap()
        return all(not pid_alive(p, s) for p, s in live.items())

    try:
        wait_for(gone, timeout, "processes to exit", interval=0.05)
        return []
    except TimeoutError:
        pass
    for p, s in live.items():
        if pid_alive(p, s):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        wait_for(gone, 10, "processes to exit after SIGKILL", interval=0.05)
    except TimeoutError:
        pass
    return [p for p, s in live.items() if pid_alive(p, s)]


def find_binary(name, env_var):
    """One of our executables: $env_var if set, else the release, dev or plain build; None if absent."""
    env = os.environ.get(env_var)
    if env:
        return Path(env)
    for build in ("release", "dev", ""):
        candidate = REPO / "build" / build / "bin" / name
        if candidate.exists():
            return candidate
    return None


def find_proxy_binary():
    return find_binary("pgha-proxy", "PGHA_PROXY_BIN")


def find_agent_binary():
    return find_binary("pgha-agent", "PGHA_AGENT_BIN")


def _absolute(path):
    return str(Path(path).absolute()) if path else None


def render_patroni_config(name, pg_port, rest_port, node_dir, profile, host=LOOPBACK,
                          etcd_host=LOOPBACK, subnet=None, synchronous=None, pki=None):
    """A node's patroni.yml. Loopback by default; in netns mode `host` is the node's address,
    `etcd_host` the bridge's and `subnet` (e.g. "10.77.0.0/24") gets the same pg_hba rules as
    127.0.0.1. `synchronous`: None (asynchronous replication), "on" (synchronous_mode),
    "strict" (synchronous_mode_strict too) or "quorum" (quorum commit, pgha-agent only). `pki`: a ClusterPki for TLS everywhere (REST API,
    etcd, the tools' `ctl` section) and etcd's password authentication; None for plain HTTP."""
    synchronous_dcs = "" if synchronous is None else "    synchronous_mode: {}\n".format(
        "quorum" if synchronous == "quorum" else "true") + (
        "    synchronous_mode_strict: true\n" if synchronous == "strict" else "")
    subnet_pg_hba = "".join(f"\n  - host {rule.format(subnet=subnet)}" for rule in (
        "replication patroni_replicator {subnet} md5", "all pgha_bench {subnet} trust",
        "all all {subnet} md5")) if subnet else ""
    values = dict(PROFILES[profile], name=name, pg_port=pg_port, rest_port=rest_port,
                  node_dir=node_dir, data_dir=f"{node_dir}/data", pgpass=f"{node_dir}/pgpass",
                  host=host, etcd_hosts=",".join(f"{etcd_host}:{c}" for _, c, _ in ETCD_MEMBERS),
                  subnet_pg_hba=subnet_pg_hba, synchronous_dcs=synchronous_dcs,
                  **(pki.patroni_settings(name) if pki else {"restapi_tls": "", "etcd3_tls": "", "ctl": ""}))
    header = (f"# {name} of tools/pgha-cluster, Patroni profile '{profile}': generated from "
              f"conf/patroni/{PATRONI_TEMPLATE.name}\n# by tools/pgha_cluster.py; edit the template, "
              "not this file.\n")
    return header + string.Template(PATRONI_TEMPLATE.read_text()).substitute(values)


# Replication modes of `up --synchronous`: None is asynchronous.
SYNCHRONOUS_MODES = (None, "on", "strict", "quorum")


# ---- nodes -----------------------------------------------------------------------------------

class Node:
    """One PostgreSQL + Patroni node of a Cluster. `host` is where the host side reaches its
    PostgreSQL and REST API: 127.0.0.1, or the node's address in netns mode."""

    def __init__(self, cluster, name, pg_port, rest_port, host=LOOPBACK):
        self.cluster = cluster
        self.name = name
        self.pg_port = pg_port
        self.rest_port = rest_port
        self.host = host
        self.dir = cluster.dir / name
        self.data_dir = self.dir / "data"
        self.config_path = cluster.dir / f"{name}.yml"
        self.log_path = cluster.log_dir / f"{name}-patroni.log"

    def __repr__(self):
        return f"<Node {self.name} {self.host} pg:{self.pg_port} rest:{self.rest_port}>"

    @property
    def namespace(self):
        """The node's network namespace in netns mode, else None."""
        net = self.cluster.net
        return net.namespace(self.name) if net else None

    def command_in_node(self, cmd):
        """argv `cmd` prefixed to run in the node's network namespace (unchanged on loopback)."""
        net = self.cluster.net
        return (net.exec_prefix(self.name) if net else []) + list(cmd)

    # REST
    @property
    def rest_url(self):
        return f"{self.cluster.scheme}://{self.host}:{self.rest_port}"

    def rest(self, path, timeout=1.0):
        return http_get(f"{self.rest_url}{path}", timeout, self.cluster.tls_context)

    def rest_json(self, path, timeout=1.0):
        status, body = self.rest(path, timeout)
        if status is None:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return None

    def is_primary(self):
        return self.rest("/primary")[0] == 200

    def is_replica(self):
        return self.rest("/replica")[0] == 200

    # processes
    @property
    def patroni_pid(self):
        return self.cluster._read_pid(f"{self.name}-patroni")

    def patroni_running(self):
        rec = self.cluster._read_pid_record(f"{self.name}-patroni")
        return rec is not None and pid_alive(*rec)

    def postmaster_pid(self):
        """PID of this node's postmaster from DATA/postmaster.pid, if that process runs."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        if not pid_alive(pid):
            return None
        try:  # a recycled pid would not run in our data dir
            if os.readlink(f"/proc/{pid}/cwd") != str(self.data_dir):
                return None
        except OSError:
            return None
        return pid

    @property
    def manager(self):
        """"patroni" or "pgha-agent": what manages this node (they differ while a cluster is
        migrated node by node, see Cluster.replace_manager())."""
        return self.cluster.node_managers[self.name]

    def start_patroni(self):
        """Starts this node's Patroni (or pgha-agent) as `postgres` with a clean environment, in
        the node's network namespace in netns mode."""
        if self.patroni_running():
            raise ClusterError(f"{self.name}: Patroni already runs (pid {self.patroni_pid})")
        # pgha-agent reads the very same patroni.yml; both run as `postgres`, clean environment.
        if self.manager == "pgha-agent":
            manager_cmd = [str(self.cluster.agent_binary()), str(self.config_path)]
        else:
            manager_cmd = ["/usr/bin/python3", "/usr/bin/patroni", str(self.config_path)]
        # `ip netns exec` execs its command (no fork), so runuser stays the spawned pid.
        cmd = self.command_in_node(["runuser", "-u", "postgres", "--", "env", "-i",
                                    f"PATH={CLEAN_PATH}"] + manager_cmd)
        wrapper = self.cluster._spawn(f"{self.name}-runuser", cmd, self.log_path, cwd=self.dir)
        # runuser forks; the Patroni process we kill in fault tests is its child.
        patroni = wait_for(lambda: children_of(wrapper.pid)[:1], 10,
                           f"{self.name}: Patroni process under runuser", interval=0.02)[0]
        self.cluster._write_pid(f"{self.name}-patroni", patroni)
        self.cluster.event(f"{self.name}: {self.manager} started, pid {patroni}")
        return patroni

    @property
    def agent_pid(self):
        """PID of this node's manager process (pgha-agent or Patroni: the same pid record)."""
        return self.patroni_pid

    def signal_agent(self, sig):
        """Sends `sig` to this node's manager process (by its recorded PID); returns the pid."""
        rec = self.cluster._read_pid_record(f"{self.name}-patroni")
        if rec is None or not pid_alive(*rec):
            raise ClusterError(f"{self.name}: the agent is not running")
        os.kill(rec[0], sig)
        self.cluster.event(f"{self.name}: sent {signal.Signals(sig).name} to the agent pid {rec[0]}")
        return rec[0]

    def sigstop(self):
        """Freezes the agent (SIGSTOP); PostgreSQL keeps running. Undo with sigcont()."""
        return self.signal_agent(signal.SIGSTOP)

    def sigcont(self):
        """Undoes sigstop(). runuser stops itself when its child stops (as su does) and only a
        SIGCONT to it resumes it, so the wrapper gets one too: a wrapper left stopped would never
        reap the agent when it later exits."""
        pid = self.signal_agent(signal.SIGCONT)
        rec = self.cluster._read_pid_record(f"{self.name}-runuser")
        if rec is not None and pid_alive(*rec):
            os.kill(rec[0], signal.SIGCONT)
        return pid

    def agent_stopped(self):
        """True while the agent is frozen by SIGSTOP (state T in /proc)."""
        rec = self.cluster._read_pid_record(f"{self.name}-patroni")
        st = _proc_stat(rec[0]) if rec else None
        return st is not None and st[0] in ("T", "t") and st[2] == rec[1]

    def kill_patroni(self, sig=signal.SIGKILL):
        pid = self.patroni_pid
        if pid is None or not self.patroni_running():
            raise ClusterError(f"{self.name}: Patroni is not running")
        os.kill(pid, sig)
        self.cluster.event(f"{self.name}: sent {signal.Signals(sig).name} to Patroni pid {pid}")
        return pid

    def kill_postmaster(self, sig=signal.SIGKILL):
        pid = self.postmaster_pid()
        if pid is None:
            raise ClusterError(f"{self.name}: no running postmaster in {self.data_dir}")
        os.kill(pid, sig)
        self.cluster.event(f"{self.name}: sent {signal.Signals(sig).name} to postmaster pid {pid}")
        return pid

    def kill_agent(self):
        """SIGKILLs the agent process only (pgha-agent or Patroni); PostgreSQL, the runuser wrapper
        and pgha-agent's fence watchdog are left to react. Returns [pid]."""
        return [self.kill_patroni(signal.SIGKILL)]

    def processes(self):
        """{pid: (label, starttime)} of every running process of this node: the runuser wrapper,
        the agent and all its descendants (pgha-agent's fence watchdog, commands it runs), the
        postmaster and all its descendants."""
        found = {}

        def add(pid, label, starttime=None):
            st = _proc_stat(pid)
            if st is None or st[0] in ("Z", "X") or (starttime is not None and st[2] != starttime):
                return False
            if pid not in found:
                try:
                    comm = Path(f"/proc/{pid}/comm").read_text().strip()
                except OSError:
                    comm = "?"
                found[pid] = (f"{label} ({comm})", st[2])
            return True

        def add_tree(pid, label):
            for child in children_of(pid):
                if add(child, label):
                    add_tree(child, label)
        for kind in ("patroni", "runuser"):  # the agent first, so its children are labelled as such
            rec = self.cluster._read_pid_record(f"{self.name}-{kind}")
            if rec and add(rec[0], "agent" if kind == "patroni" else kind, rec[1]):
                add_tree(rec[0], "agent child" if kind == "patroni" else "agent")
        pm = self.postmaster_pid()
        if pm is not None and add(pm, "postmaster"):
            add_tree(pm, "postgres")
        return found

    def kill_all(self, timeout=10):
        """A node loss: SIGSTOPs every process of this node (see processes()) so none reacts to
        another's death, then SIGKILLs them all and waits until they are gone. Returns the killed
        pids; each is logged in the event log."""
        frozen = {}
        for _ in range(20):  # a process forked before its parent froze is caught on the next pass
            new = {p: v for p, v in self.processes().items() if p not in frozen}
            if not new:
                break
            for pid, (label, start) in new.items():
                try:
                    os.kill(pid, signal.SIGSTOP)
                    frozen[pid] = (label, start)
                except ProcessLookupError:
                    pass
        if not frozen:
            raise ClusterError(f"{self.name}: no process of this node runs")
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid, (label, _) in sorted(frozen.items()):
            self.cluster.event(f"{self.name}: SIGKILL to {label} pid {pid} (node loss)")
        left = terminate({p: s for p, (_, s) in frozen.items()}, timeout, sig=signal.SIGKILL,
                         reap=self.cluster.reap)
        if left:
            raise ClusterError(f"{self.name}: pids {left} survived SIGKILL")
        return sorted(frozen)

    def run_in_node(self, cmd, timeout=10):
        """Runs argv `cmd` to completion in the node's network namespace (as is on loopback) under
        a deadline; returns the CompletedProcess (text)."""
        return subprocess.run(self.command_in_node(cmd), capture_output=True, text=True, timeout=timeout)

    def local_pg_state(self, timeout=5):
        """"primary", "replica" or "down": this node's PostgreSQL as seen from inside its own
        namespace (so it works while the node is partitioned), through psql on its own address."""
        cmd = ["env", f"PGPASSWORD={SUPERUSER[1]}", "PGCONNECT_TIMEOUT=3", f"{PG_BIN}/psql", "-X", "-At",
               "-h", self.host, "-p", str(self.pg_port), "-U", SUPERUSER[0], "-d", "postgres",
               "-c", "select pg_is_in_recovery()"]
        try:
            r = self.run_in_node(cmd, timeout)
        except subprocess.TimeoutExpired:
            return "down"
        out = r.stdout.strip()
        if r.returncode != 0 or out not in ("t", "f"):
            return "down"
        return "replica" if out == "t" else "primary"

    def stop(self, timeout=30):
        """Stops Patroni (which stops PostgreSQL), then any postmaster left behind (fast shutdown)."""
        # Patroni first: runuser answers SIGTERM by killing its child with SIGKILL after 2 s.
        self.cluster.terminate_recorded([f"{self.name}-patroni"], timeout)
        self.cluster.terminate_recorded([f"{self.name}-runuser"], timeout)
        pm = self.postmaster_pid()
        if pm is not None:
            backends = {c: st[2] for c in children_of(pm) if (st := _proc_stat(c))}
            terminate({pm: None}, timeout, sig=signal.SIGINT)
            terminate(backends, 5)

    def connect(self, user=SUPERUSER, dbname="postgres", **kw):
        """A direct psycopg2 connection to this node's PostgreSQL."""
        import psycopg2
        return psycopg2.connect(host=self.host, port=self.pg_port, user=user[0], password=user[1],
                                dbname=dbname, connect_timeout=3, **kw)


# ---- the cluster -----------------------------------------------------------------------------

class Cluster:
    """The whole local cluster. Construct it, then up(); or Cluster.attach(DIR) to a running one.
    `netns` puts every node in its own network namespace on a bridge of subnet 10.`net_id`.0.0/24;
    `agent_bin`/`proxy_bin` default to find_agent_binary()/find_proxy_binary() at up(), which
    records them in DIR/cluster.json for every later command."""

    def __init__(self, dir=DEFAULT_DIR, manager="patroni", proxy="pgha-proxy", proxy_config=None,
                 profile=DEFAULT_PROFILE, netns=False, net_id=DEFAULT_NET_ID, agent_bin=None,
                 proxy_bin=None, synchronous=None, tls=False, node_managers=None):
        if manager not in MANAGERS:
            raise ClusterError(f"unknown manager {manager!r} (choose from {', '.join(MANAGERS)})")
        for name, node_manager in (node_managers or {}).items():
            if node_manager not in MANAGERS:
                raise ClusterError(f"{name}: unknown manager {node_manager!r} (choose from {', '.join(MANAGERS)})")
        if proxy not in PROXIES:
            raise ClusterError(f"unknown proxy {proxy!r} (choose from {', '.join(PROXIES)})")
        if profile not in PROFILES:
            raise ClusterError(f"unknown Patroni profile {profile!r} (choose from {', '.join(PROFILES)})")
        if synchronous not in SYNCHRONOUS_MODES:
            raise ClusterError(f"unknown synchronous mode {synchronous!r} (choose from on, strict, quorum)")
        if synchronous == "quorum" and manager != "pgha-agent":
            raise ClusterError("quorum commit needs --manager pgha-agent (Patroni 3.0 has no quorum mode)")
        self.synchronous = synchronous
        self.dir = Path(dir).resolve()
        # TLS everywhere (etcd with client certificates and passwords, REST APIs, HTTP checks).
        self.pki = ClusterPki(self.dir / "tls") if tls else None
        self._tls_context = None
        self.manager = manager
        self.proxy = proxy
        self.proxy_config = Path(proxy_config or DEFAULT_PROXY_CONFIG).resolve()
        self.profile = profile
        self.log_dir = self.dir / "logs"
        self.pid_dir = self.dir / "pids"
        try:
            self.net = NetnsNetwork(net_id, [n for n, _, _ in NODES]) if netns else None
        except NetnsError as e:
            raise ClusterError(str(e)) from None
        self.proxy_host = self.net.bridge_ip if self.net else LOOPBACK  # proxy listeners, admin API
        self.etcd_host = self.net.bridge_ip if self.net else LOOPBACK  # etcd client and peer URLs
        self.nodes = {n: Node(self, n, pg, rest, self.net.node_ip(n) if self.net else LOOPBACK)
                      for n, pg, rest in NODES}
        # Each node's manager: `manager` for all, until replace_manager() migrates one.
        self.node_managers = {n: (node_managers or {}).get(n, manager) for n in self.nodes}
        self._agent_bin = _absolute(agent_bin)
        self._proxy_bin = _absolute(proxy_bin)
        self.owns_dir = False  # set by up() once DIR/cluster.json is its own
        self._children = {}  # pid -> Popen, only in the process that started them

    @property
    def netns(self):
        return self.net is not None

    @property
    def tls(self):
        return self.pki is not None

    @property
    def scheme(self):
        """Of the REST APIs' and etcd's URLs."""
        return "https" if self.pki else "http"

    @property
    def tls_context(self):
        """The launcher's ssl.SSLContext for REST APIs and etcd with --tls (the cluster's CA and
        its client certificate), else None."""
        if self.pki and self._tls_context is None:
            self._tls_context = self.pki.client_context()
        return self._tls_context

    def etcd_endpoints(self):
        return [f"{self.scheme}://{self.etcd_host}:{client}" for _, client, _ in ETCD_MEMBERS]

    @property
    def net_id(self):
        return self.net.net_id if self.net else None

    def agent_binary(self):
        """The pgha-agent this cluster runs (Path): the one recorded by up(), else what
        find_agent_binary() finds (state files written before binaries were recorded)."""
        return Path(self._agent_bin) if self._agent_bin else find_agent_binary()

    def proxy_binary(self):
        """The pgha-proxy this cluster runs (Path), as agent_binary()."""
        return Path(self._proxy_bin) if self._proxy_bin else find_proxy_binary()

    # persistence, so that `down`/`status` from another process find what `up` started
    @classmethod
    def attach(cls, dir=DEFAULT_DIR):
        state_file = Path(dir) / "cluster.json"
        try:
            state = json.loads(state_file.read_text())
        except OSError:
            raise ClusterError(f"no cluster in {dir} (missing {state_file})") from None
        return cls(dir, state["manager"], state["proxy"], state["proxy_config"], state["profile"],
                   netns=state.get("netns", False), net_id=state.get("net_id", DEFAULT_NET_ID),
                   agent_bin=state.get("agent_bin"), proxy_bin=state.get("proxy_bin"),
                   synchronous=state.get("synchronous"), tls=state.get("tls", False),
                   node_managers=state.get("node_managers"))

    def _save_state(self):
        (self.dir / "cluster.json").write_text(json.dumps({
            "manager": self.manager, "proxy": self.proxy, "proxy_config": str(self.proxy_config),
            "profile": self.profile, "netns": self.netns, "net_id": self.net_id,
            "agent_bin": self._agent_bin, "proxy_bin": self._proxy_bin,
            "synchronous": self.synchronous, "tls": self.tls, "node_managers": self.node_managers},
            indent=2) + "\n")

    def event(self, message):
        """Appends a timestamped line to DIR/events.log (wall clock, ms)."""
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
        try:
            with open(self.dir / "events.log", "a") as f:
                f.write(f"{stamp} {message}\n")
        except OSError:
            pass

    def node(self, name):
        return self.nodes[name]

    def _known_node(self, name):
        if name not in self.nodes:
            raise ClusterError(f"unknown node {name!r} (one of {', '.join(self.nodes)})")
        return self.nodes[name]

    # pid files
    def _write_pid(self, label, pid):
        st = _proc_stat(pid)
        (self.pid_dir / f"{label}.pid").write_text(f"{pid} {st[2] if st else 0}\n")

    def _read_pid_record(self, label):
        try:
            pid, start = (self.pid_dir / f"{label}.pid").read_text().split()
            return int(pid), int(start)
        except (OSError, ValueError):
            return None

    def _read_pid(self, label):
        rec = self._read_pid_record(label)
        return rec[0] if rec else None

    def reap(self):
        """Collects exit statuses of our own children, so killed ones do not linger as zombies."""
        for pid, p in list(self._children.items()):
            if p.poll() is not None:
                del self._children[pid]

    def terminate_recorded(self, labels, timeout=30):
        """SIGTERM, then SIGKILL after `timeout`, the recorded processes `labels`; forgets them."""
        records = {}
        for label in labels:
            rec = self._read_pid_record(label)
            if rec:
                records[rec[0]] = rec[1]
        left = terminate(records, timeout, reap=self.reap)
        if left:
            raise ClusterError(f"could not stop pids {left}")
        for label in labels:
            (self.pid_dir / f"{label}.pid").unlink(missing_ok=True)

    def _spawn(self, label, cmd, log_path, cwd):
        log = open(log_path, "ab")
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=cwd, start_new_session=True, close_fds=True)
        finally:
            log.close()
        self._children[p.pid] = p
        self._write_pid(label, p.pid)
        return p

    @property
    def pids(self):
        """label -> pid of every recorded process that still runs."""
        out = {}
        if self.pid_dir.is_dir():
            for f in sorted(self.pid_dir.glob("*.pid")):
                rec = self._read_pid_record(f.stem)
                if rec and pid_alive(*rec):
                    out[f.stem] = rec[0]
        return out

    @property
    def proxy_pid(self):
        rec = self._read_pid_record("proxy")
        return rec[0] if rec and pid_alive(*rec) else None

    def wait_for(self, predicate, timeout, what="condition", interval=0.1):
        def polled():
            self.reap()
            return predicate()
        return wait_for(polled, timeout, what, interval)

    # ---- etcd ----
    def _etcd_command(self, name, client, peer):
        h = self.etcd_host
        scheme = self.scheme
        initial = ",".join(f"{n}={scheme}://{h}:{p}" for n, _, p in ETCD_MEMBERS)
        data = self.etcd_data_root() / name
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        # On a restart the data dir already holds the member: etcd ignores the --initial-* flags.
        timing = []
        if self.profile in ETCD_TIMING:
            heartbeat, election = ETCD_TIMING[self.profile]
            timing = ["--heartbeat-interval", str(heartbeat), "--election-timeout", str(election)]
        return ["etcd", "--name", name, "--data-dir", str(data),
                "--listen-client-urls", f"{scheme}://{h}:{client}",
                "--advertise-client-urls", f"{scheme}://{h}:{client}",
                "--listen-peer-urls", f"{scheme}://{h}:{peer}",
                "--initial-advertise-peer-urls", f"{scheme}://{h}:{peer}",
                "--initial-cluster-token", "pgha-local", "--initial-cluster", initial,
                "--initial-cluster-state", "new", *timing,
                *(self.pki.etcd_server_flags() if self.pki else [])]

    def etcd_data_root(self):
        """DIR/etcd, or a directory in /dev/shm named after DIR for ETCD_IN_MEMORY profiles."""
        if self.profile in ETCD_IN_MEMORY:
            tag = hashlib.sha1(str(self.dir.resolve()).encode()).hexdigest()[:12]
            return Path("/dev/shm") / f"pgha-etcd-{tag}"
        return self.dir / "etcd"

    def start_etcd(self):
        for name, client, peer in ETCD_MEMBERS:
            self._spawn(name, self._etcd_command(name, client, peer), self.log_dir / f"{name}.log",
                        cwd=self.dir)
        self.event("etcd: 3 members started")

    @staticmethod
    def _etcd_member(name):
        for member in ETCD_MEMBERS:
            if member[0] == name:
                return member
        raise ClusterError(f"unknown etcd member {name!r} (one of {[m[0] for m in ETCD_MEMBERS]})")

    def etcd_member_running(self, name):
        rec = self._read_pid_record(name)
        return rec is not None and pid_alive(*rec)

    def stop_etcd_member(self, name, sig=signal.SIGKILL, timeout=15):
        """Stops one etcd member by its recorded PID (SIGKILL by default: a crash) and waits until
        it is gone; its data dir is kept, so start_etcd_member() brings the same member back.
        Returns the pid."""
        self._etcd_member(name)
        rec = self._read_pid_record(name)
        if rec is None or not pid_alive(*rec):
            raise ClusterError(f"{name} is not running")
        left = terminate({rec[0]: rec[1]}, timeout, sig=sig, reap=self.reap)
        if left:
            raise ClusterError(f"{name}: could not stop pid {rec[0]}")
        (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)
        self.event(f"etcd: {name} stopped ({signal.Signals(sig).name} to pid {rec[0]})")
        return rec[0]

    def start_etcd_member(self, name, timeout=30):
        """Restarts a member stopped by stop_etcd_member() on its own data dir and waits until it
        answers /health (which needs a quorum: with 2 of 3 down, start both, then wait)."""
        name, client, peer = self._etcd_member(name)
        if self.etcd_member_running(name):
            raise ClusterError(f"{name} already runs")
        p = self._spawn(name, self._etcd_command(name, client, peer), self.log_dir / f"{name}.log",
                        cwd=self.dir)
        self.event(f"etcd: {name} restarted, pid {p.pid}")

        def listening():
            if p.poll() is not None:
                raise ClusterError(f"{name} exited with {p.returncode}; see {self.log_dir}/{name}.log")
            return self.host_port_listening(client)
        self.wait_for(listening, timeout, f"{name} to listen on {self.etcd_host}:{client}", 0.05)
        return p.pid

    def etcd_member_status(self, name):
        """etcd's maintenance status of one member (JSON dict: header.member_id, leader, ...), or
        None if it does not answer."""
        _, client, _ = self._etcd_member(name)
        status, body = http_get(f"{self.scheme}://{self.etcd_host}:{client}/v3/maintenance/status", 1.0,
                                self.tls_context, data=b"{}")
        try:
            return json.loads(body) if status == 200 else None
        except ValueError:
            return None

    def etcd_leader(self):
        """Name of the etcd member that is the Raft leader (as the members themselves report it),
        or None."""
        for name, _, _ in ETCD_MEMBERS:
            st = self.etcd_member_status(name)
            if st and st.get("leader") and st.get("header", {}).get("member_id") == st["leader"]:
                return name
        return None

    def etcd_healthy(self):
        for name, client, _ in ETCD_MEMBERS:
            status, body = http_get(f"{self.scheme}://{self.etcd_host}:{client}/health", 1.0, self.tls_context)
            if status != 200 or '"true"' not in body:
                return False
        return True

    # ---- Patroni view ----
    def cluster_view(self):
        """Patroni's GET /cluster from the first node that answers, or None."""
        for node in self.nodes.values():
            view = node.rest_json("/cluster")
            if view and "members" in view:
                return view
        return None

    def leader(self):
        """Name of the node whose Patroni answers 200 on /primary, or None (none, or two)."""
        primaries = [n.name for n in self.nodes.values() if n.is_primary()]
        return primaries[0] if len(primaries) == 1 else None

    def replicas(self):
        return [n.name for n in self.nodes.values() if n.is_replica()]

    def healthy(self):
        """True when there is one leader and 2 replicas that stream from it; with synchronous
        replication, one of them also a synchronous standby in /sync (role sync_standby in
        /cluster), so that a leader loss can be failed over."""
        leader = self.leader()
        if leader is None or len(self.replicas()) != 2:
            return False
        info = self.nodes[leader].rest_json("/patroni") or {}
        streaming = [r for r in info.get("replication", []) if r.get("state") == "streaming"]
        if len(streaming) != 2:
            return False
        if self.synchronous:
            view = self.nodes[leader].rest_json("/cluster") or {}
            wanted = "quorum_standby" if self.synchronous == "quorum" else "sync_standby"
            return any(m.get("role") == wanted for m in view.get("members", []))
        return True

    # ---- proxy ----
    def check_proxy_available(self, kind=None):
        """Raises ClusterError unless the binary of proxy `kind` (default: the cluster's) and the
        proxy config exist."""
        kind = kind or self.proxy
        if kind == "none":
            return
        if kind == "haproxy":
            if shutil.which("haproxy") is None:
                raise ClusterError("haproxy not found (tools/install-deps installs it)")
        else:
            binary = self.proxy_binary()
            if self._proxy_bin and not binary.exists():
                raise ClusterError(f"this cluster's pgha-proxy binary {binary} (recorded at `up`) does not exist")
            if os.environ.get("PGHA_PROXY_BIN") and not binary.exists():
                raise ClusterError(f"PGHA_PROXY_BIN={binary} does not exist")
            if binary is None or not binary.exists():
                raise ClusterError(
                    "pgha-proxy binary not found: set PGHA_PROXY_BIN or build it (looked for "
                    f"{REPO}/build/release/bin/pgha-proxy, build/dev/bin/pgha-proxy, build/bin/pgha-proxy)")
        if not self.proxy_config.exists():
            raise ClusterError(f"proxy config {self.proxy_config} does not exist")

    def proxy_command(self, config, kind=None, server_states=False):
        """argv of proxy `kind` (default: the cluster's) with `config`. `server_states` (HAProxy):
        start each checked server in the state its check gives now (see write_haproxy_server_states())
        instead of UP."""
        self.check_proxy_available(kind)
        if self.net:
            config = self.write_netns_proxy_config(config, kind)
        if self.pki:
            config = self.write_tls_proxy_config(config)
        if (kind or self.proxy) == "haproxy":
            # A second config file adds a stats socket, so tests can read HAProxy's server states.
            extra = self.dir / "haproxy-admin.cfg"
            text = ("# added by tools/pgha_cluster.py: a stats socket for tests\n"
                    f"global\n    stats socket {self.dir}/haproxy.sock mode 600 level admin\n")
            if server_states:
                config = self.write_haproxy_server_states(config)
                text += f"    server-state-file {self.dir}/haproxy-servers.state\n"
            extra.write_text(text)
            return ["haproxy", "-f", str(config), "-f", str(extra)]
        return [str(self.proxy_binary()), "-f", str(config)]

    def write_haproxy_server_states(self, config):
        """HAProxy starts every server UP until `fall` checks fail, so a new HAProxy sends writes to
        replicas at first. This writes DIR/haproxy-servers.state, HAProxy's server-state file
        (read at start), with each HTTP-checked server UP or DOWN as its check answers now, and
        DIR/haproxy-states.cfg: `config` with `load-server-state-from-file global` in each
        `defaults` section. Returns the path of the latter."""
        text = Path(config).read_text()
        lines = ["1", "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
                 "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
                 "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord "
                 "srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port"]
        out = []
        section = backend = None
        default_uri = uri = "/"
        for line in text.splitlines():
            out.append(line)
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if words[0] in ("global", "defaults", "listen", "frontend", "backend"):
                section = words[0]
                backend = words[1] if section in ("listen", "backend") and len(words) > 1 else None
                uri = default_uri
                if section == "defaults":
                    out.append("    load-server-state-from-file global")
            elif words[:2] == ["option", "httpchk"]:
                found = [w for w in words[2:] if w.startswith("/")]
                if section == "defaults":
                    default_uri = found[0] if found else "/"
                uri = found[0] if found else "/"
            elif words[0] == "server" and backend and "check" in words and "port" in words:
                name, address = words[1], words[2]
                host, port = address.rsplit(":", 1)
                check_port = words[words.index("port") + 1]
                up = http_get(f"{self.scheme}://{host}:{check_port}{uri}", 1.0, self.tls_context)[0] == 200
                state = "2 0 1 1 0 15 3 2 6" if up else "0 0 1 1 0 8 2 0 6"
                lines.append(f"0 {backend} 0 {name} {host} {state} 0 0 0 - {port} - 0 {check_port} - - -")
        (self.dir / "haproxy-servers.state").write_text("\n".join(lines) + "\n")
        path = self.dir / "haproxy-states.cfg"
        path.write_text("\n".join(out) + "\n")
        return path

    def netns_proxy_config_path(self, config=None):
        return self.dir / ("proxy-netns" + Path(config or self.proxy_config).suffix)

    def write_netns_proxy_config(self, config=None, kind=None):
        """Writes DIR/proxy-netns.* : proxy config `config` (default: the cluster's) with its
        listeners and admin API on the bridge address and each node's address in place of
        127.0.0.1 (see rehost_proxy_config()), for proxy `kind` (default: the cluster's). Returns
        its path."""
        config = Path(config or self.proxy_config)
        out = self.netns_proxy_config_path(config)
        text = rehost_proxy_config(config.read_text(), self.proxy_host,
                                   {n.pg_port: n.host for n in self.nodes.values()}, str(config))
        if (kind or self.proxy) == "pgha-proxy":
            # pgha-proxy's admin API defaults to 127.0.0.1:8404, which a loopback cluster uses.
            if is_haproxy_format(text):
                raise ClusterError(f"{config}: with --netns, pgha-proxy needs a YAML config (an haproxy.cfg "
                                   "cannot set its admin address, which would stay on 127.0.0.1:8404); "
                                   "conf/pgha-proxy.yaml is conf/haproxy.cfg in YAML")
            if not re.search(r"^admin\s*:", text, re.M):
                text += f"\nadmin:\n  listen: {self.proxy_host}:{PROXY_ADMIN_PORT}\n"
        out.write_text(f"# generated by tools/pgha_cluster.py for the netns cluster in {self.dir} from\n"
                       f"# {config}; edit that file, not this one.\n" + text)
        return out

    def write_tls_proxy_config(self, config):
        """Writes DIR/proxy-tls.cfg (or .yaml): the proxy config `config` with every check of a
        REST API (a server checked on another port) over TLS, verified against the cluster's CA,
        presenting the client certificate (see add_tls_to_http_checks()). Returns its path."""
        config = Path(config)
        text = config.read_text()
        haproxy_format = is_haproxy_format(text)
        out = self.dir / ("proxy-tls.cfg" if haproxy_format else "proxy-tls.yaml")
        out.write_text(f"# generated by tools/pgha_cluster.py for the TLS cluster in {self.dir} from\n"
                       f"# {config}; edit that file, not this one.\n"
                       + add_tls_to_http_checks(text, self.pki.http_check_options() if haproxy_format
                                                else self.pki.yaml_check_tls()))
        return out

    def start_proxy(self, config=None):
        if self.proxy == "none":
            return None
        if config is not None:
            self.proxy_config = Path(config).resolve()
            self._save_state()
        p = self._spawn("proxy", self.proxy_command(self.proxy_config),
                        self.log_dir / "proxy.log", cwd=self.dir)
        self.event(f"proxy: {self.proxy} started, pid {p.pid}, config {self.proxy_config}")

        def listening():
            if p.poll() is not None:
                raise ClusterError(f"{self.proxy} exited with {p.returncode}; see {self.log_dir}/proxy.log")
            return self.host_port_listening(WRITE_PORT) and self.host_port_listening(READ_PORT)
        try:
            wait_for(listening, 15, f"{self.proxy} to listen on {self.proxy_host}:{WRITE_PORT} and "
                     f":{READ_PORT}", 0.05)
        except TimeoutError:
            if p.poll() is not None:
                raise ClusterError(f"{self.proxy} exited with {p.returncode}; "
                                   f"see {self.log_dir}/proxy.log") from None
            raise
        return p.pid

    def stop_proxy(self, timeout=15):
        self.terminate_recorded(["proxy"], timeout)
        self.event("proxy: stopped")

    def restart_proxy(self, config=None):
        self.stop_proxy()
        return self.start_proxy(config)

    def reload_proxy(self):
        """SIGHUP to the recorded proxy process: pgha-proxy reloads its config file (in netns mode
        the generated copy is rewritten from the cluster's config first). HAProxy, not run in
        master-worker mode here, does not reload on SIGHUP. Returns the pid."""
        pid = self.proxy_pid
        if pid is None:
            raise ClusterError("the proxy is not running")
        if self.net:
            self.write_netns_proxy_config()
        os.kill(pid, signal.SIGHUP)
        self.event(f"proxy: sent SIGHUP to {self.proxy} pid {pid} (reload {self.proxy_config})")
        return pid

    def replace_manager(self, node_name, manager, timeout=120.0):
        """Migrates one replica to another manager (Patroni <-> pgha-agent) on its existing data
        directory: stops the node's manager (Patroni and pgha-agent both stop PostgreSQL, fast
        mode, on SIGTERM), then starts `manager` with the same patroni.yml (same scope, etcd, REST
        port), which finds PostgreSQL down and starts it as a standby of the leader. Refuses the
        leader: switch over to a member already run by `manager` first. Waits (up to `timeout`)
        until the node streams from the leader again; returns the new manager's pid."""
        node = self._known_node(node_name)
        if manager not in MANAGERS:
            raise ClusterError(f"unknown manager {manager!r} (choose from {', '.join(MANAGERS)})")
        if node.manager == manager:
            raise ClusterError(f"{node.name} is already run by {manager}")
        if manager == "patroni" and self.profile in AGENT_ONLY_PROFILES:
            raise ClusterError(f"profile '{self.profile}' has a decimal loop_wait or retry_timeout, which Patroni "
                               "does not accept")
        if manager == "pgha-agent":
            agent = self.agent_binary()
            if agent is None or not agent.exists():
                raise ClusterError("pgha-agent binary not found: set PGHA_AGENT_BIN or build it")
            self._agent_bin = str(agent.absolute())
        leader = self.leader()
        if leader is None:
            raise ClusterError("no single leader right now: migrate a replica while the cluster is healthy")
        if leader == node.name:
            raise ClusterError(f"{node.name} is the leader: switch over to a member run by {manager} first "
                               f"(patronictl switchover or pghactl switchover)")
        old = node.manager
        self.event(f"{node.name}: replacing {old} by {manager} on the same data directory")
        node.stop(timeout)  # the manager (which stops PostgreSQL), then any postmaster left
        self.node_managers[node.name] = manager
        if len(set(self.node_managers.values())) == 1:
            self.manager = manager
        self._save_state()
        pid = node.start_patroni()

        def streams():
            current = self.leader()
            info = self.nodes[current].rest_json("/patroni") if current else None
            return info and node.is_replica() and any(
                r.get("application_name") == node.name and r.get("state") == "streaming"
                for r in info.get("replication", []))
        self.wait_for(streams, timeout, f"{node.name} under {manager} to stream from the leader", 0.2)
        self.event(f"{node.name}: {manager} runs it, streaming from {self.leader()}")
        return pid

    def swap_proxy(self, kind, config=None, grace=5.0, timeout=30.0, allow_resets=False):
        """Replaces the running proxy by proxy `kind` (pgha-proxy or haproxy; the other one) on the
        same ports without refusing a connection: the new proxy binds the same addresses while the
        old one still listens (both set SO_REUSEPORT and run as the same user, so the kernel spreads
        new connections over both), and once it sends writes to the leader only, the old one is
        soft-stopped (HAProxy: SIGUSR1; pgha-proxy: SIGTERM, which drains). The old proxy stops
        accepting at once; sessions it still relays get `grace` seconds, then it is stopped hard.
        Connections queued on a listener that closes are reset unless net.ipv4.tcp_migrate_req is 1
        (Linux >= 5.14): the kernel then moves them to another listener of the same reuseport
        group. So this refuses to run while it is 0, unless `allow_resets`. `config`: the new
        proxy's config (default: the cluster's; an haproxy.cfg serves both proxies, and its binds
        must be the very addresses the old proxy listens on). Returns the new proxy's pid."""
        if kind not in ("pgha-proxy", "haproxy"):
            raise ClusterError(f"swap-proxy: unknown proxy {kind!r} (pgha-proxy or haproxy)")
        old = self._read_pid_record("proxy")
        if self.proxy == "none" or old is None or not pid_alive(*old):
            raise ClusterError("swap-proxy: no proxy runs; start one with restart-proxy")
        if kind == self.proxy:
            raise ClusterError(f"swap-proxy: {kind} already runs (reload-proxy or restart-proxy changes its config)")
        migrate = tcp_migrate_req()
        if migrate != 1 and not allow_resets:
            raise ClusterError(
                f"net.ipv4.tcp_migrate_req is {migrate}: connections waiting in the old proxy's accept queue "
                "would be reset when it closes its listeners. Run `sysctl -w net.ipv4.tcp_migrate_req=1` "
                "(Linux >= 5.14, per network namespace) first, or pass --allow-resets")
        config = Path(config or self.proxy_config).resolve()
        if kind == "haproxy" and not is_haproxy_format(config.read_text()):
            raise ClusterError(f"swap-proxy: HAProxy needs an haproxy.cfg, and {config} is pgha-proxy YAML")
        old_kind = self.proxy
        new = self._spawn("proxy-next", self.proxy_command(config, kind, server_states=True),
                          self.log_dir / f"proxy-{kind}.log", cwd=self.dir)
        self.event(f"proxy: {kind} started beside {old_kind} (pid {old[0]}), pid {new.pid}, config {config}")
        deadline = time.monotonic() + timeout

        def exited():
            if new.poll() is not None:
                raise ClusterError(f"{kind} exited with {new.returncode}; see {self.log_dir}/proxy-{kind}.log")
        try:
            def bound():
                exited()
                return {WRITE_PORT, READ_PORT} <= listening_ports_of(new.pid)
            self.wait_for(bound, timeout, f"{kind} to listen on :{WRITE_PORT} and :{READ_PORT} beside "
                          f"{old_kind}", 0.02)
            self.event(f"proxy: {kind} listens beside {old_kind}")
            leader = self.wait_for(self.leader, max(1.0, deadline - time.monotonic()), "a leader", 0.1)

            def routes_to_leader():
                exited()
                return self.write_servers_up(kind) == [self.nodes[leader].pg_port]
            self.wait_for(routes_to_leader, max(1.0, deadline - time.monotonic()),
                          f"{kind} to send writes to {leader} only", 0.02)
            self.event(f"proxy: {kind} sends writes to {leader} only")
        except BaseException:
            self.terminate_recorded(["proxy-next"], 10)
            raise
        # The old one stops accepting; what it relays gets `grace`.
        os.kill(old[0], signal.SIGUSR1 if old_kind == "haproxy" else signal.SIGTERM)
        self.event(f"proxy: soft stop of {old_kind} pid {old[0]} "
                   f"({'SIGUSR1' if old_kind == 'haproxy' else 'SIGTERM'}), grace {grace} s")
        try:
            self.wait_for(lambda: not pid_alive(*old), grace, f"the old {old_kind} to exit", 0.05)
            self.event(f"proxy: {old_kind} pid {old[0]} exited")
        except TimeoutError:
            # Sessions still open after the grace: HAProxy's SIGTERM and pgha-proxy's SIGINT close them.
            left = terminate({old[0]: old[1]}, 5, sig=signal.SIGTERM if old_kind == "haproxy" else signal.SIGINT,
                             reap=self.reap)
            if left:
                raise ClusterError(f"swap-proxy: the old {old_kind} (pid {old[0]}) survived SIGKILL") from None
            self.event(f"proxy: {old_kind} pid {old[0]} stopped after the {grace} s grace (sessions closed)")
        (self.pid_dir / "proxy-next.pid").rename(self.pid_dir / "proxy.pid")
        self.proxy = kind
        self.proxy_config = config
        if kind == "pgha-proxy":
            self._proxy_bin = self._proxy_bin or _absolute(find_proxy_binary())
        self._save_state()
        return new.pid

    def write_servers_up(self, kind=None):
        """PostgreSQL ports of the servers UP in the write listener (:5432) of proxy `kind` (default:
        the cluster's), sorted."""
        entries = self.proxy_server_entries(kind)
        for name, listener in entries.items():
            if listener.get("_port") == WRITE_PORT or "write" in (name or "").lower():
                return sorted(s["port"] for s in listener["servers"] if s["state"] == "UP")
        raise ClusterError(f"no write listener in the proxy's status: {list(entries)}")

    def host_port_listening(self, port):
        """True if a host-side service (etcd, the proxy) listens on port. In netns mode only a
        socket bound exactly to the bridge address counts: a wildcard listener of some loopback
        cluster would also answer there."""
        if self.net:
            return port in listening_sockets(self.proxy_host)
        return port_listening(port)

    def proxy_status(self):
        """pgha-proxy's GET /status as JSON (None if it does not answer)."""
        status, body = http_get(f"http://{self.proxy_host}:{PROXY_ADMIN_PORT}/status")
        if status != 200:
            return None
        return json.loads(body)

    def haproxy_stat(self):
        """HAProxy's `show stat` through the stats socket: list of dicts (pxname, svname, status...)."""
        import socket
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(self.dir / "haproxy.sock"))
            s.sendall(b"show stat\n")
            chunks = []
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
        lines = b"".join(chunks).decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        return [dict(zip(header, line.split(","))) for line in lines[1:] if line]

    def proxy_server_entries(self, kind=None):
        """{listener: {"_port": bind port or None, "servers": [{"name", "port", "state"}]}} from
        proxy `kind` (default: whichever runs); states are upper case ("UP", "DOWN", ...)."""
        if (kind or self.proxy) == "haproxy":
            out = {}
            for row in self.haproxy_stat():
                if row["svname"] in ("FRONTEND", "BACKEND"):
                    continue
                addr = row.get("addr") or ""
                port = int(addr.rsplit(":", 1)[1]) if ":" in addr else None
                out.setdefault(row["pxname"], {"_port": None, "servers": []})["servers"].append(
                    {"name": row["svname"], "port": port, "state": row["status"].split()[0].upper()})
            return out
        return server_entries_from_status(self.proxy_status())

    # ---- probes through the proxy ----
    def proxy_connect(self, port=WRITE_PORT, user=SUPERUSER, **kw):
        import psycopg2
        password = user[1] if isinstance(user, tuple) else None
        name = user[0] if isinstance(user, tuple) else user
        kw.setdefault("connect_timeout", 3)
        conn = psycopg2.connect(host=self.proxy_host, port=port, user=name, password=password,
                                dbname="postgres", **kw)
        conn.autocommit = True
        return conn

    def write_through_proxy(self, note="probe", user=BENCH_USER, connect_timeout=3):
        """One INSERT through :5432 on a new connection; returns the port of the node that took it.
        Raises on failure."""
        conn = self.proxy_connect(WRITE_PORT, user=user, connect_timeout=connect_timeout,
                                  options="-c statement_timeout=3000")
        try:
            with conn.cursor() as cur:
                cur.execute(f"INSERT INTO {PROBE_TABLE}(port, note) VALUES (inet_server_port(), %s) "
                            "RETURNING inet_server_port()", (note,))
                return cur.fetchone()[0]
        finally:
            conn.close()

    def node_by_port(self, port):
        for n in self.nodes.values():
            if n.pg_port == port:
                return n
        raise KeyError(port)

    def _create_probe_table(self):
        leader = self.nodes[self.leader()]
        conn = leader.connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (id bigserial PRIMARY KEY, "
                        "at timestamptz NOT NULL DEFAULT clock_timestamp(), port int, note text)")
            cur.execute(f"GRANT SELECT, INSERT ON {PROBE_TABLE} TO {BENCH_USER}, {CHECK_USER[0]}")
            cur.execute(f"GRANT USAGE ON SEQUENCE {PROBE_TABLE}_id_seq TO {BENCH_USER}, {CHECK_USER[0]}")
        conn.close()

    # ---- partitions (netns mode) ----
    def _require_netns(self, what):
        if self.net is None:
            raise ClusterError(f"{what} needs a netns cluster (`pgha-cluster up --netns`); the cluster in "
                               f"{self.dir} runs on loopback")

    def partition(self, node_name, scope="all"):
        """Cuts node `node_name` off with nftables rules in its namespace, both directions, drop
        (established connections stall). scope "all": it reaches nothing and nothing reaches it
        (etcd, the other nodes, the proxy, clients), only its own loopback works; "etcd": only its
        traffic with the etcd client and peer ports is dropped, so it still serves and streams.
        Replaces an earlier partition of that node."""
        self._require_netns("partition")
        node = self._known_node(node_name)
        if scope not in PARTITION_SCOPES:
            raise ClusterError(f"unknown partition scope {scope!r} (one of {', '.join(PARTITION_SCOPES)})")
        try:
            self.net.partition(node.name, scope, [p for _, c, peer in ETCD_MEMBERS for p in (c, peer)])
        except NetnsError as e:
            raise ClusterError(f"partition: {e}") from None
        self.event(f"{node.name}: partitioned ({scope})")

    def heal(self, node_name=None):
        """Removes the partition of `node_name`, or of every node when None. Returns the names of the
        nodes that were partitioned."""
        self._require_netns("heal")
        names = [self._known_node(node_name).name] if node_name else list(self.nodes)
        healed = []
        try:
            for name in names:
                if self.net.heal(name):
                    healed.append(name)
                    self.event(f"{name}: healed")
        except NetnsError as e:
            raise ClusterError(f"heal: {e}") from None
        return healed

    def partitioned(self):
        """{node name: scope} of the nodes partitioned now, as their namespaces' rules say."""
        self._require_netns("partitioned")
        try:
            scopes = {name: self.net.partition_scope(name) for name in self.nodes}
        except NetnsError as e:
            raise ClusterError(f"partitioned: {e}") from None
        return {name: scope for name, scope in scopes.items() if scope}

    # ---- lifecycle ----
    def up(self, timeout=240):
        """Starts everything and returns once writes through :5432 reliably reach the leader. The
        agent and proxy binaries used are recorded in DIR/cluster.json for later commands. In
        netns mode the bridge, namespaces and veths are created first (stale ones of the same net
        id removed); down() removes them, also after a failed up()."""
        if self.manager == "pgha-agent":
            agent = self.agent_binary()
            if agent is None or not agent.exists():
                raise ClusterError("pgha-agent binary not found: set PGHA_AGENT_BIN or build it (looked for "
                                   f"{agent or REPO / 'build/release/bin/pgha-agent'}, build/dev/bin/pgha-agent)")
        self.check_proxy_available()  # fail before starting anything
        self._agent_bin = self._agent_bin or _absolute(find_agent_binary())
        if self.proxy == "pgha-proxy":
            self._proxy_bin = self._proxy_bin or _absolute(find_proxy_binary())
        if (self.dir / "cluster.json").exists():
            raise ClusterError(f"a cluster already lives in {self.dir}: run `tools/pgha-cluster down "
                               f"--dir {self.dir}` first")
        if self.net:
            if os.geteuid() != 0:
                raise ClusterError("--netns needs root (ip netns, nft)")
            if self.proxy != "none":  # refuses a config it cannot move, before creating anything
                rehost_proxy_config(self.proxy_config.read_text(), self.proxy_host,
                                    {n.pg_port: n.host for n in self.nodes.values()}, str(self.proxy_config))
        else:
            busy = [p for p in required_ports(self.proxy) if port_listening(p)]
            if busy:
                raise ClusterError(f"ports already in use by something this launcher did not start: {busy}")
        deadline = time.monotonic() + timeout
        left = lambda: max(1.0, deadline - time.monotonic())  # noqa: E731
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        if self.profile in ETCD_IN_MEMORY:
            # No cluster lives in DIR (checked above): what a crashed run left in memory is stale.
            shutil.rmtree(self.etcd_data_root(), ignore_errors=True)
        for d in (self.log_dir, self.pid_dir):
            d.mkdir(exist_ok=True)
        self._save_state()
        self.owns_dir = True
        mode = f" netns={self.net.subnet} bridge={self.net.bridge}" if self.net else ""
        self.event(f"up: manager={self.manager} proxy={self.proxy} profile={self.profile}{mode} "
                   f"agent={self._agent_bin} proxy_bin={self._proxy_bin}")
        if self.net:
            try:
                self.net.create()
            except NetnsError as e:
                raise ClusterError(f"netns: {e}") from None
            self.event(f"netns: bridge {self.net.bridge} {self.net.bridge_ip}, namespaces "
                       + ", ".join(f"{self.net.namespace(n.name)} {n.host}" for n in self.nodes.values()))
            busy = [p for p in required_host_ports(self.proxy) if self.host_port_listening(p)]
            if busy:
                raise ClusterError(f"ports on {self.proxy_host} already in use: {busy}")
        if self.pki:
            try:
                self.pki.create([self.etcd_host], {n.name: n.host for n in self.nodes.values()})
            except PkiError as e:
                raise ClusterError(f"tls: {e}") from None
            self.event(f"tls: CA and certificates in {self.pki.dir}")
        self.start_etcd()
        self.wait_for(self.etcd_healthy, min(60, left()), "etcd: 3 healthy members")
        self.event("etcd: healthy")
        if self.pki:
            try:
                self.pki.enable_etcd_auth(self.etcd_endpoints())
            except PkiError as e:
                raise ClusterError(f"etcd authentication: {e}") from None
            self.event("etcd: authentication enabled (user pgha, read-write on /service/ only)")
        subnet = str(self.net.subnet) if self.net else None
        for node in self.nodes.values():
            node.dir.mkdir(exist_ok=True)
            shutil.chown(node.dir, "postgres", "postgres")
            node.dir.chmod(0o700)
            node.config_path.write_text(render_patroni_config(
                node.name, node.pg_port, node.rest_port, node.dir, self.profile, node.host,
                self.etcd_host, subnet, self.synchronous, self.pki))
            node.config_path.chmod(0o644)
        for node in self.nodes.values():
            node.start_patroni()
        self.wait_for(self.healthy, left(), "Patroni: a leader and 2 streaming replicas", 0.25)
        self.event(f"patroni: leader {self.leader()}, replicas {self.replicas()}")
        self._create_probe_table()
        if self.proxy != "none":
            self.start_proxy()
            self.wait_until_writes_settle(left())
        self.event("up: ready")

    def wait_until_writes_settle(self, timeout, consecutive=6):
        """Waits until `consecutive` writes in a row through :5432 succeed on the leader (HAProxy
        starts every server UP and round-robins writes over replicas until their checks fail)."""
        streak = [0]

        def settled():
            leader = self.leader()
            try:
                port = self.write_through_proxy("settle")
            except Exception:
                streak[0] = 0
                raise
            streak[0] = streak[0] + 1 if leader and port == self.nodes[leader].pg_port else 0
            return streak[0] >= consecutive
        self.wait_for(settled, timeout, f"{consecutive} writes in a row through "
                      f"{self.proxy_host}:{WRITE_PORT} on the leader", 0.2)
        self.event(f"proxy: writes through {self.proxy_host}:{WRITE_PORT} reach the leader")

    def down(self, timeout=30, remove=True):
        """Stops every process this cluster recorded, by PID, removes its network namespaces,
        veths and bridge (netns mode), and removes DIR."""
        errors = []
        if self.proxy != "none" or self._read_pid_record("proxy"):
            try:
                self.terminate_recorded(["proxy", "proxy-next"], timeout)
            except ClusterError as e:
                errors.append(f"proxy: {e}")
        # Patroni stops its PostgreSQL on SIGTERM; stop all three at once so none fails over.
        # (Patroni before runuser: runuser answers SIGTERM by SIGKILLing its child after 2 s.)
        for kind in ("patroni", "runuser"):
            try:
                self.terminate_recorded([f"{n}-{kind}" for n in self.nodes], timeout)
            except ClusterError as e:
                errors.append(f"{kind}: {e}")
        for node in self.nodes.values():  # postmasters left by a killed Patroni
            try:
                node.stop(timeout)
            except ClusterError as e:
                errors.append(f"{node.name}: {e}")
        try:
            self.terminate_recorded([n for n, _, _ in ETCD_MEMBERS], timeout)
        except ClusterError as e:
            errors.append(f"etcd: {e}")
        self.reap()
        if self.net:  # after the processes: a namespace with processes left in it lingers
            try:
                deleted = self.net.destroy()
                self.event(f"netns: deleted {', '.join(deleted) or 'nothing (already gone)'}")
            except NetnsError as e:
                errors.append(f"netns: {e}")
        if errors:
            raise ClusterError("down: " + "; ".join(errors) + f" (left {self.dir} in place)")
        if remove and self.dir.exists():
            shutil.rmtree(self.dir)
        if remove and self.profile in ETCD_IN_MEMORY:
            shutil.rmtree(self.etcd_data_root(), ignore_errors=True)

    def status(self):
        """A dict for the CLI: processes, Patroni's members, proxy servers."""
        view = self.cluster_view()
        members = []
        if view:
            for m in view["members"]:
                members.append({k: m.get(k) for k in ("name", "role", "state", "host", "port",
                                                      "timeline", "lag")})
        out = {"dir": str(self.dir), "manager": self.manager, "node_managers": self.node_managers,
               "proxy": self.proxy,
               "proxy_config": str(self.proxy_config), "profile": self.profile,
               "network": (f"netns {self.net.subnet} (bridge {self.net.bridge} {self.net.bridge_ip})"
                           if self.net else "loopback"),
               "proxy_host": self.proxy_host, "agent_bin": str(self.agent_binary()),
               "pids": self.pids, "etcd_healthy": self.etcd_healthy(), "members": members}
        if self.net:
            try:
                out["partitioned"] = self.partitioned()
            except ClusterError as e:  # status is best effort
                out["partitioned"] = {"?": f"unavailable: {e}"}
        if self.proxy != "none" and self.proxy_pid:
            try:
                out["proxy_servers"] = self.proxy_server_entries()
            except Exception as e:  # noqa: BLE001 - status is best effort
                out["proxy_servers"] = f"unavailable: {e}"
        return out


def server_entries_from_status(status):
    """Normalises pgha-proxy's /status JSON into proxy_server_entries()'s shape. Tolerant of the
    exact layout: listeners and servers may be lists of objects with "name" or objects keyed by
    name; a server's state is "state" (or "status"); its port comes from "port" or the end of
    "address"/"addr"; a listener's port from "port" or the end of "bind"."""
    if status is None:
        raise ClusterError(f"pgha-proxy's /status on :{PROXY_ADMIN_PORT} did not answer")

    def items(container):
        if isinstance(container, dict):
            return list(container.items())
        return [(x.get("name"), x) for x in container or []]

    def port_of(obj, *keys):
        for k in keys:
            v = obj.get(k)
            if isinstance(v, int):
                return v
            if isinstance(v, str) and ":" in v and v.rsplit(":", 1)[1].isdigit():
                return int(v.rsplit(":", 1)[1])
            if isinstance(v, list) and v:
                return port_of({"x": v[0]}, "x")
        return None
    out = {}
    for lname, listener in items(status.get("listeners")):
        servers = []
        for sname, server in items(listener.get("servers")):
            state = server.get("state", server.get("status"))
            servers.append({"name": sname, "port": port_of(server, "port", "address", "addr"),
                            "state": str(state).upper()})
        out[lname] = {"_port": port_of(listener, "port", "bind", "address"), "servers": servers}
    return out


def tcp_migrate_req():
    """net.ipv4.tcp_migrate_req of this network namespace: 1 moves the connections queued on a
    closing SO_REUSEPORT listener to another listener of its group; 0 resets them; None when the
    kernel has no such setting (before 5.14)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_migrate_req").read_text())
    except (OSError, ValueError):
        return None


def listening_ports_of(pid):
    """Ports of the TCP sockets in LISTEN that process `pid` holds (IPv4 and IPv6), from /proc."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and fields[9] in inodes:
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def port_listening(port, host=LOOPBACK):
    """True if something listens on host:port (TCP)."""
    import socket
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def is_haproxy_format(text):
    """True if a proxy config is an haproxy.cfg (pgha-proxy's own test: the first keyword)."""
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            return words[0] in ("global", "defaults", "listen", "frontend", "backend")
    return False


def rehost_proxy_config(text, proxy_host, node_hosts, source="proxy config"):
    """A proxy config (pgha-proxy YAML or haproxy.cfg) for netns mode: binds on the write, read and
    admin ports ("*:P", ":P", "0.0.0.0:P", "127.0.0.1:P", "localhost:P") move to proxy_host, and each
    server 127.0.0.1:PG_PORT to node_hosts[PG_PORT] (checks follow: they default to the server's
    address). Raises ClusterError naming the line of any loopback or wildcard address left over,
    rather than run a proxy that would bind or check outside the cluster's network."""
    host_ports = "|".join(str(p) for p in (WRITE_PORT, READ_PORT, PROXY_ADMIN_PORT))
    bind = re.compile(rf"(?<![\w.\]])(?:127\.0\.0\.1|0\.0\.0\.0|localhost|\*)?:({host_ports})\b")
    leftover = re.compile(r"127\.0\.0\.1|0\.0\.0\.0|localhost|\*:|\[::\]|\[::1\]")
    out = []
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        code, hash_, comment = line.partition("#")
        for pg_port, host in node_hosts.items():
            code = re.sub(rf"(?<![\w.])(?:127\.0\.0\.1|localhost):{pg_port}\b", f"{host}:{pg_port}", code)
        code = bind.sub(lambda m: f"{proxy_host}:{m.group(1)}", code)
        if leftover.search(code):
            raise ClusterError(f"{source}:{number}: cannot move this address into the netns cluster's "
                               f"network: {line.strip()!r}")
        out.append(code + hash_ + comment)
    return "".join(out)


def add_tls_to_http_checks(text, options):
    """A proxy config with every check of a REST API over TLS; other lines unchanged. In an
    haproxy.cfg, `options` (check-ssl ...) is appended to each server line with `check port N`;
    in pgha-proxy's YAML, `options` (a flow mapping) becomes the `tls` of each server's
    `check: { port: N }`."""
    out = []
    yaml_check = re.compile(r"check:\s*\{\s*port:\s*(\d+)\s*\}")
    for line in text.splitlines(keepends=True):
        code, hash_, comment = line.partition("#")
        words = code.split()
        if words[:1] == ["server"] and "check" in words and "port" in words:
            end = len(code.rstrip("\r\n"))
            code = code[:end].rstrip() + " " + options + code[end:]
        elif not is_haproxy_format(text):
            code = yaml_check.sub(lambda m: f"check: {{ port: {m.group(1)}, tls: {options} }}", code)
        out.append(code + hash_ + comment)
    return "".join(out)


def required_host_ports(proxy):
    """Ports of the host-side services (etcd, the proxy): on 127.0.0.1, or the bridge in netns mode."""
    ports = [p for _, c, peer in ETCD_MEMBERS for p in (c, peer)]
    if proxy != "none":
        ports += [WRITE_PORT, READ_PORT]
    if proxy == "pgha-proxy":
        ports.append(PROXY_ADMIN_PORT)
    return ports


def required_ports(proxy):
    """Every port a loopback cluster uses on 127.0.0.1."""
    return required_host_ports(proxy) + [p for _, pg, rest in NODES for p in (pg, rest)]


def next_steps(cluster):
    """What to type next, printed by `pgha-cluster up`."""
    d = cluster.dir
    tool = REPO / "tools" / "pgha-cluster"
    manager = "pgha-agent" if cluster.manager == "pgha-agent" else "Patroni"
    lines = ["", f"Cluster is up ({cluster.manager}, profile '{cluster.profile}': ttl/loop_wait/retry_timeout "
             f"{PROFILES[cluster.profile]['ttl']}/{PROFILES[cluster.profile]['loop_wait']}/"
             f"{PROFILES[cluster.profile]['retry_timeout']} s, proxy {cluster.proxy} with {cluster.proxy_config.name}).", ""]
    h = cluster.proxy_host
    if cluster.net:
        lines += [f"Network: namespaces {', '.join(cluster.net.namespace(n) for n in cluster.nodes)} on bridge "
                  f"{cluster.net.bridge} ({cluster.net.subnet}); nodes at "
                  + ", ".join(f"{n.name} {n.host}" for n in cluster.nodes.values()) + ".", ""]
    if cluster.proxy != "none":
        lines += [
            "Write (leader) and read (all nodes) through the proxy:",
            f"  PGPASSWORD={SUPERUSER[1]} psql -h {h} -p {WRITE_PORT} -U {SUPERUSER[0]} -d postgres",
            f"  PGPASSWORD={SUPERUSER[1]} psql -h {h} -p {READ_PORT} -U {SUPERUSER[0]} -d postgres "
            "-c 'select inet_server_addr(), inet_server_port(), pg_is_in_recovery()'",
        ]
        if cluster.proxy == "pgha-proxy":
            lines.append(f"  curl -s http://{h}:{PROXY_ADMIN_PORT}/status    # proxy's view of the servers")
        lines.append("")
    agent = cluster.agent_binary()
    pghactl = agent.parent / "pghactl" if agent else None
    watch = (f"  watch -n1 {pghactl} -c {d}/node1.yml list      # never hangs: every etcd call has a deadline"
             if cluster.manager == "pgha-agent" and pghactl and pghactl.exists()
             else f"  watch -n1 timeout 5 patronictl -c {d}/node1.yml list   # patronictl hangs while etcd is down")
    lines += [
        "Watch the roles:",
        watch,
        f"  {tool} status --dir {d}",
        "",
        f"Lose the leader node (kill -9 of all its processes: {manager}, PostgreSQL) and watch the failover:",
        f"  {tool} kill-leader --dir {d}                 # add --agent-only to kill only {manager}",
        f"  {tool} start-node NODE --dir {d}            # bring the killed node back; it rejoins as a replica",
        "",
    ]
    if cluster.net:
        lines += [
            "Partition a node (nftables in its namespace) and heal it:",
            f"  {tool} partition NODE all --dir {d}         # or `etcd`: cut from etcd only",
            f"  {tool} heal [NODE] --dir {d}",
            "",
        ]
    lines += [
        f"Logs: {d}/logs/   events: {d}/events.log",
        f"Stop and remove everything: {tool} down" + ("" if str(d) == DEFAULT_DIR else f" --dir {d}"),
    ]
    return "\n".join(lines)
