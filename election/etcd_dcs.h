// EtcdDcs: the HA loop's Dcs over etcd v3 (EtcdClient, each call with the client's call timeout).
// Thread-safe, as EtcdClient is. Owned by the agent's main; the client must outlive it.
#pragma once

#include "election/dcs.h"
#include "election/etcd_client.h"

namespace pgha::election {

class EtcdDcs final : public Dcs {
 public:
  explicit EtcdDcs(EtcdClient& etcd) : etcd_(etcd) {}

  EtcdResult<LeaseGrant> grant_lease(std::chrono::seconds ttl) override;
  EtcdResult<std::int64_t> keep_lease_alive(std::int64_t lease_id) override;
  EtcdStatus revoke_lease(std::int64_t lease_id) override;
  EtcdResult<RangeResponse> range_prefix(const std::string& prefix) override;
  EtcdResult<std::int64_t> put(const std::string& key, const std::string& value, std::int64_t lease) override;
  EtcdResult<std::int64_t> create_if_absent(const std::string& key, const std::string& value,
                                            std::int64_t lease) override;
  EtcdResult<std::int64_t> put_if_value(const std::string& key, const std::string& value, const std::string& guard_key,
                                        const std::string& guard_value) override;
  EtcdResult<std::int64_t> compare_and_swap(const std::string& key, const std::string& expected,
                                            const std::string& new_value, std::int64_t lease) override;
  EtcdResult<std::int64_t> delete_if_value(const std::string& key, const std::string& expected) override;
  EtcdStatus delete_key(const std::string& key) override;
  std::unique_ptr<EtcdWatch> watch(const std::string& prefix, WatchCallback on_change) override;

 private:
  EtcdClient& etcd_;
};

}  // namespace pgha::election
