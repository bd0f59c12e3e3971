#include "election/http_url.h"

#include <gtest/gtest.h>

namespace pgha::election {
namespace {

std::string text(const std::optional<HttpUrl>& url) {
  if (!url) return "none";
  return std::string(url->https ? "https " : "http ") + url->host + " " + std::to_string(url->port);
}

constexpr UrlKind kEtcd = UrlKind::kEtcdEndpoint;
constexpr UrlKind kApi = UrlKind::kApiUrl;

TEST(HttpUrl, EtcdEndpointsAndApiUrls) {
  EXPECT_EQ(text(parse_http_url("127.0.0.1:2379", kEtcd)), "http 127.0.0.1 2379");
  EXPECT_EQ(text(parse_http_url("https://10.0.0.1:2379", kEtcd)), "https 10.0.0.1 2379");
  EXPECT_EQ(text(parse_http_url("http://etcd1/", kEtcd)), "http etcd1 80");
  EXPECT_EQ(text(parse_http_url("https://node1", kApi)), "https node1 443");
  EXPECT_EQ(text(parse_http_url("https://127.0.0.1:8008/patroni", kApi)), "https 127.0.0.1 8008");
  EXPECT_EQ(text(parse_http_url("https://[::1]:8008/patroni", kApi)), "https ::1 8008");
  EXPECT_EQ(text(parse_http_url("http://[fe80::1]", kEtcd)), "http fe80::1 80");
}

TEST(HttpUrl, RefusesWhatIsNotAnAddress) {
  for (const char* bad : {"", "https://", ":2379", "host:", "host:0", "host:65536", "host:12ab", "[::1", "[::1]x",
                          "[::1]:", "user@host:2379", "ho st:1", "http://https://host", "h/path", "ftp://h:1"}) {
    EXPECT_EQ(text(parse_http_url(bad, kEtcd)), "none") << bad;
  }
  for (const char* bad : {"", "db1:8008", "ftp://db1/", "https://:8008/", "https://[::1/", "http://db1:99999/"}) {
    EXPECT_EQ(text(parse_http_url(bad, kApi)), "none") << bad;
  }
}

}  // namespace
}  // namespace pgha::election
