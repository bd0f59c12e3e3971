"""The fault campaign's fault table (tools/pgha_campaign.py): what each kind of fault does to a
tools/pgha_cluster.py cluster, how long it is held, and how it is healed; plus the seeded
schedule. ClusterOps is the cluster as the campaign needs it (whole?, restore everything).

Each fault: inject(kind, ctx) sets ctx.victim (a node, an etcd member, "proxy", or the
switchover candidate) and records what it did in ctx.extra; heal(kind, ctx) undoes it (restarts
a killed agent, SIGCONT, restarts etcd members, removes a partition) or, for a switchover or
failover, waits (bounded) for the candidate to lead. Called from the campaign's thread only.
"""
import json
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pgha_cluster as pc  # noqa: E402


class CampaignError(RuntimeError):
    """The campaign could not run (setup, a precondition); not a safety verdict."""


class ClusterOps:
    """The launcher's Cluster as the campaign needs it."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.netns = cluster.netns
        self.ttl = pc.PROFILES[cluster.profile]["ttl"]

    def node_of(self, addr, port):
        """Name of the node that answered as addr:port (as inet_server_addr/port report it)."""
        matches = [n for n in self.cluster.nodes.values() if n.pg_port == port]
        if len(matches) > 1:
            matches = [n for n in matches if n.host == addr] or matches
        return matches[0].name if matches else f"{addr}:{port}"

    def start_agent(self, node):
        if not node.patroni_running():
            node.start_patroni()

    def ensure_proxy(self):
        if self.cluster.proxy != "none" and self.cluster.proxy_pid is None:
            self.cluster.start_proxy()

    def whole(self):
        """One leader, two streaming replicas, three healthy etcd members."""
        return self.cluster.etcd_healthy() and self.cluster.healthy()

    def restore(self):
        """Undoes whatever a failed fault step may have left: SIGCONT, partitions, etcd members,
        agents, proxy. Idempotent; errors are collected and returned, not raised."""
        c = self.cluster
        steps = [lambda n=node: n.sigcont() if n.patroni_running() and n.agent_stopped() else None
                 for node in c.nodes.values()]
        if self.netns:
            steps.append(c.heal)
        steps += [lambda m=name: None if c.etcd_member_running(m) else c.start_etcd_member(m)
                  for name, _, _ in pc.ETCD_MEMBERS]
        steps += [lambda n=node: self.start_agent(n) for node in c.nodes.values()]
        steps.append(self.ensure_proxy)
        errors = []
        for step in steps:
            try:
                step()
            except Exception as e:  # noqa: BLE001 - best effort, reported
                errors.append(repr(e))
        return errors


# ---- the fault table ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FaultKind:
    name: str
    what: str
    loss_allowed: bool   # unplanned loss of the leader: asynchronous replication may lose writes
    netns_only: bool
    hold: object         # ttl -> seconds the fault is kept before it is healed


def _pick(rng, items):
    return rng.choice(sorted(items))


def sync_standbys(cluster):
    """Members /cluster calls synchronous standbys (synchronous replication)."""
    view = cluster.cluster_view() or {}
    return [m["name"] for m in view.get("members", []) if m.get("role") == "sync_standby"]


class FaultContext:
    """State of one fault run passed to inject/heal."""

    def __init__(self, ops, leader, rng):
        self.ops = ops
        self.cluster = ops.cluster
        self.leader = leader
        self.rng = rng
        self.victim = None
        self.extra = {}


def inject(kind, ctx):
    ops, c = ctx.ops, ctx.cluster
    replicas = [n for n in c.nodes if n != ctx.leader]
    if kind == "leader-node-loss":
        ctx.victim = ctx.leader
        ctx.extra["killed"] = c.node(ctx.victim).kill_all()
    elif kind == "leader-agent-kill":
        ctx.victim = ctx.leader
        ctx.extra["killed"] = c.node(ctx.victim).kill_agent()
    elif kind == "leader-agent-stop":
        ctx.victim = ctx.leader
        c.node(ctx.victim).sigstop()
    elif kind == "replica-node-loss":
        ctx.victim = _pick(ctx.rng, replicas)
        ctx.extra["killed"] = c.node(ctx.victim).kill_all()
    elif kind in ("etcd-member-kill", "etcd-leader-kill"):
        raft_leader = pc.wait_for(c.etcd_leader, 10, "etcd's Raft leader", 0.1)
        ctx.victim = raft_leader if kind == "etcd-leader-kill" else _pick(
            ctx.rng, [m for m, _, _ in pc.ETCD_MEMBERS if m != raft_leader])
        c.stop_etcd_member(ctx.victim)
    elif kind == "etcd-quorum-loss":
        victims = sorted(ctx.rng.sample(sorted(m for m, _, _ in pc.ETCD_MEMBERS), 2))
        ctx.victim = ",".join(victims)
        for v in victims:
            c.stop_etcd_member(v)
    elif kind in ("switchover", "failover"):
        # The candidate; with synchronous replication only a synchronous standby may be one.
        synchronous = [n for n in replicas if c.synchronous and n in sync_standbys(c)]
        ctx.victim = _pick(ctx.rng, synchronous or replicas)
        if ops.netns:
            ctx.extra.update(post_from_node(c.node(ctx.leader), f"/{kind}",
                                            {"leader": ctx.leader, "candidate": ctx.victim}))
        else:
            ctx.extra.update(run_pghactl(c, kind, ctx.victim))
    elif kind == "proxy-restart":
        ctx.victim = "proxy"
        ctx.extra["pid"] = c.restart_proxy()
    elif kind == "proxy-reload":
        ctx.victim = "proxy"
        ctx.extra["pid"] = c.reload_proxy()
    elif kind == "partition-leader":
        ctx.victim = ctx.leader
        c.partition(ctx.victim, "all")
    elif kind == "partition-leader-etcd":
        ctx.victim = ctx.leader
        c.partition(ctx.victim, "etcd")
    elif kind == "partition-replica":
        ctx.victim = _pick(ctx.rng, replicas)
        c.partition(ctx.victim, "all")
    else:
        raise CampaignError(f"unknown fault kind {kind!r}")


def heal(kind, ctx):
    ops, c = ctx.ops, ctx.cluster
    if kind in ("leader-node-loss", "leader-agent-kill", "replica-node-loss"):
        ops.start_agent(c.node(ctx.victim))
    elif kind == "leader-agent-stop":
        c.node(ctx.victim).sigcont()
    elif kind in ("etcd-member-kill", "etcd-leader-kill", "etcd-quorum-loss"):
        for v in ctx.victim.split(","):
            c.start_etcd_member(v)
        c.wait_for(c.etcd_healthy, 30, "etcd: 3 healthy members", 0.2)
    elif kind in ("switchover", "failover") and ctx.extra.get("rc") == 0:
        # Not a fault to undo: wait (bounded) for the candidate to lead, as the command asked.
        bound = 4 * ops.ttl + 10
        try:
            c.wait_for(lambda: c.leader() == ctx.victim, bound, f"{ctx.victim} to lead", 0.1)
            ctx.extra["candidate_leads"] = True
        except TimeoutError:
            ctx.extra["candidate_leads"] = False
    elif kind.startswith("partition-"):
        c.heal(ctx.victim)
    # proxy-restart and proxy-reload are complete when injected


FAULT_KINDS = {k.name: k for k in [
    FaultKind("leader-node-loss", "kill -9 every process of the leader node; its agent back after 2 x ttl",
              True, False, lambda ttl: 2 * ttl),
    FaultKind("leader-agent-kill", "kill -9 the leader's agent only; restarted after 2 x ttl",
              True, False, lambda ttl: 2 * ttl),
    FaultKind("leader-agent-stop", "SIGSTOP the leader's agent for 2 x ttl, then SIGCONT",
              True, False, lambda ttl: 2 * ttl),
    FaultKind("replica-node-loss", "kill -9 every process of a replica node; its agent back after 2 x ttl",
              False, False, lambda ttl: 2 * ttl),
    FaultKind("etcd-member-kill", "kill -9 an etcd member that is not the Raft leader for 2 x ttl",
              False, False, lambda ttl: 2 * ttl),
    FaultKind("etcd-leader-kill", "kill -9 etcd's Raft leader for 2 x ttl",
              False, False, lambda ttl: 2 * ttl),
    FaultKind("etcd-quorum-loss", "kill -9 2 of 3 etcd members for 10 s (at least 2 x ttl)",
              False, False, lambda ttl: max(10.0, 2 * ttl)),
    FaultKind("switchover", "pghactl switchover --candidate <a replica> (netns: POST /switchover on the "
              "leader from its own namespace)", False, False, lambda ttl: 0.0),
    FaultKind("failover", "pghactl failover --candidate <a replica> (netns: POST /failover as above)",
              False, False, lambda ttl: 0.0),
    FaultKind("proxy-restart", "stop and start the proxy", False, False, lambda ttl: 0.0),
    FaultKind("proxy-reload", "SIGHUP to the proxy", False, False, lambda ttl: 0.0),
    FaultKind("partition-leader", "the leader cut from everything for 2 x ttl + 3 s",
              True, True, lambda ttl: 2 * ttl + 3),
    FaultKind("partition-leader-etcd", "the leader cut from etcd only (proxy and clients reach it) for "
              "2 x ttl + 3 s", True, True, lambda ttl: 2 * ttl + 3),
    FaultKind("partition-replica", "a replica cut from everything for 2 x ttl + 3 s",
              False, True, lambda ttl: 2 * ttl + 3),
]}


def pghactl_binary(cluster):
    """pghactl beside the cluster's pgha-agent binary, else the release build's."""
    agent = cluster.agent_binary()
    if agent is not None and (agent.parent / "pghactl").exists():
        return agent.parent / "pghactl"
    return pc.REPO / "build" / "release" / "bin" / "pghactl"


def run_pghactl(cluster, command, candidate, timeout=30):
    """`pghactl -c <a running node's config> switchover|failover --candidate X`; returns
    {"command", "rc", "output"} (rc None when it did not finish in time)."""
    config = next((n.config_path for n in cluster.nodes.values() if n.patroni_running()),
                  cluster.node("node1").config_path)
    argv = [str(pghactl_binary(cluster)), "-c", str(config), command, "--candidate", candidate]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        rc, text = out.returncode, (out.stdout + out.stderr).strip()
    except subprocess.TimeoutExpired as e:
        rc, text = None, f"timed out after {timeout} s: {e.stdout or ''}{e.stderr or ''}"
    except OSError as e:
        rc, text = None, str(e)
    cluster.event(f"campaign: {' '.join(argv[3:])} -> rc {rc}: {text[:200]}")
    return {"command": " ".join(argv), "rc": rc, "output": text[-2000:]}


# Failsafe mode (--failsafe): the fault kinds in which the leader loses etcd but not its members;
# there writes must go on (longest gap under FAILSAFE_GAP_BOUND s) on the same leader instead of
# stopping until etcd is back and a leader is elected again.
FAILSAFE_KINDS = ("etcd-quorum-loss", "partition-leader-etcd")
FAILSAFE_GAP_BOUND = 2.0


def enable_failsafe(cluster, timeout=30):
    """`pghactl edit-config --set failsafe_mode=true`, then waits until the leader's GET /failsafe
    names every node (the leader has written the /failsafe key). Raises CampaignError."""
    config = next((n.config_path for n in cluster.nodes.values() if n.patroni_running()),
                  cluster.node("node1").config_path)
    argv = [str(pghactl_binary(cluster)), "-c", str(config), "edit-config", "--set", "failsafe_mode=true"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise CampaignError(f"enabling failsafe mode failed (rc {out.returncode}): {out.stdout}{out.stderr}")
    cluster.event("campaign: failsafe_mode enabled")

    def listed():
        leader = cluster.leader()
        failsafe = cluster.node(leader).rest_json("/failsafe") if leader else None
        return isinstance(failsafe, dict) and set(failsafe) == set(cluster.nodes)
    try:
        cluster.wait_for(listed, timeout, "the leader's /failsafe key to name every node", 0.2)
    except TimeoutError as e:
        raise CampaignError(str(e)) from e


# Run inside a node's namespace: POST with source address 127.0.0.1 to the node's own REST
# address (a local destination, so the kernel routes it over lo). Without restapi authentication
# the agent accepts POSTs from loopback only, which is what an operator on the node would use.
_LOCAL_POST = """
import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=float(sys.argv[5]),
                               source_address=("127.0.0.1", 0))
