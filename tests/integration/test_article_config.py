"""The article's setup end to end: conf/haproxy.cfg, unchanged, as the proxy's config in front of
a real Patroni cluster (3 etcd, 3 PostgreSQL 15 nodes), with real clients (psycopg2 and psql).

Patroni profile: "article" (ttl 30 / loop_wait 10 / retry_timeout 10, the article's patroni.yml),
so the failover figures are the article's. Each failover takes ~45-60 s here (lock expiry up to
30 s, then the config's checks: inter 10s, rise/fall 3); the module runs in ~4-5 minutes.

The tests run in file order on one cluster; each fault test first restores its precondition (three
nodes, one leader, writes settled), so one failure does not hide the others.
"""
import signal
import subprocess
import time

import pytest

import pgha_cluster as pc
from conftest import (article_config, close_all, ensure_healthy, ports_of_read_sessions,
                      proxy_write_listener_state, record_figures, session_alive)

PROFILE = "article"
FAILOVER_TIMEOUT = 150  # ttl 30 + loop_wait 10 + rise 3 x inter 10 s, with margin
REJOIN_TIMEOUT = 180     # Patroni start, pg_rewind or basebackup, replication catching up

killed = {}  # scenario -> node name, handed from a kill test to its rejoin test


@pytest.fixture(scope="module")
def cluster(cluster_factory):
    return cluster_factory(article_config(), PROFILE)


def psql(port, sql, user=pc.SUPERUSER):
    """Runs sql with the real psql client through the proxy; returns stdout (stripped)."""
    env = {"PATH": f"{pc.PG_BIN}:/usr/bin:/bin", "PGPASSWORD": user[1], "PGCONNECT_TIMEOUT": "3"}
    out = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", user[0],
                          "-d", "postgres", "-c", sql], env=env, capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 0, f"psql failed: {out.stderr.strip()}"
    return out.stdout.strip()


def open_write_session(cluster, expected_node):
    conn = cluster.proxy_connect(pc.WRITE_PORT)
    with conn.cursor() as cur:
        cur.execute("SELECT inet_server_port(), pg_is_in_recovery()")
        port, in_recovery = cur.fetchone()
    assert port == expected_node.pg_port and not in_recovery, \
        f"session through :5432 went to port {port} (recovery {in_recovery}), not leader {expected_node}"
    return conn


def first_write_not_on(cluster, old, timeout):
    """Writes through :5432 on new connections until one succeeds on a node other than `old`;
    returns (seconds waited, node)."""
    t0 = time.monotonic()

    def new_leader_took_write():
        port = cluster.write_through_proxy("failover")
        return cluster.node_by_port(port) if port != old.pg_port else None
    node = cluster.wait_for(new_leader_took_write, timeout,
                            f"a write through :5432 on a node other than {old.name}", 0.1)
    return time.monotonic() - t0, node


def test_write_lands_on_leader(cluster):
    ensure_healthy(cluster)
    leader = cluster.node(cluster.leader())
    for i in range(10):  # new connection each time: every routing decision must be the leader
        assert cluster.write_through_proxy(f"w{i}") == leader.pg_port
    # and with psql, the client an operator types
    out = psql(pc.WRITE_PORT, "INSERT INTO pgha_probe(port, note) VALUES (inet_server_port(), 'psql') "
                              "RETURNING inet_server_port(), pg_is_in_recovery()")
    assert out.splitlines()[0] == f"{leader.pg_port}|f", out


def test_reads_spread_over_all_nodes(cluster):
    ensure_healthy(cluster)
    conns, ports = ports_of_read_sessions(cluster, 30)
    try:
        per_node = {n.name: ports.count(n.pg_port) for n in cluster.nodes.values()}
        print(f"30 read sessions through :5433: {per_node}")
        assert all(count > 0 for count in per_node.values()), per_node
        assert sum(per_node.values()) == 30
        # and psql reads through the read port work
        assert psql(pc.READ_PORT, "SELECT count(*) > 0 FROM pgha_probe") == "t"
    finally:
        close_all(conns)


