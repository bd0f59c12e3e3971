// See probe_socket.h.
#include "health/probe_socket.h"

#include <algorithm>
#include <array>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls_context/tls_context.h"

namespace pgha::health {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

struct ProbeSocket::State {
  explicit State(asio::any_io_executor executor) : socket(executor), resolver(executor), timer(executor) {}
  tcp::socket socket;
  tcp::resolver resolver;
  asio::steady_timer timer;
  // After handshake(): the TLS layer over `socket` (declared after it: destroyed first).
  std::optional<asio::ssl::stream<tcp::socket&>> tls;
  // Bumped on every re-arm and at destruction, so that a timer completion already queued
  // with success for an older expiry does nothing.
  unsigned generation = 0;
  bool timed_out = false;
  bool timed_out_connecting = false;
  bool timed_out_handshaking = false;
  bool connecting = false;
  bool handshaking = false;
};

ProbeSocket::ProbeSocket(asio::any_io_executor executor, Millis deadline, Millis connect_timeout)
    : state_(std::make_shared<State>(std::move(executor))),
      start_(Clock::now()),
      deadline_(start_ + std::max(deadline, Millis{0})),
      connect_deadline_(connect_timeout.count() > 0 ? std::min(deadline_, start_ + connect_timeout)
                                                    : deadline_) {
  arm(deadline_);
}

ProbeSocket::~ProbeSocket() {
  ++state_->generation;
  state_->timer.cancel();
  close();
}

void ProbeSocket::arm(Clock::time_point expiry) {
  const unsigned generation = ++state_->generation;
  state_->timer.expires_at(expiry);
  state_->timer.async_wait([state = state_, generation](const error_code& ec) {
    if (ec || generation != state->generation) return;
    state->timed_out = true;
    state->timed_out_connecting = state->connecting;
    state->timed_out_handshaking = state->handshaking;
    state->resolver.cancel();
    error_code ignored;
    state->socket.close(ignored);
  });
}

asio::awaitable<error_code> ProbeSocket::connect(const std::string& host, std::uint16_t port) {
  error_code ec;
  state_->connecting = true;
  if (connect_deadline_ < deadline_) arm(connect_deadline_);

  const auto address = asio::ip::make_address(host, ec);
  if (!ec) {
    co_await state_->socket.async_connect(tcp::endpoint(address, port),
                                          asio::redirect_error(asio::use_awaitable, ec));
  } else {
    ec.clear();
    const auto endpoints = co_await state_->resolver.async_resolve(
        host, std::to_string(port), tcp::resolver::numeric_service,
        asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      co_await asio::async_connect(state_->socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  state_->connecting = false;
  if (connect_deadline_ < deadline_ && !state_->timed_out) arm(deadline_);
  if (state_->timed_out && !ec) ec = asio::error::timed_out;
  co_return ec;
}

asio::awaitable<error_code> ProbeSocket::handshake(asio::ssl::context& context, const std::string& server_name) {
  auto& stream = state_->tls.emplace(state_->socket, context);
  if (!server_name.empty() && !tls::expect_server_name(stream.native_handle(), server_name)) {
    co_return asio::error::invalid_argument;
  }
  error_code ec;
  state_->handshaking = true;
  co_await stream.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
  state_->handshaking = false;
  if (state_->timed_out && !ec) ec = asio::error::timed_out;
  co_return ec;
}

asio::awaitable<error_code> ProbeSocket::write_all(asio::const_buffer data) {
  error_code ec;
  if (state_->tls) {
    co_await asio::async_write(*state_->tls, data, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_write(state_->socket, data, asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return ec;
}

asio::awaitable<std::size_t> ProbeSocket::read_some(asio::mutable_buffer into, error_code& ec) {
  error_code local;
  std::size_t n = 0;
  if (state_->tls) {
    n = co_await state_->tls->async_read_some(into, asio::redirect_error(asio::use_awaitable, local));
    // Many servers close a TLS connection without close_notify once the reply is sent; a probe
    // judges the bytes, so that is an end like any other.
    if (local == asio::ssl::error::stream_truncated) local = asio::error::eof;
  } else {
    n = co_await state_->socket.async_read_some(into, asio::redirect_error(asio::use_awaitable, local));
  }
  ec = local;
  co_return n;
}

asio::awaitable<void> ProbeSocket::close_gracefully(std::size_t max_drain) {
  error_code ec;
  state_->socket.shutdown(tcp::socket::shutdown_send, ec);
  std::array<char, 1024> sink;
  std::size_t drained = 0;
  while (!ec && !state_->timed_out && drained < max_drain) {
    drained += co_await state_->socket.async_read_some(asio::buffer(sink),
                                                       asio::redirect_error(asio::use_awaitable, ec));
  }
  close();
}

void ProbeSocket::close() {
  error_code ignored;
  state_->socket.close(ignored);
}

bool ProbeSocket::timed_out() const { return state_->timed_out; }

Millis ProbeSocket::elapsed() const {
  return std::chrono::duration_cast<Millis>(Clock::now() - start_);
}

std::string ProbeSocket::describe_failure(const char* what, const error_code& ec) const {
  if (state_->timed_out) {
    if (state_->timed_out_connecting && connect_deadline_ < deadline_) {
      return "connect timeout after " +
             std::to_string(std::chrono::duration_cast<Millis>(connect_deadline_ - start_).count()) + " ms";
    }
    return "timeout after " +
           std::to_string(std::chrono::duration_cast<Millis>(deadline_ - start_).count()) + " ms" +
           (state_->timed_out_connecting    ? " (connecting)"
            : state_->timed_out_handshaking ? " (TLS handshake)"
                                            : "");
  }
  if (ec == asio::error::connection_refused) return std::string(what) + ": connection refused";
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
    return std::string(what) + ": connection closed by the server";
  }
  std::string reason = ec.message();
  if (ec.category() == asio::error::get_ssl_category()) {
    // OpenSSL's reason alone: Boost 1.81's message() appends the library ("(SSL routines)"),
    // 1.74's does not.
    if (const char* text = ::ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) reason = text;
    const int ssl_reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
    if (ssl_reason == SSL_R_CERTIFICATE_VERIFY_FAILED && state_->tls) {
      // "certificate verify failed" alone does not say what was wrong with the certificate.
      const long verify_result = ::SSL_get_verify_result(state_->tls->native_handle());
      if (verify_result != X509_V_OK) reason += std::string(" (") + ::X509_verify_cert_error_string(verify_result) + ")";
    } else if (ssl_reason == SSL_R_WRONG_VERSION_NUMBER) {
      reason += " (not a TLS server?)";  // what OpenSSL makes of a plain-text answer to its hello
    }
  }
  return std::string(what) + ": " + reason;
}

}  // namespace pgha::health
