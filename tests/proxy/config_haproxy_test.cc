// The haproxy.cfg loader: the classic file from conf/, HAProxy's inheritance rules,
// check options, warnings for harmless keywords and an error (with file, line and key) for
// everything that would change routing if ignored.
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

LoadedConfig load_text(const TempDir& dir, const std::string& text) {
  return load_haproxy_config(dir.write("case.cfg", text));
}

TEST(HaproxyConfConfigTest, ClassicFileLoadsWithOnlyWarnings) {
  const std::string path = testing::conf_file("haproxy.cfg");
  LoadedConfig loaded = load_config(path);
  const ProxyConfig& c = loaded.config;
  EXPECT_EQ(c.source_file, path);
  EXPECT_EQ(c.workers, 0);
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.admin.bind_host, "127.0.0.1");
  EXPECT_EQ(c.admin.bind_port, 8404);
  ASSERT_EQ(c.listeners.size(), 2u);

  const ListenerConfig& write = c.listeners[0];
  EXPECT_EQ(write.name, "postgres_write");
  EXPECT_EQ(write.bind_host, "0.0.0.0");
  EXPECT_EQ(write.bind_port, 5432);
  EXPECT_EQ(write.balance, Balance::kRoundRobin);  // HAProxy's default
  EXPECT_EQ(write.timeout_connect, Millis(5000));
  EXPECT_EQ(write.timeout_client, Millis(0));
  EXPECT_EQ(write.timeout_server, Millis(0));
  ASSERT_EQ(write.servers.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const ServerConfig& s = write.servers[i];
    SCOPED_TRACE(s.name);
    EXPECT_EQ(s.name, "postgresql_" + std::to_string(i + 1));
    EXPECT_EQ(s.host, "127.0.0.1");
    EXPECT_EQ(s.port, 5434 + i);
    EXPECT_EQ(s.weight, 1);
    EXPECT_FALSE(s.backup);
    EXPECT_TRUE(s.shutdown_sessions_on_down);
    EXPECT_EQ(s.check.type, CheckType::kHttp);
    EXPECT_EQ(s.check.host, "127.0.0.1");
    EXPECT_EQ(s.check.port, 8008 + i);
    EXPECT_EQ(s.check.http.method, "OPTIONS");
    EXPECT_EQ(s.check.http.path, "/");
    EXPECT_EQ(s.check.http.version, "HTTP/1.0");
    EXPECT_EQ(s.check.http.expect_status, 200);
    EXPECT_EQ(s.check.timing.inter, Millis(10'000));
    EXPECT_EQ(s.check.timing.fastinter, Millis(0));
    EXPECT_EQ(s.check.timing.downinter, Millis(0));
    EXPECT_EQ(s.check.timing.fall, 3);
    EXPECT_EQ(s.check.timing.rise, 3);
    EXPECT_EQ(s.check.timing.timeout, Millis(0));
    EXPECT_EQ(s.check.initial_state, InitialState::kDownUntilFirstCheck);
  }

  const ListenerConfig& read = c.listeners[1];
  EXPECT_EQ(read.name, "postgres_read");
  EXPECT_EQ(read.bind_port, 5433);
  EXPECT_EQ(read.balance, Balance::kLeastConn);
  ASSERT_EQ(read.servers.size(), 3u);
  for (const ServerConfig& s : read.servers) {
    EXPECT_EQ(s.check.type, CheckType::kNone) << s.name;  // no "check" on the classic file's read servers
    EXPECT_TRUE(s.shutdown_sessions_on_down) << s.name;
  }

  // Reads are never checked: said twice, on the listener and on the dead option.
  EXPECT_TRUE(has_warning(loaded, 10, "listen postgres_read", "is health-checked")) << all_warnings(loaded);
  EXPECT_TRUE(has_warning(loaded, 14, "option pgsql-check", "has no effect")) << all_warnings(loaded);
  EXPECT_TRUE(has_warning(loaded, 1, "listen postgres_write", "missing timeouts")) << all_warnings(loaded);
  EXPECT_FALSE(has_warning(loaded, 1, "listen postgres_write", "is health-checked")) << all_warnings(loaded);
  EXPECT_EQ(loaded.warnings.size(), 4u) << all_warnings(loaded);
  for (const ConfigWarning& w : loaded.warnings) EXPECT_EQ(w.file, path);
}

TEST(HaproxyConfigTest, ObserveLayer4AndThePghaExtensions) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir,
                                  "defaults\n"
                                  "  pgha-hold-clients 5s max-clients 200\n"
                                  "  default-server observe layer4 error-limit 1 on-error mark-down\n"
                                  "listen a\n"
                                  "  bind :6000\n"
                                  "  option httpchk GET /primary\n"
                                  "  server s1 127.0.0.1:6001 check on-marked-down shutdown-sessions "
                                  "pgha-shutdown-grace 2s\n"
                                  "  server s2 127.0.0.1:6002 check on-error fastinter error-limit 10\n"
                                  "listen b\n"
                                  "  bind :6010\n"
                                  "  pgha-hold-clients 0\n"
                                  "  server s1 127.0.0.1:6001 check\n");
  const ListenerConfig& a = loaded.config.listeners.at(0);
  EXPECT_EQ(a.hold_timeout, Millis(5000));
  EXPECT_EQ(a.hold_max, 200);
  EXPECT_TRUE(a.servers[0].check.observe.layer4);
  EXPECT_EQ(a.servers[0].check.observe.error_limit, 1);
  EXPECT_EQ(a.servers[0].check.observe.on_error, health::OnError::kMarkDown);
  EXPECT_EQ(a.servers[0].shutdown_grace, Millis(2000));
  EXPECT_EQ(a.servers[1].check.observe.on_error, health::OnError::kFastinter);
  EXPECT_EQ(a.servers[1].check.observe.error_limit, 10);
  EXPECT_EQ(a.servers[1].shutdown_grace, Millis(0));
  EXPECT_EQ(loaded.config.listeners.at(1).hold_timeout, Millis(0));
}

