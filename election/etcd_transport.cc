// See etcd_transport.h.
#include "election/etcd_transport.h"

#include <algorithm>
#include <memory>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "election/etcd_codec.h"
#include "election/log.h"

namespace pgha::election {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using Clock = EtcdTransport::Clock;


struct Attempt {
  bool answered = false;
  int http_status = 0;
  std::string body;
  EtcdStatus failure;  // when !answered: unreachable or timeout
};

long long millis(Clock::duration d) { return static_cast<long long>(duration_cast<milliseconds>(d).count()); }

Attempt post_once(const HttpClientFactory& clients, const std::string& endpoint, std::string_view path,
                  const std::string& body, const std::string& token, Clock::duration budget,
                  milliseconds connect_timeout) {
  Attempt attempt;
  const auto started = Clock::now();
  const auto attempt_deadline = started + budget;
  const std::unique_ptr<httplib::ClientImpl> made = clients.make(endpoint);
  if (!made || !made->is_valid()) {
    attempt.failure = {EtcdStatus::Code::kUnreachable, endpoint + ": invalid endpoint"};
    return attempt;
  }
  httplib::ClientImpl& client = *made;
  const auto budget_us = std::max<long long>(1000, duration_cast<std::chrono::microseconds>(budget).count());
  // Also bounds each wait of a TLS handshake (cpp-httplib waits that long for every reply).
  const auto connect_us = std::min<long long>(budget_us, connect_timeout.count() * 1000);
  client.set_connection_timeout(connect_us / 1000000, connect_us % 1000000);
  client.set_read_timeout(budget_us / 1000000, budget_us % 1000000);
  client.set_write_timeout(budget_us / 1000000, budget_us % 1000000);
  client.set_keep_alive(false);

  httplib::Request request;
  request.method = "POST";
  request.path = std::string(path);
  request.body = body;
  request.set_header("Content-Type", "application/json");
  if (!token.empty()) request.set_header("Authorization", token);
  int status = 0;
  std::string received;
  request.response_handler = [&status](const httplib::Response& response) {
    status = response.status;
    return true;
  };
  // httplib's read timeout bounds each read; this bounds the whole body.
  request.content_receiver = [&](const char* data, std::size_t size, std::uint64_t, std::uint64_t) {
    received.append(data, size);
    return received.size() <= kMaxEtcdReplyBytes && Clock::now() < attempt_deadline;
  };
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  const bool sent = client.send(request, response, error);
  const auto elapsed = Clock::now() - started;

  // etcd's gateway ends every error body with an HTTP trailer (Grpc-Trailer-Content-Type), which
  // cpp-httplib 0.11 reports as a read error after the body arrived whole. Keep such a body.
  const bool whole_body_then_trailer = !sent && error == httplib::Error::Read && status > 0 &&
                                       nlohmann::json::accept(received);
  if (sent || whole_body_then_trailer) {
    attempt.answered = true;
    attempt.http_status = sent ? response.status : status;
    attempt.body = std::move(received);
    return attempt;
  }
  // A TLS handshake that waited out the connect timeout met a member that accepts and is silent.
  const bool handshake_timed_out = error == httplib::Error::SSLConnection &&
                                   elapsed + milliseconds{5} >= std::chrono::microseconds(connect_us);
  const bool out_of_time = error == httplib::Error::ConnectionTimeout || error == httplib::Error::Canceled ||
                           handshake_timed_out || elapsed + milliseconds{5} >= budget;
  if (handshake_timed_out) {
    attempt.failure = {EtcdStatus::Code::kTimeout, endpoint + ": TLS handshake not answered within " +
                                                       std::to_string(connect_us / 1000) + " ms"};
  } else if (out_of_time) {
    attempt.failure = {EtcdStatus::Code::kTimeout,
                       endpoint + ": no answer within " + std::to_string(millis(budget)) + " ms"};
  } else {
    attempt.failure = {EtcdStatus::Code::kUnreachable,
                       endpoint + ": " + HttpClientFactory::describe_failure(client, error)};
  }
  return attempt;
}

}  // namespace

