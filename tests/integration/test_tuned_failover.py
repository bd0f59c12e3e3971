"""Failover timing with the tuned proxy config (conf/pgha-proxy-tuned.yaml: write listener checks
GET /primary at inter 200ms / fastinter 50ms, read listener checks GET /replica).

Patroni profile: "fast" (ttl 10 / loop_wait 2 / retry_timeout 4): what this module measures is the
proxy's reaction, which does not depend on how long Patroni takes to notice; the fast profile
keeps each failover at ~10-15 s so the module runs in ~2 minutes.

Measured per failover, printed and appended to $PGHA_TEST_DIR/figures.json:
- kill_to_first_write_s: from kill -9 to the first successful write through :5432 on the new leader;
- promotion_to_routed_write_s: from the moment the new leader's Patroni answers 200 on /primary
  (polled every 20 ms) to the first write through :5432 that lands on it (a writer probes every
  20 ms on a new connection each time, as the bench role with trust auth so a probe costs ~ms).
"""
import signal
import time

import pytest

from conftest import (close_all, ensure_healthy, ports_of_read_sessions, record_figures,
                      tuned_config)
from failover_probe import FailoverProbe

PROFILE = "fast"
FAILOVER_TIMEOUT = 90
REJOIN_TIMEOUT = 120


@pytest.fixture(scope="module")
def cluster(cluster_factory):
    return cluster_factory(tuned_config(), PROFILE)


def measure_failover(cluster, kill_postmaster):
    ensure_healthy(cluster, REJOIN_TIMEOUT)
    old = cluster.node(cluster.leader())
    candidates = [n for n in cluster.nodes.values() if n is not old]
    with FailoverProbe(cluster, candidates) as probe:
        cluster.wait_for(lambda: probe.first_write_on(old.pg_port, 0), 10,
                         "the probe writer to reach the leader before the kill", 0.02)
        kill_at = time.monotonic()
        old.kill_patroni(signal.SIGKILL)
        if kill_postmaster:
            old.kill_postmaster(signal.SIGKILL)
        new_name = cluster.wait_for(lambda: next(iter(probe.promoted_at), None), FAILOVER_TIMEOUT,
                                    "a replica's Patroni to answer 200 on /primary", 0.02)
        new = cluster.node(new_name)
        routed_at = cluster.wait_for(lambda: probe.first_write_on(new.pg_port, kill_at),
                                     FAILOVER_TIMEOUT, f"a probe write through :5432 on {new_name}", 0.02)
    promoted_at = probe.promoted_at[new_name]
    figures = {
        "test": f"tuned/{'kill_patroni_and_postmaster' if kill_postmaster else 'kill_patroni_only'}",
        "config": str(tuned_config().resolve()), "patroni_profile": PROFILE,
        "kill_to_promotion_s": round(promoted_at - kill_at, 3),
        "kill_to_first_write_s": round(routed_at - kill_at, 3),
        "promotion_to_routed_write_s": round(routed_at - promoted_at, 3),
        "probe_writes": len(probe.writes),
    }
    print(f"\nkill -9 {old.name} ({'Patroni + postmaster' if kill_postmaster else 'Patroni only'}): "
          f"{new_name} promoted after {figures['kill_to_promotion_s']:.3f} s, first write through "
          f":5432 on it after {figures['kill_to_first_write_s']:.3f} s "
          f"(promotion -> routed write {figures['promotion_to_routed_write_s'] * 1000:.0f} ms)")
    record_figures(figures)
    assert cluster.leader() == new_name
    return old, new


def test_failover_timing_kill_patroni_and_postmaster(cluster):
    old, new = measure_failover(cluster, kill_postmaster=True)
    old.start_patroni()
    cluster.wait_for(old.is_replica, REJOIN_TIMEOUT, f"{old.name} /replica 200", 0.25)


def test_failover_timing_kill_patroni_only(cluster):
    old, new = measure_failover(cluster, kill_postmaster=False)
    # The old primary still runs and accepts writes directly, so the proxy must stop routing
    # there: every write from now on lands on the new leader.
    for i in range(6):
        assert cluster.write_through_proxy(f"after{i}") == new.pg_port
    old.start_patroni()
    cluster.wait_for(old.is_replica, REJOIN_TIMEOUT, f"{old.name} /replica 200", 0.25)


def test_reads_use_replicas_only(cluster):
    """The tuned read listener checks /replica: with all nodes healthy, reads go to the two
    replicas and never to the leader."""
    ensure_healthy(cluster, REJOIN_TIMEOUT)
    leader = cluster.node(cluster.leader())
    replicas = [n for n in cluster.nodes.values() if n is not leader]

    def spread():
        conns, ports = ports_of_read_sessions(cluster, 12)
        close_all(conns)
        return ports if set(ports) == {n.pg_port for n in replicas} else None
    ports = cluster.wait_for(spread, 30, "reads through :5433 on both replicas only", 0.5)
    assert leader.pg_port not in ports