TEST(HaproxyConfigTest, WithoutTheExtensionAClientIsNeverHeld) {
  LoadedConfig loaded = load_config(testing::conf_file("haproxy.cfg"));
  for (const ListenerConfig& l : loaded.config.listeners) EXPECT_EQ(l.hold_timeout, Millis(0)) << l.name;
}

TEST(HaproxyConfigTest, DefaultServerAppliesToLaterServersOnly) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir,
                                  "defaults\n"                                                // 1
                                  "  default-server inter 3s fall 5\n"                        // 2
                                  "  timeout connect 2s\n"                                    // 3
                                  "  timeout check 1s\n"                                      // 4
                                  "listen a\n"                                                // 5
                                  "  bind :6000\n"                                            // 6
                                  "  option pgsql-check user pgha\n"                          // 7
                                  "  server s1 127.0.0.1:6001 check\n"                        // 8
                                  "  default-server rise 4 weight 10 maxconn 50 init-state up\n"  // 9
                                  "  server s2 127.0.0.1:6002 check port 9000 inter 500ms\n"  // 10
                                  "  server s3 db3.local:6003 no-check backup\n");            // 11
  const ListenerConfig& l = loaded.config.listeners.at(0);
  ASSERT_EQ(l.servers.size(), 3u);
  const ServerConfig& s1 = l.servers[0];
  EXPECT_EQ(s1.check.type, CheckType::kPgsql);
  EXPECT_EQ(s1.check.pgsql.user, "pgha");
  EXPECT_EQ(s1.check.port, 6001);
  EXPECT_EQ(s1.check.timing.inter, Millis(3000));
  EXPECT_EQ(s1.check.timing.fall, 5);
  EXPECT_EQ(s1.check.timing.rise, 2);  // HAProxy's default
  EXPECT_EQ(s1.check.timing.timeout, Millis(1000));
  EXPECT_EQ(s1.check.timing.connect_timeout, Millis(2000));
  EXPECT_EQ(s1.check.initial_state, InitialState::kDownUntilFirstCheck);
  EXPECT_EQ(s1.weight, 1);
  EXPECT_EQ(s1.maxconn, 0);
  const ServerConfig& s2 = l.servers[1];
  EXPECT_EQ(s2.check.port, 9000);
  EXPECT_EQ(s2.check.host, "127.0.0.1");
  EXPECT_EQ(s2.check.timing.inter, Millis(500));
  EXPECT_EQ(s2.check.timing.fall, 5);
  EXPECT_EQ(s2.check.timing.rise, 4);
  EXPECT_EQ(s2.check.initial_state, InitialState::kUpUntilFirstFailure);
  EXPECT_EQ(s2.weight, 10);
  EXPECT_EQ(s2.maxconn, 50);
  const ServerConfig& s3 = l.servers[2];
  EXPECT_EQ(s3.host, "db3.local");
  EXPECT_EQ(s3.check.type, CheckType::kNone);
  EXPECT_TRUE(s3.backup);
  EXPECT_EQ(s3.weight, 10);
  EXPECT_EQ(l.timeout_connect, Millis(2000));
}

