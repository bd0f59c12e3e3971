"""Fault campaign: drives a tools/pgha_cluster.py cluster through faults and judges safety from
the outside, the way a client and an auditor would see it.

While the campaign runs:
  - writers (threads) insert unique ids through the proxy's write port, some on a new connection
    per insert, some on one held connection; every acknowledged insert (the commit returned) is
    recorded with its send/ack time and the server that took it, every failed attempt with its
    time and error class; an insert whose outcome is unknown (the connection broke while it was
    in flight) is logged, never counted as acknowledged;
  - a sampler asks every node directly (not through the proxy), every 100 ms and in the same
    round, whether it is out of recovery and accepts a write; the [send, receive] interval of
    each successful write is kept per node.
Faults are drawn from the table in pgha_campaign_faults.py by a seeded random generator. Each one
is injected, held for a fault-specific time, healed, and the campaign waits (bounded) until the
cluster is whole again: one leader, two streaming replicas, etcd healthy, writes acknowledged
through the proxy. Then it checks: every acknowledged id so far is on the current leader, no two
nodes accepted writes at overlapping times, the leader's timeline never went back, the cluster
became whole within the bound. pgha_campaign_judge.py turns those observations into violations
and the per-kind summary (pure functions, tested without a cluster).

Times are time.monotonic() of this process unless named "wall". Threads: the writers and
samplers each own their connection; they append to lists (atomic in CPython) that the main
thread reads as snapshots. Campaign itself is driven by one thread.
"""

import json
import math
import random
import select
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pgha_cluster as pc  # noqa: E402
from pgha_campaign_faults import (FAILSAFE_GAP_BOUND, FAILSAFE_KINDS, FAULT_KINDS, CampaignError,  # noqa: E402
                                  ClusterOps, FaultContext, heal, inject)
from pgha_campaign_judge import (SAMPLE_INTERVAL, RunObservation, WriteInterval, count_by,  # noqa: E402
                                 dual_writable_windows, judge_run, longest_gap, lost_ids, summarize)

ACK_TABLE = "campaign_ack"
SAMPLE_TABLE = "campaign_sample"
WRITER_ID_BASE = 10 ** 9          # id = writer * 10^9 + seq: unique over writers and attempts
WRITE_INTERVAL = 0.05             # per writer
WRITER_CONNECT_TIMEOUT = 5.0     # a client that gives the proxy time to hold it across a change
WRITER_STATEMENT_TIMEOUT = 3.0
SAMPLER_TIMEOUT = 1.0
REJOIN_BOUND = 90.0               # heal -> cluster whole again
WRITES_BACK_BOUND = 30.0          # cluster whole -> an acknowledged write through the proxy
OVERLAP_SLACK = 5.0               # the judge re-reads intervals this far before the last check


# ---- a PostgreSQL session with a deadline on every step ---------------------------------------

class DeadlineExceeded(Exception):
    pass


class PgSession:
    """One psycopg2 connection in asynchronous mode, so that connect and every statement wait on
    select() with a deadline (a held connection through a proxy whose backend vanished would
    otherwise block in recv() forever). Owned by one thread."""

    def __init__(self, host, port, user, password, options=None):
        self.dsn = dict(host=host, port=port, user=user, password=password, dbname="postgres")
        if options:
            self.dsn["options"] = options
        self.conn = None

    def connect(self, timeout):
        import psycopg2
        deadline = time.monotonic() + timeout
        self.conn = psycopg2.connect(async_=1, **self.dsn)
        self._wait(deadline)

    def execute(self, sql, args=None, timeout=1.0, fetch=True):
        deadline = time.monotonic() + timeout
        cur = self.conn.cursor()
        cur.execute(sql, args)
        self._wait(deadline)
        return cur.fetchall() if fetch and cur.description else None

    def _wait(self, deadline):
        import psycopg2.extensions as ext
        while True:
            state = self.conn.poll()
            if state == ext.POLL_OK:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded("deadline exceeded")
            fd = self.conn.fileno()
            if state == ext.POLL_READ:
                select.select([fd], [], [], left)
            elif state == ext.POLL_WRITE:
                select.select([], [fd], [], left)
            else:
                raise RuntimeError(f"unexpected poll state {state}")

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
            self.conn = None


