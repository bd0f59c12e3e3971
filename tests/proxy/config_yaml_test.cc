// The native YAML loader: conf/'s YAML files (the classic haproxy.cfg's equivalent must load into the
// very same structs as conf/haproxy.cfg), inheritance defaults → listener → server, and an
// error naming file, line and key path for every invalid or unknown setting.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "proxy/config.h"
#include "tests/proxy/config_test_util.h"

namespace pgha::proxy {
namespace {

using health::CheckType;
using health::InitialState;
using testing::all_warnings;
using testing::expect_config_error;
using testing::has_warning;
using testing::TempDir;

TEST(YamlConfConfigTest, ClassicEquivalentMatchesHaproxyCfgExactly) {
  LoadedConfig from_yaml = load_config(testing::conf_file("pgha-proxy.yaml"));
  LoadedConfig from_cfg = load_config(testing::conf_file("haproxy.cfg"));
  EXPECT_EQ(testing::dump(from_yaml.config), testing::dump(from_cfg.config));
  ASSERT_EQ(from_yaml.config.listeners.size(), 2u);
  EXPECT_EQ(from_yaml.config.listeners[0].servers.at(2).check.port, 8010);
  EXPECT_EQ(from_yaml.config.listeners[1].servers.at(0).check.type, CheckType::kNone);
  // The same warning that reads are never checked; nothing else.
  ASSERT_EQ(from_yaml.warnings.size(), 1u) << all_warnings(from_yaml);
  EXPECT_EQ(from_yaml.warnings[0].key, "listeners[1]");
  EXPECT_NE(from_yaml.warnings[0].message.find("postgres_read"), std::string::npos);
  EXPECT_TRUE(has_warning(from_yaml, from_yaml.warnings[0].line, "listeners[1]", "is health-checked"));
}

TEST(YamlConfConfigTest, TunedFile) {
  LoadedConfig loaded = load_config(testing::conf_file("pgha-proxy-tuned.yaml"));
  EXPECT_TRUE(loaded.warnings.empty()) << all_warnings(loaded);
  const ProxyConfig& c = loaded.config;
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.admin.bind_host, "127.0.0.1");
  EXPECT_EQ(c.admin.bind_port, 8404);
  ASSERT_EQ(c.listeners.size(), 2u);
  struct Expected {
    const char* name;
    uint16_t port;
    Balance balance;
    const char* path;
  };
  const Expected expected[] = {{"postgres_write", 5432, Balance::kFirst, "/primary"},
                               {"postgres_read", 5433, Balance::kLeastConn, "/replica"}};
  for (int i = 0; i < 2; ++i) {
    const ListenerConfig& l = c.listeners[i];
    SCOPED_TRACE(l.name);
    EXPECT_EQ(l.name, expected[i].name);
    EXPECT_EQ(l.bind_host, "0.0.0.0");
    EXPECT_EQ(l.bind_port, expected[i].port);
    EXPECT_EQ(l.balance, expected[i].balance);
    EXPECT_EQ(l.timeout_connect, Millis(1000));
    EXPECT_EQ(l.timeout_client, Millis(1'800'000));
    EXPECT_EQ(l.timeout_server, Millis(1'800'000));
    ASSERT_EQ(l.servers.size(), 3u);
    for (int s = 0; s < 3; ++s) {
      const ServerConfig& server = l.servers[s];
      EXPECT_EQ(server.port, 5434 + s);
      EXPECT_TRUE(server.shutdown_sessions_on_down);
      const health::CheckSpec& k = server.check;
      EXPECT_EQ(k.type, CheckType::kHttp);
      EXPECT_EQ(k.host, "127.0.0.1");
      EXPECT_EQ(k.port, 8008 + s);
      EXPECT_EQ(k.http.method, "GET");
      EXPECT_EQ(k.http.path, expected[i].path);
      EXPECT_EQ(k.http.expect_status, 200);
      EXPECT_EQ(k.timing.inter, Millis(200));
      EXPECT_EQ(k.timing.fastinter, Millis(50));
      EXPECT_EQ(k.timing.downinter, Millis(50));
      EXPECT_EQ(k.timing.fall, 2);
      EXPECT_EQ(k.timing.rise, 1);
      EXPECT_EQ(k.timing.timeout, Millis(500));
      EXPECT_EQ(k.initial_state, InitialState::kDownUntilFirstCheck);
      EXPECT_TRUE(k.observe.layer4);
      EXPECT_EQ(k.observe.error_limit, 1);
      EXPECT_EQ(k.observe.on_error, health::OnError::kMarkDown);
      EXPECT_EQ(server.shutdown_grace, Millis(2000));
    }
    EXPECT_EQ(l.hold_timeout, Millis(10000));
    EXPECT_EQ(l.hold_max, 5000);
  }
}

LoadedConfig load_text(const TempDir& dir, const std::string& text) {
  return load_yaml_config(dir.write("case.yaml", text));
}

TEST(YamlConfigTest, HoldObserveAndShutdownGraceAreInherited) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir, R"(
defaults:
  hold: { timeout: 5s, max_clients: 300 }
  observe: layer4
  error_limit: 1
  on_error: mark-down
  on_marked_down: shutdown-sessions
  shutdown_grace: 2s
  check: { type: http, path: /primary }
listeners:
  - name: a
    bind: 127.0.0.1:6000
    servers:
      - { name: s1, address: 127.0.0.1:6001 }
      - { name: s2, address: 127.0.0.1:6002, on_error: sudden-death, error_limit: 4, shutdown_grace: 0s }
  - name: b
    bind: 127.0.0.1:6010
    hold: off
    observe: none
    servers:
      - { name: s1, address: 127.0.0.1:6001 }
  - name: c
    bind: 127.0.0.1:6020
    hold: 750ms
    servers:
      - { name: s1, address: 127.0.0.1:6001, on_error: fastinter }
)");
  const auto& ls = loaded.config.listeners;
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_EQ(ls[0].hold_timeout, Millis(5000));
  EXPECT_EQ(ls[0].hold_max, 300);
  const ServerConfig& s1 = ls[0].servers[0];
  EXPECT_TRUE(s1.check.observe.layer4);
  EXPECT_EQ(s1.check.observe.error_limit, 1);
  EXPECT_EQ(s1.check.observe.on_error, health::OnError::kMarkDown);
  EXPECT_EQ(s1.shutdown_grace, Millis(2000));
  const ServerConfig& s2 = ls[0].servers[1];
  EXPECT_EQ(s2.check.observe.on_error, health::OnError::kSuddenDeath);
  EXPECT_EQ(s2.check.observe.error_limit, 4);
  EXPECT_EQ(s2.shutdown_grace, Millis(0));
  EXPECT_EQ(ls[1].hold_timeout, Millis(0));
  EXPECT_FALSE(ls[1].servers[0].check.observe.layer4);
  EXPECT_EQ(ls[2].hold_timeout, Millis(750));
  EXPECT_EQ(ls[2].hold_max, 300) << "the cap is inherited when a level sets only the timeout";
  EXPECT_EQ(ls[2].servers[0].check.observe.on_error, health::OnError::kFastinter);
}

