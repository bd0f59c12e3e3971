// HealthSnapshot: which servers may receive new sessions, as one immutable value.
// Built by HealthMonitor on every transition and posted to each worker, which keeps its own
// shared_ptr and reads it only on its thread (no locks, no atomics on the forwarding path).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace pgha::proxy {

struct HealthSnapshot {
  std::uint64_t version = 0;
  // up[listener][server]: 1 when the server may take new sessions: UP (or unchecked) and not
  // drained or in maintenance.
  std::vector<std::vector<std::uint8_t>> up;
  // shut[listener][server]: 1 when the server's existing sessions must be closed: marked DOWN
  // with on-marked-down shutdown-sessions, or put in maintenance. A worker closes the sessions
  // of a server when its flag goes from 0 to 1.
  std::vector<std::vector<std::uint8_t>> shut;
};

using HealthSnapshotPtr = std::shared_ptr<const HealthSnapshot>;

}  // namespace pgha::proxy
