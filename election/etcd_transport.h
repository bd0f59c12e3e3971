// EtcdTransport: the HTTP side of the etcd client, internal to election/. POSTs a JSON body to
// one of several endpoints under a deadline, fails over on connection errors, timeouts and 5xx,
// remembers the last endpoint that answered, and holds the auth token and the TLS material for
// https members (read once, when the transport is made). Shared (shared_ptr) by an EtcdClient and
// its watches so a watch can outlive a call in flight.
// Thread-safe: every call opens its own connection; the preferred endpoint is an atomic and the
// token sits behind a mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>

#include "election/etcd_options.h"
#include "election/etcd_status.h"
#include "election/http_client_factory.h"

namespace pgha::election {

// The most of one etcd reply (a body, or one message of a watch stream) that is read. etcd's
// answers are small, a range over one cluster's keys, and etcd itself refuses a request over
// 1.5 MiB by default; anything bigger is not etcd, and reading it would only cost memory.
inline constexpr std::size_t kMaxEtcdReplyBytes = 4 * 1024 * 1024;

class EtcdTransport {
 public:
  using Clock = std::chrono::steady_clock;

  // Throws pgha::tls::TlsConfigError when a TLS file of the options cannot be used.
  explicit EtcdTransport(EtcdClientOptions options);

  const EtcdClientOptions& options() const { return options_; }
  std::size_t endpoint_count() const { return options_.endpoints.size(); }
  const std::string& endpoint(std::size_t index) const { return options_.endpoints[index]; }
  std::size_t preferred_endpoint() const { return preferred_.load(); }
  void set_preferred_endpoint(std::size_t index) { preferred_.store(index); }
  // Makes the HTTP(S) client of one call or watch stream.
  const HttpClientFactory& clients() const { return clients_; }

  // POSTs `body` to `path` and returns the body of a 2xx answer, or the status of the failure:
  // etcd's own error (4xx) at once, else the last endpoint's failure once all were tried or the
  // deadline passed. Authenticates first when the options ask for it.
  EtcdResult<std::string> post(std::string_view path, const std::string& body, Clock::time_point deadline);

  // The token to send in "Authorization" ("" without auth), authenticating when there is none.
  EtcdResult<std::string> token(Clock::time_point deadline);
  // Drops `rejected` so the next token() authenticates again (no-op if already replaced).
  void forget_token(const std::string& rejected);

 private:
  EtcdResult<std::string> post_with_failover(std::string_view path, const std::string& body,
                                             const std::string& token, Clock::time_point deadline);

  const EtcdClientOptions options_;
  const HttpClientFactory clients_;
  std::atomic<std::size_t> preferred_{0};
  std::mutex token_mutex_;
  std::string token_;
};

}  // namespace pgha::election
