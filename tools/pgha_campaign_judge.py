"""The fault campaign's judge (tools/pgha_campaign.py): pure functions from what the campaign
observed to violations and a summary, so they can be tested without a cluster.

  - dual_writable_windows(): successful writes on two different nodes whose [send, receive]
    intervals overlap, merged into windows (both nodes may have accepted writes at once);
  - lost_ids(): acknowledged ids missing on the current leader;
  - longest_gap(): the longest time without an acknowledged write in a fault's window;
  - judge_run(): the violations of one fault run; summarize()/format_table(): per fault kind.
No I/O, no threads; times are whatever clock the caller used (time.monotonic() in the campaign).
"""
import statistics
from dataclasses import dataclass, field

SAMPLE_INTERVAL = 0.1  # the sampler's period: overlaps closer than this are one window


@dataclass
class WriteInterval:
    """A write some source saw succeed on `node` between t_send and t_recv."""
    node: str
    t_send: float
    t_recv: float
    source: str     # "sampler" or "writer<N>"
    ref: int = 0    # sampler round or acknowledged id



def overlapping_writes(intervals):
    """Pairs of successful writes on two different nodes whose [t_send, t_recv] intervals overlap:
    both nodes may have accepted writes at the same moment. Returns [(a, b)] with a.t_send <= b.t_send."""
    ordered = sorted(intervals, key=lambda w: (w.t_send, w.t_recv))
    pairs = []
    active = []  # intervals that may still overlap later ones
    for w in ordered:
        active = [a for a in active if a.t_recv >= w.t_send]
        pairs.extend((a, w) for a in active if a.node != w.node)
        active.append(w)
    return pairs


def dual_writable_windows(intervals, merge_gap=SAMPLE_INTERVAL):
    """The overlapping pairs merged into windows: the union of each pair's common time span, spans
    less than `merge_gap` apart counting as one window (one handover seen by several probes).
    Returns [{"start", "end", "nodes", "pairs"}], sorted by start."""
    spans = []
    for a, b in overlapping_writes(intervals):
        spans.append((max(a.t_send, b.t_send), min(a.t_recv, b.t_recv), a, b))
    spans.sort(key=lambda s: s[0])
    windows = []
    for start, end, a, b in spans:
        if windows and start <= windows[-1]["end"] + merge_gap:
            w = windows[-1]
            w["end"] = max(w["end"], end)
        else:
            w = {"start": start, "end": end, "nodes": set(), "pairs": []}
            windows.append(w)
        w["nodes"].update((a.node, b.node))
        w["pairs"].append((a, b))
    for w in windows:
        w["nodes"] = sorted(w["nodes"])
    return windows


def lost_ids(acked_ids, present_ids, already_lost=()):
    """Acknowledged ids not present (and not reported before), sorted."""
    return sorted(set(acked_ids) - set(present_ids) - set(already_lost))


def longest_gap(ack_times, start, end):
    """Longest time within [start, end] without an acknowledgement (the boundaries count)."""
    points = sorted(t for t in ack_times if start <= t <= end)
    edges = [start] + points + [end]
    return max((b - a for a, b in zip(edges, edges[1:])), default=end - start)


@dataclass
class RunObservation:
    """What one fault run saw; judge_run() decides what of it is a violation."""
    kind: str
    loss_allowed: bool
    lost: list = field(default_factory=list)          # [{"id", "writer", "node", "t_send", "t_ack"}]
    dual_windows: list = field(default_factory=list)  # [{"start", "end", "nodes", "pairs": [...]}]
    timeline_before: int = None
    timeline_after: int = None
    whole: bool = True
    rejoin_s: float = None
    writes_back: bool = True
    command_rc: int = None
    error: str = None                                 # the fault could not be injected or healed
    rejoin_bound: float = 90.0                        # the bounds the campaign waited with
    writes_back_bound: float = 30.0


