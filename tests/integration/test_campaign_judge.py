"""The fault campaign's judge (tools/pgha_campaign_judge.py) without a cluster: overlap of successful
writes on two nodes, lost acknowledged ids, the longest write gap, the verdict of a run, and the
seeded fault schedule."""
import pgha_campaign_faults as faults
import pgha_campaign_judge as camp
from pgha_campaign_judge import RunObservation, WriteInterval, judge_run


def w(node, t0, t1, source="sampler", ref=0):
    return WriteInterval(node, t0, t1, source, ref)


def test_writes_on_one_node_never_overlap_as_dual():
    assert camp.dual_writable_windows([w("node1", 0.0, 1.0), w("node1", 0.5, 1.5)]) == []


def test_a_handover_without_overlap_is_not_dual():
    # the old leader's last write ends before the new leader's first write starts
    writes = [w("node1", 0.0, 0.01), w("node1", 0.1, 0.11), w("node2", 0.2, 0.21), w("node2", 0.3, 0.31)]
    assert camp.overlapping_writes(writes) == []


def test_touching_intervals_count_as_overlap():
    assert len(camp.overlapping_writes([w("node1", 0.0, 1.0), w("node2", 1.0, 2.0)])) == 1


def test_overlapping_writes_on_two_nodes_make_one_window():
    writes = [w("node1", 10.0, 10.02, ref=98), w("node2", 10.01, 10.03, ref=98),
              w("node1", 10.5, 10.52, ref=99), w("node2", 10.51, 10.53, ref=99),
              w("node3", 20.0, 20.01)]
    windows = camp.dual_writable_windows(writes)
    assert len(windows) == 2
    assert windows[0]["nodes"] == ["node1", "node2"]
    assert abs(windows[0]["start"] - 10.01) < 1e-9 and abs(windows[0]["end"] - 10.02) < 1e-9
    assert len(windows[0]["pairs"]) == 1


def test_overlaps_close_together_are_one_window():
    # one handover seen by a writer and the sampler, 2 ms apart: one window
    writes = [w("node2", 15.682, 15.687, "writer3", 3), w("node1", 15.686, 15.691, ref=153),
              w("node2", 15.689, 15.692, ref=153)]
    windows = camp.dual_writable_windows(writes)
    assert len(windows) == 1 and len(windows[0]["pairs"]) == 2
    assert len(camp.dual_writable_windows(writes, merge_gap=0.0)) == 2


def test_a_long_write_overlapping_several_others_is_one_window():
    writes = [w("node1", 0.0, 5.0, "writer1", 1), w("node2", 1.0, 1.1), w("node2", 2.0, 2.1), w("node3", 1.05, 1.2)]
    windows = camp.dual_writable_windows(writes)
    assert [win["nodes"] for win in windows] == [["node1", "node2", "node3"], ["node1", "node2"]]
    # node1/node2 at 1.0-1.1, node1/node3 and node2/node3 from 1.05: merged; 2.0-2.1 is separate
    assert len(windows[0]["pairs"]) == 3


def test_lost_ids():
    assert camp.lost_ids([1, 2, 3, 4], [1, 3, 5]) == [2, 4]
    assert camp.lost_ids([1, 2, 3, 4], [1, 3], already_lost=[2]) == [4]
    assert camp.lost_ids([], [1]) == []


def test_longest_gap_counts_the_window_edges():
    assert camp.longest_gap([1.0, 2.0, 2.5], 0.0, 3.0) == 1.0
    assert camp.longest_gap([0.1, 0.2], 0.0, 5.0) == 4.8
    assert camp.longest_gap([], 0.0, 5.0) == 5.0
    assert camp.longest_gap([-1.0, 9.0], 0.0, 5.0) == 5.0  # acks outside the window do not count


def test_judge_loss_is_a_violation_except_after_unplanned_leader_loss():
    lost = [{"id": 7}]
    assert judge_run(RunObservation("switchover", loss_allowed=False, lost=lost)) == [
        "1 acknowledged writes lost after switchover"]
    assert judge_run(RunObservation("leader-node-loss", loss_allowed=True, lost=lost)) == []


def test_judge_dual_timeline_and_wholeness_are_always_violations():
    assert judge_run(RunObservation("leader-node-loss", True, dual_windows=[{}])) == ["1 dual-writable windows"]
    assert judge_run(RunObservation("x", True, timeline_before=3, timeline_after=2)) == [
        "timeline went back from 3 to 2"]
    assert judge_run(RunObservation("x", True, timeline_before=2, timeline_after=3)) == []
    assert len(judge_run(RunObservation("x", True, whole=False))) == 1
    assert len(judge_run(RunObservation("x", True, writes_back=False))) == 1
    assert judge_run(RunObservation("failover", False, command_rc=1)) == []  # reported, not a violation


def test_schedule_is_seeded():
    kinds = faults.kinds_for(netns=False)
    assert all(not faults.FAULT_KINDS[k].netns_only for k in kinds)
    once = faults.schedule(7, kinds)
    assert sorted(once) == sorted(kinds) and once == faults.schedule(7, kinds)
    drawn = faults.schedule(7, kinds, 50)
    assert len(drawn) == 50 and drawn == faults.schedule(7, kinds, 50) and set(drawn) <= set(kinds)
    assert set(faults.kinds_for(netns=True)) == set(faults.FAULT_KINDS)
