// The decision, in the order it is taken (first match wins). "primary" = PostgreSQL running and
// not in recovery; "we lead" = we hold the lock AND /leader names us in this view.
//
//  1. lock held, last refresh >= retry_timeout ago   primary → kDemote; else kNothing (fencing)
//  2. etcd unreachable                                primary holding the lock → kRefreshLock (retry,
//                                                     rule 1 demotes at retry_timeout); other primary →
//                                                     kDemote; else kNothing (never act without etcd)
//  3. no data directory                               we lead → kReleaseLock; other running leader →
//                                                     kCloneFromLeader; not initialized → kRaceToInitialize
//                                                     (nofailover: kWaitForLeader); else kWaitForLeader
//  4. data, PostgreSQL down                           we lead → kStartAsPrimary; else kStartAsStandby (target:
//                                                     the leader, or "" when none is known): a start by
//                                                     anyone but the lock holder is a standby's (and the
//                                                     lock holder's after a crash: rule 5 promotes it)
//  5. we lead                                         switchover to a running eligible member →
//                                                     kReleaseLock (a request we ignore is answered in
//                                                     refused_request); in recovery → kPromote, or
//                                                     kReleaseLock when pre_promote refused it; else
//                                                     kRefreshLock
//  6. /leader names us, lease not ours                primary → kDemote; else kNothing (wait for expiry)
//  7. another leader                                  primary → kRewindAndFollow (kDemote if the leader
//                                                     has no member status); replica following its
//                                                     upstream (the leader, or the running member its
//                                                     replicatefrom tag names) → kNothing; without
//                                                     member status → kNothing; else kFollowLeader
//  8. no leader                                       may campaign → kAcquireLock; else primary → kDemote,
//                                                     replica → kNothing
// Campaign (rule 8): never with nofailover; never within ttl of letting the lock go because
// pre_promote refused our promotion (nor on a failover request); never behind a switchover's handover position (the
// old leader's shutdown checkpoint: whoever takes over must have all of its WAL); a failover
// request naming us → yes within maximum_lag_on_failover (a switchover candidate behind the
// handover position → kDropFailoverRequest); naming another running eligible member → no; a
// switchover away from us with another eligible member → no; otherwise is_healthiest().
// Maintenance mode (the /config key says "pause": true), after rules 1-2 (fencing stays on):
//  P. we lead → kRefreshLock (PostgreSQL up or down: no start, no failover), kPromote only after a
//     manual failover named us (kReleaseLock when pre_promote refused it); a switchover request is honoured only with a named candidate;
//     /leader names us under an old lease → kNothing; another leader → a primary still rejoins it
//     (never two primaries), anything else kNothing; no leader → a running primary takes the lock
//     back (agent restarted during maintenance), a failover request naming us is honoured, else
//     kNothing. PostgreSQL is never started, stopped or rewound automatically otherwise.
// Failsafe mode (failsafe.h): rule 1 counts a round of confirmations from every member as a
// refresh (the HA loop folds it into since_last_refresh); a member that confirmed a leader within
// ttl, or that is missing from a non-empty /failsafe key, does not campaign.
// Synchronous mode, while /sync names a leader: only that leader and its synchronous standbys
// campaign or are switched over to, and they compare their WAL only with each other.
#include "election/ha_decision.h"

#include <algorithm>

