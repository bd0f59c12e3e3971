"""Maintenance mode under pgha-agent, against real PostgreSQL and etcd: `pghactl pause` sets
"pause" in the /config key; while paused the leader keeps the lock even with its PostgreSQL
stopped, nothing is promoted and nothing is started; Patroni's own `patronictl resume` (PATCH
/config on the leader's REST API) hands control back and the leader starts its PostgreSQL again.
Profile "quick" (ttl 3 s).
"""
import subprocess
import time

import pgha_cluster as pc
from conftest import ensure_healthy, start_cluster, stop_cluster, tuned_config

PROFILE = "quick"
TTL = pc.PROFILES[PROFILE]["ttl"]


def pghactl(cluster, *args):
    binary = pc.find_agent_binary().parent / "pghactl"
    out = subprocess.run([str(binary), "-c", str(cluster.node("node1").config_path), *args],
                         capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout + out.stderr


def test_pause_keeps_the_leader_and_leaves_postgres_alone_until_resumed():
    c = start_cluster("test_maintenance", tuned_config(), PROFILE, manager="pgha-agent")
    try:
        ensure_healthy(c)
        leader = c.leader()
        replicas = [n for n in c.nodes if n != leader]
        rc, out = pghactl(c, "pause")
        assert rc == 0 and "paused" in out, out
        c.wait_for(lambda: all((n.rest_json("/patroni") or {}).get("pause") is True for n in c.nodes.values()),
                   10, "every agent to report pause", 0.1)
        rc, out = pghactl(c, "list")
        assert rc == 0 and "Maintenance mode: on" in out, out
        assert pghactl(c, "pause")[1].startswith("Cluster is already paused")

        # The operator stops the leader's PostgreSQL: for 3 x ttl nobody is promoted, the leader
        # keeps the lock, and its PostgreSQL stays down.
        c.node(leader).kill_postmaster()
        c.wait_for(lambda: c.node(leader).postmaster_pid() is None, 10, "the postmaster to exit", 0.1)
        until = time.monotonic() + 3 * TTL
        while time.monotonic() < until:
            view = c.cluster_view() or {}
            leaders = [m["name"] for m in view.get("members", []) if m.get("role") == "leader"]
            assert leaders == [leader], f"the lock moved while paused: {view}"
            for name in replicas:
                assert c.node(name).local_pg_state() == "replica", f"{name} left recovery while paused"
            assert c.node(leader).postmaster_pid() is None, "PostgreSQL was started while paused"
            time.sleep(0.2)

        config = c.node(leader).rest_json("/config")
        assert config and config.get("pause") is True, f"GET /config: {config}"
        # Patroni's CLI, unchanged: PATCH /config {"pause": null} on the leader, then it waits for
        # every member to report that it is no longer paused.
        r = subprocess.run(["patronictl", "-c", str(c.node("node1").config_path), "resume", "--wait"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert (c.node(leader).rest_json("/config") or {}).get("pause") is not True  # patronictl sends null
        c.wait_for(lambda: c.leader() == leader, 60, f"{leader} to run its primary again", 0.2)
        c.wait_for(lambda: c.write_through_proxy("after resume") == c.node(leader).pg_port, 30,
                   "writes through :5432", 0.2)
        ensure_healthy(c)
    finally:
        stop_cluster(c)
