#include "election/cluster_view.h"

#include <set>

namespace pgha::election {

std::string upstream_of_member(const ClusterView& cluster, const std::string& name, const std::string& replicatefrom) {
  const std::string leader = cluster.leader.value_or("");
  std::set<std::string> chain{name};
  std::string next = replicatefrom;
  // Walk the chain of replicatefrom tags up to the leader: every link must run PostgreSQL, and
  // none may come back to a member already on it. At most one step per member.
  for (std::size_t steps = 0; steps <= cluster.members.size(); ++steps) {
    if (next.empty() || next == leader) return steps == 0 ? leader : replicatefrom;
    const MemberStatus* member = find_member(cluster, next);
    if (member == nullptr || !is_running_state(member->state) || !chain.insert(next).second) return leader;
    next = member->replicatefrom;
  }
  return leader;
}

}  // namespace pgha::election