namespace pgha::election {

namespace {

using std::chrono::milliseconds;

struct Verdict {
  bool yes = false;
  std::string why;
};

// Whether synchronous mode limits who may be promoted in this view.
bool sync_limits(const ClusterView& cluster, const HaSettings& settings) {
  return settings.synchronous_mode && cluster.sync && cluster.sync->active();
}

// Whether `name` may be promoted as far as synchronous replication is concerned.
bool sync_allows(const ClusterView& cluster, const HaSettings& settings, const std::string& name) {
  return !sync_limits(cluster, settings) || cluster.sync->allows(name);
}

bool other_eligible_member_exists(const ClusterView& cluster, const HaSettings& settings, const std::string& me) {
  return std::any_of(cluster.members.begin(), cluster.members.end(),
                     [&](const MemberStatus& m) { return m.name != me && can_take_over(cluster, settings, m); });
}

std::string not_synchronous(const ClusterView& cluster, const std::string& name) {
  if (cluster.sync->unreadable) return "the /sync key is unreadable: nobody is known to have every acknowledged commit";
  return name + " is not a synchronous standby of " + cluster.sync->leader + " (synchronous: " +
         (cluster.sync->standbys.empty() ? std::string("none") : encode_sync_state(*cluster.sync)) + ")";
}

// The best WAL position anyone is known to have reached, ours included: every member (tags do
// not matter for what could be lost) and the last position the leader published.
std::int64_t best_known_position(const ClusterView& cluster, const LocalState& local) {
  std::int64_t best = std::max(local.wal_position, cluster.last_leader_wal_position);
  for (const MemberStatus& member : cluster.members) {
    if (member.name != local.name) best = std::max(best, member.wal_position);
  }
  return best;
}

std::string ms(milliseconds value) { return std::to_string(value.count()) + " ms"; }

Verdict within_lag(const ClusterView& cluster, const LocalState& local, const HaSettings& settings) {
  const std::int64_t best = best_known_position(cluster, local);
  const std::int64_t lag = best - local.wal_position;
  if (lag > settings.maximum_lag_on_failover) {
    return {false, "we lag " + std::to_string(lag) + " bytes behind the best known WAL position " +
                       std::to_string(best) + " > maximum_lag_on_failover " +
                       std::to_string(settings.maximum_lag_on_failover)};
  }
  return {true, "lag " + std::to_string(lag) + " bytes <= maximum_lag_on_failover " +
                    std::to_string(settings.maximum_lag_on_failover)};
}

// is_healthiest() with the reason.
Verdict healthiest(const ClusterView& cluster, const LocalState& local, const HaSettings& settings) {
  if (local.nofailover) return {false, "tag nofailover: this member never campaigns"};
  for (const MemberStatus& member : cluster.members) {
    if (member.name == local.name || !can_take_over(cluster, settings, member)) continue;
    if (member.wal_position > local.wal_position) {
      return {false, "member " + member.name + " is ahead (WAL " + std::to_string(member.wal_position) + " > ours " +
                         std::to_string(local.wal_position) + ")"};
    }
    if (member.wal_position == local.wal_position && member.failover_priority > local.failover_priority) {
      return {false, "member " + member.name + " is as far ahead and has a higher failover_priority (" +
                         std::to_string(member.failover_priority) + " > ours " +
                         std::to_string(local.failover_priority) + ")"};
    }
  }
  if (sync_limits(cluster, settings)) {
    return {true, "healthiest synchronous member (WAL " + std::to_string(local.wal_position) +
                      "; it has every acknowledged commit)"};
  }
  Verdict lag = within_lag(cluster, local, settings);
  if (!lag.yes) return lag;
  return {true, "healthiest eligible member (WAL " + std::to_string(local.wal_position) + ", " + lag.why + ")"};
}

// Whether we may try to take a free lock (rule 8), pending failover requests included.
Verdict may_campaign(const ClusterView& cluster, const LocalState& local, const HaSettings& settings) {
  if (local.nofailover) return {false, "tag nofailover: this member never campaigns"};
  if (local.promotion_refused) {
    return {false, "backing off: pre_promote refused our promotion less than ttl ago"};
  }
  if (cluster.failsafe_mode && !local.failsafe_leader.empty() && local.failsafe_leader != local.name) {
    return {false, "failsafe mode: we confirmed " + local.failsafe_leader +
                       " as the running primary less than ttl ago (POST /failsafe)"};
  }
  if (cluster.failsafe_mode && cluster.failsafe && !cluster.failsafe->empty() &&
      cluster.failsafe->count(local.name) == 0) {
    return {false, "failsafe mode: we are not in the /failsafe key, so no leader would ask us to confirm it"};
  }
  if (!sync_allows(cluster, settings, local.name)) return {false, not_synchronous(cluster, local.name)};
  if (cluster.handover_wal_position > local.wal_position) {
    return {false, "the last leader handed over at WAL " + std::to_string(cluster.handover_wal_position) +
                       " and we have only " + std::to_string(local.wal_position)};
  }
  if (cluster.failover) {
    const FailoverRequest& request = *cluster.failover;
    if (request.candidate == local.name) {
      if (sync_limits(cluster, settings)) return {true, "a failover request names us as candidate (synchronous)"};
      Verdict lag = within_lag(cluster, local, settings);
      if (!lag.yes) return {false, "a failover request names us, but " + lag.why};
      return {true, "a failover request names us as candidate (" + lag.why + ")"};
    }
    if (!request.candidate.empty()) {
      const MemberStatus* candidate = find_member(cluster, request.candidate);
      if (candidate != nullptr && can_take_over(cluster, settings, *candidate)) {
        return {false, "a failover request names " + request.candidate + " as candidate"};
      }
      // The candidate cannot take over: the ordinary rule, so the cluster does not stay leaderless.
    } else if (request.leader == local.name && other_eligible_member_exists(cluster, settings, local.name)) {
      return {false, "a switchover away from us is pending: leaving the lock to another member"};
    }
  }
  return healthiest(cluster, local, settings);
}

// A switchover/failover request we should honour while we lead: the member to hand over to, or
// the reason it is ignored.
Verdict step_down_for(const ClusterView& cluster, const LocalState& local, const HaSettings& settings,
                      std::string* candidate) {
  const FailoverRequest& request = *cluster.failover;
  if (!request.leader.empty() && request.leader != local.name) {
    return {false, "ignoring a switchover request for leader " + request.leader + " (we lead)"};
  }
  if (request.candidate == local.name) return {false, "ignoring a switchover request naming us: we already lead"};
  if (!request.candidate.empty()) {
    const MemberStatus* target = find_member(cluster, request.candidate);
    if (target == nullptr || !is_eligible(*target)) {
      return {false, "ignoring a switchover to " + request.candidate + ": not a running member eligible for failover"};
    }
    if (!sync_allows(cluster, settings, request.candidate)) {
      return {false, "ignoring a switchover to " + request.candidate + ": " + not_synchronous(cluster, request.candidate)};
    }
    *candidate = request.candidate;
    return {true, "switchover to " + request.candidate + " requested: demoting and releasing the lock"};
  }
  if (!other_eligible_member_exists(cluster, settings, local.name)) {
    return {false, "ignoring a switchover request: no other running member eligible for failover" +
                       std::string(sync_limits(cluster, settings) ? " and synchronous" : "")};
  }
  return {true, "switchover requested: demoting and releasing the lock for the healthiest other member"};
}

Decision make(Action action, std::string target, std::string reason) {
  return Decision{action, std::move(target), std::move(reason)};
}

// We hold the lock in recovery, but pre_promote said no: let the lock go so that another member
// takes over.
Decision refused_promotion() {
  return make(Action::kReleaseLock, "", "pre_promote refused our promotion: releasing the lock");
}

// Rule P: maintenance mode. The operator runs PostgreSQL; the agent keeps the lock where it is and
// only acts when asked (a named switchover or failover), or to keep a second primary from running.
Decision decide_paused(const ClusterView& cluster, const LocalState& local, const HaSettings& settings) {
  const bool primary = local.postgres_running && !local.in_recovery;
  const std::string& me = local.name;
  const bool leader_is_me = cluster.leader && *cluster.leader == me;
  const bool we_lead = local.holds_lock && leader_is_me;
  if (we_lead) {
    if (local.postgres_running && local.in_recovery) {
      if (local.promotion_refused) return refused_promotion();
      return make(Action::kPromote, "", "maintenance mode: we took the lock on request and are in recovery: promoting");
    }
    Decision d = make(Action::kRefreshLock, "",
                      std::string("maintenance mode: holding the lock") +
                          (local.postgres_running ? "" : " (PostgreSQL is down and is not started while paused)"));
    if (cluster.failover) {
      std::string candidate;
      Verdict step_down = step_down_for(cluster, local, settings, &candidate);
      if (step_down.yes && !candidate.empty() && primary) return make(Action::kReleaseLock, candidate, step_down.why);
      d.refused_request = step_down.yes ? "maintenance mode: a switchover needs a named candidate and a running primary"
                                        : step_down.why;
      d.reason += "; " + d.refused_request;
    }
    return d;
  }
  if (leader_is_me) return make(Action::kNothing, "", "maintenance mode: the leader key names us from an earlier lease");
  if (cluster.leader) {
    const std::string& name = *cluster.leader;
    if (primary) {
      if (find_member(cluster, name) == nullptr) {
        return make(Action::kDemote, name, name + " holds the lock while we are primary (maintenance mode): demoting");
      }
      return make(Action::kRewindAndFollow, name,
                  name + " holds the lock while we are primary (maintenance mode): demoting, rewinding, following");
    }
    return make(Action::kNothing, name, "maintenance mode: no automatic action");
  }
  if (primary) {
    if (!local.nofailover && sync_allows(cluster, settings, me) && cluster.handover_wal_position <= local.wal_position) {
      return make(Action::kAcquireLock, "", "maintenance mode: no leader and we run the primary: taking the lock back");
    }
    return make(Action::kDemote, "", "maintenance mode: no leader, and this primary may not take the lock: demoting");
  }
  if (cluster.failover && cluster.failover->candidate == me && local.postgres_running) {
    Verdict campaign = may_campaign(cluster, local, settings);
    if (campaign.yes) return make(Action::kAcquireLock, "", "maintenance mode: " + campaign.why + ": taking the lock");
    return make(Action::kNothing, "", "maintenance mode: a failover request names us, but " + campaign.why);
  }
  return make(Action::kNothing, "", "maintenance mode: no leader, and no automatic failover while paused");
}

}  // namespace

bool can_take_over(const ClusterView& cluster, const HaSettings& settings, const MemberStatus& member) {
  return is_eligible(member) && sync_allows(cluster, settings, member.name);
}

bool is_healthiest(const ClusterView& cluster, const LocalState& local, const HaSettings& settings) {
  return healthiest(cluster, local, settings).yes;
}

Decision decide(const ClusterView& cluster, const LocalState& local, const HaSettings& settings) {
  const bool primary = local.postgres_running && !local.in_recovery;
  const bool has_data = local.data_dir_initialized || local.postgres_running;
  const std::string& me = local.name;

  // 1. Fencing. Our lease may expire elsewhere at ttl after the last refresh; retry_timeout < ttl
  // (loop_wait + 2*retry_timeout <= ttl) leaves time to stop being writable first.
  if (local.holds_lock && local.since_last_refresh >= settings.retry_timeout) {
    const std::string overdue = "lock not refreshed for " + ms(local.since_last_refresh) +
                                " >= retry_timeout " + ms(settings.retry_timeout);
    if (primary) return make(Action::kDemote, "", overdue + ": demoting before the lease can expire elsewhere");
    return make(Action::kNothing, "", overdue + ": not promoting or starting PostgreSQL until the lock is confirmed");
  }

  // 2. Without etcd nothing is certain: never promote; a primary keeps trying to refresh for
  // retry_timeout (rule 1 then demotes it), any other primary stops being writable now.
  if (!cluster.dcs_reachable) {
    if (primary && local.holds_lock) {
      return make(Action::kRefreshLock, "",
                  "etcd unreachable; lock last refreshed " + ms(local.since_last_refresh) + " ago (< retry_timeout " +
                      ms(settings.retry_timeout) + "): retrying the refresh");
    }
    if (primary) return make(Action::kDemote, "", "etcd unreachable and we do not hold the lock: demoting");
    return make(Action::kNothing, "", "etcd unreachable: no role change without etcd");
  }

  const bool leader_is_me = cluster.leader && *cluster.leader == me;
  const bool we_lead = local.holds_lock && leader_is_me;
  const MemberStatus* leader = cluster.leader && !leader_is_me ? find_member(cluster, *cluster.leader) : nullptr;

  if (cluster.paused) return decide_paused(cluster, local, settings);

  // 3. No data directory yet.
  if (!has_data) {
    if (we_lead) return make(Action::kReleaseLock, "", "holding the lock without a data directory: releasing it");
    if (leader_is_me) {
      return make(Action::kWaitForLeader, "",
                  "the leader key names us from an earlier lease: waiting for it to expire");
    }
    if (cluster.leader) {
      const std::string& name = *cluster.leader;
      if (leader == nullptr) {
        return make(Action::kWaitForLeader, name, "leader " + name + " has no member status yet: waiting to clone");
      }
      if (!is_running_state(leader->state)) {
        return make(Action::kWaitForLeader, name,
                    "leader " + name + " is " + (leader->state.empty() ? "in an unknown state" : leader->state) +
                        ": waiting to clone");
      }
      return make(Action::kCloneFromLeader, name, "no data directory: cloning from leader " + name);
    }
    if (!cluster.initialized) {
      if (local.nofailover) {
        return make(Action::kWaitForLeader, "", "cluster not initialized; a nofailover member never bootstraps it");
      }
      return make(Action::kRaceToInitialize, "", "cluster not initialized: racing to create the initialize key");
    }
    return make(Action::kWaitForLeader, "", "no data directory and no leader to clone from: waiting");
  }

  // 4. Data but PostgreSQL down: start it, as primary only if we lead. Whatever led here (a
  // switchover, a crash, an agent restart, no leader yet), anyone else starts a standby.
  if (!local.postgres_running) {
    if (we_lead) return make(Action::kStartAsPrimary, me, "PostgreSQL is down and we hold the lock: starting it");
    const std::string upstream = cluster.leader && !leader_is_me ? *cluster.leader : "";
    return make(Action::kStartAsStandby, upstream,
                "PostgreSQL is down and we do not hold the lock: starting it as a standby" +
                    (upstream.empty() ? std::string(" (no leader yet)") : " of " + upstream));
  }

  // 5. We lead.
  if (we_lead) {
    std::string refused;
    if (cluster.failover) {
      std::string candidate;
      Verdict step_down = step_down_for(cluster, local, settings, &candidate);
      if (step_down.yes && !local.in_recovery) return make(Action::kReleaseLock, candidate, step_down.why);
      refused = step_down.yes ? "ignoring a switchover request: we are not primary yet" : step_down.why;
    }
    if (local.in_recovery && local.promotion_refused) return refused_promotion();
    Decision d = local.in_recovery
                     ? make(Action::kPromote, "", "we hold the lock and PostgreSQL is in recovery: promoting")
                     : make(Action::kRefreshLock, "", "leader: refreshing the lock");
    if (!refused.empty()) {
      d.reason += "; " + refused;
      d.refused_request = refused;
    }
    return d;
  }

  // 6. The leader key is ours by name but held by a lease we no longer have (agent restarted).
  if (leader_is_me) {
    if (primary) {
      return make(Action::kDemote, "",
                  "the leader key names us under a lease we do not hold: demoting until it expires");
    }
    return make(Action::kNothing, "", "the leader key names us from an earlier lease: waiting for it to expire");
  }

  // 7. Another member leads.
  if (cluster.leader) {
    const std::string& name = *cluster.leader;
    if (primary) {
      if (leader == nullptr) {
        return make(Action::kDemote, name,
                    name + " holds the lock but has no member status yet: demoting, rejoining once it has one");
      }
      return make(Action::kRewindAndFollow, name,
                  name + " holds the lock while we are primary: demoting, rewinding, following");
    }
    if (leader == nullptr) {
      return make(Action::kNothing, name, "leader " + name + " has no member status yet: nothing to follow");
    }
    // Cascading replication: the member named by our replicatefrom tag, when it can serve.
    const std::string upstream = upstream_of_member(cluster, me, local.replicatefrom);
    const std::string whom = upstream == name ? "leader " + name : upstream + " (replicatefrom; leader " + name + ")";
    if (local.following == upstream) return make(Action::kNothing, upstream, "replica following " + whom);
    return make(Action::kFollowLeader, upstream,
                "following " + whom + " instead of " + (local.following.empty() ? "nobody" : local.following));
  }

  // 8. Nobody leads.
  if (cluster.failover && cluster.failover->candidate == me && !cluster.failover->leader.empty() &&
      cluster.handover_wal_position > local.wal_position) {
    return make(Action::kDropFailoverRequest, "",
                "a switchover names us but we have WAL " + std::to_string(local.wal_position) +
                    " < the handover position " + std::to_string(cluster.handover_wal_position) +
                    ": dropping the request so that a member with all of it takes over");
  }
  Verdict campaign = may_campaign(cluster, local, settings);
  if (campaign.yes) return make(Action::kAcquireLock, "", "no leader; " + campaign.why + ": taking the lock");
  if (primary) {
    return make(Action::kDemote, "", "no leader and we may not take the lock (" + campaign.why + "): demoting");
  }
  return make(Action::kNothing, "", "no leader; not campaigning: " + campaign.why);
}

const char* action_name(Action action) {
  switch (action) {
    case Action::kBootstrap: return "bootstrap";
    case Action::kRaceToInitialize: return "race_to_initialize";
    case Action::kCloneFromLeader: return "clone_from_leader";
    case Action::kWaitForLeader: return "wait_for_leader";
    case Action::kStartAsPrimary: return "start_as_primary";
    case Action::kStartAsStandby: return "start_as_standby";
    case Action::kAcquireLock: return "acquire_lock";
    case Action::kPromote: return "promote";
    case Action::kRefreshLock: return "refresh_lock";
    case Action::kDemote: return "demote";
    case Action::kFollowLeader: return "follow_leader";
    case Action::kRewindAndFollow: return "rewind_and_follow";
    case Action::kReleaseLock: return "release_lock";
    case Action::kDropFailoverRequest: return "drop_failover_request";
    case Action::kNothing: return "nothing";
  }
  return "unknown";
}

}  // namespace pgha::election
