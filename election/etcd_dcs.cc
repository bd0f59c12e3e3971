#include "election/etcd_dcs.h"

namespace pgha::election {

EtcdResult<LeaseGrant> EtcdDcs::grant_lease(std::chrono::seconds ttl) { return etcd_.lease_grant(ttl); }

EtcdResult<std::int64_t> EtcdDcs::keep_lease_alive(std::int64_t lease_id) { return etcd_.lease_keepalive(lease_id); }

EtcdStatus EtcdDcs::revoke_lease(std::int64_t lease_id) { return etcd_.lease_revoke(lease_id); }

EtcdResult<RangeResponse> EtcdDcs::range_prefix(const std::string& prefix) { return etcd_.range_prefix(prefix); }

EtcdResult<std::int64_t> EtcdDcs::put(const std::string& key, const std::string& value, std::int64_t lease) {
  return etcd_.put(key, value, lease);
}

EtcdResult<std::int64_t> EtcdDcs::create_if_absent(const std::string& key, const std::string& value,
                                                    std::int64_t lease) {
  return etcd_.create_if_absent(key, value, lease);
}

EtcdResult<std::int64_t> EtcdDcs::put_if_value(const std::string& key, const std::string& value,
                                                const std::string& guard_key, const std::string& guard_value) {
  return etcd_.put_if_value(key, value, guard_key, guard_value);
}

EtcdResult<std::int64_t> EtcdDcs::compare_and_swap(const std::string& key, const std::string& expected,
                                                    const std::string& new_value, std::int64_t lease) {
  return etcd_.compare_and_swap(key, expected, new_value, lease);
}

EtcdResult<std::int64_t> EtcdDcs::delete_if_value(const std::string& key, const std::string& expected) {
  return etcd_.delete_if_value(key, expected);
}

EtcdStatus EtcdDcs::delete_key(const std::string& key) {
  auto deleted = etcd_.delete_key(key);
  return deleted.ok() ? EtcdStatus::ok_status() : deleted.status();
}

std::unique_ptr<EtcdWatch> EtcdDcs::watch(const std::string& prefix, WatchCallback on_change) {
  return etcd_.watch(prefix, 0, std::move(on_change));
}

}  // namespace pgha::election