TEST(HaproxyConfigTest, FinTimeoutsSetTheHalfClosedIdleLimit) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir,
                                  "defaults\n"
                                  "  timeout client-fin 7s\n"
                                  "listen a\n"
                                  "  bind :6000\n"
                                  "  server s1 127.0.0.1:6001\n"
                                  "listen b\n"
                                  "  bind :6001\n"
                                  "  timeout server-fin 2s\n"
                                  "  server s1 127.0.0.1:6002\n");
  EXPECT_EQ(loaded.config.listeners.at(0).timeout_fin, Millis(7000));
  EXPECT_EQ(loaded.config.listeners.at(1).timeout_fin, Millis(2000));
  EXPECT_EQ(ListenerConfig{}.timeout_fin, Millis(30'000)) << "default when unset";
}

TEST(HaproxyConfigTest, SpliceOptionsTurnSpliceOnAndNoOptionOff) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir,
                                  "defaults\n"
                                  "  option splice-auto\n"
                                  "listen a\n"
                                  "  bind :6000\n"
                                  "  server s1 127.0.0.1:6001\n"
                                  "listen b\n"
                                  "  bind :6001\n"
                                  "  no option splice-auto\n"
                                  "  server s1 127.0.0.1:6002\n"
                                  "frontend c\n"
                                  "  bind :6002\n"
                                  "  no option splice-auto\n"
                                  "  default_backend d\n"
                                  "backend d\n"
                                  "  option splice-response\n"
                                  "  server s1 127.0.0.1:6003\n");
  EXPECT_TRUE(loaded.config.listeners.at(0).splice);
  EXPECT_FALSE(loaded.config.listeners.at(1).splice);
  EXPECT_FALSE(loaded.config.listeners.at(2).splice) << "the frontend's own setting wins";
  EXPECT_FALSE(ListenerConfig{}.splice) << "off unless asked for";
}