def error_class(exc, phase):
    """A short class for a failed attempt: "<phase>: <SQLSTATE name or cause>"."""
    pgcode = getattr(exc, "pgcode", None)
    if pgcode:
        from psycopg2 import errorcodes
        return f"{phase}: {errorcodes.lookup(pgcode) or pgcode}"
    if isinstance(exc, DeadlineExceeded):
        return f"{phase}: timeout"
    text = str(exc).lower()
    for needle, name in (("refused", "refused"), ("timeout", "timeout"), ("timed out", "timeout"),
                         ("closed the connection", "closed"), ("server closed", "closed"),
                         ("no route", "unreachable"), ("unreachable", "unreachable"),
                         ("could not receive", "closed"), ("could not send", "closed"),
                         ("connection reset", "reset"), ("ssl", "ssl"), ("password", "auth"),
                         ("does not exist", "missing")):
        if needle in text:
            return f"{phase}: {name}"
    return f"{phase}: {type(exc).__name__}"


# ---- recorders ---------------------------------------------------------------------------------

@dataclass
class Ack:
    id: int
    writer: int
    t_send: float
    t_ack: float
    addr: str
    port: int


@dataclass
class Failure:
    writer: int
    id: int
    t_send: float
    t_fail: float
    error: str
    unknown: bool   # the connection broke while the insert was in flight: it may have committed

    @property
    def connecting(self):
        """The client could not connect (through the proxy); otherwise its insert failed on an
        established session (cut by a stop or a crash, or refused by the server)."""
        return self.error.startswith("connect:")


class Writer(threading.Thread):
    """Inserts one unique id every WRITE_INTERVAL through host:port; see the module comment."""

    def __init__(self, index, host, port, per_insert, user=pc.BENCH_USER):
        super().__init__(name=f"writer{index}", daemon=True)
        self.index = index
        self.per_insert = per_insert
        self.session = PgSession(host, port, user, user,
                                 options=f"-c statement_timeout={int(WRITER_STATEMENT_TIMEOUT * 1000)}")
        self.acks = []
        self.failures = []
        self.stop_event = threading.Event()

    def run(self):
        seq = 0
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            seq += 1
            rid = self.index * WRITER_ID_BASE + seq
            t0 = time.monotonic()
            phase = "connect"
            try:
                if self.session.conn is None:
                    self.session.connect(WRITER_CONNECT_TIMEOUT)
                phase = "insert"
                t_send = time.monotonic()
                rows = self.session.execute(
                    f"INSERT INTO {ACK_TABLE}(id, writer, addr, port) VALUES (%s, %s, inet_server_addr(), "
                    "inet_server_port()) RETURNING host(inet_server_addr()), inet_server_port()",
                    (rid, self.index), timeout=WRITER_STATEMENT_TIMEOUT + 1)
                self.acks.append(Ack(rid, self.index, t_send, time.monotonic(), rows[0][0] or "", rows[0][1]))
            except Exception as e:  # noqa: BLE001 - a failure is a record
                # A server error reply (SQLSTATE) means the statement did not commit; a broken
                # connection during the insert leaves the outcome unknown.
                unknown = phase == "insert" and not getattr(e, "pgcode", None)
                self.failures.append(Failure(self.index, rid, t0, time.monotonic(), error_class(e, phase), unknown))
                self.session.close()
            if self.per_insert:
                self.session.close()
            next_at = max(next_at + WRITE_INTERVAL, time.monotonic())  # no catch-up burst
            self.stop_event.wait(next_at - time.monotonic())
        self.session.close()


