"""Synchronous replication (synchronous_mode) under pgha-agent, against real PostgreSQL and etcd.

TestSynchronous (synchronous_mode: on, profile "quick"):
  1. the leader's synchronous_standby_names names the standby that /cluster, /sync and the /sync key
     in etcd call synchronous; the other replica answers /async;
  2. the leader node is lost (kill -9 of every process) 3 times while writers insert through :5432
     and record every acknowledgement: each time the new leader is the standby that was
     synchronous, and every acknowledged row is on it (asynchronous replication may lose the last
     ones: this must not);
  3. the synchronous standby's node is lost: the leader makes the other replica synchronous and
     writes go on.
TestStrictSynchronous (synchronous_mode_strict): with both replicas gone a commit is not
acknowledged (it waits), the leader stays the leader; a replica back → the commit completes.
"""
import base64
import json
import os
import threading
import time
import urllib.request

import psycopg2
import pytest

import pgha_cluster as pc
from conftest import AckedWriter, ensure_healthy, ids_on, start_cluster, stop_cluster, tuned_config, unique_id

PROFILE = os.environ.get("PGHA_TEST_AGENT_PROFILE", "quick")
TTL = pc.PROFILES[PROFILE]["ttl"]
ACK_TABLE = "sync_ack"
LOSSES = 3


def sync_key(cluster):
    """The /sync key as etcd holds it (dict), or None when absent: read through etcd's v3 JSON API."""
    for _, client, _ in pc.ETCD_MEMBERS:
        body = json.dumps({"key": base64.b64encode(b"/service/postgres/sync").decode()}).encode()
        try:
            req = urllib.request.Request(f"http://{cluster.etcd_host}:{client}/v3/kv/range", data=body)
            with urllib.request.urlopen(req, timeout=3) as r:
                kvs = json.loads(r.read()).get("kvs", [])
        except OSError:
            continue
        return json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None
    raise AssertionError("no etcd member answered")


def roles(cluster):
    view = cluster.cluster_view() or {}
    return {m["name"]: m["role"] for m in view.get("members", [])}


def sync_standby(cluster):
    names = [n for n, r in roles(cluster).items() if r == "sync_standby"]
    return names[0] if len(names) == 1 else None


def standby_names(node):
    with node.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW synchronous_standby_names")
        return cur.fetchone()[0]


@pytest.fixture(scope="class")
def sync_cluster():
    cluster = start_cluster("test_synchronous", tuned_config(), PROFILE, manager="pgha-agent", synchronous="on")
    try:
        ensure_healthy(cluster)
        leader = cluster.nodes[cluster.leader()]
        with leader.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {ACK_TABLE} (id bigint PRIMARY KEY)")
        yield cluster
    finally:
        stop_cluster(cluster)