def test_kill_leader_patroni_and_postmaster(cluster):
    ensure_healthy(cluster)
    old = cluster.node(cluster.leader())
    session = open_write_session(cluster, old)
    try:
        kill_at = time.monotonic()
        old.kill_patroni(signal.SIGKILL)
        old.kill_postmaster(signal.SIGKILL)
        killed["full"] = old.name
        waited, new = first_write_not_on(cluster, old, FAILOVER_TIMEOUT)
        kill_to_write = time.monotonic() - kill_at
        print(f"kill -9 {old.name} (Patroni + postmaster) -> first write through :5432 on "
              f"{new.name} after {kill_to_write:.1f} s")
        assert cluster.leader() == new.name, f"write landed on {new.name}, Patroni leader is {cluster.leader()}"
        record_figures({"test": "article/kill_patroni_and_postmaster", "config": str(article_config().resolve()),
                        "patroni_profile": PROFILE, "kill_to_first_write_s": round(kill_to_write, 2)})
        # The session to the dead leader is gone (the proxy or the dying backend closed it).
        cluster.wait_for(lambda: not session_alive(session), 30,
                         "the session opened through :5432 to the old leader to be closed", 0.2)
    finally:
        close_all([session])


def test_killed_node_rejoins_as_replica(cluster):
    name = killed.get("full")
    assert name, "needs test_kill_leader_patroni_and_postmaster to have killed a node"
    node = cluster.node(name)
    node.start_patroni()
    cluster.wait_for(node.is_replica, REJOIN_TIMEOUT, f"{name} /replica 200", 0.25)
    assert_reads_reach(cluster, node)


def assert_reads_reach(cluster, node):
    """Reads through :5433 reach `node` again (it can take a check round for the proxy to use it)."""
    def reached():
        conns, ports = ports_of_read_sessions(cluster, 9)
        close_all(conns)
        return node.pg_port in ports
    cluster.wait_for(reached, 90, f"a read through :5433 to land on {node.name}", 0.5)


def test_kill_leader_patroni_only(cluster):
    ensure_healthy(cluster)
    old = cluster.node(cluster.leader())
    session = open_write_session(cluster, old)
    try:
        kill_at = time.monotonic()
        old.kill_patroni(signal.SIGKILL)  # PostgreSQL keeps running, still writable
        killed["patroni_only"] = old.name
        assert old.postmaster_pid() is not None
        # The proxy marks the old leader down (its REST API is gone) and, with
        # on-marked-down shutdown-sessions, kills the session we did not close.
        cluster.wait_for(lambda: not session_alive(session), FAILOVER_TIMEOUT,
                         "the proxy to kill the session to the old leader at mark-down", 0.5)
        marked_down = time.monotonic() - kill_at
        assert old.postmaster_pid() is not None, "PostgreSQL died: the session was not killed by the proxy"
        assert proxy_write_listener_state(cluster, old) != "UP"
        waited, new = first_write_not_on(cluster, old, FAILOVER_TIMEOUT)
        kill_to_write = time.monotonic() - kill_at
        assert cluster.leader() == new.name
        for i in range(6):  # and from now on, every write goes to the new leader
            assert cluster.write_through_proxy(f"after{i}") == new.pg_port
        print(f"kill -9 {old.name}'s Patroni only -> its session killed after {marked_down:.1f} s, "
              f"first write on {new.name} after {kill_to_write:.1f} s")
        record_figures({"test": "article/kill_patroni_only", "config": str(article_config().resolve()),
                        "patroni_profile": PROFILE, "kill_to_session_killed_s": round(marked_down, 2),
                        "kill_to_first_write_on_new_leader_s": round(kill_to_write, 2)})
    finally:
        close_all([session])


def test_patroni_only_node_rejoins_as_replica(cluster):
    name = killed.get("patroni_only")
    assert name, "needs test_kill_leader_patroni_only to have killed a node's Patroni"
    node = cluster.node(name)
    node.start_patroni()  # finds its PostgreSQL running as a primary: demotes, rewinds, follows
    cluster.wait_for(node.is_replica, REJOIN_TIMEOUT, f"{name} /replica 200", 0.25)
    assert_reads_reach(cluster, node)