class NodeSampler(threading.Thread):
    """Every SAMPLE_INTERVAL (rounds aligned on a shared `base` time across nodes): is `node` out
    of recovery, and does it accept an INSERT? Successful writes go to `writes`."""

    def __init__(self, node_name, host, port, base, user=pc.BENCH_USER):
        super().__init__(name=f"sampler-{node_name}", daemon=True)
        self.node = node_name
        self.base = base
        self.session = PgSession(host, port, user, user,
                                 options=f"-c statement_timeout={int(SAMPLER_TIMEOUT * 1000)}")
        self.writes = []
        self.rounds = 0
        self.errors = 0
        self.stop_event = threading.Event()

    def run(self):
        k = 0
        while not self.stop_event.is_set():
            at = self.base + k * SAMPLE_INTERVAL
            if self.stop_event.wait(max(0.0, at - time.monotonic())):
                break
            self.rounds += 1
            try:
                if self.session.conn is None:
                    self.session.connect(SAMPLER_TIMEOUT)
                in_recovery = self.session.execute("SELECT pg_is_in_recovery()", timeout=SAMPLER_TIMEOUT)[0][0]
                if not in_recovery:
                    t_send = time.monotonic()
                    self.session.execute(f"INSERT INTO {SAMPLE_TABLE}(node, round) VALUES (%s, %s)",
                                         (self.node, k), timeout=SAMPLER_TIMEOUT, fetch=False)
                    self.writes.append(WriteInterval(self.node, t_send, time.monotonic(), "sampler", k))
            except Exception:  # noqa: BLE001 - a refused or failed write is simply not a write
                self.errors += 1
                self.session.close()
            # next round that has not started yet (a slow probe skips rounds, never bunches them)
            k = max(k + 1, math.floor((time.monotonic() - self.base) / SAMPLE_INTERVAL) + 1)
        self.session.close()


# ---- the campaign ------------------------------------------------------------------------------

