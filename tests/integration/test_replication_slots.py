"""Replication slots under pgha-agent, against real PostgreSQL and etcd.

1. The leader keeps an active physical slot for each replica, named after it.
2. A replica's node is lost (kill -9 of everything) while the leader writes and switches WAL
   segments with checkpoints in between, which would recycle every segment the replica has not
   received (wal_keep_size is 0). Its slot keeps them: the replica comes back by streaming, with
   the rows written meanwhile, and is not cloned again (no pg_basebackup in its command log).
"""
import os
import time

import pytest

import pgha_cluster as pc
from conftest import clone_count, ensure_healthy, query, start_cluster, stop_cluster, tuned_config

PROFILE = os.environ.get("PGHA_TEST_AGENT_PROFILE", "quick")
SEGMENT_SWITCHES = 6


@pytest.fixture(scope="module")
def cluster():
    c = start_cluster("test_replication_slots", tuned_config(), PROFILE, manager="pgha-agent")
    try:
        ensure_healthy(c)
        yield c
    finally:
        stop_cluster(c)


def slots_on(node):
    return {name: (active, restart_lsn) for name, active, restart_lsn in
            query(node, "SELECT slot_name, active, restart_lsn::text FROM pg_replication_slots "
                        "WHERE slot_type = 'physical'")}


def test_the_leader_keeps_an_active_slot_per_replica(cluster):
    c = cluster
    ensure_healthy(c)
    leader = c.node(c.leader())
    c.wait_for(lambda: {n: s[0] for n, s in slots_on(leader).items()} == {r: True for r in c.replicas()}, 30,
               "an active slot named after each replica", 0.2)
    # Each replica holds an unreserved slot for every other member, ready for its promotion.
    for name in c.replicas():
        others = {n for n in c.nodes if n != name}
        c.wait_for(lambda: {n: s[1] for n, s in slots_on(c.node(name)).items()} == {n: None for n in others}, 30,
                   f"unreserved slots on {name} for {sorted(others)}", 0.2)


def test_a_replica_lost_while_wal_is_recycled_comes_back_by_streaming(cluster):
    c = cluster
    ensure_healthy(c)
    leader = c.node(c.leader())
    lost = c.node(c.replicas()[0])
    clones_before = clone_count(lost)
    query(leader, "CREATE TABLE IF NOT EXISTS slot_probe (id int PRIMARY KEY, pad text)")
    lost.kill_all()
    c.wait_for(lambda: slots_on(leader).get(lost.name, (True,))[0] is False, 30, f"{lost.name}'s slot inactive", 0.2)
    restart_lsn = slots_on(leader)[lost.name][1]
    for i in range(SEGMENT_SWITCHES):
        query(leader, f"INSERT INTO slot_probe SELECT g, repeat('x', 200) FROM generate_series({i * 1000 + 1}, "
                      f"{(i + 1) * 1000}) g")
        query(leader, "SELECT pg_switch_wal()")
        query(leader, "CHECKPOINT")
    # The segment the replica needs next is still there, held by its slot.
    needed = query(leader, f"SELECT pg_walfile_name('{restart_lsn}')")[0][0]
    present = {row[0] for row in query(leader, "SELECT name FROM pg_ls_waldir()")}
    assert needed in present, f"{needed} (restart_lsn {restart_lsn}) was recycled: {sorted(present)[:10]}"
    started = time.monotonic()
    lost.start_patroni()
    c.wait_for(lost.is_replica, 120, f"{lost.name} to answer 200 on /replica", 0.2)
    c.wait_for(lambda: query(lost, "SELECT count(*) FROM slot_probe")[0][0] == SEGMENT_SWITCHES * 1000, 60,
               f"the rows written while {lost.name} was gone to reach it", 0.2)
    c.wait_for(lambda: slots_on(leader)[lost.name][0], 30, f"{lost.name}'s slot active again", 0.2)
    print(f"[test_replication_slots] {lost.name} streaming again {time.monotonic() - started:.1f} s after its start")
    assert clone_count(lost) == clones_before, f"{lost.name} was cloned again instead of streaming"
    ensure_healthy(c)


def streaming_from(node):
    return {name for name, state in query(node, "SELECT application_name, state FROM pg_stat_replication")
            if state == "streaming"}


def set_replicatefrom(c, node, upstream):
    """Restarts `node`'s agent with tags.replicatefrom set to `upstream` (None: removed)."""
    node.stop()
    text = node.config_path.read_text()
    lines = [line for line in text.splitlines() if not line.startswith("  replicatefrom:")]
    if upstream:
        lines.insert(lines.index("tags:") + 1, f"  replicatefrom: {upstream}")
    node.config_path.write_text("\n".join(lines) + "\n")
    node.start_patroni()


def test_a_replica_with_replicatefrom_cascades_and_falls_back_to_the_leader(cluster):
    # Cascading replication: a replica tagged replicatefrom streams from that member, not from the
    # leader, and gets the leader's writes through it; the leader keeps no slot in use for it.
    # When the member it names is lost, it streams from the leader again.
    c = cluster
    ensure_healthy(c)
    leader = c.node(c.leader())
    middle, cascaded = (c.node(n) for n in c.replicas())
    try:
        set_replicatefrom(c, cascaded, middle.name)
        c.wait_for(lambda: cascaded.name in streaming_from(middle), 90,
                   f"{cascaded.name} streaming from {middle.name}", 0.3)
        assert cascaded.name not in streaming_from(leader)
        assert (cascaded.rest_json("/patroni") or {}).get("tags", {}).get("replicatefrom") == middle.name
        query(leader, "CREATE TABLE IF NOT EXISTS cascade_probe (id int PRIMARY KEY)")
        query(leader, "INSERT INTO cascade_probe VALUES (1)")
        c.wait_for(lambda: query(cascaded, "SELECT count(*) FROM cascade_probe")[0][0] == 1, 30,
                   f"the leader's write to reach {cascaded.name} through {middle.name}", 0.2)
        c.wait_for(lambda: not slots_on(leader).get(cascaded.name, (False,))[0], 30,
                   f"the leader's slot for {cascaded.name} unused", 0.2)
        middle.kill_all()
        c.wait_for(lambda: cascaded.name in streaming_from(leader), 60,
                   f"{cascaded.name} back on the leader once {middle.name} is gone", 0.3)
        query(leader, "INSERT INTO cascade_probe VALUES (2)")
        c.wait_for(lambda: query(cascaded, "SELECT count(*) FROM cascade_probe")[0][0] == 2, 30,
                   f"the leader's write to reach {cascaded.name} directly", 0.2)
    finally:
        if not middle.patroni_running():
            middle.start_patroni()
        set_replicatefrom(c, cascaded, None)
    ensure_healthy(c)
