"""Planned work under pgha-agent, against real PostgreSQL and etcd, driven by pghactl as an operator
would (no prompts):

1. `pghactl restart --member <leader>` while an AckedWriter writes through the proxy: no
   acknowledged write is lost, the same member leads afterwards, and its postmaster started anew.
2. `pghactl reload` has every member re-read its configuration (an ALTER SYSTEM takes effect).
3. `pghactl restart --pending` after a restart-only setting changed on the leader: only the leader
   restarts (the others are skipped), and its pending_restart is gone.
4. `pghactl reinit --member <replica> --wait` under writes: the replica is cloned again, streams,
   and has every acknowledged row; the leader refuses a reinitialize.
5. A scheduled restart: shown by `pghactl list`, cancelled by `pghactl flush restart`; one a few
   seconds ahead runs then, not before.
6. A scheduled switchover: listed, flushed; one a few seconds ahead hands over then, not before,
   losing no acknowledged write.
7. `pghactl topology`: the leader first, the replicas under it.
Profile "quick" (ttl 3 s). Every wait has a deadline.
"""
import datetime
import os

import pytest

from conftest import (AckedWriter, clone_count, ensure_healthy, ids_on, pghactl, query, start_cluster, stop_cluster,
                      tuned_config)

PROFILE = os.environ.get("PGHA_TEST_AGENT_PROFILE", "quick")


@pytest.fixture(scope="module")
def cluster():
    c = start_cluster("test_planned_work", tuned_config(), PROFILE, manager="pgha-agent")
    try:
        ensure_healthy(c)
        yield c
    finally:
        stop_cluster(c)


def patroni(node):
    return node.rest_json("/patroni", timeout=3) or {}


def start_time(node):
    return patroni(node).get("postmaster_start_time")


def parse_start_time(text):
    """PostgreSQL's start time as the agent shows it: "2026-12-02 05:30:00.123456+00:00"."""
    return datetime.datetime.fromisoformat(text)


def writes_acked(c, writer, count, timeout, what):
    target = len(writer.acked) + count
    c.wait_for(lambda: len(writer.acked) >= target, timeout, what, 0.1)


def member_keys(c):
    """`pghactl list`: the member keys as pghactl reads them from etcd."""
    rc, out = pghactl(c, "list")
    assert rc == 0, out
    return out


def test_restart_of_the_leader_under_writes_loses_nothing_and_keeps_it_leading(cluster):
    c = cluster
    ensure_healthy(c)
    leader_name = c.leader()
    leader = c.node(leader_name)
    before = start_time(leader)
    assert before, patroni(leader)
    query(leader, "CREATE TABLE IF NOT EXISTS planned_rows (id bigint PRIMARY KEY)")
    writer = AckedWriter(c, "planned_rows")
    writer.start()
    try:
        writes_acked(c, writer, 20, 30, "writes through the proxy before the restart")
        rc, out = pghactl(c, "restart", "--member", leader_name, timeout=300)
        assert rc == 0, out
        assert f"Success: restart on member {leader_name}" in out, out
        writes_acked(c, writer, 20, 60, "writes through the proxy after the restart")
    finally:
        writer.stop()
    assert c.leader() == leader_name, "the lock moved during a restart"
    after = start_time(leader)
    assert after and after != before, f"postmaster_start_time {before} -> {after}"
    lost = set(writer.acked) - ids_on(leader, "planned_rows")
    assert not lost, f"{len(lost)} acknowledged writes lost: {sorted(lost)[:10]}"
    assert leader.is_primary(), patroni(leader)


def test_reload_applies_a_changed_setting_on_every_member(cluster):
    c = cluster
    ensure_healthy(c)
    leader = c.node(c.leader())
    query(leader, "ALTER SYSTEM SET log_min_duration_statement = 4321")
    assert query(leader, "SHOW log_min_duration_statement")[0][0] != "4321ms"
    rc, out = pghactl(c, "reload")
    assert rc == 0, out
    for name in c.nodes:
        assert f"Reload request received for member {name}" in out, out
    c.wait_for(lambda: query(leader, "SHOW log_min_duration_statement")[0][0] == "4321ms", 15,
               "the reloaded setting on the leader", 0.2)
    query(leader, "ALTER SYSTEM RESET log_min_duration_statement")
    rc, out = pghactl(c, "reload", "--member", leader.name)
    assert rc == 0 and out.count("Reload request received") == 1, out
    c.wait_for(lambda: query(leader, "SHOW log_min_duration_statement")[0][0] == "-1", 15,
               "the reset setting on the leader", 0.2)