class Campaign:
    """Runs `plan` (a list of fault kind names) against a running cluster; see the module comment."""

    def __init__(self, cluster, plan, seed, writers=4, rejoin_bound=REJOIN_BOUND, log=print,
                 no_failed_connections=(), synchronous=False, failsafe=False):
        self.ops = ClusterOps(cluster)
        # Failsafe mode: in FAILSAFE_KINDS the writes must go on.
        self.failsafe = failsafe
        # With synchronous replication no fault may lose an acknowledged write, leader loss included.
        self.synchronous = synchronous
        # Fault kinds in which a client that cannot connect through the proxy is a violation.
        self.no_failed_connections = set(no_failed_connections)
        self.cluster = cluster
        self.plan = plan
        self.seed = seed
        self.writer_count = writers
        self.rejoin_bound = rejoin_bound
        self.log = log
        self.rng = random.Random(seed * 7919 + 1)  # victim choices: independent of the plan's draws
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        self.writers = []
        self.samplers = []
        self.runs = []
        self.reported_lost = set()
        self.judged_pairs = set()
        self.last_judged = self.t0
        self.last_timeline = None
        self.aborted = None

    # -- helpers --
    def rel(self, t):
        return round(t - self.t0, 3)

    def wall(self, t):
        w = self.wall0 + (t - self.t0)
        return time.strftime("%H:%M:%S", time.localtime(w)) + f".{int(w * 1000) % 1000:03d}"

    def say(self, msg):
        self.log(f"[{time.monotonic() - self.t0:7.1f}s] {msg}")

    def acks(self):
        return [a for w in self.writers for a in list(w.acks)]

    def failures(self):
        return [f for w in self.writers for f in list(w.failures)]

    def leader_session(self, leader, timeout=5.0):
        node = self.cluster.node(leader)
        s = PgSession(node.host, node.pg_port, *pc.SUPERUSER, options="-c statement_timeout=30000")
        s.connect(timeout)
        return s

    # -- setup --
    def prepare_tables(self):
        leader = self.cluster.wait_for(self.cluster.leader, 30, "a leader", 0.2)
        s = self.leader_session(leader)
        try:
            for sql in (f"DROP TABLE IF EXISTS {ACK_TABLE}, {SAMPLE_TABLE}",
                        f"CREATE TABLE {ACK_TABLE} (id bigint PRIMARY KEY, writer int NOT NULL, addr inet, "
                        "port int, at timestamptz NOT NULL DEFAULT clock_timestamp())",
                        f"CREATE TABLE {SAMPLE_TABLE} (node text NOT NULL, round bigint NOT NULL, "
                        "at timestamptz NOT NULL DEFAULT clock_timestamp())",
                        f"GRANT SELECT, INSERT ON {ACK_TABLE}, {SAMPLE_TABLE} TO {pc.BENCH_USER}"):
                s.execute(sql, timeout=30, fetch=False)
        finally:
            s.close()
        # the tables must be on every node before the samplers write there after a promotion
        for node in self.cluster.nodes.values():
            def replicated(node=node):
                ns = PgSession(node.host, node.pg_port, *pc.SUPERUSER)
                try:
                    ns.connect(3)
                    return ns.execute("SELECT to_regclass(%s) IS NOT NULL", (SAMPLE_TABLE,), timeout=3)[0][0]
                finally:
                    ns.close()
            self.cluster.wait_for(replicated, 30, f"{node.name}: campaign tables replicated", 0.2)

    def start_recorders(self):
        host, port = self.cluster.proxy_host, pc.WRITE_PORT
        self.writers = [Writer(i + 1, host, port, per_insert=(i % 2 == 0)) for i in range(self.writer_count)]
        base = time.monotonic() + 0.2
        self.samplers = [NodeSampler(n.name, n.host, n.pg_port, base) for n in self.cluster.nodes.values()]
        for t in self.writers + self.samplers:
            t.start()

    def stop_recorders(self):
        for t in self.writers + self.samplers:
            t.stop_event.set()
        for t in self.writers + self.samplers:
            t.join(WRITER_CONNECT_TIMEOUT + WRITER_STATEMENT_TIMEOUT + 3)
        stuck = [t.name for t in self.writers + self.samplers if t.is_alive()]
        if stuck:
            self.say(f"warning: recorder threads still running: {stuck}")

    def wait_whole(self, bound):
        """Seconds until the cluster is whole (bounded), or None."""
        start = time.monotonic()
        try:
            self.cluster.wait_for(self.ops.whole, bound, "the cluster whole", 0.2)
            return time.monotonic() - start
        except TimeoutError:
            return None

    def wait_write_after(self, t, bound):
        """Time of the first acknowledgement sent after t, or None within `bound`."""
        def first():
            found = []
            for w in self.writers:  # newest first: only the tail of each list is read
                acks = w.acks
                i = len(acks) - 1
                while i >= 0 and acks[i].t_send >= t:
                    found.append(acks[i].t_ack)
                    i -= 1
            return min(found, default=None)
        try:
            return self.cluster.wait_for(first, bound, "a write acknowledged through the proxy", 0.05)
        except TimeoutError:
            return None

    # -- checks --
    def leader_state(self, leader):
        """(present ids, timeline) read on the leader directly."""
        s = self.leader_session(leader)
        try:
            # the current WAL file's first 8 hex digits are the timeline (pg_control's checkpoint
            # timeline lags a promotion until the next checkpoint)
            tl = s.execute("SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int",
                           timeout=10)[0][0]
            present = {r[0] for r in s.execute(f"SELECT id FROM {ACK_TABLE}", timeout=60)}
            return present, tl
        finally:
            s.close()

    def new_dual_windows(self, until):
        since = self.last_judged - OVERLAP_SLACK
        intervals = [w for s in self.samplers for w in list(s.writes) if w.t_recv >= since and w.t_send <= until]
        for a in self.acks():
            if a.t_ack >= since and a.t_send <= until:
                intervals.append(WriteInterval(self.ops.node_of(a.addr, a.port), a.t_send, a.t_ack,
                                               f"writer{a.writer}", a.id))
        windows = []
        for w in dual_writable_windows(intervals):
            keys = {(a.node, a.source, a.ref, b.node, b.source, b.ref) for a, b in w["pairs"]}
            if keys <= self.judged_pairs:
                continue
            self.judged_pairs |= keys
            windows.append(w)
        self.last_judged = until
        return windows

    def describe_window(self, w):
        return {"start_s": self.rel(w["start"]), "end_s": self.rel(w["end"]), "start_wall": self.wall(w["start"]),
                "nodes": w["nodes"], "pairs": [
                    {"a": {"node": a.node, "source": a.source, "ref": a.ref, "send_s": self.rel(a.t_send),
                           "recv_s": self.rel(a.t_recv)},
                     "b": {"node": b.node, "source": b.source, "ref": b.ref, "send_s": self.rel(b.t_send),
                           "recv_s": self.rel(b.t_recv)}} for a, b in w["pairs"][:20]]}

    # -- one fault --
    def run_fault(self, index, kind_name):
        kind = FAULT_KINDS[kind_name]
        c = self.cluster
        pre = self.wait_whole(self.rejoin_bound)
        if pre is None:
            raise CampaignError(f"before fault {index + 1} ({kind_name}): the cluster is not whole "
                                f"within {self.rejoin_bound:.0f} s")
        leader = c.leader()
        ctx = FaultContext(self.ops, leader, self.rng)
        hold = kind.hold(self.ops.ttl)
        self.say(f"fault {index + 1}/{len(self.plan)}: {kind_name} (leader {leader}, hold {hold:.1f} s)")
        t_inject = time.monotonic()
        c.event(f"campaign: fault {index + 1} {kind_name} inject")
        loss_allowed = kind.loss_allowed and not self.synchronous
        obs = RunObservation(kind_name, loss_allowed, rejoin_bound=self.rejoin_bound,
                             writes_back_bound=WRITES_BACK_BOUND)
        try:
            inject(kind_name, ctx)
            self.say(f"  injected on {ctx.victim}" + (f": rc {ctx.extra.get('rc')}" if "rc" in ctx.extra else ""))
            if hold:
                time.sleep(hold)  # the scenario is "keep the fault for `hold` s"; recorders observe
        except Exception as e:  # noqa: BLE001 - reported as a failed step, then healed
            obs.error = f"inject: {e!r}"
        t_heal = time.monotonic()
        c.event(f"campaign: fault {index + 1} {kind_name} heal")
        try:
            if ctx.victim is not None:
                heal(kind_name, ctx)
        except Exception as e:  # noqa: BLE001
            obs.error = (obs.error + "; " if obs.error else "") + f"heal: {e!r}"
        if obs.error:
            leftovers = self.ops.restore()
            if leftovers:
                obs.error += f"; restore: {leftovers}"
        rejoin = self.wait_whole(self.rejoin_bound)
        obs.whole = rejoin is not None
        t_whole = time.monotonic()
        # rejoin: from the heal; for faults with nothing to hold (switchover, proxy) from the inject
        t_rejoin_from = t_heal if hold else t_inject
        obs.rejoin_s = round(t_whole - t_rejoin_from, 3) if obs.whole else None
        t_end = t_whole
        if obs.whole:
            first = self.wait_write_after(t_whole, WRITES_BACK_BOUND)
            obs.writes_back = first is not None
            t_end = max(t_whole, first) if first else time.monotonic()
        new_leader = c.leader()
        obs.command_rc = ctx.extra.get("rc")

        # acknowledged ids on the current leader; timelines
        acks = self.acks()
        if obs.whole and new_leader:
            try:
                present, obs.timeline_after = self.leader_state(new_leader)
                missing = set(lost_ids([a.id for a in acks], present, self.reported_lost))
                self.reported_lost |= missing
                obs.lost = [{"id": a.id, "writer": a.writer, "node": self.ops.node_of(a.addr, a.port),
                             "send_s": self.rel(a.t_send), "ack_s": self.rel(a.t_ack), "ack_wall": self.wall(a.t_ack)}
                            for a in acks if a.id in missing]
            except Exception as e:  # noqa: BLE001
                obs.error = (obs.error + "; " if obs.error else "") + f"check on {new_leader}: {e!r}"
        obs.timeline_before = self.last_timeline
        if obs.timeline_after is not None:
            self.last_timeline = max(obs.timeline_after, self.last_timeline or 0)
        obs.dual_windows = [self.describe_window(w) for w in self.new_dual_windows(t_end)]

        window_acks = [a.t_ack for a in acks if t_inject <= a.t_ack <= t_end]
        fails = [f for f in self.failures() if t_inject <= f.t_send <= t_end]
        violations = judge_run(obs)
        failed_connections = [f for f in fails if f.connecting]
        write_gap = longest_gap(window_acks, t_inject, t_end)
        if self.failsafe and kind_name in FAILSAFE_KINDS and write_gap > FAILSAFE_GAP_BOUND:
            violations.append(f"failsafe mode: writes stopped for {write_gap:.2f} s (bound {FAILSAFE_GAP_BOUND:.1f} s) "
                              "although every member could still confirm the leader")
        if self.failsafe and kind_name in FAILSAFE_KINDS and new_leader != leader:
            violations.append(f"failsafe mode: the leader changed from {leader} to {new_leader} although every "
                              "member could still confirm it")
        if kind_name in self.no_failed_connections and failed_connections:
            violations.append(f"{len(failed_connections)} client(s) could not connect through the proxy: "
                              f"{count_by(f.error for f in failed_connections)}")
        run = {
            "index": index + 1, "kind": kind_name, "victim": ctx.victim, "leader_before": leader,
            "leader_after": new_leader, "inject_s": self.rel(t_inject), "inject_wall": self.wall(t_inject),
            "held_s": round(t_heal - t_inject, 3), "rejoin_s": obs.rejoin_s,
            "window_s": round(t_end - t_inject, 3),
            "write_gap_s": round(write_gap, 3), "failsafe": self.failsafe,
            "acknowledged": len(window_acks), "failed_attempts": len(fails),
            "failed_connections": len(failed_connections),
            "broken_sessions": len(fails) - len(failed_connections),
            "unknown_outcomes": [{"id": f.id, "writer": f.writer, "send_s": self.rel(f.t_send), "error": f.error}
                                 for f in fails if f.unknown],
            "errors": count_by(f.error for f in fails),
            "lost": obs.lost, "dual_windows": obs.dual_windows,
            "timeline_before": obs.timeline_before, "timeline_after": obs.timeline_after,
            "extra": {k: v for k, v in ctx.extra.items() if k != "killed"} | (
                {"killed_pids": ctx.extra["killed"]} if "killed" in ctx.extra else {}),
            "error": obs.error, "violations": violations, "loss_allowed": loss_allowed,
        }
        self.runs.append(run)
        c.event(f"campaign: fault {index + 1} {kind_name} judged: {violations or 'ok'}")
        self.say(f"  whole after {obs.rejoin_s} s, leader {new_leader} (TL {obs.timeline_after}), "
                 f"gap {run['write_gap_s']:.2f} s, {len(fails)} failed, {len(obs.lost)} lost, "
                 f"{len(obs.dual_windows)} dual" + (f"; VIOLATION: {'; '.join(violations)}" if violations else ""))
        for lost in obs.lost[:10]:
            self.say(f"    lost id {lost['id']} (writer {lost['writer']}, acked by {lost['node']} at "
                     f"{lost['ack_s']} s = {lost['ack_wall']})")
        for w in obs.dual_windows[:5]:
            self.say(f"    dual-writable {w['nodes']} from {w['start_s']} s ({w['start_wall']}) to {w['end_s']} s")
        if "rc" in ctx.extra and ctx.extra["rc"] != 0:
            self.say(f"    {kind_name} command failed (rc {ctx.extra['rc']}): {ctx.extra.get('output', '')[:300]}")
        return run

    def run(self):
        """Runs the whole plan; returns the results dict (see results())."""
        self.prepare_tables()
        self.start_recorders()
        try:
            whole = self.wait_whole(self.rejoin_bound)
            if whole is None or self.wait_write_after(time.monotonic(), WRITES_BACK_BOUND) is None:
                raise CampaignError("the cluster is not whole, or writes through the proxy do not work, at start")
            self.last_timeline = self.leader_state(self.cluster.leader())[1]
            for i, kind in enumerate(self.plan):
                try:
                    run = self.run_fault(i, kind)
                except CampaignError as e:
                    self.aborted = {"index": i + 1, "kind": kind, "violation": f"campaign stopped: {e}"}
                    self.say(f"  {self.aborted['violation']}")
                    break
                if run["rejoin_s"] is None:
                    self.say("  the cluster did not become whole: stopping the campaign")
                    break
        finally:
            self.ops.restore()
            self.stop_recorders()
        return self.results()

    def results(self):
        acks, fails = self.acks(), self.failures()
        return {
            "seed": self.seed, "plan": self.plan, "ttl": self.ops.ttl, "netns": self.ops.netns,
            "profile": self.cluster.profile, "dir": str(self.cluster.dir), "failsafe": self.failsafe,
            "started_wall": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.wall0)),
            "duration_s": round(time.monotonic() - self.t0, 1),
            "acknowledged": len(acks), "failed_attempts": len(fails),
            "failed_connections": sum(1 for f in fails if f.connecting),
            "unknown_outcomes": sum(1 for f in fails if f.unknown),
            "sampler": {s.node: {"rounds": s.rounds, "writes": len(s.writes), "errors": s.errors}
                        for s in self.samplers},
            "runs": self.runs, "summary": summarize(self.runs),
            "violations": [{"index": r["index"], "kind": r["kind"], "violation": v}
                           for r in self.runs for v in r["violations"]] + ([self.aborted] if self.aborted else []),
        }


def write_json(path, results):
    Path(path).write_text(json.dumps(results, indent=2, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__")
                                      else str(o)) + "\n")
