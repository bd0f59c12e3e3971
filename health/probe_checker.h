// ProbeChecker: the base of the checkers that open a TCP connection per check (HttpChecker,
// PgsqlChecker, TcpChecker). It owns what they share: the deadline (check_deadline(timing),
// connect part bounded by timing.connect_timeout), connecting, reading a reply until a pure
// judge decides, measuring the duration, logging, and turning any exception into an unhealthy
// result; with spec.tls.enabled (check-ssl) also the TLS handshake, inside the same deadline, so
// that a protocol talks through TLS unawares. A protocol only fills converse(): send the probe,
// judge the reply, close.
// Used from one executor (an io thread or a strand) at a time, like every Checker.
#pragma once

#include <array>
#include <functional>
#include <string_view>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "health/check_spec.h"
#include "health/checker.h"
#include "health/probe_socket.h"
#include "health/reply_verdict.h"

namespace pgha::health {

class ProbeChecker : public Checker {
 public:
  boost::asio::awaitable<CheckResult> check() final;

 protected:
  ProbeChecker(boost::asio::any_io_executor executor, CheckSpec spec, const char* kind);

  const CheckSpec& spec() const { return spec_; }

  // Runs on a connected socket. May leave the socket open: check() closes it.
  virtual boost::asio::awaitable<CheckResult> converse(ProbeSocket& socket) = 0;

  // The largest reply read_reply() reads.
  static constexpr std::size_t kReplyBufferSize = 8192;
  using Judge = std::function<ReplyVerdict(std::string_view received, bool complete)>;
  // Reads until `judge` decides: after each read it sees every byte so far, with complete =
  // true at EOF or when the buffer is full. A timeout or a read error before a decision is
  // unhealthy, with a detail that says how many bytes had arrived.
  boost::asio::awaitable<ReplyVerdict> read_reply(ProbeSocket& socket, const Judge& judge);

 private:
  boost::asio::awaitable<CheckResult> connect_and_converse();

  boost::asio::any_io_executor executor_;
  CheckSpec spec_;
  const char* kind_;  // "http", "pgsql", "tcp": for log lines
  std::array<char, kReplyBufferSize> reply_buffer_;
};

}  // namespace pgha::health
