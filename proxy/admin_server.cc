#include "proxy/admin_server.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <optional>
#include <regex>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "proxy/log.h"
#include "proxy/metrics_page.h"
#include "proxy/proxy_service.h"
#include "proxy/thread_failure.h"

namespace pgha::proxy {

namespace {
const char* balance_name(Balance b) {
  switch (b) {
    case Balance::kFirst: return "first";
    case Balance::kRoundRobin: return "roundrobin";
    case Balance::kLeastConn: return "leastconn";
  }
  return "?";
}

const char* check_type_name(health::CheckType t) {
  switch (t) {
    case health::CheckType::kNone: return "none";
    case health::CheckType::kTcp: return "tcp";
    case health::CheckType::kHttp: return "http";
    case health::CheckType::kPgsql: return "pgsql";
  }
  return "?";
}

std::string state_name(const ServerHealth& h) {
  if (h.maintenance) return "MAINT";
  if (h.draining) return "DRAIN";
  if (!h.checked) return "DOWN (waiting for first check)";
  if (!h.up && h.shutdown_pending) return "DOWN (sessions draining)";
  return h.up ? "UP" : "DOWN";
}

}  // namespace

std::string render_status_json(const ProxyService& service) {
  nlohmann::json root;
  root["pid"] = ::getpid();
  root["sessions"] = service.session_count();
  root["maxconn"] = service.process_sessions().max();
  auto& listeners = root["listeners"] = nlohmann::json::array();
  for (std::size_t li = 0; li < service.listener_count(); ++li) {
    const ListenerState& l = service.listener(li);
    auto ep = service.listener_endpoint(li);
    nlohmann::json lj{{"name", l.config.name},
                      {"bind", ep.address().to_string() + ":" + std::to_string(ep.port())},
                      {"balance", balance_name(l.config.balance)},
                      {"maxconn", l.config.maxconn},
                      {"sessions", l.sessions.active()},
                      {"accepted_total", l.accepted.load(std::memory_order_relaxed)},
                      {"no_server_total", l.no_server.load(std::memory_order_relaxed)},
                      {"connect_failed_total", l.connect_failed.load(std::memory_order_relaxed)},
                      {"idle_closed_total", l.idle_closed.load(std::memory_order_relaxed)},
                      {"hold",
                       {{"timeout_ms", l.config.hold_timeout.count()},
                        {"max", l.config.hold_max},
                        {"held", l.held.active()},
                        {"held_total", l.held_total.load(std::memory_order_relaxed)},
                        {"expired_total", l.held_expired.load(std::memory_order_relaxed)},
                        {"refused_total", l.held_refused.load(std::memory_order_relaxed)},
                        {"abandoned_total", l.held_abandoned.load(std::memory_order_relaxed)},
                        {"wait_seconds_total", static_cast<double>(l.held_wait_us.load(std::memory_order_relaxed)) / 1e6},
                        {"wait_max_seconds", static_cast<double>(l.held_wait_max_us.load(std::memory_order_relaxed)) / 1e6}}},
                      {"servers", nlohmann::json::array()}};
    for (std::size_t si = 0; si < l.config.servers.size(); ++si) {
      const ServerConfig& s = l.config.servers[si];
      const ServerStats& st = l.pool.stats(static_cast<int>(si));
      const ServerHealth h = service.health().status(li, si);
      lj["servers"].push_back({{"name", s.name},
                               {"address", s.host + ":" + std::to_string(s.port)},
                               {"state", state_name(h)},
                               {"up", h.up && !h.maintenance && !h.draining},
                               {"backup", s.backup},
                               {"weight", s.weight},
                               {"sessions", st.sessions.active()},
                               {"sessions_total", st.total.load(std::memory_order_relaxed)},
                               {"connect_failures_total", st.connect_failures.load(std::memory_order_relaxed)},
                               {"killed_on_down_total", st.killed_on_down.load(std::memory_order_relaxed)},
                               {"shutdown_pending", h.shutdown_pending},
                               {"observed_error_events_total", h.observed_error_events},
                               {"check",
                                {{"type", check_type_name(s.check.type)},
                                 {"port", s.check.port},
                                 {"tls", s.check.tls.enabled},
                                 {"checked", h.checked},
                                 {"health", h.health},
                                 {"rise", s.check.timing.rise},
                                 {"fall", s.check.timing.fall},
                                 {"consecutive_failures", h.consecutive_failures},
                                 {"consecutive_successes", h.consecutive_successes},
                                 {"checks_total", h.checks},
                                 {"checks_not_run_total", h.checks_not_run},
                                 {"transitions_total", h.transitions},
                                 {"detail", h.last_detail},
                                 {"duration_ms", h.last_duration_ms},
                                 {"last_change_unix_ms", h.last_change_unix_ms}}}});
    }
    listeners.push_back(std::move(lj));
  }
  return root.dump(2) + "\n";
}

namespace {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using boost::system::error_code;

constexpr std::size_t kHeaderLimit = 8 * 1024;       // request line and headers
constexpr std::uint64_t kBodyLimit = 64 * 1024;      // a declared body larger than this: 413
constexpr std::chrono::seconds kConnectionDeadline{5};
constexpr int kMaxConnections = 16;                  // counted in fd_budget.cc's admin reserve
constexpr std::chrono::milliseconds kAcceptBackoff{100};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Compares in a time that depends on the lengths only, not on where the first difference is.
bool same_secret(std::string_view given, std::string_view expected) {
  if (expected.empty()) return false;
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ expected[i % expected.size()]);
  }
  return diff == 0;
}

