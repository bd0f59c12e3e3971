"""Shared fixtures and helpers for the integration suite: a real local cluster (tools/pgha_cluster.py)
of 3 etcd members, 3 PostgreSQL 15 nodes under Patroni and a proxy, one cluster per test module.

Environment:
  PGHA_TEST_PROXY         pgha-proxy (default) or haproxy: which proxy the suite tests.
  PGHA_TEST_PROXY_CONFIG  overrides the classic config (default conf/haproxy.cfg, used unchanged).
  PGHA_TEST_TUNED_CONFIG  overrides the tuned config (default conf/pgha-proxy-tuned.yaml for
                          pgha-proxy, tests/integration/haproxy-tuned-equivalent.cfg for haproxy).
  PGHA_TEST_DIR           where cluster dirs live (default /tmp/pgha-it); figures.json is there.
  PGHA_PROXY_BIN          the pgha-proxy binary (else build/release, build/dev, build/bin).
A missing pgha-proxy binary or config is an error, never a skip.
"""
import datetime
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
import pgha_cluster as pc  # noqa: E402

PROXY = os.environ.get("PGHA_TEST_PROXY", "pgha-proxy")
TEST_DIR = Path(os.environ.get("PGHA_TEST_DIR", "/tmp/pgha-it"))
FIGURES = TEST_DIR / "figures.json"


def classic_config():
    return Path(os.environ.get("PGHA_TEST_PROXY_CONFIG", REPO / "conf" / "haproxy.cfg"))


def tuned_config():
    default = (REPO / "conf" / "pgha-proxy-tuned.yaml" if PROXY == "pgha-proxy"
               else Path(__file__).parent / "haproxy-tuned-equivalent.cfg")
    return Path(os.environ.get("PGHA_TEST_TUNED_CONFIG", default))


def fresh_cluster_dir(name):
    """TEST_DIR/name, emptied: a stale cluster of an aborted earlier run there is stopped first (by
    its recorded PIDs)."""
    d = TEST_DIR / name
    if (d / "cluster.json").exists():
        pc.Cluster.attach(d).down(remove=True)
    elif d.exists():
        shutil.rmtree(d)
    TEST_DIR.mkdir(parents=True, exist_ok=True)
    return d


def start_cluster(name, config, profile, manager="patroni", synchronous=None, tls=False):
    """Brings a cluster up in TEST_DIR/name; returns it. Stale clusters of an aborted earlier run
    in the same dir are stopped first (by their recorded PIDs). `synchronous`: see
    pgha_cluster.SYNCHRONOUS_MODES; `tls`: TLS and authentication everywhere (see pgha_tls)."""
    assert PROXY in ("pgha-proxy", "haproxy"), f"PGHA_TEST_PROXY must be pgha-proxy or haproxy, not {PROXY}"
    d = fresh_cluster_dir(name)
    cluster = pc.Cluster(d, manager=manager, proxy=PROXY, proxy_config=config, profile=profile,
                         synchronous=synchronous, tls=tls)
    started = time.monotonic()
    print(f"\n[{name}] cluster up: proxy {PROXY}, config {config}, Patroni profile {profile}")
    cluster.up(timeout=240)
    print(f"[{name}] up in {time.monotonic() - started:.1f} s, leader {cluster.leader()}")
    return cluster


def stop_cluster(cluster):
    """Stops everything the cluster started (by PID); keeps logs and events for a post-mortem."""
    keep = TEST_DIR / "logs" / cluster.dir.name
    try:
        if keep.exists():
            shutil.rmtree(keep)
        keep.mkdir(parents=True)
        shutil.copytree(cluster.log_dir, keep / "logs")
        for node in cluster.nodes.values():  # pgha-agent's PostgreSQL log and the commands it ran
            runtime_logs = node.data_dir.parent / (node.data_dir.name + "-pgha") / "log"
            if runtime_logs.is_dir():
                shutil.copytree(runtime_logs, keep / f"{node.name}-runtime-log")
        if (cluster.dir / "events.log").exists():
            shutil.copy(cluster.dir / "events.log", keep / "events.log")
    except OSError:
        pass
    cluster.down(remove=True)
    print(f"\n[{cluster.dir.name}] cluster down; logs kept in {keep}")


@pytest.fixture(scope="module")
def cluster_factory(request):
    """Module fixture helper: call it once with (config, profile); teardown is guaranteed."""
    clusters = []

    def make(config, profile, manager="patroni"):
        try:
            c = start_cluster(request.module.__name__.rsplit(".", 1)[-1], config, profile, manager)
        except BaseException:
            d = TEST_DIR / request.module.__name__.rsplit(".", 1)[-1]
            if (d / "cluster.json").exists():
                stop_cluster(pc.Cluster.attach(d))
            raise
        clusters.append(c)
        return c
    yield make
    for c in clusters:
        stop_cluster(c)


def record_figures(entry):
    """Appends one measurement to TEST_DIR/figures.json (a JSON list) and prints it."""
    entry = dict(entry, proxy=PROXY, at=datetime.datetime.now().isoformat(timespec="seconds"))
    print("FIGURES " + json.dumps(entry))
    try:
        data = json.loads(FIGURES.read_text())
    except (OSError, ValueError):
        data = []
    data.append(entry)
    FIGURES.write_text(json.dumps(data, indent=2) + "\n")


# ---- helpers used by several modules ---------------------------------------------------------

