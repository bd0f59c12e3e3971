"""pgha-agent answers like Patroni: its REST API and its etcd keys compared, field by field,
with a real Patroni 3.0 cluster's.

The same steps run on two clusters in turn, one of Patroni (profile "fast") and one of
pgha-agent: up, a switchover to a replica by `patronictl switchover` (Patroni's own tool drives
both), wait until healthy, turn failsafe mode on (`patronictl edit-config`), then collect from the leader and from a replica every REST endpoint
both serve (status code and JSON body) and every key under /service/postgres/ (the JSON value).
The comparison requires, for each endpoint and key:
  - the same HTTP status code;
  - every field Patroni has, present in pgha with the same JSON type, recursively (extra fields
    are allowed only where listed in EXTRA_FIELDS: later Patroni versions have them too);
  - the same values where they do not depend on the run (roles, states, server version, the
    replication rows' addresses, the /history reason and new leader, the /config values);
  - in /metrics: every family Patroni writes, with the same TYPE and at least Patroni's label
    names (pgha adds `name`, as later Patroni releases do), and the same values where they
    describe the node (role, running, timeline, server version, lock, failsafe).
Known differences, deliberate, are listed below with their reason; anything else fails.
"""
import base64
import json
import re
import subprocess

import pytest

import pgha_cluster as pc
from conftest import fresh_cluster_dir, stop_cluster
from prometheus_scrape import parse as parse_metrics

PROFILE = "fast"  # whole seconds: Patroni takes no decimals
ENDPOINTS = ["/patroni", "/cluster", "/history", "/config", "/primary", "/replica", "/health", "/read-only",
             "/leader", "/standby-leader", "/sync", "/async", "/asynchronous", "/replica?lag=1MB", "/read-write",
             "/master", "/read-only-sync", "/synchronous", "/liveness", "/readiness", "/metrics", "/failsafe"]
# Fields pgha-agent adds that Patroni 3.0.2 lacks (both are in later Patroni releases).
EXTRA_FIELDS = {"scope", "replication_state"}
# Endpoints whose body Patroni leaves empty and pgha-agent fills with /patroni's JSON: only the
# status code is compared (Kubernetes probes and HAProxy look at nothing else).
STATUS_ONLY = {"/liveness", "/readiness"}
# Keys Patroni leaves behind that pgha-agent removes: /failover holds {} after a switchover.
ABSENT_IN_PGHA_OK = {"failover"}
# A replica that streams is "streaming" in pgha-agent's /cluster, as in Patroni from 3.0.3 on;
# Patroni 3.0.2 says "running".
SAME_STATE = {"streaming": "running"}
# Values compared as equal in both (path in the JSON, dotted; [0] for a list's first item).
SAME_VALUES = ["role", "state", "server_version", "timeline", "replication[0].usename",
               "replication[0].client_addr", "replication[0].state", "replication[0].sync_state",
               "members[0].timeline", "members[0].host"]


def collect(cluster):
    """{("leader"|"replica", path): (status, body)} and {key suffix: value} of a healthy cluster."""
    leader, replica = cluster.leader(), sorted(cluster.replicas())[0]
    rest = {}
    for role, name in (("leader", leader), ("replica", replica)):
        for path in ENDPOINTS:
            status, body = cluster.node(name).rest(path, timeout=5)
            if path != "/metrics":
                try:
                    body = json.loads(body)
                except ValueError:
                    pass
            if path == "/cluster" and isinstance(body, dict):  # the leader first, then by name
                body["members"].sort(key=lambda m: (m.get("role") != "leader", m.get("name")))
            rest[(role, path)] = (status, body)
    request = json.dumps({"key": base64.b64encode(b"/service/postgres/").decode(),
                          "range_end": base64.b64encode(b"/service/postgres0").decode()}).encode()
    status, body = pc.http_get(f"http://{cluster.etcd_host}:{pc.ETCD_MEMBERS[0][1]}/v3/kv/range", 5, data=request)
    assert status == 200, body
    keys = {}
    for kv in json.loads(body).get("kvs", []):
        key = base64.b64decode(kv["key"]).decode()[len("/service/postgres/"):]
        value = base64.b64decode(kv.get("value", "")).decode()
        try:
            value = json.loads(value)
        except ValueError:
            pass
        for member, alias in ((leader, "LEADER"), (replica, "REPLICA")):
            key = key.replace(member, alias)
        keys[key] = aliased(value, {leader: "LEADER", replica: "REPLICA"})
    return rest, keys


