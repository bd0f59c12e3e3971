// Physical replication slots on the leader, one per member, as Patroni keeps them: a replica
// streams through the slot named after it (primary_slot_name), so the leader keeps every WAL
// segment the replica has not received yet, and a replica that was stopped for a while catches
// up by streaming instead of being cloned again.
//
// MemberSlots is the leader's bookkeeping, fed each loop with the members in etcd and the slots
// that exist; plan() says which to create and which to drop:
//   - a slot for every other member, created as soon as its member key appears (before the
//     replica is cloned and connects), with its WAL reserved from that moment;
//   - a member whose key vanished (agent stopped, node lost) keeps its slot for
//     member_slots_ttl after it was last seen, here or by a previous leader (the retained names
//     travel in the /status key), so that it can come back by streaming; then the slot is
//     dropped, so that a member that never returns cannot fill the leader's disk;
//   - permanent slots (configuration) are created and never dropped;
//   - any other physical slot on the server is dropped once inactive for member_slots_ttl after
//     this leader first saw it: a leader promoted with slots of an older term (or left by hand)
//     must not keep WAL forever. Patroni drops such slots at once; the delay leaves an operator
//     time to list a slot they made under `slots`.
// Active slots (a walsender uses them) are never dropped.
// Owned by the HA loop (one thread); plan() is pure but for the bookkeeping it updates.
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace pgha::election {

// Patroni's slot name for a member: lower case, every character but [a-z0-9_] made '_', at
// most 63 bytes.
std::string slot_name_for_member(const std::string& member);

struct ExistingSlot {
  std::string name;
  bool active = false;
};

struct SlotPlan {
  std::vector<std::string> create;
  std::vector<std::string> drop;
  bool operator==(const SlotPlan&) const = default;
};

class MemberSlots {
 public:
  using Clock = std::chrono::steady_clock;

  MemberSlots(std::chrono::milliseconds member_slots_ttl, std::set<std::string> permanent)
      : ttl_(member_slots_ttl), permanent_(std::move(permanent)) {}

  // `members`: the other members' slot names now; `retained`: names a previous leader kept
  // (from /status); `existing`: the server's physical slots.
  SlotPlan plan(const std::set<std::string>& members, const std::set<std::string>& retained,
                const std::vector<ExistingSlot>& existing, Clock::time_point now);

  // The member slots kept for members not in etcd now: what /status carries to the next leader.
  std::set<std::string> retained(Clock::time_point now) const;

  // Forgets everything (this node stopped leading).
  void reset() {
    members_seen_.clear();
    foreign_seen_.clear();
    current_.clear();
  }

 private:
  bool kept_for_member(const std::string& name, Clock::time_point now) const;

  std::chrono::milliseconds ttl_;
  std::set<std::string> permanent_;
  std::map<std::string, Clock::time_point> members_seen_;  // member slots: when last seen in etcd
  std::map<std::string, Clock::time_point> foreign_seen_;  // other slots: when first found
  std::set<std::string> current_;                          // the members of the last plan()
};

}  // namespace pgha::election