TEST(HaproxyConfigTest, DefaultsApplyToLaterSectionsAndANewDefaultsResets) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir,
                                  "defaults\n"                            // 1
                                  "  mode tcp\n"                          // 2
                                  "  balance leastconn\n"                 // 3
                                  "  timeout client 1m\n"                 // 4
                                  "  timeout server 90s\n"                // 5
                                  "  timeout tunnel 1h\n"                 // 6
                                  "  option httpchk GET /primary\n"       // 7
                                  "  http-check expect status 200\n"      // 8
                                  "  maxconn 77\n"                        // 9
                                  "  default-server on-marked-down shutdown-sessions\n"  // 10
                                  "listen a\n"                            // 11
                                  "  bind :6000\n"                        // 12
                                  "  server s1 127.0.0.1:6001 check\n"    // 13
                                  "defaults\n"                            // 14
                                  "  timeout connect 1s\n"                // 15
                                  "listen b\n"                            // 16
                                  "  bind :6001\n"                        // 17
                                  "  server s1 127.0.0.1:6002 check\n");  // 18
  ASSERT_EQ(loaded.config.listeners.size(), 2u);
  const ListenerConfig& a = loaded.config.listeners[0];
  EXPECT_EQ(a.balance, Balance::kLeastConn);
  EXPECT_EQ(a.maxconn, 77);
  EXPECT_EQ(a.timeout_client, Millis(60'000));
  EXPECT_EQ(a.timeout_server, Millis(90'000));
  EXPECT_EQ(a.timeout_tunnel, Millis(3'600'000));
  EXPECT_EQ(a.timeout_connect, Millis(5000));
  EXPECT_EQ(a.servers[0].check.type, CheckType::kHttp);
  EXPECT_EQ(a.servers[0].check.http.method, "GET");
  EXPECT_EQ(a.servers[0].check.http.path, "/primary");
  EXPECT_EQ(a.servers[0].check.http.expect_status, 200);
  EXPECT_TRUE(a.servers[0].shutdown_sessions_on_down);
  const ListenerConfig& b = loaded.config.listeners[1];
  EXPECT_EQ(b.balance, Balance::kRoundRobin);
  EXPECT_EQ(b.maxconn, 0);
  EXPECT_EQ(b.timeout_client, Millis(0));
  EXPECT_EQ(b.timeout_connect, Millis(1000));
  EXPECT_EQ(b.servers[0].check.type, CheckType::kTcp);
  EXPECT_EQ(b.servers[0].check.timing.connect_timeout, Millis(1000));
  EXPECT_FALSE(b.servers[0].shutdown_sessions_on_down);
}

TEST(HaproxyConfigTest, FrontendAndBackend) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir,
                                  "global\n"                                     // 1
                                  "  maxconn 2000\n"                             // 2
                                  "  nbthread 4\n"                               // 3
                                  "  log /dev/log local0\n"                      // 4
                                  "defaults\n"                                   // 5
                                  "  log global\n"                               // 6
                                  "  option tcplog\n"                            // 7
                                  "  option dontlognull\n"                       // 8
                                  "  timeout connect 3s\n"                       // 9
                                  "  timeout client 30m\n"                       // 10
                                  "  timeout server 30m\n"                       // 11
                                  "frontend fe_write\n"                          // 12
                                  "  bind 127.0.0.1:6000\n"                      // 13
                                  "  maxconn 100\n"                              // 14
                                  "  default_backend be_write\n"                 // 15
                                  "backend be_write\n"                           // 16
                                  "  balance first\n"                            // 17
                                  "  option httpchk GET /primary HTTP/1.1\n"     // 18
                                  "  http-check expect status 200\n"             // 19
                                  "  server pg1 127.0.0.1:6001 check port 8008"
                                  " inter 1s fastinter 100ms downinter 500ms\n"  // 20
                                  "frontend fe_read\n"                           // 21
                                  "  bind [::1]:6001\n"                          // 22
                                  "  use_backend be_read\n"                      // 23
                                  "backend be_read\n"                            // 24
                                  "  server pg1 127.0.0.1:6001 check weight 0\n");  // 25
  const ProxyConfig& c = loaded.config;
  EXPECT_TRUE(loaded.warnings.empty()) << all_warnings(loaded);
  EXPECT_EQ(c.maxconn, 2000);
  EXPECT_EQ(c.workers, 4);
  ASSERT_EQ(c.listeners.size(), 2u);
  const ListenerConfig& w = c.listeners[0];
  EXPECT_EQ(w.name, "fe_write");
  EXPECT_EQ(w.bind_host, "127.0.0.1");
  EXPECT_EQ(w.balance, Balance::kFirst);
  EXPECT_EQ(w.maxconn, 100);
  EXPECT_EQ(w.timeout_client, Millis(1'800'000));
  EXPECT_EQ(w.timeout_connect, Millis(3000));
  const health::CheckSpec& k = w.servers.at(0).check;
  EXPECT_EQ(k.type, CheckType::kHttp);
  EXPECT_EQ(k.http.version, "HTTP/1.1");
  EXPECT_EQ(k.port, 8008);
  EXPECT_EQ(k.timing.inter, Millis(1000));
  EXPECT_EQ(k.timing.fastinter, Millis(100));
  EXPECT_EQ(k.timing.downinter, Millis(500));
  const ListenerConfig& r = c.listeners[1];
  EXPECT_EQ(r.name, "fe_read");
  EXPECT_EQ(r.bind_host, "::1");
  EXPECT_EQ(r.bind_port, 6001);
  EXPECT_EQ(r.servers.at(0).weight, 0);
  EXPECT_EQ(r.servers.at(0).check.type, CheckType::kTcp);
}

TEST(HaproxyConfigTest, OldListenSyntaxAndQuoting) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir,
                                  "# comment line\n"
                                  "listen a 127.0.0.1:6000   # trailing comment\n"
                                  "\tserver \"s 1\" 127.0.0.1:6001 check\r\n"
                                  "\tserver s\\ 2 127.0.0.1:6002 check\n");
  const ListenerConfig& l = loaded.config.listeners.at(0);
  EXPECT_EQ(l.bind_host, "127.0.0.1");
  EXPECT_EQ(l.bind_port, 6000);
  EXPECT_EQ(l.servers.at(0).name, "s 1");
  EXPECT_EQ(l.servers.at(1).name, "s 2");
}

struct HttpchkCase {
  const char* lines;
  const char* method;
  const char* path;
  const char* version;
  const char* host_header;
};

class HttpchkTest : public ::testing::TestWithParam<HttpchkCase> {};

TEST_P(HttpchkTest, Forms) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir, std::string("listen a\n  bind :6000\n") + GetParam().lines +
                                           "  server s1 127.0.0.1:6001 check\n");
  const health::HttpCheckSpec& http = loaded.config.listeners.at(0).servers.at(0).check.http;
  EXPECT_EQ(loaded.config.listeners[0].servers[0].check.type, CheckType::kHttp);
  EXPECT_EQ(http.method, GetParam().method);
  EXPECT_EQ(http.path, GetParam().path);
  EXPECT_EQ(http.version, GetParam().version);
  EXPECT_EQ(http.host_header, GetParam().host_header);
}