c.request("POST", sys.argv[3], body=sys.argv[4], headers={"Content-Type": "application/json"})
r = c.getresponse()
print(r.status, r.read().decode("utf-8", "replace"))
sys.exit(0 if r.status == 200 else 1)
"""


def post_from_node(node, path, body, timeout=30):
    """POST `body` (JSON) to `node`'s REST API from inside its network namespace on loopback (netns
    mode, where pghactl on the host would be refused); returns {"command", "rc", "output"}."""
    payload = json.dumps(body)
    argv = ["/usr/bin/python3", "-c", _LOCAL_POST, node.host, str(node.rest_port), path, payload, str(timeout)]
    try:
        out = node.run_in_node(argv, timeout=timeout + 5)
        rc, text = out.returncode, (out.stdout + out.stderr).strip()
    except subprocess.TimeoutExpired:
        rc, text = None, f"timed out after {timeout} s"
    node.cluster.event(f"campaign: POST {path} {payload} on {node.name} (from its namespace) -> rc {rc}: {text[:200]}")
    return {"command": f"POST http://{node.host}:{node.rest_port}{path} {payload} (from {node.name}'s namespace, "
                       "source 127.0.0.1)", "rc": rc, "output": text[-2000:]}


def kinds_for(netns, requested=None):
    """Fault kinds runnable in this mode (all of them, or `requested` checked against the mode)."""
    if requested:
        unknown = [k for k in requested if k not in FAULT_KINDS]
        if unknown:
            raise CampaignError(f"unknown fault kinds {unknown} (known: {', '.join(FAULT_KINDS)})")
        need_netns = [k for k in requested if FAULT_KINDS[k].netns_only and not netns]
        if need_netns:
            raise CampaignError(f"{need_netns} need the netns mode (--netns)")
        return list(requested)
    return [k for k, f in FAULT_KINDS.items() if netns or not f.netns_only]


def schedule(seed, kinds, count=None):
    """The fault sequence: every kind once in a seeded order (count None), or `count` draws."""
    rng = random.Random(seed)
    if count is None:
        order = sorted(kinds)
        rng.shuffle(order)
        return order
    return [rng.choice(sorted(kinds)) for _ in range(count)]
