"""The classic setup end to end: conf/haproxy.cfg, unchanged, as the proxy's config in front of
a real Patroni cluster (3 etcd, 3 PostgreSQL 15 nodes), with real clients (psycopg2 and psql).

Patroni profile: "classic" (ttl 30 / loop_wait 10 / retry_timeout 10, Patroni's defaults),
so the failover figures are those of the classic setup. Each failover takes ~45-60 s here (lock expiry up to
30 s, then the config's checks: inter 10s, rise/fall 3); the module runs in ~4-5 minutes.

The tests run in file order on one cluster; each fault test first restores its precondition (three
nodes, one leader, writes settled), so one failure does not hide the others.
"""
import signal
import subprocess
import time

import pytest

import pgha_cluster as pc
from conftest import (classic_config, close_all, ensure_healthy, ports_of_read_sessions,
                      proxy_write_listener_state, record_figures)
from failover_probe import FailoverProbe

PROFILE = "classic"
FAILOVER_TIMEOUT = 150  # ttl 30 + loop_wait 10 + rise 3 x inter 10 s, with margin
REJOIN_TIMEOUT = 180     # Patroni start, pg_rewind or basebackup, replication catching up

killed = {}  # scenario -> node name, handed from a kill test to its rejoin test


@pytest.fixture(scope="module")
def cluster(cluster_factory):
    return cluster_factory(classic_config(), PROFILE)


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


def kill_and_time_failover(cluster, kill_postmaster, test_name):
    """Kills the leader (kill -9 Patroni, and the postmaster if asked) while a FailoverProbe writes
    through :5432 and watches a session opened through :5432 to the leader before the kill.
    Returns (old node, new node, probe) once a write has landed on the new leader and the
    session has been closed; records the figures."""
    old = cluster.node(cluster.leader())
    session = open_write_session(cluster, old)
    candidates = [n for n in cluster.nodes.values() if n is not old]
    try:
        with FailoverProbe(cluster, candidates, watched_session=session) as probe:
            cluster.wait_for(lambda: probe.first_write_on(old.pg_port, 0), 10,
                             "the probe writer to reach the leader before the kill", 0.02)
            kill_at = time.monotonic()
            old.kill_patroni(signal.SIGKILL)
            killed[test_name] = old.name
            if kill_postmaster:
                old.kill_postmaster(signal.SIGKILL)
            new_name = cluster.wait_for(lambda: next(iter(probe.promoted_at), None), FAILOVER_TIMEOUT,
                                        "a replica's Patroni to answer 200 on /primary", 0.05)
            new = cluster.node(new_name)
            routed_at = cluster.wait_for(lambda: probe.first_write_on(new.pg_port, kill_at),
                                         FAILOVER_TIMEOUT, f"a write through :5432 on {new_name}", 0.05)
            # The session to the old leader must be closed without us closing it: by the dying
            # backend after kill -9 of the postmaster, or by the proxy at mark-down.
            cluster.wait_for(lambda: probe.session_closed_at, FAILOVER_TIMEOUT,
                             "the session opened through :5432 to the old leader to be closed", 0.1)
    finally:
        close_all([session])
    figures = {"test": f"classic/{test_name}", "config": str(classic_config().resolve()),
               "patroni_profile": PROFILE,
               "kill_to_promotion_s": round(probe.promoted_at[new_name] - kill_at, 2),
               "kill_to_first_write_s": round(routed_at - kill_at, 2),
               "promotion_to_routed_write_s": round(routed_at - probe.promoted_at[new_name], 2),
               "kill_to_old_session_closed_s": round(probe.session_closed_at - kill_at, 2)}
    print(f"\n{test_name}: {old.name} killed; {new_name} promoted after {figures['kill_to_promotion_s']} s; "
          f"first write through :5432 on it after {figures['kill_to_first_write_s']} s "
          f"(promotion -> routed {figures['promotion_to_routed_write_s']} s); old session closed "
          f"after {figures['kill_to_old_session_closed_s']} s")
    record_figures(figures)
    assert cluster.leader() == new_name, f"write landed on {new_name}, Patroni leader is {cluster.leader()}"
    return old, new, probe


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
    kill_and_time_failover(cluster, kill_postmaster=True, test_name="kill_patroni_and_postmaster")


def test_killed_node_rejoins_as_replica(cluster):
    name = killed.get("kill_patroni_and_postmaster")
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
    old, new, probe = kill_and_time_failover(cluster, kill_postmaster=False, test_name="kill_patroni_only")
    # PostgreSQL on the old leader still runs (and would accept writes), so its session was
    # killed by the proxy at mark-down, and the proxy's own view says the server is down.
    assert old.postmaster_pid() is not None, "the old leader's PostgreSQL died: who closed the session?"
    assert proxy_write_listener_state(cluster, old) != "UP"
    for i in range(6):  # and from now on, every write goes to the new leader
        assert cluster.write_through_proxy(f"after{i}") == new.pg_port


def test_patroni_only_node_rejoins_as_replica(cluster):
    name = killed.get("kill_patroni_only")
    assert name, "needs test_kill_leader_patroni_only to have killed a node's Patroni"
    node = cluster.node(name)
    node.start_patroni()  # finds its PostgreSQL running as a primary: demotes, rewinds, follows
    cluster.wait_for(node.is_replica, REJOIN_TIMEOUT, f"{name} /replica 200", 0.25)
    assert_reads_reach(cluster, node)
