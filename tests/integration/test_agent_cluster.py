"""pgha-agent instead of Patroni: the classic setup's scenario end to end with our own stack.

3 etcd members, 3 PostgreSQL 15 nodes each run by pgha-agent (reading the very same patroni.yml
that Patroni reads), pgha-proxy with conf/pgha-proxy-tuned.yaml in front. Profile "fast"
(ttl 10 / loop_wait 2 / retry_timeout 4). Tests run in file order on one cluster.

- the cluster forms: one leader, two streaming replicas (seen in the leader's GET /patroni);
- a table created through :5432 is visible on both replicas;
- kill -9 the leader's agent and postmaster: a replica is promoted and writes through :5432
  succeed on it (time recorded); the killed node, restarted, rejoins as a streaming replica
  (pg_rewind) holding the rows written while it was gone;
- pghactl list, switchover, history, show-config, edit-config and dsn;
- a setting that needs a restart is flagged (/patroni, /metrics, pghactl list) as pg_settings says.
"""
import signal
import re
import time

import pytest

import pgha_cluster as pc
from conftest import ensure_healthy, pghactl, record_figures, tuned_config
from failover_probe import FailoverProbe

PROFILE = "fast"
FAILOVER_TIMEOUT = 60
REJOIN_TIMEOUT = 120
state = {}


@pytest.fixture(scope="module")
def cluster(cluster_factory):
    return cluster_factory(tuned_config(), PROFILE, manager="pgha-agent")


def query(node, sql):
    conn = node.connect()
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def test_cluster_forms_with_one_leader_and_two_streaming_replicas(cluster):
    ensure_healthy(cluster, REJOIN_TIMEOUT)
    leader = cluster.node(cluster.leader())
    info = leader.rest_json("/patroni")
    assert info["role"] in ("primary", "master"), info
    streaming = sorted(r["application_name"] for r in info["replication"] if r["state"] == "streaming")
    assert streaming == sorted(n for n in cluster.nodes if n != leader.name), info["replication"]
    for name in cluster.replicas():
        assert query(cluster.node(name), "SELECT pg_is_in_recovery()")[0][0] is True


def test_table_created_on_leader_is_visible_on_both_replicas(cluster):
    conn = cluster.proxy_connect(pc.WRITE_PORT)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS agent_classic(id int); INSERT INTO agent_classic VALUES (1)")
    conn.close()
    for name in cluster.replicas():
        node = cluster.node(name)
        cluster.wait_for(lambda: query(node, "SELECT to_regclass('agent_classic') IS NOT NULL AND "
                                             "EXISTS (SELECT 1 FROM agent_classic WHERE id = 1)")[0][0],
                         20, f"the table on {name}", 0.1)


def test_kill_leader_agent_and_postmaster_fails_over(cluster):
    ensure_healthy(cluster, REJOIN_TIMEOUT)
    old = cluster.node(cluster.leader())
    candidates = [n for n in cluster.nodes.values() if n is not old]
    with FailoverProbe(cluster, candidates) as probe:
        cluster.wait_for(lambda: probe.first_write_on(old.pg_port, 0), 10,
                         "the probe writer to reach the leader before the kill", 0.02)
        kill_at = time.monotonic()
        # Postmaster first: once the leading agent dies, its watchdog stops the postmaster itself.
        old.kill_postmaster(signal.SIGKILL)
        old.kill_patroni(signal.SIGKILL)  # the node's manager process: pgha-agent here
        new_name = cluster.wait_for(lambda: next(iter(probe.promoted_at), None), FAILOVER_TIMEOUT,
                                    "a replica's agent to answer 200 on /primary", 0.02)
        new = cluster.node(new_name)
        routed_at = cluster.wait_for(lambda: probe.first_write_on(new.pg_port, kill_at), FAILOVER_TIMEOUT,
                                     f"a write through :5432 on {new_name}", 0.02)
    assert new_name != old.name
    assert query(new, "SELECT pg_is_in_recovery()")[0][0] is False
    record_figures({"test": "agent/kill_agent_and_postmaster", "manager": "pgha-agent",
                    "config": str(tuned_config()), "profile": PROFILE,
                    "kill_to_promotion_s": round(probe.promoted_at[new_name] - kill_at, 3),
                    "kill_to_first_write_s": round(routed_at - kill_at, 3),
                    "promotion_to_routed_write_s": round(routed_at - probe.promoted_at[new_name], 3)})
    # Rows written while the old leader is gone, for the rejoin test.
    conn = cluster.proxy_connect(pc.WRITE_PORT)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("INSERT INTO agent_classic SELECT generate_series(100, 199)")
    conn.close()
    state["killed"] = old.name


