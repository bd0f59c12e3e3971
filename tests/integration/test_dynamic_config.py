"""The dynamic configuration (/config) applied at run time by pgha-agent, against real PostgreSQL and
etcd (profile "quick": ttl 3 s, loop_wait 0.5 s, retry_timeout 1.25 s):
  1. `pghactl edit-config --set postgresql.parameters.work_mem=...` reaches every node's
     `SHOW work_mem` (written to the agent's file and reloaded);
  2. a value the agents would refuse is refused by pghactl and by PATCH /config (400), not stored;
  3. `--set postgresql.parameters.max_connections=...` needs a restart: every node reports
     pending_restart (GET /patroni, `pghactl list`);
  4. `--set ttl=...`: every member key, and the leader key, move to an etcd lease of the new ttl;
     `--set loop_wait=...`: every agent takes it (its log says so once);
  5. `--set synchronous_mode=true`: the /sync key appears and the leader's
     synchronous_standby_names names a standby; `quorum`: 'ANY 1' over both standbys, /sync lists
     both with quorum 1 and they answer 200 on /quorum; `false`: both go, and writes go on.
"""
import base64
import json
import time
import urllib.error
import urllib.request

import pgha_cluster as pc
from conftest import ensure_healthy, pghactl, start_cluster, stop_cluster, tuned_config

PROFILE = "quick"
DEADLINE = 30  # seconds for any change to reach every node


def etcd_call(cluster, path, payload):
    """One call of etcd's v3 JSON API on the first member that answers."""
    body = json.dumps(payload).encode()
    for _, client, _ in pc.ETCD_MEMBERS:
        try:
            req = urllib.request.Request(f"http://{cluster.etcd_host}:{client}{path}", data=body)
            with urllib.request.urlopen(req, timeout=3) as r:
                return json.loads(r.read())
        except OSError:
            continue
    raise AssertionError("no etcd member answered")


def etcd_key(cluster, key):
    """(value, lease id) of /service/postgres/<key>, or None when absent."""
    full = f"/service/postgres/{key}".encode()
    kvs = etcd_call(cluster, "/v3/kv/range", {"key": base64.b64encode(full).decode()}).get("kvs", [])
    if not kvs:
        return None
    return base64.b64decode(kvs[0]["value"]).decode(), int(kvs[0].get("lease", 0))


def granted_ttl(cluster, key):
    """The TTL etcd granted the lease that holds `key` (`etcdctl lease timetolive`), or None."""
    kv = etcd_key(cluster, key)
    if kv is None or kv[1] == 0:
        return None
    reply = etcd_call(cluster, "/v3/lease/timetolive", {"ID": kv[1]})
    return int(reply["grantedTTL"]) if "grantedTTL" in reply else None


def show(node, setting):
    try:
        with node.connect() as conn, conn.cursor() as cur:
            cur.execute(f"SHOW {setting}")
            return cur.fetchone()[0]
    except Exception:  # noqa: BLE001 (a node briefly unreachable: polled again)
        return None


def edit_config(cluster, setting):
    rc, out = pghactl(cluster, "edit-config", "--set", setting, timeout=60)
    assert rc == 0, f"pghactl edit-config --set {setting}: {out}"


