// EtcdClient: the etcd v3 client of pgha-agent, over etcd's JSON (gRPC) gateway (etcd 3.4 paths).
// Several endpoints with failover (connection errors, timeouts and 5xx move to the next member;
// the last member that answered is tried first), a deadline on every call (the call's own or
// options.call_timeout; all attempts fit inside it), optional user/password authentication.
// Errors come back as values (EtcdStatus / EtcdResult<T>), never as exceptions.
//
// Threads: every call is synchronous and blocks up to its deadline, so it belongs on the agent's
// HA thread (or another thread of its own), never on an io thread. Calls may come from several
// threads at once: each opens its own connection. Watches run on their own threads (etcd_watch.h)
// and may outlive the client.
//
// A write that timed out may still have been applied: after a timeout, read before concluding
// (e.g. a create_if_absent retried on another member then reports kTxnFailed for our own key).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "election/etcd_codec.h"
#include "election/etcd_options.h"
#include "election/etcd_status.h"
#include "election/etcd_watch.h"

namespace pgha::election {

class EtcdTransport;

class EtcdClient {
 public:
  using Timeout = std::optional<std::chrono::milliseconds>;  // empty = options.call_timeout

  explicit EtcdClient(EtcdClientOptions options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // Leases. lease_keepalive returns the remaining TTL in seconds: 0 means the lease expired or
  // never existed (etcd answers keepalive on a missing lease with TTL 0, not an error).
  EtcdResult<LeaseGrant> lease_grant(std::chrono::seconds ttl, Timeout timeout = {});
  EtcdResult<std::int64_t> lease_keepalive(std::int64_t lease_id, Timeout timeout = {});
  // kLeaseNotFound when the lease is already gone.
  EtcdStatus lease_revoke(std::int64_t lease_id, Timeout timeout = {});

  // Reads. An absent key is an ok result with no kvs.
  EtcdResult<RangeResponse> range(std::string_view key, Timeout timeout = {});
  EtcdResult<RangeResponse> range_prefix(std::string_view prefix, Timeout timeout = {});

  // Writes return the revision they created. lease 0 = no lease.
  EtcdResult<std::int64_t> put(std::string_view key, std::string_view value, std::int64_t lease = 0,
                               Timeout timeout = {});
  // txn: create_revision(key) == 0 → put. kTxnFailed (message names the holder) if the key exists.
  EtcdResult<std::int64_t> create_if_absent(std::string_view key, std::string_view value, std::int64_t lease = 0,
                                            Timeout timeout = {});
  // txn: value(key) == expected → put(new_value, lease). kTxnFailed otherwise (or if absent).
  EtcdResult<std::int64_t> compare_and_swap(std::string_view key, std::string_view expected,
                                            std::string_view new_value, std::int64_t lease = 0,
                                            Timeout timeout = {});
  // txn: value(guard_key) == guard_value → put(key, value). kTxnFailed otherwise (the message
  // says what guard_key holds).
  EtcdResult<std::int64_t> put_if_value(std::string_view key, std::string_view value, std::string_view guard_key,
                                        std::string_view guard_value, Timeout timeout = {});
  // txn: value(key) == expected → delete. kTxnFailed otherwise (or if absent).
  EtcdResult<std::int64_t> delete_if_value(std::string_view key, std::string_view expected, Timeout timeout = {});
  // Deleting an absent key is ok with deleted == 0.
  EtcdResult<DeleteRangeResponse> delete_key(std::string_view key, Timeout timeout = {});
  // Any other transaction; `succeeded` tells which branch ran (not an error either way).
  EtcdResult<TxnResponse> txn(const std::vector<Compare>& compare, const std::vector<TxnOp>& success,
                              const std::vector<TxnOp>& failure, Timeout timeout = {});

  // Watches every key under `prefix` from `start_revision` (0 = changes after now) on a thread
  // of its own; see etcd_watch.h. Stop it by destroying the returned object.
  std::unique_ptr<EtcdWatch> watch(std::string prefix, std::int64_t start_revision, WatchCallback callback);

  // The endpoint the next call tries first (the last one that answered).
  std::string active_endpoint() const;
  const EtcdClientOptions& options() const;

 private:
  EtcdResult<std::string> post(std::string_view path, const std::string& body, Timeout timeout);
  // A txn whose failure is an error: ok → the txn's revision, else kTxnFailed with `what`.
  EtcdResult<std::int64_t> conditional(std::string_view key, Compare compare, TxnOp op, std::string_view what,
                                       Timeout timeout);

  std::shared_ptr<EtcdTransport> transport_;
};

}  // namespace pgha::election
