// HaLoop's check before a member takes the lock under quorum commit (see ha_loop.h).
#include "election/ha_loop.h"

#include <algorithm>

#include "election/log.h"

namespace pgha::election {

using Millis = std::chrono::milliseconds;

std::string HaLoop::quorum_refuses(const ClusterView& view, const LocalState& local) {
  if (!settings_.synchronous_mode || !view.sync || !view.sync->active() || !view.sync->quorum) return "";
  if (view.handover_wal_position > 0 && local.wal_position >= view.handover_wal_position) return "";
  const int needed = *view.sync->quorum;
  if (needed <= 0) return "";
  const Millis timeout = std::max<Millis>(Millis(100), std::min<Millis>(Millis(1000), settings_.retry_timeout / 2));
  int reached = 0;
  std::string unreachable;
  for (const std::string& voter : view.sync->standbys) {
    if (voter == config_.name) continue;
    const MemberStatus* member = find_member(view, voter);
    if (member == nullptr) {
      unreachable += (unreachable.empty() ? "" : ", ") + voter + " (no member key)";
      continue;
    }
    std::int64_t lsn = 0;
    if (PgStatus s = peers_.received_lsn(*member, timeout, &lsn); !s.ok()) {
      unreachable += (unreachable.empty() ? "" : ", ") + voter + " (" + s.message() + ")";
      continue;
    }
    if (lsn > local.wal_position) {
      return "voter " + voter + " has received WAL " + std::to_string(lsn) + " > ours " +
             std::to_string(local.wal_position) + ": it should take over";
    }
    ++reached;
  }
  if (reached >= needed) {
    log().info("{}: quorum commit: {} of the {} other voters answered and none is ahead of us", config_.name, reached,
               needed);
    return "";
  }
  return "only " + std::to_string(reached) + " of the " + std::to_string(needed) +
         " other voters needed answered (unreachable: " + (unreachable.empty() ? "none" : unreachable) + ")";
}

}  // namespace pgha::election
