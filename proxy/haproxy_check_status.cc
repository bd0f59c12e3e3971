// See haproxy_check_status.h. The checkers' `detail` texts (health/probe_socket.cc,
// health/http_reply.cc, health/pgsql_reply.cc) carry the phase a check failed in.
#include "proxy/haproxy_check_status.h"

#include <string>

namespace pgha::proxy {
namespace {

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }
bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

bool is_http_status(std::string_view detail) {  // "HTTP 503", "HTTP 503 (expected 200)"
  if (detail.size() < 8 || !starts_with(detail, "HTTP ") || (detail.size() > 8 && detail[8] != ' ')) return false;
  for (const char c : detail.substr(5, 3)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::string_view haproxy_check_status(health::CheckType type, bool tls, const ServerHealth& health) {
  if (type == health::CheckType::kNone) return "";
  if (health.last_check_not_run) return "SOCKERR";
  if (health.checks == 0) return "";
  const std::string_view detail = health.last_detail;
  if (health.last_check_ok) {
    if (type == health::CheckType::kTcp) return tls ? "L6OK" : "L4OK";
    return "L7OK";
  }
  if (starts_with(detail, "connect timeout") || (starts_with(detail, "timeout") && contains(detail, "(connecting)"))) {
    return "L4TOUT";
  }
  if (starts_with(detail, "connect:")) return "L4CON";
  if (starts_with(detail, "timeout") && contains(detail, "(TLS handshake)")) return "L6TOUT";
  if (starts_with(detail, "TLS handshake")) return "L6RSP";
  if (starts_with(detail, "timeout")) return "L7TOUT";
  if (type == health::CheckType::kHttp) return is_http_status(detail) ? "L7STS" : "L7RSP";
  if (type == health::CheckType::kPgsql) {
    return starts_with(detail, "pgsql: E") || contains(detail, "closed") ? "L7RSP" : "L7STS";
  }
  return "L4CON";
}

}  // namespace pgha::proxy
