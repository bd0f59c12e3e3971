#include "election/replication_slots.h"

#include <cctype>

namespace pgha::election {

std::string slot_name_for_member(const std::string& member) {
  std::string name;
  for (char c : member) {
    const unsigned char u = static_cast<unsigned char>(std::tolower(static_cast<unsigned char>(c)));
    name += (std::isalnum(u) && u < 128) || u == '_' ? static_cast<char>(u) : '_';
  }
  if (name.size() > 63) name.resize(63);
  return name;
}

bool MemberSlots::kept_for_member(const std::string& name, Clock::time_point now) const {
  if (current_.count(name)) return true;
  auto it = members_seen_.find(name);
  return it != members_seen_.end() && now - it->second < ttl_;
}

SlotPlan MemberSlots::plan(const std::set<std::string>& members, const std::set<std::string>& retained,
                           const std::vector<ExistingSlot>& existing, Clock::time_point now) {
  current_ = members;
  for (const std::string& name : members) members_seen_[name] = now;
  // Kept by a previous leader: counted from now, when it was last seen being unknown here.
  for (const std::string& name : retained) members_seen_.try_emplace(name, now);
  std::set<std::string> existing_names;
  for (const ExistingSlot& slot : existing) {
    existing_names.insert(slot.name);
    if (!members_seen_.count(slot.name) && !permanent_.count(slot.name)) foreign_seen_.try_emplace(slot.name, now);
  }

  SlotPlan plan;
  std::set<std::string> wanted = permanent_;
  for (const auto& [name, seen] : members_seen_) {
    if (kept_for_member(name, now)) wanted.insert(name);
  }
  for (const std::string& name : wanted) {
    if (!existing_names.count(name)) plan.create.push_back(name);
  }
  for (const ExistingSlot& slot : existing) {
    if (slot.active || wanted.count(slot.name)) continue;
    const auto foreign = foreign_seen_.find(slot.name);
    if (foreign == foreign_seen_.end() || now - foreign->second >= ttl_) plan.drop.push_back(slot.name);
  }
  // Forget what is no longer kept nor on the server.
  std::erase_if(members_seen_, [&](const auto& entry) { return !kept_for_member(entry.first, now); });
  std::erase_if(foreign_seen_, [&](const auto& entry) { return !existing_names.count(entry.first); });
  return plan;
}

std::set<std::string> MemberSlots::retained(Clock::time_point now) const {
  std::set<std::string> out;
  for (const auto& [name, seen] : members_seen_) {
    if (!current_.count(name) && kept_for_member(name, now)) out.insert(name);
  }
  return out;
}

}  // namespace pgha::election