INSTANTIATE_TEST_SUITE_P(
    HaproxyForms, HttpchkTest,
    ::testing::Values(
        HttpchkCase{"  option httpchk\n", "OPTIONS", "/", "HTTP/1.0", ""},
        HttpchkCase{"  option httpchk /health\n", "OPTIONS", "/health", "HTTP/1.0", ""},
        HttpchkCase{"  option httpchk GET /primary\n", "GET", "/primary", "HTTP/1.0", ""},
        HttpchkCase{"  option httpchk GET /primary HTTP/1.1\n", "GET", "/primary", "HTTP/1.1", ""},
        HttpchkCase{"  option httpchk GET /replica HTTP/1.1\\r\\nHost:\\ pg.local\n", "GET", "/replica", "HTTP/1.1",
                    "pg.local"},
        HttpchkCase{"  option httpchk\n  http-check send meth HEAD uri /replica ver HTTP/1.1 hdr Host pg\n", "HEAD",
                    "/replica", "HTTP/1.1", "pg"},
        // The last check option wins, as in HAProxy.
        HttpchkCase{"  option pgsql-check user u\n  option httpchk GET /x\n", "GET", "/x", "HTTP/1.0", ""}));

struct WarningCase {
  const char* name;
  const char* text;
  int line;
  const char* key;
  const char* message_part;
};

class HaproxyWarningTest : public ::testing::TestWithParam<WarningCase> {};

TEST_P(HaproxyWarningTest, IsReportedWithItsLine) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir, GetParam().text);
  EXPECT_TRUE(has_warning(loaded, GetParam().line, GetParam().key, GetParam().message_part)) << all_warnings(loaded);
}

// Each config below is otherwise complete (timeouts set, servers checked).
#define PGHA_LISTEN_OK                 \
  "listen a\n"                         \
  "  bind :6000\n"                     \
  "  timeout connect 1s\n"             \
  "  timeout client 1m\n"              \
  "  timeout server 1m\n"              \
  "  server s1 127.0.0.1:6001 check\n"  // lines 1..6

INSTANTIATE_TEST_SUITE_P(
    Harmless, HaproxyWarningTest,
    ::testing::Values(
        WarningCase{"StatsSocket", "global\n  stats socket /run/haproxy.sock mode 600\n" PGHA_LISTEN_OK, 2, "stats",
                    "admin address"},
        WarningCase{"Daemon", "global\n  daemon\n" PGHA_LISTEN_OK, 2, "daemon", "foreground"},
        WarningCase{"OtherGlobal", "global\n  chroot /var/lib/haproxy\n" PGHA_LISTEN_OK, 2, "chroot", "ignored"},
        WarningCase{"Redispatch", PGHA_LISTEN_OK "  option redispatch\n", 7, "option redispatch", "ignored"},
        WarningCase{"Retries", PGHA_LISTEN_OK "  retries 3\n", 7, "retries", "ignored"},
        // HAProxy's seamless-reload setup: a config that has it must still load (migrations).
        WarningCase{"ServerStateFile", "global\n  server-state-file /var/lib/haproxy/state\n" PGHA_LISTEN_OK, 2,
                    "server-state-file", "ignored"},
        WarningCase{"LoadServerState", "defaults\n  load-server-state-from-file global\n" PGHA_LISTEN_OK, 2,
                    "load-server-state-from-file", "DOWN until its first check"},
        WarningCase{"ServerStateFileName", PGHA_LISTEN_OK "  server-state-file-name a.state\n", 7,
                    "server-state-file-name", "DOWN until its first check"},
        WarningCase{"TimeoutQueue", PGHA_LISTEN_OK "  timeout queue 1s\n", 7, "timeout queue", "ignored"},
        WarningCase{"ServerId", PGHA_LISTEN_OK "  server s2 127.0.0.1:6002 check id 7\n", 7, "id", "ignored"},
        WarningCase{"StatsInListen", PGHA_LISTEN_OK "  stats enable\n", 7, "stats", "admin address"},
        WarningCase{"StatsListener",
                    PGHA_LISTEN_OK "listen stats\n  mode http\n  bind *:7000\n  stats enable\n  stats uri /\n", 7,
                    "listen", "HTTP stats listener"},
        WarningCase{"IgnoredSection", "resolvers dns\n  nameserver ns1 127.0.0.1:53\n" PGHA_LISTEN_OK, 1,
                    "resolvers", "ignored"},
        WarningCase{"UnusedBackend", PGHA_LISTEN_OK "backend spare\n  server s9 127.0.0.1:6009\n", 7, "backend spare",
                    "not used"},
        WarningCase{"MissingTimeouts", "listen a\n  bind :6000\n  server s1 127.0.0.1:6001 check\n", 1, "listen a",
                    "missing timeouts (connect, client, server)"},
        WarningCase{"NoCheckAtAll", "listen a\n  bind :6000\n  option httpchk\n  server s1 127.0.0.1:6001\n", 1,
                    "listen a", "is health-checked"},
        WarningCase{"DeadCheckOption", "listen a\n  bind :6000\n  option httpchk\n  server s1 127.0.0.1:6001\n", 3,
                    "option httpchk", "has no effect"}),
    [](const ::testing::TestParamInfo<WarningCase>& info) { return std::string(info.param.name); });