// "host", "host:port", "[v6]", "[v6]:port" → host and port (-1 when absent); nullopt when malformed.
std::optional<std::pair<std::string, int>> split_host_port(std::string_view text) {
  std::string_view host = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    if (text.find(':') != colon) return std::nullopt;  // an IPv6 address must be in brackets
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) return std::nullopt;
  int number = -1;
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    number = std::stoi(std::string(port));
  }
  return std::make_pair(std::string(host), number);
}

AdminServer::Reply plain(int status, std::string body) { return {status, "text/plain", std::move(body), false}; }
}  // namespace

AdminServer::AdminServer(ProxyService& service, AdminConfig config)
    : service_(service), config_(std::move(config)) {}

AdminServer::~AdminServer() { stop(); }

void AdminServer::bind() {
  const std::string where = config_.bind_host + ":" + std::to_string(config_.bind_port);
  error_code ec;
  asio::ip::address address = asio::ip::make_address(config_.bind_host, ec);
  if (ec) {
    tcp::resolver resolver(io_);
    const auto results = resolver.resolve(config_.bind_host, std::to_string(config_.bind_port), ec);
    if (ec || results.empty()) throw std::runtime_error("admin: cannot resolve " + where + ": " + ec.message());
    address = results.begin()->endpoint().address();
  }
  const tcp::endpoint endpoint(address, config_.bind_port);
  // SO_REUSEADDR without SO_REUSEPORT: a second proxy on the same admin port is a bind error.
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error_code ignored;
    acceptor_.close(ignored);
    throw std::runtime_error("admin: cannot bind " + where + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  loopback_bind_ = address.is_loopback();
  wildcard_bind_ = address.is_unspecified();
}

void AdminServer::start() {
  asio::co_spawn(io_, accept_loop(), [](std::exception_ptr e) {
    if (e) exit_on_thread_failure("admin server", e);
  });
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (...) {
      exit_on_thread_failure("admin server", std::current_exception());
    }
  });
  log().info("admin API on http://{}:{}/status", config_.bind_host, port_);
  if (!loopback_bind_) {
    log().warn("admin API on {}:{} is not a loopback address: /status and /metrics are readable from other hosts; "
               "server commands {}",
               config_.bind_host, port_,
               config_.token.empty() ? "are refused (403) until admin.token is set" : "need the admin token");
  } else if (config_.token.empty()) {
    log().info("admin API: server commands are taken without credentials on this loopback address "
               "(set admin.token to require a bearer token)");
  }
}