class TestSynchronous:
    def test_the_standby_names_sync_key_and_endpoints_agree(self, sync_cluster):
        c = sync_cluster
        ensure_healthy(c)
        leader, standby = c.leader(), sync_standby(c)
        assert standby is not None, f"no synchronous standby in /cluster: {roles(c)}"
        other = next(n for n in c.nodes if n not in (leader, standby))
        assert standby_names(c.nodes[leader]) == f'FIRST 1 ("{standby}")'
        assert sync_key(c) == {"leader": leader, "sync_standby": standby}
        assert c.nodes[standby].rest("/sync")[0] == 200
        assert c.nodes[other].rest("/sync")[0] == 503
        assert c.nodes[other].rest("/async")[0] == 200
        assert c.nodes[standby].rest("/async")[0] == 503

    def test_leader_loss_keeps_every_acknowledged_write(self, sync_cluster):
        c = sync_cluster
        for run in range(LOSSES):
            ensure_healthy(c)
            leader, standby = c.leader(), sync_standby(c)
            assert standby is not None
            writers = [AckedWriter(c, ACK_TABLE) for _ in range(3)]
            for w in writers:
                w.start()
            pc.wait_for(lambda: all(len(w.acked) > 5 for w in writers), 30, "writes through :5432", 0.05)
            c.node(leader).kill_all()
            new = pc.wait_for(lambda: c.leader(), 4 * TTL + 10, "a new leader", 0.1)
            pc.wait_for(lambda: sum(len(w.acked) for w in writers) > 0 and c.leader() == new, 10, "writes", 0.1)
            time.sleep(0.5)  # a few writes on the new leader too
            for w in writers:
                w.stop()
            acked = {i for w in writers for i in w.acked}
            present = ids_on(c.node(new), ACK_TABLE)
            lost = sorted(acked - present)
            print(f"[test_synchronous] loss {run + 1}: {leader} -> {new} (synchronous was {standby}); "
                  f"{len(acked)} acknowledged, {len(lost)} lost")
            assert new == standby, f"{new} was promoted, but the synchronous standby was {standby}"
            assert not lost, f"acknowledged rows missing on the new leader {new}: {lost[:20]}"
            c.node(leader).start_patroni()

    def test_losing_the_synchronous_standby_makes_the_other_replica_synchronous(self, sync_cluster):
        c = sync_cluster
        ensure_healthy(c)
        leader, standby = c.leader(), sync_standby(c)
        other = next(n for n in c.nodes if n not in (leader, standby))
        c.node(standby).kill_all()
        pc.wait_for(lambda: sync_key(c) == {"leader": leader, "sync_standby": other}, 30,
                    f"/sync to name {other}", 0.2)
        assert standby_names(c.nodes[leader]) == f'FIRST 1 ("{other}")'  # set before /sync named it
        conn = c.proxy_connect(pc.WRITE_PORT, connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute(f"INSERT INTO {ACK_TABLE} (id) VALUES (%s)", (unique_id(),))
            conn.commit()
        finally:
            conn.close()
        c.node(standby).start_patroni()
        ensure_healthy(c)


class TestStrictSynchronous:
    def test_without_a_standby_commits_wait(self):
        c = start_cluster("test_strict_synchronous", tuned_config(), PROFILE, manager="pgha-agent",
                          synchronous="strict")
        try:
            ensure_healthy(c)
            leader = c.leader()
            with c.node(leader).connect() as conn, conn.cursor() as cur:
                cur.execute(f"CREATE TABLE IF NOT EXISTS {ACK_TABLE} (id bigint PRIMARY KEY)")
            replicas = [n for n in c.nodes if n != leader]
            for n in replicas:
                c.node(n).kill_all()
            # /sync drops the standby first, the setting follows at the leader's next loop.
            pc.wait_for(lambda: sync_key(c) == {"leader": leader, "sync_standby": None}, 30, "/sync without a standby",
                        0.2)
            pc.wait_for(lambda: standby_names(c.nodes[leader]) == "*", 30, "synchronous_standby_names '*'", 0.2)
            conn = c.node(leader).connect()
            conn.autocommit = True
            waiting_id = unique_id()
            done = threading.Event()
            outcome = {}

            def commit():
                try:
                    with conn.cursor() as cur:
                        cur.execute(f"INSERT INTO {ACK_TABLE} (id) VALUES (%s)", (waiting_id,))
                    outcome["ok"] = True
                except psycopg2.Error as e:
                    outcome["error"] = str(e)
                done.set()

            t = threading.Thread(target=commit, daemon=True)
            t.start()
            assert not done.wait(3 * TTL), f"a commit was acknowledged with no standby: {outcome}"
            assert c.leader() == leader, "the leader stepped down while waiting for a standby"
            c.node(replicas[0]).start_patroni()
            assert done.wait(60), "the waiting commit did not complete once a standby was back"
            assert outcome.get("ok"), outcome
            conn.close()
            c.node(replicas[1]).start_patroni()
        finally:
            stop_cluster(c)
