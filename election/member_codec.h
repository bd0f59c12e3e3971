// Patroni's etcd layout under /<namespace>/<scope>/ and the JSON of its keys, in one place:
// members/<name> (MemberStatus), leader (member name), initialize, failover, status (leader
// optime). Used by the HA loop and by pghactl, so that both read exactly what the other writes
// (and what Patroni-minded tools expect). Pure functions; thread-safe.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "election/cluster_view.h"
#include "election/etcd_codec.h"

namespace pgha::election {

class KeyLayout {
 public:
  KeyLayout(const std::string& namespace_, const std::string& scope);
  const std::string& prefix() const { return prefix_; }  // "/service/postgres/"
  std::string leader() const { return prefix_ + "leader"; }
  std::string initialize() const { return prefix_ + "initialize"; }
  std::string failover() const { return prefix_ + "failover"; }
  std::string status() const { return prefix_ + "status"; }
  std::string sync() const { return prefix_ + "sync"; }
  std::string config() const { return prefix_ + "config"; }
  std::string history() const { return prefix_ + "history"; }
  std::string failsafe() const { return prefix_ + "failsafe"; }
  std::string members_prefix() const { return prefix_ + "members/"; }
  std::string member(const std::string& name) const { return members_prefix() + name; }

 private:
  std::string prefix_;
};

std::string encode_member(const MemberStatus& member);
// nullopt when the JSON is not an object or a number is not an integer in range (xlog_location a
// non-negative int64, timeline a non-negative int); `error` (if given) then says which. Missing
// fields stay at their defaults.
std::optional<MemberStatus> decode_member(const std::string& name, const std::string& json,
                                          std::string* error = nullptr);

std::string encode_failover(const FailoverRequest& request);
// nullopt when the JSON is not an object, or names neither a leader nor a candidate (Patroni's
// cleared key, {}: no request).
std::optional<FailoverRequest> decode_failover(const std::string& json);

// Patroni's /status: {"optime": <leader's WAL position>}.
// The decoders give 0 (unknown) for a missing or unreadable position; `error` (if given) is set
// when the position is there but not a non-negative int64.
// /status as the leader writes it each loop; `retain_slots` (Patroni's key): the slots kept for
// members that are gone for now, so that the next leader keeps them too.
std::string encode_leader_optime(std::int64_t wal_position, const std::set<std::string>& retain_slots = {});
// The names in /status's "retain_slots" (an empty set when absent or malformed).
std::set<std::string> decode_retained_slots(const std::string& json);
std::int64_t decode_leader_optime(const std::string& json, std::string* error = nullptr);
// A leader that hands over in a switchover publishes its shutdown checkpoint as both the optime
// and "handover": no member behind it may take the lock until a new leader overwrites /status.
std::string encode_handover_optime(std::int64_t shutdown_checkpoint);
std::int64_t decode_handover_optime(const std::string& json, std::string* error = nullptr);  // 0 when absent

// Builds the ClusterView from one range over the layout's prefix. `leader_kv` receives the raw
// leader key (for its lease) when present. A member key that cannot be read is left out and,
// like an unreadable status key, listed in ClusterView::unreadable.
ClusterView decode_cluster(const KeyLayout& layout, const RangeResponse& range, KeyValue* leader_kv = nullptr);

// "postgres://host:port/postgres" → "host:port" ("" when malformed).
std::string host_port_of_conn_url(const std::string& conn_url);

}  // namespace pgha::election
