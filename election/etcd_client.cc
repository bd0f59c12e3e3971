// See etcd_client.h.
#include "election/etcd_client.h"

#include "election/etcd_transport.h"

namespace pgha::election {

namespace codec = etcd_codec;

EtcdClient::EtcdClient(EtcdClientOptions options)
    : transport_(std::make_shared<EtcdTransport>(std::move(options))) {}

EtcdClient::~EtcdClient() = default;

const EtcdClientOptions& EtcdClient::options() const { return transport_->options(); }

std::string EtcdClient::active_endpoint() const {
  if (transport_->endpoint_count() == 0) return {};
  return transport_->endpoint(transport_->preferred_endpoint() % transport_->endpoint_count());
}

EtcdResult<std::string> EtcdClient::post(std::string_view path, const std::string& body, Timeout timeout) {
  const auto deadline = EtcdTransport::Clock::now() + timeout.value_or(transport_->options().call_timeout);
  return transport_->post(path, body, deadline);
}

EtcdResult<LeaseGrant> EtcdClient::lease_grant(std::chrono::seconds ttl, Timeout timeout) {
  auto body = post("/v3/lease/grant", codec::lease_grant_request(ttl.count()), timeout);
  if (!body) return body.status();
  return codec::parse_lease_grant_response(*body);
}

EtcdResult<std::int64_t> EtcdClient::lease_keepalive(std::int64_t lease_id, Timeout timeout) {
  auto body = post("/v3/lease/keepalive", codec::lease_keepalive_request(lease_id), timeout);
  if (!body) return body.status();
  auto reply = codec::parse_lease_keepalive_response(*body);
  if (!reply) return reply.status();
  return reply->ttl;
}

EtcdStatus EtcdClient::lease_revoke(std::int64_t lease_id, Timeout timeout) {
  auto body = post("/v3/lease/revoke", codec::lease_revoke_request(lease_id), timeout);
  if (!body) return body.status();
  auto reply = codec::parse_lease_revoke_response(*body);
  return reply ? EtcdStatus() : reply.status();
}

EtcdResult<RangeResponse> EtcdClient::range(std::string_view key, Timeout timeout) {
  auto body = post("/v3/kv/range", codec::range_request(key), timeout);
  if (!body) return body.status();
  return codec::parse_range_response(*body);
}

EtcdResult<RangeResponse> EtcdClient::range_prefix(std::string_view prefix, Timeout timeout) {
  auto body = post("/v3/kv/range", codec::range_request(prefix, codec::prefix_range_end(prefix)), timeout);
  if (!body) return body.status();
  return codec::parse_range_response(*body);
}

EtcdResult<std::int64_t> EtcdClient::put(std::string_view key, std::string_view value, std::int64_t lease,
                                         Timeout timeout) {
  auto body = post("/v3/kv/put", codec::put_request(key, value, lease), timeout);
  if (!body) return body.status();
  return codec::parse_put_response(*body);
}

EtcdResult<TxnResponse> EtcdClient::txn(const std::vector<Compare>& compare, const std::vector<TxnOp>& success,
                                        const std::vector<TxnOp>& failure, Timeout timeout) {
  auto body = post("/v3/kv/txn", codec::txn_request(compare, success, failure), timeout);
  if (!body) return body.status();
  return codec::parse_txn_response(*body);
}

EtcdResult<std::int64_t> EtcdClient::conditional(std::string_view key, Compare compare, TxnOp op,
                                                 std::string_view what, Timeout timeout) {
  // The failure branch reads the key so the error can say what is there instead.
  auto reply = txn({std::move(compare)}, {std::move(op)}, {TxnOp::range(std::string(key))}, timeout);
  if (!reply) return reply.status();
  if (reply->succeeded) return reply->revision;
  std::string message = std::string(what) + " failed for " + std::string(key) + ": ";
  if (reply->kvs.empty()) {
    message += "key absent";
  } else {
    message += "holds '" + reply->kvs.front().value + "' (lease " + std::to_string(reply->kvs.front().lease) + ")";
  }
  return EtcdStatus{EtcdStatus::Code::kTxnFailed, message};
}

EtcdResult<std::int64_t> EtcdClient::create_if_absent(std::string_view key, std::string_view value,
                                                      std::int64_t lease, Timeout timeout) {
  return conditional(key, Compare::create_revision_equals(std::string(key), 0),
                     TxnOp::put(std::string(key), std::string(value), lease), "create_if_absent", timeout);
}

EtcdResult<std::int64_t> EtcdClient::compare_and_swap(std::string_view key, std::string_view expected,
                                                      std::string_view new_value, std::int64_t lease,
                                                      Timeout timeout) {
  return conditional(key, Compare::value_equals(std::string(key), std::string(expected)),
                     TxnOp::put(std::string(key), std::string(new_value), lease), "compare_and_swap", timeout);
}

EtcdResult<std::int64_t> EtcdClient::put_if_value(std::string_view key, std::string_view value,
                                                  std::string_view guard_key, std::string_view guard_value,
                                                  Timeout timeout) {
  return conditional(guard_key, Compare::value_equals(std::string(guard_key), std::string(guard_value)),
                     TxnOp::put(std::string(key), std::string(value)), "put_if_value", timeout);
}

EtcdResult<std::int64_t> EtcdClient::delete_if_value(std::string_view key, std::string_view expected,
                                                     Timeout timeout) {
  return conditional(key, Compare::value_equals(std::string(key), std::string(expected)),
                     TxnOp::delete_key(std::string(key)), "delete_if_value", timeout);
}

EtcdResult<DeleteRangeResponse> EtcdClient::delete_key(std::string_view key, Timeout timeout) {
  auto body = post("/v3/kv/deleterange", codec::delete_range_request(key), timeout);
  if (!body) return body.status();
  return codec::parse_delete_range_response(*body);
}

std::unique_ptr<EtcdWatch> EtcdClient::watch(std::string prefix, std::int64_t start_revision,
                                             WatchCallback callback) {
  return std::make_unique<EtcdWatch>(transport_, std::move(prefix), start_revision, std::move(callback));
}

}  // namespace pgha::election
