"""The fault campaign (tools/pgha-campaign) against its own cluster: every fault kind once, in an
order drawn from a seed, judged from the outside (acknowledged writes kept, never two writable
nodes at once, timelines never back, the cluster whole again within the bound), and no client that
cannot connect through the proxy across a switchover or a failover (it must be held). Then 6
faults with synchronous replication, where no fault may lose an acknowledged write, the loss of
the leader node included; and the loss of etcd in failsafe mode, where writes must go on.

Netns mode (partitions included; PGHA_CAMPAIGN_NET_ID picks its subnet, default the launcher's)
unless PGHA_CAMPAIGN_NETNS is "0", then loopback (the fixed ports must be free). PGHA_CAMPAIGN_SEED
fixes the seed (default: a new one, printed with the command that replays it). The run's JSON
results are kept in $PGHA_TEST_DIR/<test's cluster>.json; on a violation the cluster's logs stay in its
directory.
"""
import json
import os
import random
import subprocess
import sys

import pytest

import pgha_campaign_faults
import pgha_cluster as pc
from conftest import REPO, TEST_DIR, fresh_cluster_dir

CAMPAIGN = REPO / "tools" / "pgha-campaign"
RUN_TIMEOUT = 20 * 60  # every kind once: ~2.5 min on loopback, ~3.5 min with partitions (+ up/down)


def netns_wanted():
    return os.environ.get("PGHA_CAMPAIGN_NETNS", "1") != "0"


def run_campaign(name, extra_args, expected_kinds=None):
    """Runs the campaign on a cluster of its own in TEST_DIR/name; asserts no violation. With
    `expected_kinds`, asserts that exactly those kinds ran (each once)."""
    netns = netns_wanted()
    d = fresh_cluster_dir(name)
    if not netns:
        busy = lambda: [p for p in pc.required_ports("pgha-proxy") if pc.port_listening(p)]  # noqa: E731
        try:
            pc.wait_for(lambda: not busy(), 120, "the cluster ports to be free", 1.0)
        except TimeoutError:
            pytest.fail(f"ports {busy()} are held by another cluster: cannot start the campaign's")
    seed = int(os.environ.get("PGHA_CAMPAIGN_SEED") or random.SystemRandom().randrange(1, 10 ** 6))
    out_json = TEST_DIR / f"{name}.json"
    out_json.unlink(missing_ok=True)
    argv = [sys.executable, str(CAMPAIGN), "--dir", str(d), "--seed", str(seed), "--json", str(out_json)] + extra_args
    if netns:
        argv.append("--netns")
        if os.environ.get("PGHA_CAMPAIGN_NET_ID"):
            argv += ["--net-id", os.environ["PGHA_CAMPAIGN_NET_ID"]]
    print(f"\n[{name}] {' '.join(argv)}")
    try:
        run = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        if (d / "cluster.json").exists():
            pc.Cluster.attach(d).down(remove=False)
        pytest.fail(f"the campaign did not finish in {RUN_TIMEOUT} s: {(e.stdout or '')[-4000:]}")
    print(run.stdout)
    assert run.returncode in (0, 1), f"the campaign could not run (exit {run.returncode}): {run.stdout[-4000:]}"
    results = json.loads(out_json.read_text())
    if expected_kinds is not None:
        kinds = [r["kind"] for r in results["runs"]]
        assert sorted(kinds) == sorted(expected_kinds), f"ran {kinds}, expected every kind of {expected_kinds} once"
    # The failing runs whole (dual-writable windows with each write's node, source and times; lost
    # ids; the victim), so that a failure on a machine we cannot reach names its cause.
    failing = [r for r in results["runs"] if r.get("violations")]
    assert results["violations"] == [] and run.returncode == 0, \
        f"violations (seed {seed}; replay: {results.get('replay')}): " + json.dumps(results["violations"], indent=1) + \
        "\nfailing runs: " + json.dumps(failing, indent=1, default=str)[:20000]
    return results


def test_every_fault_kind_once_without_violation():
    # Across a planned operation the proxy holds new clients until the new leader is UP: a client
    # that cannot connect there is a violation.
    run_campaign("test_campaign", ["--every-kind", "--no-failed-connections", "switchover,failover"],
                 pgha_campaign_faults.kinds_for(netns_wanted()))


def test_synchronous_replication_loses_no_acknowledged_write():
    # With synchronous replication a lost acknowledged write is a violation in every fault, the
    # unplanned loss of the leader node included; the switchovers go to the synchronous standby.
    results = run_campaign("test_campaign_synchronous", [
        "--synchronous", "on", "--faults", "6", "--kinds",
        "leader-node-loss,leader-agent-kill,switchover,replica-node-loss",
        "--no-failed-connections", "switchover"])
    assert all(not r["loss_allowed"] for r in results["runs"])
    refused = [r["extra"] for r in results["runs"] if r["kind"] == "switchover" and r["extra"].get("rc") != 0]
    assert not refused, f"switchovers to the synchronous standby failed: {refused}"


def test_failsafe_mode_keeps_the_leader_writable_while_etcd_is_lost():
    # Failsafe mode on (pghactl edit-config): with 2 of 3 etcd members down, and (netns) with the
    # leader cut from etcd alone, every member still confirms the leader over REST, so writes go
    # on (a gap over the campaign's bound is a violation) and no second primary appears.
    kinds = [k for k in pgha_campaign_faults.FAILSAFE_KINDS if k in pgha_campaign_faults.kinds_for(netns_wanted())]
    results = run_campaign("test_campaign_failsafe", ["--failsafe", "--every-kind", "--kinds", ",".join(kinds)], kinds)
    assert results["failsafe"]
    for r in results["runs"]:
        assert r["write_gap_s"] <= pgha_campaign_faults.FAILSAFE_GAP_BOUND, r
        assert r["acknowledged"] > 0, r