TEST(HaproxyConfigTest, LoggingDirectivesAreSilent) {
  TempDir dir;
  LoadedConfig loaded = load_text(dir,
                                  "global\n  log /dev/log local0\n  log-tag pg\n"
                                  "defaults\n  log global\n  option tcplog\n  option dontlognull\n"
                                  "  option log-health-checks\n  no log\n" PGHA_LISTEN_OK "  log 127.0.0.1 local1\n");
  EXPECT_TRUE(loaded.warnings.empty()) << all_warnings(loaded);
}

struct ErrorCase {
  const char* name;
  const char* text;
  int line;
  const char* key;
  const char* message_part;
};

class HaproxyErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(HaproxyErrorTest, NamesFileLineAndKey) {
  TempDir dir;
  const std::string path = dir.write("case.cfg", GetParam().text);
  expect_config_error([&] { load_config(path); }, path, GetParam().line, GetParam().key, GetParam().message_part);
}

// A NUL byte once read as the end of a quote that was never opened, leaving an empty word and an
// error without a key.
TEST(HaproxyConfigTest, ANulByteIsASyntaxErrorAtItsLine) {
  TempDir dir;
  const std::string path =
      dir.write("case.cfg", std::string("listen a\n  bind :6000\n  server s1 127.0.0.1:6001 check\r\0\n", 57));
  expect_config_error([&] { load_config(path); }, path, 3, "syntax", "NUL byte");
}

#define PGHA_A "listen a\n  bind :6000\n"  // lines 1..2