void AdminServer::stop() {
  if (thread_.joinable()) {
    asio::post(io_, [this] {
      error_code ignored;
      acceptor_.close(ignored);
    });
    io_.stop();
    thread_.join();
  }
  // Free the port at once (a reload's successor binds it); open connections end with io_.
  error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> AdminServer::accept_loop() {
  asio::steady_timer backoff(io_);
  while (acceptor_.is_open()) {
    error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {  // out of descriptors: the client waits in the backlog
      backoff.expires_after(kAcceptBackoff);
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (connections_ >= kMaxConnections) continue;  // closed at once: the socket goes out of scope
    asio::co_spawn(io_, serve(std::move(socket)), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log().error("admin connection ended: {}", ex.what());
      } catch (...) {
        log().error("admin connection ended: unknown exception");
      }
    });
  }
}

// GCC 12 with -fsanitize=thread inlines Asio's coroutine frame allocation (its recycling
// allocator's operator new, paired with its own operator delete) and then reports the pair as
// mismatched: a false positive, silenced for this one function.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<void> AdminServer::serve(tcp::socket accepted) {
  ++connections_;
  struct Release {
    int& count;
    ~Release() { --count; }
  } release{connections_};
  // The deadline closes the socket whatever the client does; the handler may outlive this frame.
  auto socket = std::make_shared<tcp::socket>(std::move(accepted));
  asio::steady_timer deadline(io_, kConnectionDeadline);
  deadline.async_wait([socket](const error_code& ec) {
    if (ec) return;
    error_code ignored;
    socket->close(ignored);
  });
  error_code ec;
  const tcp::endpoint peer = socket->remote_endpoint(ec);

  boost::beast::flat_buffer buffer(kHeaderLimit + 1024);
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kHeaderLimit));
  parser.body_limit(kBodyLimit);  // checked against Content-Length as the headers are parsed
  co_await http::async_read_header(*socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  Reply reply;
  bool read_whole_request = false;
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    reply = plain(431, "request header larger than " + std::to_string(kHeaderLimit) + " bytes\n");
  } else if (ec && !socket->is_open()) {
    co_return;  // deadline
  } else if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) {
    co_return;
  } else if (ec == http::error::body_limit) {
    reply = plain(413, "request body larger than " + std::to_string(kBodyLimit) + " bytes\n");
  } else if (ec) {
    reply = plain(400, "bad request\n");
  } else if (parser.chunked()) {
    reply = plain(411, "a request body needs a Content-Length\n");
  } else if (parser.content_length().value_or(0) > kBodyLimit) {
    reply = plain(413, "request body larger than " + std::to_string(kBodyLimit) + " bytes\n");
  } else {
    read_whole_request = true;
    const auto& req = parser.get();
    const auto origin = req.find(http::field::origin);
    const auto authorization = req.find(http::field::authorization);
    const std::string origin_value = origin != req.end() ? std::string(origin->value()) : std::string();
    const std::string authorization_value =
        authorization != req.end() ? std::string(authorization->value()) : std::string();
    try {
      reply = answer(std::string(req.method_string()), std::string(req.target()), std::string(req[http::field::host]),
                     origin != req.end() ? &origin_value : nullptr,
                     authorization != req.end() ? &authorization_value : nullptr);
    } catch (const std::exception& e) {
      log().error("admin: {} {}: {}", std::string(req.method_string()), std::string(req.target()), e.what());
      reply = plain(500, "internal error\n");
    }
    if (reply.status >= 400 && req.method() != http::verb::get) {
      log().warn("admin: refused {} {} from {}: {} {}", std::string(req.method_string()), std::string(req.target()),
                 peer.address().to_string(), reply.status, reply.body.substr(0, reply.body.find('\n')));
    }
  }

  http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
  res.set(http::field::server, "pgha-proxy");
  res.set(http::field::content_type, reply.content_type);
  if (reply.bearer_challenge) res.set(http::field::www_authenticate, "Bearer realm=\"pgha-proxy\"");
  res.keep_alive(false);
  res.body() = std::move(reply.body);
  res.prepare_payload();
  co_await http::async_write(*socket, res, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  socket->shutdown(tcp::socket::shutdown_send, ec);
  if (!read_whole_request) co_return;  // a refused body is not read: closing may reset it
  // Read what the client still sends (at most a small body) until it closes, so that closing
  // does not reset a reply it has not read yet.
  std::array<char, 4096> sink;
  std::uint64_t drained = 0;
  while (!ec && drained <= kBodyLimit + kHeaderLimit) {
    drained += co_await socket->async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
  }
}
#pragma GCC diagnostic pop