def test_restart_pending_restarts_only_the_member_whose_setting_waits(cluster):
    c = cluster
    ensure_healthy(c)
    leader_name = c.leader()
    leader = c.node(leader_name)
    replicas = [c.node(n) for n in c.replicas()]
    # A restart-only setting with no bearing on the standbys (unlike max_connections & co).
    query(leader, "ALTER SYSTEM SET max_files_per_process = 900")
    rc, out = pghactl(c, "reload", "--member", leader_name)
    assert rc == 0, out
    c.wait_for(lambda: patroni(leader).get("pending_restart") is True, 20, "pending_restart on the leader", 0.2)
    c.wait_for(lambda: "*" in member_keys(c), 20, "pghactl list to show the pending restart", 0.2)
    before = {n.name: start_time(n) for n in [leader, *replicas]}

    rc, out = pghactl(c, "restart", "--pending", timeout=300)
    assert rc == 0, out
    assert f"Success: restart on member {leader_name}" in out, out
    for r in replicas:
        assert f"Skipped: restart for member {r.name} (restart conditions are not satisfied)" in out, out
        assert start_time(r) == before[r.name], f"{r.name} restarted without a pending setting"
    assert start_time(leader) != before[leader_name]
    assert query(leader, "SHOW max_files_per_process")[0][0] == "900"
    c.wait_for(lambda: "pending_restart" not in patroni(leader), 20, "pending_restart gone after the restart", 0.2)
    # The restart is answered before the HA iteration that publishes the restarted server (the
    # status says "restarting" until then, /primary 503): still the leader once it has run.
    c.wait_for(lambda: c.leader() == leader_name, 5, f"{leader_name} to answer 200 on /primary again", 0.05)
    ensure_healthy(c)


def test_reinit_of_a_replica_clones_it_again_and_it_streams_every_acked_row(cluster):
    c = cluster
    ensure_healthy(c)
    leader_name = c.leader()
    rc, out = pghactl(c, "reinit", "--member", leader_name)
    assert rc == 1 and "I am the leader, can not reinitialize" in out, out

    replica = c.node(c.replicas()[0])
    clones_before = clone_count(replica)
    query(c.node(leader_name), "CREATE TABLE IF NOT EXISTS reinit_rows (id bigint PRIMARY KEY)")
    writer = AckedWriter(c, "reinit_rows")
    writer.start()
    try:
        writes_acked(c, writer, 20, 30, "writes before the reinitialize")
        rc, out = pghactl(c, "reinit", "--member", replica.name, "--wait", timeout=900)
        assert rc == 0, out
        assert f"Success: reinitialize for member {replica.name}" in out, out
        assert f"Reinitialize is completed on: {replica.name}" in out, out
        writes_acked(c, writer, 20, 60, "writes after the reinitialize")
    finally:
        writer.stop()
    assert clone_count(replica) > clones_before, "the replica was not cloned again"
    c.wait_for(c.healthy, 120, "the reinitialized replica streaming again", 0.25)
    assert c.leader() == leader_name
    acked = set(writer.acked)
    c.wait_for(lambda: acked <= ids_on(replica, "reinit_rows"), 60, "every acked row on the reinitialized replica",
               0.25)


