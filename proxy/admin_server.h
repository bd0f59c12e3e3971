// AdminServer: pgha-proxy's admin HTTP API on its own thread and io_context (Boost.Beast),
// 127.0.0.1 by default: GET /status (JSON), GET /metrics (Prometheus text), POST
// /servers/{listener}/{server}/{drain|maint|ready}. It only reads counters and snapshots and
// posts admin states to the HealthMonitor; it never touches a worker's sessions directly.
//
// Reads stay open (Prometheus scrapes without credentials). Server commands change routing, so
// each must pass, in this order: a Host header naming this server (localhost, a loopback address,
// the bind address, or any IP address on a wildcard bind; with the bound port) so that a web page
// cannot reach it through DNS rebinding; no Origin header, or one naming this same server, so
// that a browser's cross-site form cannot post; and "Authorization: Bearer TOKEN" when
// AdminConfig::token is set. Without a token, commands are taken only on a loopback bind and
// refused with 403 elsewhere. Every request is bounded before it is read: 8 KiB of request line
// and headers (431), a declared body of at most 64 KiB (413, answered from the headers alone,
// without reading the body), 16 connections at once, 5 s per connection; one request per
// connection. A failure of its thread ends the process (thread_failure.h).
// Thread-safety: bind()/start()/stop() from the owning thread.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/config.h"

namespace pgha::proxy {

class ProxyService;

class AdminServer {
 public:
  AdminServer(ProxyService& service, AdminConfig config);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void bind();  // throws std::runtime_error when the port cannot be bound
  void start();
  void stop();
  int port() const { return port_; }

  struct Reply {
    int status = 200;
    std::string content_type = "text/plain";
    std::string body;
    bool bearer_challenge = false;  // 401: ask for a bearer token
  };
  // What the server answers to one request whose headers have been read (no body is ever read):
  // the whole policy above, apart from the socket. Called on the admin thread.
  Reply answer(const std::string& method, const std::string& target, const std::string& host,
               const std::string* origin, const std::string* authorization) const;

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);
  bool host_is_this_server(const std::string& host_and_port, bool port_required) const;

  ProxyService& service_;
  AdminConfig config_;
  bool loopback_bind_ = false;
  bool wildcard_bind_ = false;
  boost::asio::io_context io_{1};
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  int connections_ = 0;  // admin thread only
  std::thread thread_;
  int port_ = 0;
};

// The /status body, separate from the HTTP plumbing so that tests can call it directly (the
// /metrics body is metrics_page.h's render_metrics()).
std::string render_status_json(const ProxyService& service);

}  // namespace pgha::proxy