TEST(YamlConfigTest, InheritanceDefaultsListenerServer) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir, R"(
workers: 3
maxconn: 4000
log_level: debug
admin: { enabled: false, listen: 127.0.0.1:9000 }
defaults:
  timeout: { connect: 2s, client: 1m, tunnel: 1h }
  balance: leastconn
  maxconn: 500
  on_marked_down: shutdown-sessions
  init_state: fully-down
  check: { type: http, method: GET, path: /primary, expect_status: 200, inter: 3s, rise: 2, fall: 3 }
listeners:
  - name: a
    bind: 127.0.0.1:6000
    timeout: { client: 5m }
    check: { path: /replica, fall: 5, host_header: pg.local, version: HTTP/1.1 }
    servers:
      - { name: s1, address: 127.0.0.1:6001 }
      - name: s2
        address: db2:6002
        weight: 3
        maxconn: 10
        backup: true
        init_state: up
        on_marked_down: none
        check: { port: 8009, inter: 500ms, host: 10.0.0.2 }
      - { name: s3, address: "[::1]:6003", check: false }
  - name: b
    bind: "[::1]:6001"
    balance: first
    maxconn: 0
    check: { type: pgsql, user: pgha, ssl_request: true, timeout: 750ms, connect_timeout: 300ms }
    servers:
      - { name: s1, address: 127.0.0.1:6001, check: { type: tcp } }
      - { name: s2, address: 127.0.0.1:6002 }
)");
  const ProxyConfig& c = loaded.config;
  EXPECT_EQ(c.workers, 3);
  EXPECT_EQ(c.maxconn, 4000);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_FALSE(c.admin.enabled);
  EXPECT_EQ(c.admin.bind_port, 9000);
  ASSERT_EQ(c.listeners.size(), 2u);

  const ListenerConfig& a = c.listeners[0];
  EXPECT_EQ(a.balance, Balance::kLeastConn);
  EXPECT_EQ(a.maxconn, 500);
  EXPECT_EQ(a.timeout_connect, Millis(2000));
  EXPECT_EQ(a.timeout_client, Millis(300'000));
  EXPECT_EQ(a.timeout_server, Millis(0));
  EXPECT_EQ(a.timeout_tunnel, Millis(3'600'000));
  ASSERT_EQ(a.servers.size(), 3u);
  const ServerConfig& s1 = a.servers[0];
  EXPECT_EQ(s1.check.type, CheckType::kHttp);
  EXPECT_EQ(s1.check.http.method, "GET");
  EXPECT_EQ(s1.check.http.path, "/replica");
  EXPECT_EQ(s1.check.http.version, "HTTP/1.1");
  EXPECT_EQ(s1.check.http.host_header, "pg.local");
  EXPECT_EQ(s1.check.http.expect_status, 200);
  EXPECT_EQ(s1.check.timing.inter, Millis(3000));
  EXPECT_EQ(s1.check.timing.fall, 5);
  EXPECT_EQ(s1.check.timing.rise, 2);
  EXPECT_EQ(s1.check.timing.connect_timeout, Millis(2000));
  EXPECT_EQ(s1.check.port, 6001);
  EXPECT_EQ(s1.check.initial_state, InitialState::kDown);
  EXPECT_TRUE(s1.shutdown_sessions_on_down);
  const ServerConfig& s2 = a.servers[1];
  EXPECT_EQ(s2.host, "db2");
  EXPECT_EQ(s2.check.host, "10.0.0.2");
  EXPECT_EQ(s2.check.port, 8009);
  EXPECT_EQ(s2.check.timing.inter, Millis(500));
  EXPECT_EQ(s2.check.timing.fall, 5);
  EXPECT_EQ(s2.weight, 3);
  EXPECT_EQ(s2.maxconn, 10);
  EXPECT_TRUE(s2.backup);
  EXPECT_EQ(s2.check.initial_state, InitialState::kUpUntilFirstFailure);
  EXPECT_FALSE(s2.shutdown_sessions_on_down);
  const ServerConfig& s3 = a.servers[2];
  EXPECT_EQ(s3.host, "::1");
  EXPECT_EQ(s3.check.type, CheckType::kNone);

  const ListenerConfig& b = c.listeners[1];
  EXPECT_EQ(b.bind_host, "::1");
  EXPECT_EQ(b.balance, Balance::kFirst);
  EXPECT_EQ(b.maxconn, 0);
  EXPECT_EQ(b.servers.at(0).check.type, CheckType::kTcp);
  EXPECT_EQ(b.servers.at(0).check.pgsql.user, "");
  EXPECT_EQ(b.servers.at(0).check.http.path, "/");  // HTTP fields do not leak into other types
  const health::CheckSpec& pg = b.servers.at(1).check;
  EXPECT_EQ(pg.type, CheckType::kPgsql);
  EXPECT_EQ(pg.pgsql.user, "pgha");
  EXPECT_TRUE(pg.pgsql.ssl_request);
  EXPECT_EQ(pg.timing.timeout, Millis(750));
  EXPECT_EQ(pg.timing.connect_timeout, Millis(300));
  EXPECT_TRUE(loaded.warnings.empty()) << all_warnings(loaded);
}

TEST(YamlConfigTest, DurationsAcceptPlainMillisecondsAndUnits) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir, R"(
defaults:
  timeout: { connect: 1500, client: 2m, server: 1h, tunnel: 1d, fin: 3s }
listeners:
  - name: a
    bind: :6000
    check: { type: tcp, inter: 250ms, fastinter: 500us, downinter: 10s }
    servers: [{ name: s1, address: 127.0.0.1:6001 }]
)");
  const ListenerConfig& a = loaded.config.listeners.at(0);
  EXPECT_EQ(a.timeout_connect, Millis(1500));
  EXPECT_EQ(a.timeout_client, Millis(120'000));
  EXPECT_EQ(a.timeout_server, Millis(3'600'000));
  EXPECT_EQ(a.timeout_tunnel, Millis(86'400'000));
  EXPECT_EQ(a.timeout_fin, Millis(3000));
  const health::CheckTiming& t = a.servers.at(0).check.timing;
  EXPECT_EQ(t.inter, Millis(250));
  EXPECT_EQ(t.fastinter, Millis(1));
  EXPECT_EQ(t.downinter, Millis(10'000));
}

TEST(YamlConfigTest, SpliceIsInheritedFromDefaultsAndOverriddenPerListener) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir, R"(
defaults:
  splice: true
listeners:
  - name: a
    bind: :6000
    servers: [{ name: s1, address: 127.0.0.1:6001 }]
  - name: b
    bind: :6001
    splice: false
    servers: [{ name: s1, address: 127.0.0.1:6002 }]
)");
  EXPECT_TRUE(loaded.config.listeners.at(0).splice);
  EXPECT_FALSE(loaded.config.listeners.at(1).splice);
}

TEST(YamlConfigTest, AdminTokenFromTheFileFromAFileOrFromTheEnvironment) {
  TempDir dir;
  constexpr const char* kListener = "listeners: [{ name: a, bind: \":6000\", servers: [{ name: s, address: 127.0.0.1:1 }] }]\n";
  EXPECT_EQ(load_text(dir, std::string("admin: { token: abcdefghijklmnop0123 }\n") + kListener).config.admin.token,
            "abcdefghijklmnop0123");
  dir.write("admin.token", "from-a-file-0123456789\n");  // the trailing newline is not part of it
  EXPECT_EQ(load_text(dir, std::string("admin: { token_file: admin.token }\n") + kListener).config.admin.token,
            "from-a-file-0123456789")
      << "a relative path is relative to the config file";
  ::setenv("PGHA_TEST_ADMIN_TOKEN", "from-the-environment-0123", 1);
  EXPECT_EQ(load_text(dir, std::string("admin: { token_env: PGHA_TEST_ADMIN_TOKEN }\n") + kListener).config.admin.token,
            "from-the-environment-0123");
  ::unsetenv("PGHA_TEST_ADMIN_TOKEN");
  EXPECT_EQ(load_text(dir, kListener).config.admin.token, "") << "no token by default";
}

// admin.token_file is read like the config file itself: a device that never ends, a FIFO no one
// writes and a file far larger than any token are refused at once, instead of growing the proxy
// until it is killed or blocking the load (and so a SIGHUP reload) forever.
TEST(YamlConfigTest, AdminTokenFileMustBeASmallRegularFile) {
  TempDir dir;
  constexpr const char* kListener = "listeners: [{ name: a, bind: \":6000\", servers: [{ name: s, address: 127.0.0.1:1 }] }]\n";
  const std::string config = dir.write("pgha.yaml", "");
  auto load_with_token_file = [&](const std::string& token_file) {
    dir.write("pgha.yaml", "admin: { token_file: " + token_file + " }\n" + kListener);
    return load_config(config);
  };
  dir.write("huge.token", std::string(1 << 20, 'x'));
  expect_config_error([&] { load_with_token_file("huge.token"); }, config, 1, "admin.token_file", "larger than");
  ASSERT_FALSE(::testing::Test::HasFailure()) << "a reader without a bound would not come back from what follows";
  expect_config_error([&] { load_with_token_file("/dev/zero"); }, config, 1, "admin.token_file",
                      "not a regular file");
  const std::string fifo = (dir.path() / "token.fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_config_error([&] { load_with_token_file(fifo); }, config, 1, "admin.token_file", "a FIFO");
}

struct ErrorCase {
  const char* name;
  const char* text;
  int line;
  const char* key;
  const char* message_part;
};

class YamlErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(YamlErrorTest, NamesFileLineAndKey) {
  TempDir dir;
  const std::string path = dir.write("case.yaml", GetParam().text);
  expect_config_error([&] { load_config(path); }, path, GetParam().line, GetParam().key, GetParam().message_part);
}

// A valid listener occupying lines 1..6; cases append after it or replace a line of it.
#define PGHA_L0                     \
  "listeners:\n"                    \
  "  - name: a\n"                   \
  "    bind: :6000\n"               \
  "    servers:\n"                  \
  "      - name: s1\n"              \
  "        address: 127.0.0.1:6001\n"
#define PGHA_L1_HEAD "  - name: b\n    bind: 127.0.0.1:6000\n    servers:\n"  // lines 7..9

INSTANTIATE_TEST_SUITE_P(
    Errors, YamlErrorTest,
    ::testing::Values(
        ErrorCase{"InvalidYaml", "workers: 1\nadmin: a: b\n", 2, "yaml", "invalid YAML"},
        // A CR or LF in the check request's path or Host header would add headers to it.
        ErrorCase{"CheckPathWithCrLf", PGHA_L0 "    check:\n      type: http\n      path: \"/primary\\r\\nX: 1\"\n", 9,
                  "listeners[0].check.path", "control characters, got '/primary\\r\\nX: 1'"},
        ErrorCase{"CheckPathWithSpace", PGHA_L0 "    check: { type: http, path: \"/a b\" }\n", 7,
                  "listeners[0].check.path", "must not contain spaces"},
        ErrorCase{"CheckHostHeaderWithLf", PGHA_L0 "    check:\n      type: http\n      host_header: \"pg\\nX: 1\"\n", 9,
                  "listeners[0].check.host_header", "Host header must not contain control characters, got 'pg\\nX: 1'"},
        ErrorCase{"DefaultsCheckHostHeaderWithCr", "defaults:\n  check: { host_header: \"pg\\r\" }\n", 2,
                  "defaults.check.host_header", "control characters"},
        ErrorCase{"InvalidYamlIndentation", "workers: 1\nlisteners:\n  - name: a\n   bind: x\n", 4, "yaml",
                  "invalid YAML"},
        ErrorCase{"UnknownTopKey", "listener:\n  - name: a\n", 1, "listener", "unknown key 'listener'"},
        ErrorCase{"UnknownListenerKey", PGHA_L0 "    chek: { type: tcp }\n", 7, "listeners[0].chek",
                  "unknown key 'chek'"},
        ErrorCase{"UnknownServerKey", PGHA_L0 "        adress: x\n", 7, "listeners[0].servers[0].adress",
                  "unknown key"},
        ErrorCase{"UnknownCheckKey", PGHA_L0 "    check:\n      type: http\n      paht: /x\n", 9,
                  "listeners[0].check.paht", "unknown key 'paht'"},
        ErrorCase{"UnknownTimeoutKey", "defaults:\n  timeout:\n    conect: 1s\n", 3, "defaults.timeout.conect",
                  "unknown key"},
        ErrorCase{"UnknownAdminKey", "admin: { port: 1 }\n", 1, "admin.port", "unknown key"},
        ErrorCase{"DuplicateKey", PGHA_L0 "    bind: :6001\n", 7, "listeners[0].bind", "duplicate key"},
        ErrorCase{"UnknownBalance", PGHA_L0 "    balance: source\n", 7, "listeners[0].balance",
                  "unsupported balance algorithm 'source'"},
        ErrorCase{"UnknownBalanceInDefaults", "defaults:\n  balance: static-rr\n", 2, "defaults.balance",
                  "static-rr"},
        ErrorCase{"BindPortZero", "listeners:\n  - name: a\n    bind: :0\n", 3, "listeners[0].bind", "out of range"},
        ErrorCase{"BindPortNonNumeric", "listeners:\n  - name: a\n    bind: 0.0.0.0:pg\n", 3, "listeners[0].bind",
                  "not a port"},
        ErrorCase{"BindMissing", "listeners:\n  - name: a\n    servers: []\n", 2, "listeners[0].bind",
                  "needs a bind address"},
        ErrorCase{"ServerPortTooLarge",
                  "listeners:\n  - name: a\n    bind: :6000\n    servers:\n      - name: s1\n"
                  "        address: 127.0.0.1:65536\n",
                  6, "listeners[0].servers[0].address", "out of range"},
        ErrorCase{"ServerWithoutAddress", "listeners:\n  - name: a\n    bind: :6000\n    servers:\n      - name: s1\n",
                  5, "listeners[0].servers[0].address", "has no address"},
        ErrorCase{"ServerAddressWithoutPort", PGHA_L0 "      - { name: s2, address: db2 }\n", 7,
                  "listeners[0].servers[1].address", "missing ':PORT'"},
        ErrorCase{"ServerAddressNotScalar", PGHA_L0 "      - name: s2\n        address: [db2, 1]\n", 8,
                  "listeners[0].servers[1].address", "single value"},
        ErrorCase{"ServerBadHost", PGHA_L0 "      - { name: s2, address: \"db 2:5432\" }\n", 7,
                  "listeners[0].servers[1].address", "neither"},
        ErrorCase{"DuplicateListener", PGHA_L0 "  - name: a\n    bind: :6001\n", 7, "listeners[1]",
                  "duplicate listener name 'a'"},
        ErrorCase{"DuplicateServer", PGHA_L0 "      - { name: s1, address: 127.0.0.1:6002 }\n", 7,
                  "listeners[0].servers[1]", "duplicate server name 's1'"},
        ErrorCase{"DuplicatePort", PGHA_L0 PGHA_L1_HEAD "      - { name: s1, address: 127.0.0.1:6001 }\n", 8,
                  "listeners[1].bind", "already bound"},
        ErrorCase{"AdminPortConflict", "admin: { listen: 127.0.0.1:6000 }\n" PGHA_L0, 4, "listeners[0].bind",
                  "admin server"},
        ErrorCase{"NoListenersEmptyFile", "", 1, "listeners", "no listeners"},
        ErrorCase{"NoListenersEmptyList", "workers: 2\nlisteners: []\n", 2, "listeners", "no listeners"},
        ErrorCase{"NoListenersKey", "workers: 2\n", 1, "listeners", "no listeners"},
        ErrorCase{"NoServers", "workers: 2\nlisteners:\n  - name: a\n    bind: :6000\n", 3, "listeners[0]",
                  "has no servers"},
        ErrorCase{"RiseZero", PGHA_L0 "    check: { type: tcp, rise: 0 }\n", 7, "listeners[0].check.rise",
                  "out of range 1.."},
        ErrorCase{"FallNegativeInDefaults", "defaults:\n  check:\n    fall: -1\n", 3, "defaults.check.fall",
                  "out of range 1.."},
        ErrorCase{"WeightOutOfRange", PGHA_L0 "        weight: 300\n", 7, "listeners[0].servers[0].weight", "0..256"},
        ErrorCase{"MaxconnNotNumber", PGHA_L0 "    maxconn: lots\n", 7, "listeners[0].maxconn", "not an integer"},
        ErrorCase{"NegativeDuration", "defaults:\n  timeout:\n    connect: -1s\n", 3, "defaults.timeout.connect",
                  "negative"},
        ErrorCase{"BadDurationUnit", PGHA_L0 "    check: { type: tcp, inter: 2x }\n", 7, "listeners[0].check.inter",
                  "unknown unit"},
        ErrorCase{"ZeroInter", PGHA_L0 "    check: { type: tcp, inter: 0 }\n", 7, "listeners[0].check.inter",
                  "greater than 0"},
        ErrorCase{"ExpectStatusTooLarge", PGHA_L0 "    check: { type: http, expect_status: 600 }\n", 7,
                  "listeners[0].check.expect_status", "100..599"},
        ErrorCase{"PgsqlWithoutUser", PGHA_L0 "    check: { type: pgsql }\n", 7, "listeners[0].check.user",
                  "needs a user"},
        ErrorCase{"PgsqlWithoutUserOnServer", PGHA_L0 "        check:\n          type: pgsql\n", 8,
                  "listeners[0].servers[0].check.user", "needs a user"},
        ErrorCase{"PgsqlFromDefaultsWithoutUser", "defaults:\n  check: { type: pgsql }\n" PGHA_L0, 4,
                  "listeners[0].check.user", "needs a user"},
        ErrorCase{"CheckTypeBogus", PGHA_L0 "    check: { type: mysql }\n", 7, "listeners[0].check.type",
                  "unknown check type"},
        ErrorCase{"CheckPathWithoutSlash", PGHA_L0 "    check: { type: http, path: primary }\n", 7,
                  "listeners[0].check.path", "start with '/'"},
        ErrorCase{"CheckMethodLowercase", PGHA_L0 "    check: { type: http, method: get }\n", 7,
                  "listeners[0].check.method", "invalid HTTP method"},
        ErrorCase{"CheckPortZero", PGHA_L0 "        check: { port: 0 }\n", 7, "listeners[0].servers[0].check.port",
                  "out of range"},
        ErrorCase{"CheckNull", PGHA_L0 "    check:\n", 7, "listeners[0].check", "has no value"},
        ErrorCase{"ServersNull", "listeners:\n  - name: a\n    bind: :6000\n    servers:\n", 4, "listeners[0].servers",
                  "has no value"},
        ErrorCase{"BoolBogus", PGHA_L0 "        backup: maybe\n", 7, "listeners[0].servers[0].backup", "not a boolean"},
        ErrorCase{"InitStateBogus", PGHA_L0 "        init_state: sideways\n", 7,
                  "listeners[0].servers[0].init_state", "sideways"},
        ErrorCase{"OnMarkedDownBogus", PGHA_L0 "    on_marked_down: reboot\n", 7, "listeners[0].on_marked_down",
                  "unknown action"},
        ErrorCase{"LogLevelBogus", "log_level: loud\n", 1, "log_level", "unknown level"},
        ErrorCase{"ObserveLayer7", PGHA_L0 "    observe: layer7\n", 7, "listeners[0].observe", "relays TCP"},
        ErrorCase{"ObserveWithoutCheck", PGHA_L0 "        observe: layer4\n", 7, "listeners[0].servers[0].observe",
                  "no check"},
        ErrorCase{"OnErrorBogus", PGHA_L0 "    on_error: reboot\n", 7, "listeners[0].on_error", "unknown on-error"},
        ErrorCase{"HoldMaxZero", PGHA_L0 "    hold: { timeout: 1s, max_clients: 0 }\n", 7,
                  "listeners[0].hold.max_clients", "out of range"},
        ErrorCase{"HoldBogusKey", PGHA_L0 "    hold: { timeout: 1s, queue: 3 }\n", 7, "listeners[0].hold.queue",
                  "unknown key"},
        ErrorCase{"WorkersNegative", "workers: -1\n", 1, "workers", "out of range"},
        ErrorCase{"AdminTokenShort", "admin: { token: short }\n", 1, "admin.token", "at least 16 characters"},
        ErrorCase{"AdminTokenWithSpace", "admin: { token: \"0123456789 abcdefgh\" }\n", 1, "admin.token",
                  "without spaces"},
        ErrorCase{"AdminTokenTwoSources", "admin:\n  token: 0123456789abcdefgh\n  token_env: X\n", 2, "admin",
                  "one of token, token_file and token_env"},
        ErrorCase{"AdminTokenFileMissing", "admin: { token_file: /nonexistent/admin.token }\n", 1,
                  "admin.token_file", "cannot read /nonexistent/admin.token"},
        ErrorCase{"AdminTokenEnvUnset", "admin: { token_env: PGHA_TEST_UNSET_VARIABLE }\n", 1, "admin.token_env",
                  "is not set"},
        ErrorCase{"AdminListenBad", "admin: { listen: 127.0.0.1 }\n", 1, "admin.listen", "missing ':PORT'"},
        ErrorCase{"TopLevelScalar", "hello world\n", 1, "document", "mapping"},
        ErrorCase{"TopLevelList", "- a\n- b\n", 1, "document", "mapping"},
        ErrorCase{"TopLevelKeyNotAString", ": 2\n", 1, "document", "keys must be plain strings"},
        ErrorCase{"TopLevelKeyEmpty", "\"\": 2\n", 1, "document", "unknown key ''"},
        ErrorCase{"ListenersNotAList", "listeners: { a: 1 }\n", 1, "listeners", "list of listeners"},
        ErrorCase{"ListenerNotAMapping", "listeners:\n  - just a string\n", 2, "listeners[0]", "expected a mapping"},
        ErrorCase{"ServersNotAList", "listeners:\n  - name: a\n    bind: :6000\n    servers: s1\n", 4,
                  "listeners[0].servers", "list of servers"},
        ErrorCase{"NameEmpty", "listeners:\n  - name: \"\"\n", 2, "listeners[0].name", "must not be empty"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace pgha::proxy
