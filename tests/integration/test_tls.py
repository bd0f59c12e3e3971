"""TLS and authentication everywhere (`pgha-cluster up --tls`), under pgha-agent and pgha-proxy,
against real etcd, PostgreSQL and clients.

The cluster: etcd's client and peer URLs over TLS with client certificates required and password
authentication on (the agents' etcd user may touch /service/ only); every REST API over TLS with
client certificates required (verify_client: required); pgha-proxy's HTTP checks over TLS,
verified against the cluster's CA and presenting a client certificate; pghactl through the
`ctl` section.

1. Every part refuses what it must: plain HTTP, a client without a certificate, etcd without a
   password; and answers the right client. The members advertise https REST URLs.
2. pghactl and patronictl read the cluster through etcd with the same config.
3. A switchover by pghactl (a POST over TLS with the client certificate) while writers insert
   through :5432 loses none of the acknowledged rows, and writes follow the new leader (so the
   proxy's TLS checks see the change).
4. The leader's node is lost (kill -9 of everything): a new leader is elected through the TLS
   etcd and writes through :5432 reach it.
"""
import base64
import json
import os
import re
import ssl
import subprocess
import time

import pytest

import pgha_cluster as pc
from conftest import AckedWriter, ensure_healthy, ids_on, pghactl, start_cluster, stop_cluster, tuned_config

PROFILE = os.environ.get("PGHA_TEST_AGENT_PROFILE", "quick")
TTL = pc.PROFILES[PROFILE]["ttl"]
ACK_TABLE = "tls_ack"


@pytest.fixture(scope="module")
def cluster():
    c = start_cluster("test_tls", tuned_config(), PROFILE, manager="pgha-agent", tls=True)
    try:
        ensure_healthy(c)
        with c.node(c.leader()).connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {ACK_TABLE} (id bigint PRIMARY KEY)")
        yield c
    finally:
        stop_cluster(c)


def fetch(url, context=None, data=None):
    """(status, body) of a request, or (None, error text) when no HTTP answer came back."""
    return pc.http_get(url, 3.0, context, data)


def without_certificate(cluster):
    """A context that trusts the cluster's CA but presents no client certificate."""
    return ssl.create_default_context(cafile=str(cluster.pki.ca_cert))


def test_every_part_refuses_plain_anonymous_or_unauthenticated_clients(cluster):
    c = cluster
    ensure_healthy(c)
    leader = c.node(c.leader())
    etcd = f"{c.etcd_host}:{pc.ETCD_MEMBERS[0][1]}"
    key_range = json.dumps({"key": base64.b64encode(b"/service/postgres/leader").decode()}).encode()

    # REST API: the right client gets answers; no certificate, or plain HTTP, gets none.
    assert fetch(f"https://{leader.host}:{leader.rest_port}/primary", c.tls_context)[0] == 200
    status, error = fetch(f"https://{leader.host}:{leader.rest_port}/primary", without_certificate(c))
    assert status is None, f"a client without a certificate got {status}"
    status, _ = fetch(f"http://{leader.host}:{leader.rest_port}/primary")
    assert status is None or status >= 400, f"plain HTTP got {status}"

    # etcd: TLS with a client certificate, then a password.
    status, body = fetch(f"https://{etcd}/v3/kv/range", c.tls_context, key_range)
    # Authentication is on: a certificate without a password reads nothing.
    assert status in (400, 403) and ("permission denied" in body or "user name is empty" in body), (status, body)
    assert fetch(f"https://{etcd}/v3/kv/range", without_certificate(c), key_range)[0] is None
    assert fetch(f"http://{etcd}/v3/kv/range", None, key_range)[0] is None

    # What the members advertise: https REST URLs, in /cluster and in etcd (patronictl reads them).
    view = c.cluster_view()
    assert view and len(view["members"]) == 3, view
    for member in view["members"]:
        assert member["api_url"].startswith("https://"), member

    # The proxy's checks pass over TLS: it routes writes to the leader.
    assert c.write_through_proxy("tls") == leader.pg_port


def test_pghactl_and_patronictl_read_the_cluster_through_tls_etcd(cluster):
    c = cluster
    ensure_healthy(c)
    rc, out = pghactl(c, "list")
    assert rc == 0, out
    assert re.search(rf"^\S*\s*{c.leader()}\s.*Leader", out, re.M), out
    result = subprocess.run(["patronictl", "-c", str(c.node("node1").config_path), "list"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"\|\s*{c.leader()}\s*\|.*\|\s*Leader\s*\|", result.stdout), result.stdout


def test_switchover_over_tls_loses_no_acknowledged_write(cluster):
    c = cluster
    ensure_healthy(c)
    old = c.leader()
    candidate = c.replicas()[0]
    writers = [AckedWriter(c, ACK_TABLE) for _ in range(3)]
    for w in writers:
        w.start()
    try:
        pc.wait_for(lambda: all(len(w.acked) > 5 for w in writers), 30, "writes through :5432", 0.05)
        rc, out = pghactl(c, "switchover", "--candidate", candidate)
        assert rc == 0 and "Successfully switched over" in out, out
        pc.wait_for(lambda: c.leader() == candidate, 30, f"{candidate} to lead", 0.1)
        before = sum(len(w.acked) for w in writers)
        pc.wait_for(lambda: sum(len(w.acked) for w in writers) > before + 10, 30, "writes on the new leader", 0.05)
    finally:
        for w in writers:
            w.stop()
    acked = {i for w in writers for i in w.acked}
    lost = sorted(acked - ids_on(c.node(candidate), ACK_TABLE))
    print(f"[test_tls] switchover {old} -> {candidate}: {len(acked)} acknowledged, {len(lost)} lost")
    assert not lost, f"acknowledged rows missing on {candidate}: {lost[:20]}"
    assert c.write_through_proxy("after tls switchover") == c.node(candidate).pg_port


def test_leader_node_loss_fails_over_through_tls_etcd(cluster):
    c = cluster
    ensure_healthy(c)
    old = c.leader()
    c.node(old).kill_all()
    started = time.monotonic()
    new = pc.wait_for(lambda: c.leader() not in (None, old) and c.leader(), 4 * TTL + 15, "a new leader", 0.1)
    pc.wait_for(lambda: c.write_through_proxy("after tls failover", connect_timeout=2) == c.node(new).pg_port,
                30, f"writes through :5432 on {new}", 0.1)
    print(f"[test_tls] leader node {old} lost: {new} leads and takes writes after {time.monotonic() - started:.1f} s")
    c.node(old).start_patroni()
    ensure_healthy(c)