EtcdTransport::EtcdTransport(EtcdClientOptions options)
    : options_(std::move(options)), clients_(options_.tls) {}

EtcdResult<std::string> EtcdTransport::post(std::string_view path, const std::string& body,
                                            Clock::time_point deadline) {
  auto current = token(deadline);
  if (!current) return current.status();
  auto result = post_with_failover(path, body, *current, deadline);
  if (!result && result.status().code() == EtcdStatus::Code::kAuthFailed && !current->empty()) {
    // Tokens expire (simple tokens after 5 idle minutes) and vanish when a member restarts.
    forget_token(*current);
    current = token(deadline);
    if (!current) return current.status();
    result = post_with_failover(path, body, *current, deadline);
  }
  return result;
}

EtcdResult<std::string> EtcdTransport::token(Clock::time_point deadline) {
  if (options_.username.empty()) return std::string();
  {
    std::lock_guard lock(token_mutex_);
    if (!token_.empty()) return token_;
  }
  auto answer = post_with_failover("/v3/auth/authenticate",
                                   etcd_codec::authenticate_request(options_.username, options_.password),
                                   /*token=*/"", deadline);
  if (!answer) return answer.status();
  auto fresh = etcd_codec::parse_authenticate_response(*answer);
  if (!fresh) return fresh.status();
  std::lock_guard lock(token_mutex_);
  token_ = *fresh;
  return token_;
}

void EtcdTransport::forget_token(const std::string& rejected) {
  std::lock_guard lock(token_mutex_);
  if (token_ == rejected) token_.clear();
}

EtcdResult<std::string> EtcdTransport::post_with_failover(std::string_view path, const std::string& body,
                                                          const std::string& token,
                                                          Clock::time_point deadline) {
  const std::size_t count = options_.endpoints.size();
  if (count == 0) return EtcdStatus{EtcdStatus::Code::kUnreachable, "no etcd endpoints configured"};
  const std::size_t first = preferred_.load() % count;
  EtcdStatus::Code last_code = EtcdStatus::Code::kTimeout;
  int last_grpc_code = 0;
  std::string failures;
  for (std::size_t tried = 0; tried < count; ++tried) {
    const auto now = Clock::now();
    if (now >= deadline) {
      last_code = EtcdStatus::Code::kTimeout;
      if (!failures.empty()) failures += "; ";
      failures += "deadline passed";
      break;
    }
    // Share what is left between the endpoints not tried yet, so one member that accepts and
    // never answers cannot eat the whole deadline.
    const auto budget = (deadline - now) / static_cast<long>(count - tried);
    const std::size_t index = (first + tried) % count;
    const std::string& endpoint = options_.endpoints[index];
    Attempt attempt = post_once(clients_, endpoint, path, body, token, budget, options_.connect_timeout);
    EtcdStatus failure;
    if (attempt.answered) {
      if (attempt.http_status >= 200 && attempt.http_status < 300) {
        preferred_.store(index);
        return std::move(attempt.body);
      }
      failure = etcd_codec::parse_error_body(attempt.http_status, attempt.body);
      if (attempt.http_status < 500) {
        preferred_.store(index);  // it answered: etcd's verdict, not the member's trouble
        return failure;
      }
      failure = {failure.code(), endpoint + ": " + failure.message(), failure.grpc_code()};
    } else {
      failure = std::move(attempt.failure);
    }
    log().debug("etcd {} via {} failed: {}", path, endpoint, failure.to_string());
    last_code = failure.code();
    last_grpc_code = failure.grpc_code();
    if (!failures.empty()) failures += "; ";
    failures += failure.to_string();
  }
  return EtcdStatus{last_code, std::string(path) + ": " + failures, last_grpc_code};
}

}  // namespace pgha::election
