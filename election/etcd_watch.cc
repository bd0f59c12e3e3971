// See etcd_watch.h.
#include "election/etcd_watch.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>

#include <httplib.h>

#include "election/etcd_transport.h"
#include "election/log.h"
#include "printable/printable_excerpt.h"

namespace pgha::election {
namespace {

constexpr std::size_t kErrorBodyLimit = 4096;  // of an error reply, what is kept to judge it

using std::chrono::milliseconds;

void set_timeout(httplib::ClientImpl& client, void (httplib::ClientImpl::*setter)(time_t, time_t),
                 milliseconds timeout) {
  const long long us = std::max<long long>(1000, timeout.count() * 1000);
  (client.*setter)(us / 1000000, us % 1000000);
}

// Detects a member that vanished without closing the connection within ~10 s.
void enable_tcp_keepalive(int fd) {
  int on = 1, idle = 5, interval = 2, probes = 3;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
}

}  // namespace

EtcdWatch::EtcdWatch(std::shared_ptr<EtcdTransport> transport, std::string prefix, std::int64_t start_revision,
                     WatchCallback callback)
    : transport_(std::move(transport)),
      prefix_(std::move(prefix)),
      callback_(std::move(callback)),
      next_revision_(start_revision) {
  thread_ = std::thread([this] { run(); });
}

EtcdWatch::~EtcdWatch() { stop(); }

void EtcdWatch::stop() {
  stopping_.store(true);
  std::unique_lock lock(mutex_);
  wake_.notify_all();
  // Shutting the socket down wakes a blocked read at once. A stream still connecting has no
  // socket to shut yet, so keep at it until the thread is done.
  while (!finished_) {
    if (active_client_ != nullptr) active_client_->stop();
    wake_.wait_for(lock, milliseconds{20});
  }
  lock.unlock();
  if (thread_.joinable()) thread_.join();
}

void EtcdWatch::run() {
  const auto& options = transport_->options();
  const std::size_t count = transport_->endpoint_count();
  std::size_t index = count == 0 ? 0 : transport_->preferred_endpoint() % count;
  int failures_in_a_row = 0;
  while (!stopping_.load() && count > 0) {
    const bool confirmed = follow_stream(transport_->endpoint(index));
    connected_.store(false);
    if (stopping_.load()) break;
    if (confirmed) {
      failures_in_a_row = 0;
    } else {
      ++failures_in_a_row;
      index = (index + 1) % count;
    }
    // A confirmed stream that ended is reopened on the same member quickly; failing members
    // are walked through with a delay that grows once every endpoint has failed.
    const int rounds = failures_in_a_row / static_cast<int>(count);
    wait_before_retry(options.watch_retry_delay * (1 << std::min(rounds, 3)));
  }
  std::lock_guard lock(mutex_);
  finished_ = true;
  wake_.notify_all();
}

bool EtcdWatch::follow_stream(const std::string& endpoint) {
  const auto& options = transport_->options();
  const auto token = transport_->token(EtcdTransport::Clock::now() + options.call_timeout);
  if (!token) {
    log().warn("etcd watch on {}: {}", prefix_, token.status().to_string());
    return false;
  }
  const std::unique_ptr<httplib::ClientImpl> made = transport_->clients().make(endpoint);
  if (!made || !made->is_valid()) {
    log().warn("etcd watch: invalid endpoint {}", endpoint);
    return false;
  }
  httplib::ClientImpl& client = *made;
  // The connection timeout also bounds each wait of a TLS handshake.
  set_timeout(client, &httplib::ClientImpl::set_connection_timeout, options.connect_timeout);
  set_timeout(client, &httplib::ClientImpl::set_write_timeout, options.call_timeout);
  set_timeout(client, &httplib::ClientImpl::set_read_timeout, options.watch_idle_timeout);
  client.set_keep_alive(false);
  client.set_socket_options([](int fd) { enable_tcp_keepalive(fd); });
  {
    std::lock_guard lock(mutex_);
    if (stopping_.load()) return false;
    active_client_ = &client;
  }

  httplib::Request request;
  request.method = "POST";
  request.path = "/v3/watch";
  request.body = etcd_codec::watch_create_request(prefix_, etcd_codec::prefix_range_end(prefix_),
                                                  next_revision_.load(), /*progress_notify=*/true);
  request.set_header("Content-Type", "application/json");
  // gRPC metadata "hasleader": etcd cancels the stream when its member loses the raft leader,
  // instead of leaving us on a partitioned member that will never send another event.
  request.set_header("Grpc-Metadata-hasleader", "true");
  if (!token->empty()) request.set_header("Authorization", *token);
  int status = 0;
  bool confirmed = false;
  std::string pending;
  std::string error_body;
  request.response_handler = [&status](const httplib::Response& response) {
    status = response.status;
    return true;
  };
  request.content_receiver = [&](const char* data, std::size_t size, std::uint64_t, std::uint64_t) {
    if (stopping_.load()) return false;
    if (status != 200) {
      // An error reply is judged by its first few KiB; the rest is not read (it may never end).
      error_body.append(data, std::min(size, kErrorBodyLimit - error_body.size()));
      return error_body.size() < kErrorBodyLimit;
    }
    // The gateway writes one JSON message per line; chunk boundaries are arbitrary.
    pending.append(data, size);
    std::size_t start = 0;
    for (std::size_t newline; (newline = pending.find('\n', start)) != std::string::npos; start = newline + 1) {
      const std::string_view message(pending.data() + start, newline - start);
      if (message.find_first_not_of(" \r\t") == std::string_view::npos) continue;
      if (!handle_message(message, confirmed)) return false;
    }
    pending.erase(0, start);
    return pending.size() <= kMaxEtcdReplyBytes;
  };
  streams_opened_.fetch_add(1);
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  client.send(request, response, error);
  {
    std::lock_guard lock(mutex_);
    active_client_ = nullptr;
  }
  if (stopping_.load()) return confirmed;
  if (status != 0 && status != 200) {
    const EtcdStatus failure = etcd_codec::parse_error_body(status, error_body);
    if (failure.code() == EtcdStatus::Code::kAuthFailed && !token->empty()) transport_->forget_token(*token);
    log().warn("etcd watch on {} via {} refused: {}", prefix_, endpoint, failure.to_string());
    return false;
  }
  const std::string why = HttpClientFactory::describe_failure(client, error);
  if (status == 0 && why != httplib::to_string(error)) {
    // Refused at the TLS handshake (wrong CA, no client certificate...): the operator must hear
    // of it, while a member that is merely down is the usual business of failing over.
    log().warn("etcd watch on {} via {} failed: {}", prefix_, endpoint, why);
    return false;
  }
  log().debug("etcd watch on {} via {} ended ({}); resuming from revision {}", prefix_, endpoint, why,
              next_revision_.load());
  return confirmed;
}

bool EtcdWatch::handle_message(std::string_view message, bool& confirmed) {
  auto parsed = etcd_codec::parse_watch_message(message);
  if (!parsed) {
    const EtcdStatus& failure = parsed.status();
    log().warn("etcd watch on {}: {}", prefix_, failure.to_string());
    return false;
  }
  WatchResponse& response = *parsed;
  if (response.created) {
    confirmed = true;
    connected_.store(true);
    // A watch "from now" covers revisions after the one etcd reports at creation.
    if (next_revision_.load() == 0) next_revision_.store(response.revision + 1);
  }
  if (response.compact_revision != 0) {
    log().warn("etcd watch on {}: revision {} compacted, resuming from {}", prefix_, next_revision_.load(),
               response.compact_revision);
    next_revision_.store(response.compact_revision);
    deliver(response);
    return false;  // etcd cancelled this watch; reopen from the compact revision
  }
  if (response.canceled) {
    log().warn("etcd watch on {} cancelled: {}", prefix_, printable_excerpt(response.cancel_reason, 200));
    return false;
  }
  if (!response.events.empty()) {
    next_revision_.store(response.events.back().kv.mod_revision + 1);
    deliver(response);
  } else if (!response.created && connected_.load() && response.revision >= next_revision_.load()) {
    // A progress notification: every event up to header.revision has been sent.
    next_revision_.store(response.revision + 1);
  }
  return true;
}

void EtcdWatch::deliver(const WatchResponse& response) {
  try {
    callback_(response);
  } catch (const std::exception& e) {
    log().error("etcd watch on {}: callback threw: {}", prefix_, e.what());
  }
}

void EtcdWatch::wait_before_retry(milliseconds delay) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, delay, [this] { return stopping_.load(); });
}

}  // namespace pgha::election
