// The value types of local_postgres.h: PgUpstream's parser, PgProbe::apply_to() and the LSN
// text form. See local_postgres.h.
#include "election/local_postgres.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace pgha::election {
namespace {

// Host and port of a "postgres://[user@]host:port/db" URL (Patroni's conn_url).
std::optional<PgUpstream> upstream_of_url(const std::string& url) {
  const auto scheme = url.find("://");
  std::string rest = scheme == std::string::npos ? url : url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?"));
  if (const auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  return PgUpstream::parse(rest);
}

}  // namespace

std::string format_lsn(std::int64_t lsn) {
  char text[32];
  std::snprintf(text, sizeof text, "%X/%X", static_cast<unsigned>(static_cast<std::uint64_t>(lsn) >> 32),
                static_cast<unsigned>(static_cast<std::uint64_t>(lsn) & 0xffffffffu));
  return text;
}

std::optional<std::int64_t> parse_lsn(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size() || slash > 8 || text.size() - slash - 1 > 8) {
    return std::nullopt;
  }
  auto hex = [](const std::string& part) -> std::optional<std::uint64_t> {
    std::uint64_t value = 0;
    for (char c : part) {
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (digit < 0) return std::nullopt;
      value = value * 16 + static_cast<std::uint64_t>(digit);
    }
    return value;
  };
  const auto high = hex(text.substr(0, slash));
  const auto low = hex(text.substr(slash + 1));
  if (!high || !low) return std::nullopt;
  return static_cast<std::int64_t>((*high << 32) | *low);
}

std::optional<PgUpstream> PgUpstream::parse(const std::string& host_port) {
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == host_port.size()) return std::nullopt;
  std::string host = host_port.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = host_port.substr(colon + 1);
  if (!std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const int port = std::atoi(port_text.c_str());
  if (port <= 0 || port > 65535) return std::nullopt;
  return PgUpstream{host, port};
}

void PgProbe::apply_to(LocalState& local, const std::vector<MemberStatus>& members) const {
  local.data_dir_initialized = data_dir_initialized;
  local.postgres_running = running;
  local.in_recovery = in_recovery;
  local.wal_position = wal_position;
  local.timeline = timeline;
  local.following.clear();
  if (!in_recovery || following.empty()) return;
  for (const auto& member : members) {
    const auto address = upstream_of_url(member.conn_url);
    if (address && address->address() == following) {
      local.following = member.name;
      return;
    }
  }
}

}  // namespace pgha::election
