#include "proxy/server_pool.h"

#include <limits>

namespace pgha::proxy {

ServerPool::ServerPool(const ListenerConfig& listener, std::vector<boost::asio::ip::tcp::endpoint> endpoints)
    : listener_(listener), endpoints_(std::move(endpoints)) {
  for (const ServerConfig& s : listener_.servers) stats_.push_back(std::make_unique<ServerStats>(s.maxconn));
}

bool ServerPool::eligible(int i, const std::vector<std::uint8_t>& up, int exclude) const {
  if (i == exclude || !up[i] || listener_.servers[i].weight <= 0) return false;
  return !stats_[i]->sessions.full();
}

int ServerPool::pick(const std::vector<std::uint8_t>& up, int exclude) {
  // HAProxy: backup servers take traffic only when no active server is usable.
  for (bool backup : {false, true}) {
    int chosen = -1;
    switch (listener_.balance) {
      case Balance::kFirst: chosen = pick_first(up, exclude, backup); break;
      case Balance::kRoundRobin: chosen = pick_round_robin(up, exclude, backup); break;
      case Balance::kLeastConn: chosen = pick_least_connections(up, exclude, backup); break;
    }
    if (chosen >= 0) return chosen;
  }
  return -1;
}

int ServerPool::pick_first(const std::vector<std::uint8_t>& up, int exclude, bool backup) const {
  for (int i = 0; i < size(); ++i) {
    if (listener_.servers[i].backup == backup && eligible(i, up, exclude)) return i;
  }
  return -1;
}

int ServerPool::pick_round_robin(const std::vector<std::uint8_t>& up, int exclude, bool backup) {
  // Weighted round robin: position p in [0, total weight) maps to the server owning that slot.
  int total_weight = 0;
  for (int i = 0; i < size(); ++i) {
    if (listener_.servers[i].backup == backup && eligible(i, up, exclude)) total_weight += listener_.servers[i].weight;
  }
  if (total_weight == 0) return -1;
  int slot = static_cast<int>(rotation_.fetch_add(1, std::memory_order_relaxed) % static_cast<std::uint32_t>(total_weight));
  for (int i = 0; i < size(); ++i) {
    if (listener_.servers[i].backup != backup || !eligible(i, up, exclude)) continue;
    slot -= listener_.servers[i].weight;
    if (slot < 0) return i;
  }
  return -1;
}

int ServerPool::pick_least_connections(const std::vector<std::uint8_t>& up, int exclude, bool backup) {
  // HAProxy's leastconn: fewest active sessions per unit of weight; ties go round robin, which
  // we get by starting the scan at a rotating position and keeping the first strict minimum.
  const int n = size();
  if (n == 0) return -1;
  const int start = static_cast<int>(rotation_.fetch_add(1, std::memory_order_relaxed) % static_cast<std::uint32_t>(n));
  int best = -1;
  long best_active = 0;
  long best_weight = 1;
  for (int k = 0; k < n; ++k) {
    const int i = (start + k) % n;
    if (listener_.servers[i].backup != backup || !eligible(i, up, exclude)) continue;
    const long active = stats_[i]->sessions.active();
    const long weight = listener_.servers[i].weight;
    // active/weight < best_active/best_weight, compared without division
    if (best < 0 || active * best_weight < best_active * weight) {
      best = i;
      best_active = active;
      best_weight = weight;
    }
  }
  return best;
}

bool ServerPool::acquire(int i) {
  ServerStats& s = *stats_[i];
  if (!s.sessions.try_take()) return false;
  s.total.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool ServerPool::any_up(const std::vector<std::uint8_t>& up, int exclude) const {
  for (int i = 0; i < size(); ++i) {
    if (i != exclude && up[i]) return true;
  }
  return false;
}

bool ServerPool::has_room(const std::vector<std::uint8_t>& up) const {
  for (int i = 0; i < size(); ++i) {
    if (eligible(i, up, -1)) return true;
  }
  return false;
}

void ServerPool::release(int i) { stats_[i]->sessions.give_back(); }

}  // namespace pgha::proxy
