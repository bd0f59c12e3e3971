// ProbeSocket: the TCP connection of one health probe, bounded by one deadline. Owned by the
// checker coroutine for the length of one check(); used from that coroutine's executor only
// (an io thread or a strand), never shared.
//
// The deadline covers resolve + connect + write + read: a steady_timer whose expiry cancels the
// resolver and closes the socket, so every pending operation completes with an error and the
// probe ends on time whatever the peer does (silence, one byte per second, ...). connect() is
// additionally bounded by the connect timeout. After handshake(), the same deadline covers the TLS
// handshake and every later read and write goes through TLS. Errors come back as values, never as
// exceptions.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include "health/check_spec.h"

namespace pgha::health {

class ProbeSocket {
 public:
  using Clock = std::chrono::steady_clock;

  // `deadline` bounds the whole probe from now; `connect_timeout` (0 → none beyond the
  // deadline) bounds the connect part.
  ProbeSocket(boost::asio::any_io_executor executor, Millis deadline, Millis connect_timeout);
  // Closes the socket and disarms the timer.
  ~ProbeSocket();
  ProbeSocket(const ProbeSocket&) = delete;
  ProbeSocket& operator=(const ProbeSocket&) = delete;

  // Resolves host (IP literals skip the resolver) and connects to the first address that
  // accepts.
  boost::asio::awaitable<boost::system::error_code> connect(const std::string& host, std::uint16_t port);
  // On a connected socket: a TLS client handshake with a stream made from `context` (shared, not
  // changed), sending `server_name` as SNI when it is a DNS name and, when the context verifies,
  // requiring the certificate to name it (empty: no name). Later reads and writes use TLS.
  boost::asio::awaitable<boost::system::error_code> handshake(boost::asio::ssl::context& context,
                                                              const std::string& server_name);
  boost::asio::awaitable<boost::system::error_code> write_all(boost::asio::const_buffer data);
  // One read of whatever is available; 0 bytes with ec == eof when the peer closed (over TLS also
  // when it closed without a close_notify: a probe judges what it read, not how it ended).
  boost::asio::awaitable<std::size_t> read_some(boost::asio::mutable_buffer into,
                                                boost::system::error_code& ec);
  // Ends the connection with a FIN and no RST: shutdown(send), then read and discard until the
  // peer closes (bounded by the deadline and by `max_drain` bytes), then close. A socket closed
  // with unread bytes in its receive queue would send RST instead. Plain TCP only.
  boost::asio::awaitable<void> close_gracefully(std::size_t max_drain = 64 * 1024);
  void close();

  // True once the deadline (or the connect timeout) fired and closed the socket.
  bool timed_out() const;
  Millis elapsed() const;
  // "timeout after 300 ms" / "connect timeout after 100 ms" (" (connecting)" or " (TLS handshake)"
  // when the deadline caught those) when timed out, else "<what>: <reason>" such as
  // "connect: connection refused" or "TLS handshake: certificate verify failed (hostname mismatch)".
  std::string describe_failure(const char* what, const boost::system::error_code& ec) const;

 private:
  struct State;
  void arm(Clock::time_point expiry);

  std::shared_ptr<State> state_;  // shared with the timer's handler, which may run late
  Clock::time_point start_;
  Clock::time_point deadline_;
  Clock::time_point connect_deadline_;
};

}  // namespace pgha::health