def test_scheduled_restart_is_listed_flushed_and_runs_at_its_time(cluster):
    c = cluster
    ensure_healthy(c)
    names = sorted(c.nodes)
    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).isoformat(timespec="seconds")
    rc, out = pghactl(c, "restart", "--scheduled", later)
    assert rc == 0, out
    assert out.count("Success: restart scheduled on member") == 3, out
    rc, out = pghactl(c, "restart", "--member", names[0], "--scheduled", later)
    assert rc == 1 and f"another restart is already scheduled on member {names[0]}" in out, out
    c.wait_for(lambda: member_keys(c).count(later) == 3, 20, "pghactl list to show 3 scheduled restarts", 0.2)
    rc, out = pghactl(c, "flush", "restart")
    assert rc == 0, out
    assert out.count("Success: flush scheduled restart for member") == 3, out
    c.wait_for(lambda: "Scheduled restart" not in member_keys(c), 20, "the schedules gone from the member keys", 0.2)
    rc, out = pghactl(c, "flush", "restart")
    assert rc == 0 and out.count("No scheduled restart for member") == 3, out

    # One a few seconds ahead, on a replica: it restarts then, not before, and the schedule goes.
    replica = c.node(c.replicas()[0])
    before = start_time(replica)
    at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=6)
    rc, out = pghactl(c, "restart", "--member", replica.name, "--scheduled", at.isoformat())
    assert rc == 0 and f"Success: restart scheduled on member {replica.name}" in out, out
    assert patroni(replica).get("scheduled_restart", {}).get("schedule") == at.isoformat(), patroni(replica)
    c.wait_for(lambda: start_time(replica) not in (None, before), 30, "the scheduled restart", 0.2)
    restarted = parse_start_time(start_time(replica))
    assert restarted >= at, f"restarted at {restarted}, scheduled for {at}"
    assert "scheduled_restart" not in patroni(replica)
    ensure_healthy(c)


def test_scheduled_switchover_is_listed_flushed_and_hands_over_at_its_time(cluster):
    # `pghactl switchover --scheduled`: 202 at once, shown by `pghactl list`, cancelled by `pghactl
    # flush switchover`; one a few seconds ahead hands over then, not before, under writes that
    # lose nothing.
    c = cluster
    ensure_healthy(c)
    old = c.leader()
    candidate = sorted(c.replicas())[0]
    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).isoformat(timespec="seconds")
    rc, out = pghactl(c, "switchover", "--candidate", candidate, "--scheduled", later)
    assert rc == 0 and "Switchover scheduled" in out, out
    listed = member_keys(c)
    assert f"Switchover scheduled at: {later}" in listed and f"to: {candidate}" in listed, listed
    rc, out = pghactl(c, "flush", "switchover")
    assert rc == 0 and "Success: scheduled switchover deleted" in out, out
    rc, out = pghactl(c, "flush", "switchover")
    assert rc == 0 and "No pending scheduled switchover" in out, out
    assert c.leader() == old

    query(c.node(old), "CREATE TABLE IF NOT EXISTS scheduled_rows (id bigint PRIMARY KEY)")
    writer = AckedWriter(c, "scheduled_rows")
    writer.start()
    try:
        writes_acked(c, writer, 20, 30, "writes through the proxy before the switchover")
        at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=6)
        rc, out = pghactl(c, "switchover", "--candidate", candidate, "--scheduled", at.isoformat())
        assert rc == 0 and "Switchover scheduled" in out, out
        c.wait_for(lambda: c.leader() == candidate, 40, f"{candidate} to lead after the scheduled time", 0.1)
        moved = datetime.datetime.now(datetime.timezone.utc)
        assert moved >= at, f"handed over at {moved}, scheduled for {at}"
        writes_acked(c, writer, 20, 60, "writes through the proxy after the switchover")
    finally:
        writer.stop()
    lost = set(writer.acked) - ids_on(c.node(candidate), "scheduled_rows")
    assert not lost, f"{len(lost)} acknowledged writes lost: {sorted(lost)[:10]}"
    ensure_healthy(c)


def test_topology_shows_the_leader_first_and_the_replicas_under_it(cluster):
    c = cluster
    ensure_healthy(c)
    rc, out = pghactl(c, "topology")
    assert rc == 0, out
    rows = [line for line in out.splitlines()
            if line.split()[:1] and (line.split()[0] in c.nodes or line.split()[:2][-1] in c.nodes)]
    assert rows[0].startswith(c.leader()) and "Leader" in rows[0], out
    assert sorted(r.split()[1] for r in rows[1:]) == sorted(c.replicas()), out


def test_remove_refuses_a_cluster_whose_leader_runs(cluster):
    c = cluster
    ensure_healthy(c)
    rc, out = pghactl(c, "remove", "someothercluster", "--yes-i-am-aware")
    assert rc == 2 and "is not the configured cluster" in out, out
    scope = patroni(c.node(c.leader())).get("patroni", {}).get("scope")
    rc, out = pghactl(c, "remove", scope)
    assert rc == 2 and "--yes-i-am-aware" in out, out
    rc, out = pghactl(c, "remove", scope, "--yes-i-am-aware")
    assert rc == 1 and "has a running leader" in out, out
    assert c.leader(), "the cluster's keys were touched"