def test_killed_node_rejoins_as_streaming_replica_with_the_new_rows(cluster):
    name = state.get("killed")
    assert name, "the kill test did not run"
    node = cluster.node(name)
    node.start_patroni()
    cluster.wait_for(node.is_replica, REJOIN_TIMEOUT, f"{name} to answer 200 on /replica", 0.2)
    cluster.wait_for(lambda: query(node, "SELECT count(*) FROM agent_classic WHERE id >= 100")[0][0] == 100,
                     REJOIN_TIMEOUT, f"the rows written while {name} was gone to reach it", 0.2)
    cluster.wait_for(cluster.healthy, REJOIN_TIMEOUT, "a leader and 2 streaming replicas again", 0.25)




def test_pghactl_list_shows_roles_timeline_and_lag(cluster):
    ensure_healthy(cluster, REJOIN_TIMEOUT)
    rc, out = pghactl(cluster, "list")
    assert rc == 0, out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip()}
    leader = cluster.leader()
    assert rows[leader][2] == "Leader", out
    for name in cluster.replicas():
        assert rows[name][2:4] == ["Replica", "streaming"], out
        assert rows[name][5] == "0", f"replica lag in MB: {out}"
    timelines = {r[4] for r in rows.values()}
    assert len(timelines) == 1 and int(timelines.pop()) >= 2, f"all on the post-failover timeline: {out}"


def test_pghactl_switchover_moves_the_leader_and_writes_follow(cluster):
    ensure_healthy(cluster, REJOIN_TIMEOUT)
    old = cluster.leader()
    candidate = next(n for n in cluster.replicas())
    rc, out = pghactl(cluster, "switchover", "--candidate", candidate)
    assert rc == 0 and "Successfully switched over" in out, out
    # The report: who handed over to whom at which shutdown checkpoint, what the candidate had
    # received (past it), and how long writes were refused.
    report = re.search(rf"{old} -> {candidate} at ([0-9A-F]+)/([0-9A-F]+) \(candidate had ([0-9A-F]+)/([0-9A-F]+)\), "
                       r"writes refused for ([0-9.]+) s", out)
    assert report, out
    checkpoint = (int(report[1], 16) << 32) | int(report[2], 16)
    received = (int(report[3], 16) << 32) | int(report[4], 16)
    assert received > checkpoint, out
    assert float(report[5]) < 10, out
    cluster.wait_for(lambda: cluster.leader() == candidate, 30, f"{candidate} to lead", 0.1)
    cluster.wait_for(lambda: cluster.write_through_proxy("after switchover") == cluster.node(candidate).pg_port,
                     30, "writes through :5432 on the new leader", 0.1)
    cluster.wait_for(cluster.node(old).is_replica, REJOIN_TIMEOUT, f"{old} to rejoin as a replica", 0.2)