def judge_run(obs):
    """Violations (list of strings) of one fault run."""
    violations = []
    if obs.lost and not obs.loss_allowed:
        violations.append(f"{len(obs.lost)} acknowledged writes lost after {obs.kind}")
    if obs.dual_windows:
        violations.append(f"{len(obs.dual_windows)} dual-writable windows")
    if (obs.timeline_before is not None and obs.timeline_after is not None
            and obs.timeline_after < obs.timeline_before):
        violations.append(f"timeline went back from {obs.timeline_before} to {obs.timeline_after}")
    if not obs.whole:
        violations.append(f"cluster not whole within {obs.rejoin_bound:.0f} s of healing")
    elif not obs.writes_back:
        violations.append(f"no write acknowledged through the proxy within {obs.writes_back_bound:.0f} s "
                          "of the cluster being whole")
    if obs.error:
        violations.append(f"fault step failed: {obs.error}")
    return violations


def count_by(items):
    out = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def summarize(runs):
    """Per fault kind: runs, write gap (median, max), failed attempts, lost, dual windows, rejoin
    (median, max), failed commands, violations."""
    out = {}
    for kind in dict.fromkeys(r["kind"] for r in runs):
        rs = [r for r in runs if r["kind"] == kind]
        gaps = [r["write_gap_s"] for r in rs]
        rejoins = [r["rejoin_s"] for r in rs if r["rejoin_s"] is not None]
        out[kind] = {
            "runs": len(rs), "gap_median_s": round(statistics.median(gaps), 3), "gap_max_s": max(gaps),
            "failed_attempts": sum(r["failed_attempts"] for r in rs),
            # Older result files have no split: count every failure as a failed connection.
            "failed_connections": sum(r.get("failed_connections", r["failed_attempts"]) for r in rs),
            "broken_sessions": sum(r.get("broken_sessions", 0) for r in rs),
            "unknown_outcomes": sum(len(r["unknown_outcomes"]) for r in rs),
            "lost": sum(len(r["lost"]) for r in rs), "loss_allowed": rs[0]["loss_allowed"],
            "dual_windows": sum(len(r["dual_windows"]) for r in rs),
            "rejoin_median_s": round(statistics.median(rejoins), 3) if rejoins else None,
            "rejoin_max_s": max(rejoins) if rejoins else None,
            "not_whole": sum(1 for r in rs if r["rejoin_s"] is None),
            "command_failed": sum(1 for r in rs if r["extra"].get("rc") not in (None, 0)
                                  or ("command" in r["extra"] and r["extra"].get("rc") is None)),
            "violations": sum(len(r["violations"]) for r in rs),
        }
    return out


def format_table(summary):
    cols = [("kind", 22), ("runs", 4), ("gap med", 7), ("gap max", 7), ("failed conn", 11), ("broken", 6),
            ("unknown", 7),
            ("lost", 7), ("dual", 4), ("rejoin med", 10), ("rejoin max", 10), ("cmd fail", 8), ("violations", 10)]
    lines = ["  ".join(f"{n:>{w}}" if i else f"{n:<{w}}" for i, (n, w) in enumerate(cols))]
    fmt_s = lambda v: "-" if v is None else f"{v:.2f}s"  # noqa: E731
    for kind, s in summary.items():
        lost = f"{s['lost']}{'*' if s['loss_allowed'] else ''}"
        cells = [kind, s["runs"], fmt_s(s["gap_median_s"]), fmt_s(s["gap_max_s"]), s["failed_connections"],
                 s["broken_sessions"], s["unknown_outcomes"], lost, s["dual_windows"], fmt_s(s["rejoin_median_s"]),
                 fmt_s(s["rejoin_max_s"]), s["command_failed"], s["violations"]]
        lines.append("  ".join(f"{str(v):>{w}}" if i else f"{str(v):<{w}}" for i, (v, (_, w)) in
                               enumerate(zip(cells, cols))))
    lines.append("(failed conn: clients that could not connect through the proxy; broken: inserts that failed "
                 "on an established session)")
    if any(s["loss_allowed"] for s in summary.values()):
        lines.append("(lost*: unplanned leader loss, asynchronous replication may lose writes: counted, not a "
                     "violation)")
    return "\n".join(lines)
