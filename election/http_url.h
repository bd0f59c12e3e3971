// parse_http_url(): the scheme, host and port of an etcd endpoint ("https://10.0.0.1:2379",
// "127.0.0.1:2379": no scheme means http, no path) or a member's api_url
// ("https://[::1]:8008/patroni": a scheme, the path ignored), for the agent's cpp-httplib
// clients. Without a port, 80 or 443. nullopt for anything else (no host, a bad port, a host
// with ?#@ or a space).
// Pure function; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgha::election {

struct HttpUrl {
  bool https = false;
  std::string host;  // without the brackets of an IPv6 literal
  int port = 0;
};

enum class UrlKind { kEtcdEndpoint, kApiUrl };

std::optional<HttpUrl> parse_http_url(std::string_view text, UrlKind kind);

}  // namespace pgha::election