bool AdminServer::host_is_this_server(const std::string& host_and_port, bool port_required) const {
  const auto split = split_host_port(host_and_port);
  if (!split) return false;
  const auto& [host, port] = *split;
  if (port >= 0 ? port != port_ : port_required) return false;
  if (iequals(host, "localhost") || iequals(host, config_.bind_host)) return true;
  error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) return false;  // a DNS name other than the bind's: possibly rebound to this host
  return address.is_loopback() || wildcard_bind_ || address.to_string() == config_.bind_host;
}

AdminServer::Reply AdminServer::answer(const std::string& method, const std::string& target, const std::string& host,
                                       const std::string* origin, const std::string* authorization) const {
  const std::string path = target.substr(0, target.find('?'));
  if (method == "GET") {
    if (path == "/status") return {200, "application/json", render_status_json(service_), false};
    if (path == "/metrics") return {200, "text/plain; version=0.0.4", render_metrics(service_), false};
    return plain(404, "not found\n");
  }
  static const std::regex kCommand(R"(/servers/([^/]+)/([^/]+)/(drain|maint|ready))");
  std::smatch match;
  if (!std::regex_match(path, match, kCommand)) return plain(404, "not found\n");
  if (method != "POST") return plain(405, "server commands take POST\n");
  // A browser names the host it thinks it talks to: another name means DNS rebinding.
  if (!host.empty() && !host_is_this_server(host, false)) {
    return plain(403, "forbidden: the Host header does not name this admin server\n");
  }
  // A browser names the page that sent the request: another site's form must not act.
  if (origin) {
    constexpr std::string_view kScheme = "http://";
    const bool same = origin->rfind(kScheme, 0) == 0 &&
                      [&] {
                        const std::string rest = origin->substr(kScheme.size());
                        const auto split = split_host_port(rest);
                        // No port in an Origin means 80.
                        return split && host_is_this_server(split->second >= 0 ? rest : rest + ":80", true);
                      }();
    if (!same) return plain(403, "forbidden: cross-origin request\n");
  }
  if (!config_.token.empty()) {
    constexpr std::string_view kBearer = "bearer ";
    const bool ok = authorization && authorization->size() > kBearer.size() &&
                    iequals(std::string_view(*authorization).substr(0, kBearer.size()), kBearer) &&
                    same_secret(std::string_view(*authorization).substr(kBearer.size()), config_.token);
    if (!ok) return {401, "text/plain", "unauthorized: server commands need \"Authorization: Bearer TOKEN\"\n", true};
  } else if (!loopback_bind_) {
    return plain(403, "forbidden: server commands on a non-loopback address need admin.token\n");
  }
  const std::string& action = match[3];
  const auto state = action == "maint"   ? HealthMonitor::AdminState::kMaint
                     : action == "drain" ? HealthMonitor::AdminState::kDrain
                                         : HealthMonitor::AdminState::kReady;
  if (!service_.health().set_admin_state(match[1], match[2], state)) return plain(404, "no such listener/server\n");
  return plain(200, "ok\n");
}

}  // namespace pgha::proxy
