// Patroni's /history key: one entry per timeline switch of the cluster,
//   [[timeline, switch LSN in bytes, reason, promoted at (ISO 8601), new leader], ...]
// built from the primary's timeline history file (pg_wal/0000000N.history, "tli<TAB>LSN<TAB>
// reason" lines) and enriched with when and to whom each promotion happened, which the file
// does not say. patronictl history and GET /history read it.
// history_needs_update() is checked every loop by the leader; updated_history() builds the new
// value once it does. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace pgha::election {

// True when the key (its value, "" if absent) lacks the switch to `timeline` (> 1): its last
// entry is not for timeline - 1 or has no time and leader.
bool history_needs_update(const std::string& key_value, int timeline);

// The key's new value (compact JSON) from `history_file`: entries the key already has (same
// timeline and LSN) keep their time and leader; the last one, if it has none, gets
// `promoted_at` and `new_leader`. nullopt when the file has no entry.
std::optional<std::string> updated_history(const std::string& history_file, const std::string& key_value,
                                           const std::string& promoted_at, const std::string& new_leader);

// `unix_micros` as Patroni writes a promotion time: "2026-12-02T02:56:10.123456+00:00".
std::string history_timestamp(std::int64_t unix_micros);

}  // namespace pgha::election
