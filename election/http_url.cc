#include "election/http_url.h"

#include <charconv>

namespace pgha::election {

std::optional<HttpUrl> parse_http_url(std::string_view text, UrlKind kind) {
  HttpUrl url;
  if (text.starts_with("https://")) {
    url.https = true;
    text.remove_prefix(8);
  } else if (text.starts_with("http://")) {
    text.remove_prefix(7);
  } else if (kind == UrlKind::kApiUrl) {
    return std::nullopt;
  }
  if (kind == UrlKind::kApiUrl) {
    text = text.substr(0, text.find('/'));
  } else {
    while (text.ends_with('/')) text.remove_suffix(1);
  }
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    url.host = std::string(text.substr(1, close - 1));
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    if (!rest.empty()) port = rest.substr(1);
    if (!rest.empty() && port.empty()) return std::nullopt;
  } else {
    const auto colon = text.find(':');
    url.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) port = text.substr(colon + 1);
    if (port.empty() && colon != std::string_view::npos) return std::nullopt;
  }
  if (url.host.empty() || url.host.find_first_of("/?#@ ") != std::string::npos) return std::nullopt;
  url.port = url.https ? 443 : 80;
  if (!port.empty()) {
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), url.port);
    if (error != std::errc{} || end != port.data() + port.size() || url.port < 1 || url.port > 65535) {
      return std::nullopt;
    }
  }
  return url;
}

}  // namespace pgha::election