def aliased(value, aliases):
    """`value` with every string that is a member's name replaced by its alias, recursively."""
    if isinstance(value, dict):
        return {k: aliased(v, aliases) for k, v in value.items()}
    if isinstance(value, list):
        return [aliased(v, aliases) for v in value]
    return aliases.get(value, value) if isinstance(value, str) else value


def run_cluster(manager):
    d = fresh_cluster_dir(f"test_patroni_compat_{manager}")
    cluster = pc.Cluster(d, manager=manager, proxy="none", profile=PROFILE)
    try:
        cluster.up(timeout=240)
        old, candidate = cluster.leader(), sorted(cluster.replicas())[0]
        result = subprocess.run(["patronictl", "-c", str(cluster.node("node1").config_path), "switchover",
                                 "--leader", old, "--candidate", candidate, "--force"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        cluster.wait_for(lambda: cluster.leader() == candidate and cluster.healthy(), 120,
                         f"{manager}: {candidate} leads, 2 streaming replicas", 0.25)
        # /history and the members' keys are written by the next loops: wait for the switch to show.
        cluster.wait_for(lambda: len(cluster.node(candidate).rest_json("/history") or []) >= 1 and
                         all(m.get("timeline") == 2 for m in (cluster.cluster_view() or {}).get("members", [{}])),
                         60, f"{manager}: /history and every member on timeline 2", 0.25)
        # Failsafe mode on, by Patroni's own tool: the leader writes /failsafe, GET /failsafe shows it.
        result = subprocess.run(["patronictl", "-c", str(cluster.node("node1").config_path), "edit-config",
                                 "--set", "failsafe_mode=true", "--force"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        cluster.wait_for(lambda: all(len(cluster.node(n).rest_json("/failsafe") or {}) == 3 for n in cluster.nodes),
                         60, f"{manager}: every member's GET /failsafe names the 3 members", 0.25)
        return collect(cluster)
    finally:
        stop_cluster(cluster)


@pytest.fixture(scope="module")
def both():
    return run_cluster("patroni"), run_cluster("pgha-agent")


def shape_differences(where, patroni, pgha, out):
    """Fields of `patroni` missing in `pgha` or of another JSON type, recursively; extra fields
    of pgha not in EXTRA_FIELDS."""
    if isinstance(patroni, dict) and isinstance(pgha, dict):
        for k, v in patroni.items():
            if k not in pgha:
                out.append(f"{where}.{k}: missing (Patroni has {json.dumps(v)[:60]})")
            else:
                shape_differences(f"{where}.{k}", v, pgha[k], out)
        out.extend(f"{where}.{k}: not in Patroni's" for k in pgha if k not in patroni and k not in EXTRA_FIELDS)
    elif isinstance(patroni, list) and isinstance(pgha, list):
        if patroni and pgha:
            for i in range(min(len(patroni), len(pgha))):
                shape_differences(f"{where}[{i}]", patroni[i], pgha[i], out)
        elif bool(patroni) != bool(pgha):
            out.append(f"{where}: {len(patroni)} items in Patroni's, {len(pgha)} in pgha's")
    elif type(patroni) is not type(pgha) and None not in (patroni, pgha):  # null: not known yet (a time)
        out.append(f"{where}: {type(pgha).__name__} {json.dumps(pgha)[:40]}, Patroni has "
                   f"{type(patroni).__name__} {json.dumps(patroni)[:40]}")


def value_at(doc, dotted):
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", dotted):
        if part.startswith("["):
            if not isinstance(doc, list) or not doc:
                return "<absent>"
            doc = doc[int(part[1:-1])]
        else:
            if not isinstance(doc, dict) or part not in doc:
                return "<absent>"
            doc = doc[part]
    return doc


# /metrics values that describe the node and so must be the same in both.
SAME_METRIC_VALUES = ["patroni_postgres_running", "patroni_master", "patroni_primary", "patroni_replica",
                      "patroni_standby_leader", "patroni_sync_standby", "patroni_xlog_paused",
                      "patroni_postgres_server_version", "patroni_cluster_unlocked",
                      "patroni_failsafe_mode_is_active", "patroni_postgres_timeline", "patroni_pending_restart",
                      "patroni_is_paused"]


def metrics_differences(where, patroni_text, pgha_text):
    """Families of Patroni's /metrics missing in pgha's, of another TYPE, with fewer label names,
    or with another value where SAME_METRIC_VALUES says they must agree."""
    (p_types, p_samples), (g_types, g_samples) = parse_metrics(patroni_text), parse_metrics(pgha_text)
    out = []
    for family, kind in sorted(p_types.items()):
        if family not in g_types:
            out.append(f"{where}: no metric {family}")
        elif g_types[family] != kind:
            out.append(f"{where}: {family} is a {g_types[family]}, Patroni's a {kind}")
    ours = {n: (ls, v) for n, ls, v in g_samples}
    for name, labels, value in p_samples:
        if name not in ours:
            continue
        if not set(labels) <= set(ours[name][0]):
            out.append(f"{where}: {name} labels {sorted(ours[name][0])}, Patroni's {sorted(labels)}")
        if name in SAME_METRIC_VALUES and ours[name][1] != value:
            out.append(f"{where}: {name} {ours[name][1]}, Patroni's {value}")
    return out


def test_rest_api_answers_as_patroni_does(both):
    (patroni_rest, _), (pgha_rest, _) = both
    problems = []
    for (role, path), (status, body) in patroni_rest.items():
        pgha_status, pgha_body = pgha_rest[(role, path)]
        where = f"{role} GET {path}"
        if status != pgha_status:
            problems.append(f"{where}: status {pgha_status}, Patroni's {status}")
        if path in STATUS_ONLY:
            continue
        if path == "/metrics":
            problems.extend(metrics_differences(where, body, pgha_body))
            continue
        shape_differences(where, body, pgha_body, problems)
        if path == "/cluster":
            roles = [sorted((m.get("role"), SAME_STATE.get(m.get("state"), m.get("state"))) for m in doc.get("members", []))
                     for doc in (body, pgha_body)]
            if roles[0] != roles[1]:
                problems.append(f"{where}: members' roles and states {roles[1]}, Patroni's {roles[0]}")
        for dotted in SAME_VALUES:
            if value_at(body, dotted) != value_at(pgha_body, dotted):
                problems.append(f"{where} {dotted}: {value_at(pgha_body, dotted)!r}, Patroni's {value_at(body, dotted)!r}")
    assert not problems, "\n".join(problems)


def test_etcd_keys_hold_what_patroni_writes(both):
    (_, patroni_keys), (_, pgha_keys) = both
    problems = []
    for key, value in patroni_keys.items():
        if key not in pgha_keys:
            if key not in ABSENT_IN_PGHA_OK:
                problems.append(f"/{key}: absent")
            continue
        shape_differences(f"/{key}", value, pgha_keys[key], problems)
    problems.extend(f"/{key}: not among Patroni's keys" for key in pgha_keys if key not in patroni_keys)
    # Values that say the same thing in both.
    assert isinstance(pgha_keys.get("initialize"), int), f"/initialize is not the system identifier: {pgha_keys.get('initialize')!r}"
    assert pgha_keys.get("config") == patroni_keys.get("config"), (pgha_keys.get("config"), patroni_keys.get("config"))
    history, patroni_history = pgha_keys.get("history"), patroni_keys.get("history")
    assert [h[0] for h in history] == [h[0] for h in patroni_history] == [1], (history, patroni_history)
    assert [h[2] for h in history] == [h[2] for h in patroni_history] and history[0][4] == patroni_history[0][4]
    assert pgha_keys["leader"] == patroni_keys["leader"] == "LEADER"
    assert not problems, "\n".join(problems)