def patch_config(node, body):
    """PATCH /config on a node's REST API: (status, body text)."""
    req = urllib.request.Request(f"{node.rest_url}/config", data=json.dumps(body).encode(), method="PATCH",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def agent_log(node):
    try:
        return node.log_path.read_text(errors="replace")
    except OSError:
        return ""


def test_dynamic_configuration_reaches_every_agent_and_postgres():
    c = start_cluster("test_dynamic_config", tuned_config(), PROFILE, manager="pgha-agent")
    try:
        ensure_healthy(c)
        nodes = list(c.nodes.values())
        leader = c.node(c.leader())

        # 1. A reloadable parameter: every node runs with it.
        edit_config(c, "postgresql.parameters.work_mem=7MB")
        c.wait_for(lambda: all(show(n, "work_mem") == "7MB" for n in nodes), DEADLINE,
                   "SHOW work_mem = 7MB on every node", 0.2)

        # 2. Refused, not stored: by pghactl (etcd directly) and by the agent's PATCH /config.
        rc, out = pghactl(c, "edit-config", "--set", "postgresql.parameters.max_connections=10")
        assert rc != 0 and "max_connections" in out and ">= 25" in out, out
        rc, out = pghactl(c, "edit-config", "--set", "ttl=soon")
        assert rc != 0 and "ttl" in out, out
        status, body = patch_config(leader, {"loop_wait": 10})
        assert status == 400 and "loop_wait + 2*retry_timeout <= ttl" in body, (status, body)
        stored = leader.rest_json("/config") or {}
        timing = pc.PROFILES[PROFILE]
        assert stored.get("loop_wait") == timing["loop_wait"] and stored.get("ttl") == timing["ttl"], stored
        assert stored.get("postgresql", {}).get("parameters", {}).get("max_connections") is None, stored

        # 3. A parameter that needs a restart: pending on every node, shown by pghactl list.
        edit_config(c, "postgresql.parameters.max_connections=150")
        c.wait_for(lambda: all((n.rest_json("/patroni") or {}).get("pending_restart") is True for n in nodes),
                   DEADLINE, "pending_restart on every node", 0.2)
        rc, out = pghactl(c, "list")
        assert rc == 0 and "Pending restart" in out, out
        assert sum(1 for line in out.splitlines() if line.rstrip().endswith("*")) == len(nodes), out
        assert all(show(n, "max_connections") != "150" for n in nodes), "applied without a restart?"

        # 4. ttl: every agent's lease is granted again with it (member keys and the leader key).
        edit_config(c, "ttl=8")
        c.wait_for(lambda: all(granted_ttl(c, f"members/{n.name}") == 8 for n in nodes), DEADLINE,
                   "every member key on a lease of ttl 8", 0.2)
        c.wait_for(lambda: granted_ttl(c, "leader") == 8, DEADLINE, "the leader key on a lease of ttl 8", 0.2)
        assert c.leader() == leader.name, "the ttl change moved the lock"
        #    loop_wait: every agent takes it, and says so once.
        edit_config(c, "loop_wait=1")
        c.wait_for(lambda: all("loop_wait changed from 0.5 s to 1 s" in agent_log(n) for n in nodes), DEADLINE,
                   "every agent to take loop_wait 1 s", 0.2)

        # 5. Synchronous mode on: /sync names the leader and a standby, which
        #    synchronous_standby_names names; off: both go.
        edit_config(c, "synchronous_mode=true")

        def synchronous():
            kv = etcd_key(c, "sync")
            state = json.loads(kv[0]) if kv else {}
            return state.get("leader") == leader.name and state.get("sync_standby") and \
                state["sync_standby"] in (show(leader, "synchronous_standby_names") or "")
        c.wait_for(synchronous, DEADLINE, "/sync and synchronous_standby_names", 0.2)
        # Quorum commit at run time: 'ANY 1' over both standbys, /sync lists both with quorum 1.
        edit_config(c, "synchronous_mode=quorum")

        def quorum():
            kv = etcd_key(c, "sync")
            state = json.loads(kv[0]) if kv else {}
            return state.get("leader") == leader.name and state.get("quorum") == 1 and \
                sorted((state.get("sync_standby") or "").split(",")) == sorted(c.replicas()) and \
                (show(leader, "synchronous_standby_names") or "").startswith("ANY 1 (")
        c.wait_for(quorum, DEADLINE, "/sync with both voters and quorum 1, synchronous_standby_names ANY 1", 0.2)
        assert all(c.node(r).rest("/quorum")[0] == 200 for r in c.replicas())
        edit_config(c, "synchronous_mode=false")
        c.wait_for(lambda: etcd_key(c, "sync") is None and show(leader, "synchronous_standby_names") == "",
                   DEADLINE, "/sync and synchronous_standby_names gone", 0.2)
        assert c.leader() == leader.name
        started = time.monotonic()
        c.wait_for(lambda: c.write_through_proxy("after synchronous_mode off") == leader.pg_port, DEADLINE,
                   "writes through :5432", 0.2)
        print(f"write after synchronous_mode off in {time.monotonic() - started:.2f} s")
        ensure_healthy(c)
    finally:
        stop_cluster(c)
