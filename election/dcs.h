// Dcs: the distributed configuration store as the HA loop uses it, narrowed to the operations it
// needs: one lease per agent, the scope's keys read in one range, conditional creates and deletes
// of the leader key, plain puts and deletes, and a watch that wakes the loop. EtcdDcs is the real
// one (etcd v3); tests drive HaLoop with an in-memory fake, so its action sequences (step down,
// switchover, start as standby, fencing) are checked without etcd.
//
// Every call is synchronous and bounded by the implementation's call timeout; errors come back as
// values. Called from the HA thread, and from the REST threads for the switchover request.
// Implementations must be thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "election/etcd_codec.h"
#include "election/etcd_status.h"
#include "election/etcd_watch.h"

namespace pgha::election {

class Dcs {
 public:
  virtual ~Dcs() = default;

  virtual EtcdResult<LeaseGrant> grant_lease(std::chrono::seconds ttl) = 0;
  // The remaining TTL in seconds; 0 means the lease expired (whatever it held is gone).
  virtual EtcdResult<std::int64_t> keep_lease_alive(std::int64_t lease_id) = 0;
  [[nodiscard]] virtual EtcdStatus revoke_lease(std::int64_t lease_id) = 0;

  virtual EtcdResult<RangeResponse> range_prefix(const std::string& prefix) = 0;
  // lease 0 = no lease. Writes return the revision they created.
  virtual EtcdResult<std::int64_t> put(const std::string& key, const std::string& value, std::int64_t lease) = 0;
  // kTxnFailed when the key exists.
  virtual EtcdResult<std::int64_t> create_if_absent(const std::string& key, const std::string& value,
                                                    std::int64_t lease) = 0;
  // put(key, value) only while `guard_key` holds `guard_value` (the leader key names us):
  // kTxnFailed otherwise.
  virtual EtcdResult<std::int64_t> put_if_value(const std::string& key, const std::string& value,
                                                const std::string& guard_key, const std::string& guard_value) = 0;
  // put(key, new_value, lease) only while `key` holds `expected` (the leader key moved onto a
  // new lease): kTxnFailed otherwise (or if absent).
  virtual EtcdResult<std::int64_t> compare_and_swap(const std::string& key, const std::string& expected,
                                                    const std::string& new_value, std::int64_t lease) = 0;
  // kTxnFailed when the key is absent or holds another value.
  virtual EtcdResult<std::int64_t> delete_if_value(const std::string& key, const std::string& expected) = 0;
  // Deleting an absent key succeeds.
  [[nodiscard]] virtual EtcdStatus delete_key(const std::string& key) = 0;

  // Calls `on_change` (on a thread of the watch's own) after any change under `prefix`; nullptr
  // when the implementation has no watch (the loop then relies on loop_wait alone).
  virtual std::unique_ptr<EtcdWatch> watch(const std::string& prefix, WatchCallback on_change) = 0;
};

}  // namespace pgha::election