INSTANTIATE_TEST_SUITE_P(
    Errors, HaproxyErrorTest,
    ::testing::Values(
        ErrorCase{"UnknownBalance", PGHA_A "  balance source\n  server s1 127.0.0.1:6001\n", 3, "balance",
                  "unsupported balance algorithm 'source'"},
        ErrorCase{"BalanceUri", PGHA_A "  server s1 127.0.0.1:6001\n  balance uri\n", 4, "balance", "'uri'"},
        ErrorCase{"BindPortZero", "listen a\n  bind :0\n  server s1 127.0.0.1:6001\n", 2, "bind", "out of range"},
        ErrorCase{"BindPortTooLarge", "listen a\n  bind *:70000\n  server s1 127.0.0.1:6001\n", 2, "bind",
                  "out of range"},
        ErrorCase{"BindPortMissing", "listen a\n  bind 127.0.0.1\n  server s1 127.0.0.1:6001\n", 2, "bind",
                  "missing ':PORT'"},
        ErrorCase{"ServerPortNonNumeric", PGHA_A "  server s1 127.0.0.1:pg\n", 3, "server s1", "not a port"},
        ErrorCase{"ServerPortMissing", PGHA_A "  server s1 127.0.0.1 check\n", 3, "server s1", "missing ':PORT'"},
        ErrorCase{"ServerBadIp", PGHA_A "  server s1 999.1.1.1:5432\n", 3, "server s1", "neither"},
        ErrorCase{"ServerWithoutAddress", PGHA_A "  server s1 check port 8008\n", 3, "server", "has no address"},
        ErrorCase{"ServerNameOnly", PGHA_A "  server s1\n", 3, "server", "has no address"},
        ErrorCase{"DuplicateListener",
                  PGHA_A "  server s1 127.0.0.1:6001\nlisten a\n  bind :6001\n  server s1 127.0.0.1:6001\n", 4,
                  "listen a", "duplicate listener name 'a'"},
        ErrorCase{"DuplicateServer", PGHA_A "  server s1 127.0.0.1:6001\n  server s1 127.0.0.1:6002\n", 4,
                  "server s1", "duplicate server name 's1'"},
        ErrorCase{"DuplicatePort",
                  PGHA_A "  server s1 127.0.0.1:6001\nlisten b\n  bind 127.0.0.1:6000\n  server s1 127.0.0.1:6001\n",
                  5, "bind", "already bound by listener 'a'"},
        ErrorCase{"AdminPort", "listen a\n  bind 127.0.0.1:8404\n  server s1 127.0.0.1:6001\n", 2, "bind",
                  "admin server"},
        ErrorCase{"NoListeners", "global\n  maxconn 10\n", 1, "listen", "no listeners"},
        ErrorCase{"EmptyFile", "", 1, "listen", "no listeners"},
        ErrorCase{"NoServers", "global\n  maxconn 10\n" PGHA_A, 3, "listen a", "has no servers"},
        ErrorCase{"RiseZero", PGHA_A "  server s1 127.0.0.1:6001 check rise 0\n", 3, "rise", "out of range 1.."},
        ErrorCase{"FallZeroInDefaultServer", PGHA_A "  default-server fall 0\n", 3, "fall", "out of range 1.."},
        ErrorCase{"WeightTooLarge", PGHA_A "  server s1 127.0.0.1:6001 weight 257\n", 3, "weight", "0..256"},
        ErrorCase{"WeightNegative", PGHA_A "  server s1 127.0.0.1:6001 weight -1\n", 3, "weight", "0..256"},
        ErrorCase{"NegativeInter", PGHA_A "  default-server inter -1s\n", 3, "inter", "negative"},
        ErrorCase{"NegativeTimeout", "defaults\n  timeout connect -5s\n", 2, "timeout connect", "negative"},
        ErrorCase{"TimeoutBadUnit", PGHA_A "  timeout client 10x\n", 3, "timeout client", "unknown unit"},
        ErrorCase{"TimeoutConnectZero", PGHA_A "  timeout connect 0\n", 3, "timeout connect", "greater than 0"},
        ErrorCase{"InterZero", PGHA_A "  server s1 127.0.0.1:6001 check inter 0\n", 3, "inter", "greater than 0"},
        ErrorCase{"ExpectStatusTooLarge", PGHA_A "  http-check expect status 600\n", 3, "http-check expect",
                  "100..599"},
        ErrorCase{"ExpectStatusTooSmall", PGHA_A "  http-check expect status 99\n", 3, "http-check expect",
                  "100..599"},
        ErrorCase{"ExpectString", PGHA_A "  http-check expect string OK\n", 3, "http-check expect",
                  "only 'http-check expect status CODE'"},
        ErrorCase{"PgsqlCheckWithoutUser", PGHA_A "  option pgsql-check\n", 3, "option pgsql-check", "user USER"},
        ErrorCase{"PgsqlCheckUserWithoutName", PGHA_A "  option pgsql-check user\n", 3, "option pgsql-check",
                  "user USER"},
        ErrorCase{"HttpchkBadUri", PGHA_A "  option httpchk GET primary\n", 3, "option httpchk", "start with '/'"},
        ErrorCase{"HttpchkBadVersion", PGHA_A "  option httpchk GET / HTTP/2\n", 3, "option httpchk", "HTTP/2"},
        ErrorCase{"HttpchkExtraHeader", PGHA_A "  option httpchk GET / HTTP/1.1\\r\\nAuthorization:\\ x\n", 3,
                  "option httpchk", "only a Host header"},
        // A CR or LF in the check request's path or Host header would add headers to it.
        ErrorCase{"HttpchkCrLfInUri", PGHA_A "  option httpchk GET /primary\\r\\nX-Injected:\\ 1\n", 3,
                  "option httpchk", "must not contain spaces or control characters, got '/primary\\r\\nX-Injected: 1'"},
        ErrorCase{"HttpchkSpaceInUri", PGHA_A "  option httpchk GET /a\\ b\n", 3, "option httpchk",
                  "must not contain spaces"},
        ErrorCase{"HttpchkLfInHost", PGHA_A "  option httpchk GET / HTTP/1.1\\r\\nHost:\\ pg\\nX:\\ y\n", 3,
                  "option httpchk", "Host header must not contain control characters, got 'pg\\nX: y'"},
        ErrorCase{"HttpCheckSendCrLfInHost", PGHA_A "  http-check send meth GET uri / hdr Host pg\\r\\nX:\\ y\n", 3,
                  "http-check send", "Host header must not contain control characters"},
        ErrorCase{"HttpCheckSendCrInUri", PGHA_A "  http-check send uri /x\\r\n", 3, "http-check send",
                  "control characters, got '/x\\r'"},
        ErrorCase{"NonsenseOutsideSection", "hello world\n", 1, "hello", "outside of any section"},
        ErrorCase{"NonsenseInListen", PGHA_A "  frobnicate 3\n", 3, "frobnicate", "unsupported keyword"},
        ErrorCase{"ModeHttp", PGHA_A "  mode http\n  server s1 127.0.0.1:6001\n", 3, "mode", "not supported"},
        ErrorCase{"ModeHttpFromDefaults", "defaults\n  mode http\n" PGHA_A "  server s1 127.0.0.1:6001\n", 2, "mode",
                  "listen 'a'"},
        ErrorCase{"ModeUnknown", PGHA_A "  mode health\n", 3, "mode", "unsupported mode"},
        ErrorCase{"UseBackendWithAcl",
                  "frontend f\n  bind :6000\n  use_backend b if { src 10.0.0.0/8 }\n"
                  "backend b\n  server s 127.0.0.1:1\n",
                  3, "use_backend", "ACL"},
        ErrorCase{"BindSsl", "listen a\n  bind :6000 ssl crt /etc/x.pem\n", 2, "bind", "TLS"},
        ErrorCase{"SecondBind", PGHA_A "  bind :6001\n", 3, "bind", "only one bind"},
        ErrorCase{"BindInBackend", "backend b\n  bind :6000\n", 2, "bind", "not allowed"},
        ErrorCase{"SendProxy", PGHA_A "  server s1 127.0.0.1:6001 check send-proxy\n", 3, "send-proxy",
                  "unsupported server parameter"},
        ErrorCase{"ServerSsl", PGHA_A "  default-server ssl verify none\n", 3, "ssl",
                  "TLS on the forwarded connections is not supported"},
        ErrorCase{"OnMarkedDownOther", PGHA_A "  server s1 127.0.0.1:6001 on-marked-down x\n", 3, "on-marked-down",
                  "shutdown-sessions"},
        ErrorCase{"OnMarkedUp", PGHA_A "  server s1 127.0.0.1:6001 on-marked-up shutdown-backup-sessions\n", 3,
                  "on-marked-up", "unsupported server parameter"},
        ErrorCase{"InitStateBogus", PGHA_A "  server s1 127.0.0.1:6001 init-state maybe\n", 3, "init-state",
                  "maybe"},
        ErrorCase{"ObserveLayer7", PGHA_A "  server s1 127.0.0.1:6001 check observe layer7\n", 3, "observe",
                  "relays TCP"},
        ErrorCase{"ObserveWithoutCheck", PGHA_A "  server s1 127.0.0.1:6001 observe layer4\n", 3, "observe",
                  "no 'check'"},
        ErrorCase{"OnErrorBogus", PGHA_A "  server s1 127.0.0.1:6001 check on-error explode\n", 3, "on-error",
                  "unknown on-error"},
        ErrorCase{"HoldClientsInBackend", "backend b\n  pgha-hold-clients 5s\n", 2, "pgha-hold-clients",
                  "not allowed"},
        ErrorCase{"HoldClientsBadArgs", PGHA_A "  pgha-hold-clients 5s 300\n", 3, "pgha-hold-clients",
                  "max-clients"},
        ErrorCase{"ParamWithoutValue", PGHA_A "  server s1 127.0.0.1:6001 check port\n", 3, "port", "needs a value"},
        ErrorCase{"MysqlCheck", PGHA_A "  option mysql-check user x\n", 3, "option mysql-check", "unsupported option"},
        ErrorCase{"TcpCheckRules", PGHA_A "  tcp-check connect\n", 3, "tcp-check", "not supported"},
        ErrorCase{"UnknownBackend", "frontend f\n  bind :6000\n  default_backend nope\n", 3, "default_backend",
                  "unknown backend 'nope'"},
        ErrorCase{"FrontendWithoutBackend", "frontend f\n  bind :6000\n", 1, "frontend", "no default_backend"},
        ErrorCase{"ListenWithoutBind", "listen a\n  server s1 127.0.0.1:6001\n", 1, "listen", "no bind"},
        ErrorCase{"ServerInFrontend", "frontend f\n  bind :6000\n  server s1 127.0.0.1:6001\n", 3, "server",
                  "not allowed"},
        ErrorCase{"DuplicateBackend", "backend b\n  server s 127.0.0.1:1\nbackend b\n  server s 127.0.0.1:1\n", 3,
                  "backend", "duplicate backend"},
        ErrorCase{"NamedDefaults", "defaults base\nlisten a from base\n", 2, "listen", "named defaults"},
        ErrorCase{"UnterminatedQuote", PGHA_A "  server \"s1 127.0.0.1:6001\n", 3, "syntax", "unterminated"},
        ErrorCase{"EmptyKeyword", PGHA_A "  '' s1 127.0.0.1:6001\n", 3, "syntax", "empty word"},
        ErrorCase{"EmptyKeywordOutsideASection", "\"\"\n" PGHA_A, 1, "syntax", "empty word"},
        ErrorCase{"NbthreadZero", "global\n  nbthread 0\n", 2, "nbthread", "out of range"},
        ErrorCase{"MaxconnNegative", PGHA_A "  maxconn -1\n", 3, "maxconn", "out of range"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace pgha::proxy