def test_pghactl_history_show_config_edit_config_and_dsn(cluster):
    """After the failover and the switchover above: pghactl (and patronictl, reading the same
    keys) show the timeline switches and the dynamic configuration, and edit-config changes it."""
    import subprocess
    ensure_healthy(cluster, REJOIN_TIMEOUT)
    leader = cluster.leader()
    cluster.wait_for(lambda: len(cluster.node(leader).rest_json("/history") or []) >= 2, 30,
                     "two timeline switches in /history", 0.2)
    rc, out = pghactl(cluster, "history")
    assert rc == 0, out
    rows = [line.split() for line in out.splitlines()[1:] if line.strip()]
    assert [r[0] for r in rows][:2] == ["1", "2"] and rows[-1][-1] == leader, out
    rc, out = pghactl(cluster, "show-config")
    assert rc == 0 and re.search(r"^ttl: 10$", out, re.M) and re.search(r"^loop_wait: 2$", out, re.M), out
    rc, out = pghactl(cluster, "edit-config", "--set", "postgresql.parameters.work_mem=8MB", "--set", "pgha_note=1")
    assert rc == 0 and "work_mem: 8MB" in out and "pgha_note: 1" in out, out
    rc, out = pghactl(cluster, "edit-config", "--set", "pgha_note=null")
    assert rc == 0 and "pgha_note" not in out and "ttl: 10" in out, out
    patronictl = subprocess.run(["patronictl", "-c", str(cluster.node("node1").config_path), "show-config"],
                                capture_output=True, text=True, timeout=60)
    assert patronictl.returncode == 0 and "work_mem: 8MB" in patronictl.stdout, patronictl.stdout + patronictl.stderr
    rc, out = pghactl(cluster, "dsn")
    node = cluster.node(leader)
    assert rc == 0 and out.strip() == f"host={node.host} port={node.pg_port}", out


def test_a_setting_that_needs_a_restart_is_flagged(cluster):
    ensure_healthy(cluster, REJOIN_TIMEOUT)
    node = cluster.node(cluster.leader())
    query(node, "ALTER SYSTEM SET max_wal_senders = 13")
    query(node, "SELECT pg_reload_conf()")
    try:
        cluster.wait_for(lambda: (node.rest_json("/patroni") or {}).get("pending_restart") is True, 30,
                         f"{node.name}'s /patroni to say pending_restart", 0.2)
        cluster.wait_for(lambda: any(line.rstrip().endswith("*") for line in pghactl(cluster, "list")[1].splitlines()),
                         30, "pghactl list to flag it", 0.2)
        rc, out = pghactl(cluster, "list")
        assert rc == 0 and "Pending restart" in out, out
        flagged = [line.split()[0] for line in out.splitlines() if line.rstrip().endswith("*")]
        assert flagged == [node.name], out
        assert f'patroni_pending_restart{{scope="postgres",name="{node.name}"}} 1' in node.rest("/metrics")[1]
    finally:
        query(node, "ALTER SYSTEM RESET max_wal_senders")
        query(node, "SELECT pg_reload_conf()")
    # PostgreSQL 15 keeps pg_settings.pending_restart once set, until a restart: the flag follows it.
    still = query(node, "SELECT EXISTS (SELECT 1 FROM pg_settings WHERE pending_restart)")[0][0]
    cluster.wait_for(lambda: ("pending_restart" in (node.rest_json("/patroni") or {})) == still, 30,
                     f"/patroni's pending_restart to follow pg_settings ({still})", 0.2)


def post(node, path, body, timeout=100):
    """POST a JSON body to a node's REST API (from loopback: no credentials needed)."""
    import json
    import urllib.error
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:{node.rest_port}{path}", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_switchover_posted_to_a_replica_is_forwarded_and_a_frozen_candidate_is_refused(cluster):
    ensure_healthy(cluster, REJOIN_TIMEOUT)
    leader = cluster.leader()
    replica, other = cluster.replicas()
    # A replica's REST API forwards the request to the leader, which runs the protocol.
    status, body = post(cluster.node(replica), "/switchover", {"leader": leader, "candidate": other})
    assert status == 200 and f"{leader} -> {other} at " in body, body
    cluster.wait_for(cluster.healthy, REJOIN_TIMEOUT, "a leader and 2 streaming replicas again", 0.25)
    # A candidate whose agent does not answer is refused before anything stops: the leader stays.
    leader, (candidate, _) = cluster.leader(), cluster.replicas()
    frozen = cluster.node(candidate)
    frozen.sigstop()
    try:
        status, body = post(cluster.node(leader), "/switchover", {"leader": leader, "candidate": candidate})
    finally:
        frozen.sigcont()
    assert status == 412 and f"{leader} stays the leader" in body and "not reachable" in body, body
    assert cluster.leader() == leader
    assert cluster.write_through_proxy("after a refused switchover") == cluster.node(leader).pg_port