def ensure_healthy(cluster, timeout=180):
    """Precondition of every fault test: all three Patronis run, one leader, 2 streaming replicas,
    and writes through :5432 reach the leader."""
    for node in cluster.nodes.values():
        if not node.patroni_running():
            node.start_patroni()
    try:
        cluster.wait_for(cluster.healthy, timeout, "a leader and 2 streaming replicas", 0.25)
    except TimeoutError:
        print(describe_unhealthy(cluster))
        raise
    cluster.wait_until_writes_settle(timeout)


def describe_unhealthy(cluster, log_lines=25):
    """What each node says about itself and the end of its agent's log: printed when the cluster
    does not heal, so a failure in CI can be understood from its output alone."""
    out = ["---- cluster did not heal; each node's view and the end of its log ----"]
    for node in cluster.nodes.values():
        info = node.rest_json("/patroni") or {}
        out.append(f"{node.name}: running={node.patroni_running()} role={info.get('role')} "
                   f"state={info.get('state')} timeline={info.get('timeline')} "
                   f"replication={[(r.get('application_name'), r.get('state')) for r in info.get('replication', [])]}")
        runtime_logs = node.data_dir.parent / (node.data_dir.name + "-pgha") / "log"
        for label, path, count in (("agent", node.log_path, log_lines),
                                   ("commands", runtime_logs / "commands.log", 12),
                                   ("postgresql", runtime_logs / "postgresql.log", 12)):
            try:
                lines = path.read_text(errors="replace").splitlines()[-count:]
            except OSError as e:
                lines = [f"(unreadable: {e})"]
            out.extend(f"  {node.name} {label}| {line}" for line in lines)
    return "\n".join(out)


def ports_of_read_sessions(cluster, count):
    """Opens `count` connections through :5433 at once and returns (connections, ports); the
    caller closes them."""
    conns = []
    ports = []
    try:
        for _ in range(count):
            conn = cluster.proxy_connect(pc.READ_PORT, user=pc.BENCH_USER)
            conns.append(conn)
            with conn.cursor() as cur:
                cur.execute("SELECT inet_server_port()")
                ports.append(cur.fetchone()[0])
    except BaseException:
        close_all(conns)
        raise
    return conns, ports


def close_all(conns):
    for c in conns:
        try:
            c.close()
        except Exception:  # noqa: BLE001
            pass


def proxy_write_listener_state(cluster, node):
    """The proxy's state (upper case, e.g. "UP"/"DOWN") for `node` in its write listener."""
    states = cluster.proxy_server_entries()
    listener = pick_listener(states, "write", pc.WRITE_PORT)
    return server_entry_for(states[listener], node)["state"]


def pick_listener(states, word, port):
    for name, entry in states.items():
        if word in (name or "").lower():
            return name
    for name, entry in states.items():
        if entry.get("_port") == port:
            return name
    raise AssertionError(f"no {word} listener in the proxy's status: {list(states)}")


def server_entry_for(listener, node):
    servers = listener["servers"]
    for s in servers:
        if s.get("port") == node.pg_port:
            return s
    index = node.name[-1]
    for s in servers:
        if str(s.get("name", "")).endswith(index):
            return s
    raise AssertionError(f"no server for {node} in {servers}")


def pghactl(cluster, *args, timeout=120):
    """Runs pghactl (beside the cluster's pgha-agent) with node1's config; (exit code, output)."""
    binary = cluster.agent_binary().parent / "pghactl"
    out = subprocess.run([str(binary), "-c", str(cluster.node("node1").config_path), *args],
                         capture_output=True, text=True, timeout=timeout)
    return out.returncode, out.stdout + out.stderr


_acked_ids = itertools.count(1)


def unique_id():
    """An id no AckedWriter of this process uses."""
    return next(_acked_ids)


class AckedWriter(threading.Thread):
    """Inserts ids into `table` (id bigint PRIMARY KEY) through :5432, one connection per insert,
    until stop(); `acked` holds the ids whose COMMIT returned. Ids are unique in the process."""

    def __init__(self, cluster, table):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.table = table
        self.acked = []
        self.stop_event = threading.Event()

    def run(self):
        import psycopg2
        while not self.stop_event.is_set():
            i = unique_id()
            try:
                conn = self.cluster.proxy_connect(pc.WRITE_PORT, connect_timeout=5)
                try:
                    with conn.cursor() as cur:
                        cur.execute(f"INSERT INTO {self.table} (id) VALUES (%s)", (i,))
                    conn.commit()
                    self.acked.append(i)
                finally:
                    conn.close()
            except psycopg2.Error:
                time.sleep(0.02)

    def stop(self):
        self.stop_event.set()
        self.join(30)


def query(node, sql):
    """`sql` on `node`'s PostgreSQL as the superuser, autocommit: its rows ([] for a statement)."""
    conn = node.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def clone_count(node):
    """How many times pgha-agent ran pg_basebackup for `node` (its command log)."""
    log = node.data_dir.parent / (node.data_dir.name + "-pgha") / "log" / "commands.log"
    try:
        return log.read_text(errors="replace").count("pg_basebackup")
    except OSError:
        return 0


def ids_on(node, table):
    """Every id in `table` on `node`'s PostgreSQL (a set)."""
    with node.connect() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT id FROM {table}")
        return {r[0] for r in cur.fetchall()}
