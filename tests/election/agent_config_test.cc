// load_agent_config / parse_agent_config: the classic setup's patroni.yml loads unchanged into the
// expected struct; every error names FILE:LINE: KEY; Patroni keys we do not implement warn or
// fail; the timing constraint; etcd3.hosts, initdb and pg_hba forms and precedence.
#include "election/agent_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <map>

#include <gtest/gtest.h>

#include "tests/support/test_certs.h"

namespace pgha::election {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// The classic setup's patroni.yml (Patroni + etcd + HAProxy, as commonly published) with its
// addresses moved to loopback; everything else as written there.
const char* const kClassic = R"(scope: postgres
name: node1
restapi:
  listen: 127.0.0.1:8008
  connect_address: 127.0.0.1:8008
etcd3:
  hosts: 127.0.0.1:2379,127.0.0.1:2479,127.0.0.1:2579
bootstrap:
  dcs:
    ttl: 30
    loop_wait: 10
    retry_timeout: 10
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
  initdb:
  - encoding: UTF8
  - data-checksums
  pg_hba:
  - host replication replicator 127.0.0.1/32 md5
  - host all all 0.0.0.0/0 md5
  users:
    admin:
      password: admin
      options:
      - createrole
      - createdb
postgresql:
  listen: 127.0.0.1:5434
  connect_address: 127.0.0.1:5434
  data_dir: /var/lib/patroni/data
  pgpass: /var/lib/patroni/pgpass
  authentication:
    replication:
      username: patroni_replicator
      password: patroni_replicator_pass
    superuser:
      username: patroni_super
      password: patroni_super_pass
  parameters:
    unix_socket_directories: '.'
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
)";

// The smallest valid file; rows below append to it or spell their own.
const std::string kMinimal = R"(scope: demo
name: n1
restapi:
  connect_address: 127.0.0.1:8008
etcd3:
  hosts: 127.0.0.1:2379
postgresql:
  data_dir: /tmp/pgha/n1
)";

AgentConfig parse(const std::string& text) { return parse_agent_config(text, "agent.yml"); }

// The what() of the AgentConfigError that parsing TEXT throws ("" if none).
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const AgentConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(AgentConfig, ClassicPatroniYmlLoadsUnchanged) {
  const AgentConfig c = parse(kClassic);
  EXPECT_EQ(c.source_file, "agent.yml");
  EXPECT_EQ(c.scope, "postgres");
  EXPECT_EQ(c.name, "node1");
  EXPECT_EQ(c.namespace_, "/service");
  EXPECT_EQ(c.rest_listen, "127.0.0.1:8008");
  EXPECT_EQ(c.rest_connect_address, "127.0.0.1:8008");
  EXPECT_EQ(c.rest_username, "");
  EXPECT_THAT(c.etcd_hosts, ElementsAre("127.0.0.1:2379", "127.0.0.1:2479", "127.0.0.1:2579"));
  EXPECT_EQ(c.etcd_username, "");
  EXPECT_EQ(c.ttl, Seconds{30});
  EXPECT_EQ(c.loop_wait, Seconds{10});
  EXPECT_EQ(c.retry_timeout, Seconds{10});
  EXPECT_EQ(c.maximum_lag_on_failover, 1048576);
  EXPECT_FALSE(c.synchronous_mode);
  EXPECT_TRUE(c.use_pg_rewind);
  EXPECT_THAT(c.initdb_options, ElementsAre("--encoding=UTF8", "--data-checksums"));
  EXPECT_THAT(c.pg_hba, ElementsAre("host replication replicator 127.0.0.1/32 md5", "host all all 0.0.0.0/0 md5"));
  ASSERT_EQ(c.extra_users.size(), 1U);
  const PgUser& admin = c.extra_users.at("admin");
  EXPECT_EQ(admin.username, "admin");
  EXPECT_EQ(admin.password, "admin");
  EXPECT_THAT(admin.options, ElementsAre("createrole", "createdb"));
  EXPECT_EQ(c.pg_listen, "127.0.0.1:5434");
  EXPECT_EQ(c.pg_connect_address, "127.0.0.1:5434");
  EXPECT_EQ(c.data_dir, "/var/lib/patroni/data");
  EXPECT_EQ(c.bin_dir, "/usr/lib/postgresql/15/bin");  // the classic file puts it in PATH instead
  EXPECT_EQ(c.pgpass, "/var/lib/patroni/pgpass");
  EXPECT_EQ(c.superuser.username, "patroni_super");
  EXPECT_EQ(c.superuser.password, "patroni_super_pass");
  EXPECT_EQ(c.replication.username, "patroni_replicator");
  EXPECT_EQ(c.replication.password, "patroni_replicator_pass");
  EXPECT_EQ(c.parameters, (std::map<std::string, std::string>{{"unix_socket_directories", "."}}));
  EXPECT_FALSE(c.nofailover);
  EXPECT_FALSE(c.noloadbalance);
  EXPECT_FALSE(c.clonefrom);
  EXPECT_FALSE(c.nosync);
  EXPECT_THAT(c.warnings, IsEmpty());
}

// The launcher's rendered copy in conf/ (Patroni profile "classic") loads too; its only
// unimplemented key is `log`, and its pg_hba lives in postgresql.pg_hba.
TEST(AgentConfig, RepositoryClassicNodeFileLoads) {
  const std::string path = std::string(PGHA_SOURCE_DIR) + "/conf/patroni/classic-node1.yml";
  const AgentConfig c = load_agent_config(path);
  EXPECT_EQ(c.source_file, path);
  EXPECT_EQ(c.name, "node1");
  EXPECT_EQ(c.data_dir, "/tmp/pgha-cluster/node1/data");
  EXPECT_THAT(c.etcd_hosts, ElementsAre("127.0.0.1:2379", "127.0.0.1:2479", "127.0.0.1:2579"));
  EXPECT_THAT(c.pg_hba, ElementsAre("host replication patroni_replicator 127.0.0.1/32 md5",
                                    "host all pgha_bench 127.0.0.1/32 trust", "host all all 127.0.0.1/32 md5"));
  EXPECT_EQ(c.extra_users.size(), 2U);
  EXPECT_EQ(c.parameters.at("unix_socket_directories"), "/tmp/pgha-cluster/node1");
  ASSERT_EQ(c.warnings.size(), 1U);
  EXPECT_THAT(c.warnings[0], StartsWith(path + ":"));
  EXPECT_THAT(c.warnings[0], HasSubstr(": log: ignored"));
}

TEST(AgentConfig, FileErrors) {
  EXPECT_THROW(load_agent_config("/nonexistent/agent.yml"), AgentConfigError);
  try {
    load_agent_config("/nonexistent/agent.yml");
  } catch (const AgentConfigError& e) {
    EXPECT_THAT(e.what(), StartsWith("/nonexistent/agent.yml:0: file: cannot open: No such file or directory"));
  }
  const std::string path = ::testing::TempDir() + "agent_config_test_minimal.yml";
  {
    std::ofstream out(path);
    out << kMinimal;
  }
  EXPECT_EQ(load_agent_config(path).data_dir, "/tmp/pgha/n1");
  std::remove(path.c_str());
}

// A device would be read without end, a FIFO would block the start forever, a huge file is a
// wrong path: all refused at once with the file named.
TEST(AgentConfig, OnlyRegularFilesOfBoundedSizeAreRead) {
  auto error_loading = [](const std::string& path) {
    try {
      load_agent_config(path);
    } catch (const AgentConfigError& e) {
      return std::string(e.what());
    }
    return std::string("loaded");
  };
  EXPECT_EQ(error_loading("/dev/zero"), "/dev/zero:0: file: cannot read: a character device, not a regular file");
  const std::string fifo = ::testing::TempDir() + "agent_config_test_fifo.yml";
  std::remove(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto loading = std::async(std::launch::async, [&] { return error_loading(fifo); });
  if (loading.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // release the blocked reader
    if (writer >= 0) ::close(writer);
    loading.wait();
    std::remove(fifo.c_str());
    FAIL() << "load_agent_config blocked on a FIFO";
  }
  EXPECT_EQ(loading.get(), fifo + ":0: file: cannot read: a FIFO, not a regular file");
  std::remove(fifo.c_str());
  const std::string big = ::testing::TempDir() + "agent_config_test_big.yml";
  {
    std::ofstream out(big);
    out << kMinimal << std::string(4 * 1024 * 1024, '#');
  }
  EXPECT_THAT(error_loading(big), StartsWith(big + ":0: file: larger than 4194304 bytes"));
  std::remove(big.c_str());
}

TEST(AgentConfig, DataDirectoryRemovalIsOffByDefaultAndLocalSettingsWin) {
  const AgentConfig defaults = parse(kMinimal);
  EXPECT_FALSE(defaults.remove_data_directory_on_rewind_failure);
  EXPECT_FALSE(defaults.remove_data_directory_on_diverged_timelines);
  EXPECT_TRUE(defaults.warnings.empty()) << defaults.warnings.front();
  const AgentConfig local = parse(kMinimal +
                                  "  remove_data_directory_on_rewind_failure: true\n"
                                  "  remove_data_directory_on_diverged_timelines: false\n"
                                  "bootstrap:\n  dcs:\n    postgresql:\n"
                                  "      remove_data_directory_on_rewind_failure: false\n"
                                  "      remove_data_directory_on_diverged_timelines: true\n");
  EXPECT_TRUE(local.remove_data_directory_on_rewind_failure);
  EXPECT_FALSE(local.remove_data_directory_on_diverged_timelines);
  EXPECT_TRUE(local.warnings.empty()) << local.warnings.front();
  const AgentConfig dcs = parse(kMinimal + "bootstrap:\n  dcs:\n    postgresql:\n"
                                "      remove_data_directory_on_diverged_timelines: true\n");
  EXPECT_FALSE(dcs.remove_data_directory_on_rewind_failure);
  EXPECT_TRUE(dcs.remove_data_directory_on_diverged_timelines);
  EXPECT_THAT(error_of(kMinimal + "  remove_data_directory_on_rewind_failure: sometimes\n"),
              HasSubstr("postgresql.remove_data_directory_on_rewind_failure"));
}

TEST(AgentConfig, NativeDefaultsAreFastButSafe) {
  const AgentConfig c = parse(kMinimal);
  EXPECT_EQ(c.ttl, Seconds{10});
  EXPECT_EQ(c.loop_wait, Seconds{2});
  EXPECT_EQ(c.retry_timeout, Seconds{4});
  EXPECT_LE(c.loop_wait + 2 * c.retry_timeout, c.ttl);
  EXPECT_EQ(c.maximum_lag_on_failover, 1048576);
  EXPECT_EQ(c.rest_listen, "0.0.0.0:8008");
  EXPECT_EQ(c.pg_listen, "127.0.0.1:5432");
  EXPECT_EQ(c.pg_connect_address, "127.0.0.1:5432");  // from listen: not a wildcard
  EXPECT_EQ(c.superuser.username, "postgres");
  EXPECT_EQ(c.replication.username, "replicator");
  EXPECT_THAT(c.initdb_options, IsEmpty());
  EXPECT_THAT(c.pg_hba, IsEmpty());
  EXPECT_THAT(c.warnings, IsEmpty());
}

struct ErrorRow {
  std::string name;
  std::string text;
  std::string prefix;    // "agent.yml:LINE: KEY: "
  std::string message;   // a part of the message
};

std::vector<ErrorRow> error_rows() {
  const std::string etcd = "etcd3:\n  hosts: 127.0.0.1:2379\n";
  const std::string rest = "restapi:\n  connect_address: 127.0.0.1:8008\n";
  const std::string pg = "postgresql:\n  data_dir: /d\n";
  const std::string head = "scope: demo\nname: n1\n" + rest + etcd + pg;  // 8 lines
  return {
      {"invalid_yaml", "scope: [demo\n", "agent.yml:2: yaml: ", "invalid YAML"},
      {"empty_file", "", "agent.yml:1: document: ", "empty"},
      {"not_a_mapping", "- a\n- b\n", "agent.yml:1: document: ", "mapping"},
      {"top_level_key_not_a_string", ": 2\n" + head, "agent.yml:1: document: ", "plain strings"},
      {"top_level_key_empty", "\"\": 2\n" + head, "agent.yml:1: document: ", "unknown key ''"},
      {"missing_name", "scope: demo\n" + rest + etcd + pg, "agent.yml:1: name: ", "required"},
      {"missing_scope", "name: n1\n" + rest + etcd + pg, "agent.yml:1: scope: ", "required"},
      {"missing_etcd3", "scope: demo\nname: n1\n" + rest + pg, "agent.yml:1: etcd3.hosts: ", "required"},
      {"missing_postgresql", "scope: demo\nname: n1\n" + rest + etcd, "agent.yml:1: postgresql.data_dir: ",
       "required"},
      {"missing_data_dir", "scope: demo\nname: n1\n" + rest + etcd + "postgresql:\n  listen: 127.0.0.1:5434\n",
       "agent.yml:8: postgresql.data_dir: ", "required"},
      {"empty_data_dir", "scope: demo\nname: n1\n" + rest + etcd + "postgresql:\n  data_dir: ''\n",
       "agent.yml:8: postgresql.data_dir: ", "must not be empty"},
      {"data_dir_without_value", "scope: demo\nname: n1\n" + rest + etcd + "postgresql:\n  data_dir:\n",
       "agent.yml:8: postgresql.data_dir: ", "has no value"},
      {"empty_etcd_hosts", "scope: demo\nname: n1\n" + rest + "etcd3:\n  hosts: ' , '\n" + pg,
       "agent.yml:6: etcd3.hosts: ", "required"},
      {"etcd_host_bad_port", "scope: demo\nname: n1\n" + rest + "etcd3:\n  hosts: 127.0.0.1:2379,127.0.0.1:99999\n" + pg,
       "agent.yml:6: etcd3.hosts: ", "out of range 1..65535"},
      {"etcd_list_item_bad_port",
       "scope: demo\nname: n1\n" + rest + "etcd3:\n  hosts:\n  - 127.0.0.1:2379\n  - 127.0.0.1:x\n" + pg,
       "agent.yml:8: etcd3.hosts[1]: ", "not a port number"},
      {"etcd_mixed_protocols",
       "scope: demo\nname: n1\n" + rest + "etcd3:\n  hosts: https://127.0.0.1:2379,http://127.0.0.1:2479\n" + pg,
       "agent.yml:6: etcd3.hosts: ", "mixes http and https"},
      {"etcd_https_then_bare_http",
       "scope: demo\nname: n1\n" + rest + "etcd3:\n  hosts: https://127.0.0.1:2379,127.0.0.1:2479\n" + pg,
       "agent.yml:6: etcd3.hosts: ", "mixes http and https"},
      {"etcd_two_schemes", "scope: demo\nname: n1\n" + rest + "etcd3:\n  hosts: http://https://127.0.0.1:2379\n" + pg,
       "agent.yml:6: etcd3.hosts: ", "not an etcd member address"},
      {"etcd_protocol_unknown", "scope: demo\nname: n1\n" + rest + etcd + "  protocol: ftp\n" + pg,
       "agent.yml:7: etcd3.protocol: ", "unknown protocol 'ftp' (http or https)"},
      {"etcd_cacert_without_https", "scope: demo\nname: n1\n" + rest + etcd + "  cacert: /etc/ca.crt\n" + pg,
       "agent.yml:7: etcd3.cacert: ", "no etcd member is reached over https"},
      {"etcd_key_without_cert",
       "scope: demo\nname: n1\n" + rest + etcd + "  protocol: https\n  key: /etc/client.key\n" + pg,
       "agent.yml:8: etcd3.key: ", "needs etcd3.cert"},
      {"etcd_empty_cert", "scope: demo\nname: n1\n" + rest + etcd + "  protocol: https\n  cert: ''\n" + pg,
       "agent.yml:8: etcd3.cert: ", "must not be empty"},
      {"etcd_cacert_absent",
       "scope: demo\nname: n1\n" + rest + "etcd3:\n  hosts: https://127.0.0.1:2379\n  cacert: /nonexistent/ca.crt\n" + pg,
       "agent.yml:7: etcd3.cacert: ", "CA file /nonexistent/ca.crt: cannot open"},
      {"etcd_host_and_hosts", "scope: demo\nname: n1\n" + rest + etcd + "  host: 127.0.0.1:2379\n" + pg,
       "agent.yml:7: etcd3.host: ", "either"},
      {"etcd_user_without_password", "scope: demo\nname: n1\n" + rest + etcd + "  username: root\n" + pg,
       "agent.yml:7: etcd3.password: ", "both"},
      {"etcd_srv_rejected", "scope: demo\nname: n1\n" + rest + etcd + "  srv: example.com\n" + pg,
       "agent.yml:7: etcd3.srv: ", "not supported"},
      {"etcd_v2_rejected", head + "etcd:\n  host: 127.0.0.1:2379\n", "agent.yml:9: etcd: ", "use etcd3"},
      {"consul_rejected", head + "consul:\n  host: 127.0.0.1:8500\n", "agent.yml:9: consul: ", "etcd v3 only"},
      {"rest_listen_bad_port", "scope: demo\nname: n1\nrestapi:\n  listen: 127.0.0.1:http\n" + etcd + pg,
       "agent.yml:4: restapi.listen: ", "not a port number"},
      {"rest_listen_no_port", "scope: demo\nname: n1\nrestapi:\n  listen: 127.0.0.1\n" + etcd + pg,
       "agent.yml:4: restapi.listen: ", "no port"},
      {"rest_wildcard_without_connect_address", "scope: demo\nname: n1\nrestapi:\n  listen: 0.0.0.0:8008\n" + etcd + pg,
       "agent.yml:4: restapi.connect_address: ", "wildcard"},
      {"no_restapi_section", "scope: demo\nname: n1\n" + etcd + pg, "agent.yml:1: restapi.connect_address: ",
       "wildcard"},
      {"rest_tls_key_without_certificate", "scope: demo\nname: n1\n" + rest + "  keyfile: /k.pem\n" + etcd + pg,
       "agent.yml:5: restapi.keyfile: ", "needs restapi.certfile"},
      {"pg_connect_address_wildcard", head + "  connect_address: 0.0.0.0:5434\n",
       "agent.yml:9: postgresql.connect_address: ", "others can connect to"},
      {"pg_listen_port_zero", head + "  listen: 127.0.0.1:0\n", "agent.yml:9: postgresql.listen: ",
       "out of range 1..65535"},
      {"pg_wildcard_listen_without_connect_address", head + "  listen: '*:5434'\n",
       "agent.yml:8: postgresql.connect_address: ", "wildcard"},
      {"callback_unknown_event", head + "  callbacks:\n    on_role_chnage: /bin/true\n",
       "agent.yml:10: postgresql.callbacks.on_role_chnage: ", "unknown key 'on_role_chnage'"},
      {"callbacks_not_a_mapping", head + "  callbacks: /bin/true\n", "agent.yml:9: postgresql.callbacks: ",
       "expected a mapping"},
      {"callback_unclosed_quote", head + "  callbacks:\n    on_start: /bin/echo 'a b\n",
       "agent.yml:10: postgresql.callbacks.on_start: ", "no closing quotation"},
      {"callback_blank", head + "  callbacks:\n    on_stop: ' '\n", "agent.yml:10: postgresql.callbacks.on_stop: ",
       "expected a command"},
      {"callback_list", head + "  callbacks:\n    on_stop: [/bin/true]\n",
       "agent.yml:10: postgresql.callbacks.on_stop: ", "single value"},
      {"pre_promote_empty", head + "  pre_promote: ''\n", "agent.yml:9: postgresql.pre_promote: ",
       "expected a command"},
      {"pre_promote_empty_program", head + "  pre_promote: \"'' x\"\n", "agent.yml:9: postgresql.pre_promote: ",
       "expected a command"},
      {"before_stop_trailing_backslash", head + "  before_stop: '/bin/echo a\\'\n",
       "agent.yml:9: postgresql.before_stop: ", "no escaped character"},
      {"callback_timeout_with_unit", head + "  callback_timeout: 5s\n", "agent.yml:9: postgresql.callback_timeout: ",
       "not a number of seconds"},
      {"callback_timeout_too_long", head + "  callback_timeout: 3601\n", "agent.yml:9: postgresql.callback_timeout: ",
       "out of range"},
      {"pg_config_dir_rejected", head + "  config_dir: /etc/postgresql\n", "agent.yml:9: postgresql.config_dir: ",
       "not supported"},
      {"parameters_nested", head + "  parameters:\n    shared_buffers:\n      size: 1GB\n",
       "agent.yml:11: postgresql.parameters.shared_buffers: ", "single value"},
      {"pg_hba_not_a_list", head + "  pg_hba: host all all 127.0.0.1/32 md5\n", "agent.yml:9: postgresql.pg_hba: ",
       "list"},
      {"pg_user_unknown_key", head + "  authentication:\n    superuser:\n      user: x\n",
       "agent.yml:11: postgresql.authentication.superuser.user: ", "unknown key 'user'"},
      {"unknown_top_key", head + "nmae: n1\n", "agent.yml:9: nmae: ", "unknown key 'nmae'"},
      {"unknown_postgresql_key", head + "  data_dri: /d\n", "agent.yml:9: postgresql.data_dri: ", "expected one of"},
      {"duplicate_key", head + "name: n2\n", "agent.yml:9: name: ", "duplicate"},
      {"name_with_slash", "scope: demo\nname: a/b\n" + rest + etcd + pg, "agent.yml:2: name: ", "'/'"},
      {"scope_with_blank", "scope: my cluster\nname: n1\n" + rest + etcd + pg, "agent.yml:1: scope: ", "blanks"},
      {"ttl_with_unit", head + "bootstrap:\n  dcs:\n    ttl: 30s\n", "agent.yml:11: bootstrap.dcs.ttl: ",
       "whole number of seconds"},
      {"ttl_zero", head + "bootstrap:\n  dcs:\n    ttl: 0\n", "agent.yml:11: bootstrap.dcs.ttl: ", "out of range"},
      {"loop_wait_negative", head + "bootstrap:\n  dcs:\n    loop_wait: -1\n", "agent.yml:11: bootstrap.dcs.loop_wait: ",
       "not a number of seconds"},
      {"loop_wait_with_unit", head + "bootstrap:\n  dcs:\n    loop_wait: 500ms\n", "agent.yml:11: bootstrap.dcs.loop_wait: ",
       "not a number of seconds"},
      {"loop_wait_too_small", head + "bootstrap:\n  dcs:\n    loop_wait: 0.05\n", "agent.yml:11: bootstrap.dcs.loop_wait: ",
       "out of range 0.1..86400 seconds"},
      {"ttl_decimal", head + "bootstrap:\n  dcs:\n    ttl: 2.5\n", "agent.yml:11: bootstrap.dcs.ttl: ",
       "whole number of seconds"},
      {"ttl_constraint_decimal_loop_wait", head + "bootstrap:\n  dcs:\n    ttl: 2\n    loop_wait: 0.6\n    retry_timeout: 0.75\n",
       "agent.yml:11: bootstrap.dcs.ttl: ", "loop_wait 0.6 + 2*retry_timeout 0.75 = 2.1 > ttl 2"},
      {"switchover_grace_negative", head + "switchover_grace: -1\n", "agent.yml:9: switchover_grace: ",
       "not a number of seconds"},
      {"switchover_grace_too_long", head + "switchover_grace: 31\n", "agent.yml:9: switchover_grace: ",
       "out of range 0..30 seconds"},
      {"switchover_grace_empty", head + "switchover_grace:\n", "agent.yml:9: switchover_grace: ", "has no value"},
      {"retry_timeout_list", head + "bootstrap:\n  dcs:\n    retry_timeout: [1]\n",
       "agent.yml:11: bootstrap.dcs.retry_timeout: ", "single value"},
      {"retry_timeout_with_unit", head + "bootstrap:\n  dcs:\n    retry_timeout: 1.5s\n",
       "agent.yml:11: bootstrap.dcs.retry_timeout: ", "not a number of seconds"},
      {"retry_timeout_four_decimals", head + "bootstrap:\n  dcs:\n    retry_timeout: 1.2345\n",
       "agent.yml:11: bootstrap.dcs.retry_timeout: ", "not a number of seconds"},
      {"retry_timeout_too_small", head + "bootstrap:\n  dcs:\n    retry_timeout: 0.05\n",
       "agent.yml:11: bootstrap.dcs.retry_timeout: ", "out of range"},
      {"ttl_constraint_decimal", head + "bootstrap:\n  dcs:\n    ttl: 4\n    loop_wait: 1\n    retry_timeout: 1.6\n",
       "agent.yml:11: bootstrap.dcs.ttl: ", "loop_wait 1 + 2*retry_timeout 1.6 = 4.2 > ttl 4"},
      {"max_lag_with_unit", head + "bootstrap:\n  dcs:\n    maximum_lag_on_failover: 1MB\n",
       "agent.yml:11: bootstrap.dcs.maximum_lag_on_failover: ", "number of bytes"},
      {"ttl_constraint_violated", head + "bootstrap:\n  dcs:\n    ttl: 20\n    loop_wait: 10\n    retry_timeout: 10\n",
       "agent.yml:11: bootstrap.dcs.ttl: ",
       "loop_wait + 2*retry_timeout <= ttl is violated: loop_wait 10 + 2*retry_timeout 10 = 30 > ttl 20"},
      {"ttl_constraint_with_defaults", head + "bootstrap:\n  dcs:\n    retry_timeout: 5\n",
       "agent.yml:11: bootstrap.dcs.retry_timeout: ",
       "loop_wait 2 (default) + 2*retry_timeout 5 = 12 > ttl 10 (default)"},
      {"ttl_constraint_only_loop_wait", head + "bootstrap:\n  dcs:\n    loop_wait: 3\n",
       "agent.yml:11: bootstrap.dcs.loop_wait: ", "loop_wait 3 + 2*retry_timeout 4 (default) = 11 > ttl 10 (default)"},
      {"synchronous_mode_not_boolean", head + "bootstrap:\n  dcs:\n    synchronous_mode: maybe\n",
       "agent.yml:11: bootstrap.dcs.synchronous_mode: ", "not a boolean"},
      {"sync_node_count_zero", head + "bootstrap:\n  dcs:\n    synchronous_node_count: 0\n",
       "agent.yml:11: bootstrap.dcs.synchronous_node_count: ", "1"},
      {"standby_cluster_rejected", head + "bootstrap:\n  dcs:\n    standby_cluster:\n      host: x\n",
       "agent.yml:11: bootstrap.dcs.standby_cluster: ", "not supported"},
      {"custom_bootstrap_rejected", head + "bootstrap:\n  method: wal_e\n", "agent.yml:10: bootstrap.method: ",
       "only initdb"},
      {"post_init_rejected", head + "bootstrap:\n  post_init: /bin/true\n", "agent.yml:10: bootstrap.post_init: ",
       "not supported"},
      {"initdb_multi_key_item", head + "bootstrap:\n  initdb:\n  - encoding: UTF8\n    locale: C\n",
       "agent.yml:11: bootstrap.initdb[0]: ", "single"},
      {"initdb_reserved_option", head + "bootstrap:\n  initdb:\n  - pgdata: /x\n", "agent.yml:11: bootstrap.initdb[0]: ",
       "set by pgha-agent"},
      {"initdb_dashes", head + "bootstrap:\n  initdb:\n  - --data-checksums\n", "agent.yml:11: bootstrap.initdb[0]: ",
       "without leading dashes"},
      {"initdb_scalar", head + "bootstrap:\n  initdb: data-checksums\n", "agent.yml:10: bootstrap.initdb: ",
       "expected a list"},
      {"user_option_injection", head + "bootstrap:\n  users:\n    admin:\n      options:\n      - \"login; drop\"\n",
       "agent.yml:13: bootstrap.users.admin.options[0]: ", "CREATE ROLE option"},
      {"user_without_settings", head + "bootstrap:\n  users:\n    admin:\n", "agent.yml:11: bootstrap.users.admin: ",
       "no settings"},
      {"tag_not_boolean", head + "tags:\n  nofailover: maybe\n", "agent.yml:10: tags.nofailover: ", "not a boolean"},
      {"tag_replicatefrom_empty", head + "tags:\n  replicatefrom: ''\n", "agent.yml:10: tags.replicatefrom: ",
       "must name a member"},
      {"citus_rejected", head + "citus:\n  group: 0\n", "agent.yml:9: citus: ", "not supported"},
  };
}

class ConfigErrors : public ::testing::TestWithParam<ErrorRow> {};

TEST_P(ConfigErrors, NamesFileLineAndKey) {
  const ErrorRow& row = GetParam();
  const std::string what = error_of(row.text);
  ASSERT_FALSE(what.empty()) << "no error for:\n" << row.text;
  EXPECT_THAT(what, StartsWith(row.prefix));
  EXPECT_THAT(what, HasSubstr(row.message));
}

INSTANTIATE_TEST_SUITE_P(Rows, ConfigErrors, ::testing::ValuesIn(error_rows()),
                         [](const ::testing::TestParamInfo<ErrorRow>& info) { return info.param.name; });

TEST(AgentConfig, RestAuthenticationNeedsBothFields) {
  const std::string text = "scope: demo\nname: n1\nrestapi:\n  connect_address: 127.0.0.1:8008\n"
                           "  authentication:\n    username: admin\netcd3:\n  hosts: 127.0.0.1:2379\n"
                           "postgresql:\n  data_dir: /d\n";
  EXPECT_THAT(error_of(text), StartsWith("agent.yml:6: restapi.authentication: needs both username and password"));
  const AgentConfig c = parse("scope: demo\nname: n1\nrestapi:\n  connect_address: 127.0.0.1:8008\n"
                              "  authentication:\n    username: admin\n    password: secret\n"
                              "etcd3:\n  hosts: 127.0.0.1:2379\npostgresql:\n  data_dir: /d\n");
  EXPECT_EQ(c.rest_username, "admin");
  EXPECT_EQ(c.rest_password, "secret");
}

TEST(AgentConfig, TtlConstraintAtExactBoundLoads) {
  const AgentConfig c = parse(kMinimal + "bootstrap:\n  dcs:\n    ttl: 30\n    loop_wait: 10\n    retry_timeout: 10\n");
  EXPECT_EQ(c.ttl, Seconds{30});
  EXPECT_EQ(c.loop_wait + 2 * c.retry_timeout, c.ttl);
  // Explicit values win over the defaults one by one.
  const AgentConfig only_ttl = parse(kMinimal + "bootstrap:\n  dcs:\n    ttl: 30\n");
  EXPECT_EQ(only_ttl.ttl, Seconds{30});
  EXPECT_EQ(only_ttl.loop_wait, Seconds{2});
  EXPECT_EQ(only_ttl.retry_timeout, Seconds{4});
}

TEST(AgentConfig, RetryTimeoutTakesDecimalSeconds) {
  // ttl 4 with loop_wait 1 leaves 1.5 s of retries: a failover under 5 s that still rides out an
  // etcd leader election.
  const AgentConfig c = parse(kMinimal + "bootstrap:\n  dcs:\n    ttl: 4\n    loop_wait: 1\n    retry_timeout: 1.5\n");
  EXPECT_EQ(c.retry_timeout, std::chrono::milliseconds{1500});
  EXPECT_EQ(c.loop_wait + 2 * c.retry_timeout, c.ttl);
  EXPECT_EQ(parse(kMinimal + "bootstrap:\n  dcs:\n    retry_timeout: 0.25\n").retry_timeout, std::chrono::milliseconds{250});
  EXPECT_EQ(parse(kMinimal + "bootstrap:\n  dcs:\n    retry_timeout: 3\n").retry_timeout, Seconds{3});
}

TEST(AgentConfig, LoopWaitTakesDecimalSeconds) {
  // ttl 2 (etcd's shortest lease at its default election timeout) with loop_wait 0.5 leaves
  // 0.75 s of retries.
  const AgentConfig c =
      parse(kMinimal + "bootstrap:\n  dcs:\n    ttl: 2\n    loop_wait: 0.5\n    retry_timeout: 0.75\n");
  EXPECT_EQ(c.ttl, Seconds{2});
  EXPECT_EQ(c.loop_wait, std::chrono::milliseconds{500});
  EXPECT_EQ(c.loop_wait + 2 * c.retry_timeout, c.ttl);
  EXPECT_EQ(parse(kMinimal + "bootstrap:\n  dcs:\n    loop_wait: 1.25\n").loop_wait, std::chrono::milliseconds{1250});
  EXPECT_EQ(parse(kMinimal + "bootstrap:\n  dcs:\n    loop_wait: 0.1\n").loop_wait, std::chrono::milliseconds{100});
  // Patroni's whole seconds still mean what they meant.
  EXPECT_EQ(parse(kMinimal + "bootstrap:\n  dcs:\n    loop_wait: 1\n").loop_wait, Seconds{1});
}

TEST(AgentConfig, SwitchoverGraceIsDecimalSecondsAndZeroDisablesIt) {
  EXPECT_EQ(parse(kMinimal).switchover_grace, std::chrono::milliseconds{2000});
  EXPECT_EQ(parse(kMinimal + "switchover_grace: 0.5\n").switchover_grace, std::chrono::milliseconds{500});
  EXPECT_EQ(parse(kMinimal + "switchover_grace: 0\n").switchover_grace, std::chrono::milliseconds{0});
  EXPECT_EQ(parse(kMinimal + "switchover_grace: 30\n").switchover_grace, Seconds{30});
}

TEST(AgentConfig, UnimplementedPatroniKeysWarnWithLocation) {
  const std::string text = kMinimal +                                   // lines 1-8
                           "  pg_ctl_timeout: 60\n"                     // 9
                           "log:\n  level: INFO\n"                      // 10-11
                           "watchdog:\n  mode: automatic\n"             // 12-13
                           "bootstrap:\n  dcs:\n    failsafe_mode: true\n"  // 14-16
                           "tags:\n  zone: a\n  nofailover: true\n";    // 17-19
  const AgentConfig c = parse(text);
  ASSERT_EQ(c.warnings.size(), 4U) << ::testing::PrintToString(c.warnings);
  EXPECT_THAT(c.warnings[0], StartsWith("agent.yml:10: log: ignored"));
  EXPECT_THAT(c.warnings[1], StartsWith("agent.yml:12: watchdog: ignored"));
  EXPECT_THAT(c.warnings[2], StartsWith("agent.yml:16: bootstrap.dcs.failsafe_mode: ignored"));
  EXPECT_THAT(c.warnings[3], StartsWith("agent.yml:9: postgresql.pg_ctl_timeout: ignored"));
  EXPECT_TRUE(c.nofailover);
  EXPECT_EQ(c.custom_tags, (std::map<std::string, std::string>{{"zone", "a"}}));  // kept, for /replica?tag_zone=
}

TEST(AgentConfig, CallbacksAndHooksAreSplitIntoWordsAsPatroniDoes) {
  const AgentConfig c = parse(kMinimal + R"(  callbacks:
    on_start: /usr/local/bin/cb.sh
    on_role_change: "/usr/bin/env  'a b' \"c \\\" d\" e\\ f '' #g"
  pre_promote: /usr/local/bin/fence --really
  before_stop: /bin/sh -c 'pgbouncer-pause; sleep 1'
  callback_timeout: 2.5
)");
  EXPECT_EQ(c.callbacks.size(), 2u);
  EXPECT_EQ(c.callbacks.at("on_start"), std::vector<std::string>{"/usr/local/bin/cb.sh"});
  EXPECT_EQ(c.callbacks.at("on_role_change"),
            (std::vector<std::string>{"/usr/bin/env", "a b", "c \" d", "e f", "", "#g"}));
  EXPECT_EQ(c.pre_promote, (std::vector<std::string>{"/usr/local/bin/fence", "--really"}));
  EXPECT_EQ(c.before_stop, (std::vector<std::string>{"/bin/sh", "-c", "pgbouncer-pause; sleep 1"}));
  EXPECT_EQ(c.callback_timeout, std::chrono::milliseconds(2500));
  EXPECT_TRUE(c.warnings.empty());

  const AgentConfig none = parse(kMinimal);
  EXPECT_TRUE(none.callbacks.empty());
  EXPECT_TRUE(none.pre_promote.empty());
  EXPECT_TRUE(none.before_stop.empty());
  EXPECT_EQ(none.callback_timeout, std::chrono::seconds(60));
}

TEST(AgentConfig, FailoverPriorityAndCustomTags) {
  const AgentConfig c = parse(kMinimal + "tags:\n  failover_priority: 3\n  zone: EU\n  rack: 7\n");
  EXPECT_EQ(c.failover_priority, 3);
  EXPECT_FALSE(c.nofailover);
  EXPECT_EQ(c.custom_tags, (std::map<std::string, std::string>{{"rack", "7"}, {"zone", "EU"}}));
  const AgentConfig zero = parse(kMinimal + "tags:\n  failover_priority: 0\n");
  EXPECT_TRUE(zero.nofailover) << "priority 0 never takes over";
  EXPECT_EQ(parse(kMinimal).failover_priority, 1);
  EXPECT_THROW(parse(kMinimal + "tags:\n  failover_priority: -1\n"), AgentConfigError);
  EXPECT_THROW(parse(kMinimal + "tags:\n  zone: [a, b]\n"), AgentConfigError);
}

TEST(AgentConfig, EtcdHostsForms) {
  auto hosts_of = [](const std::string& etcd3) {
    return parse("scope: demo\nname: n1\nrestapi:\n  connect_address: 127.0.0.1:8008\netcd3:\n" + etcd3 +
                 "postgresql:\n  data_dir: /d\n")
        .etcd_hosts;
  };
  // Patroni's comma-separated string, blanks and empty entries tolerated.
  EXPECT_THAT(hosts_of("  hosts: 127.0.0.1:2379, 127.0.0.1:2479 ,,127.0.0.1:2579\n"),
              ElementsAre("127.0.0.1:2379", "127.0.0.1:2479", "127.0.0.1:2579"));
  // A YAML list.
  EXPECT_THAT(hosts_of("  hosts:\n  - 127.0.0.1:2379\n  - 127.0.0.1:2479\n"),
              ElementsAre("127.0.0.1:2379", "127.0.0.1:2479"));
  EXPECT_THAT(hosts_of("  hosts: [127.0.0.1:2379, etcd-2:2479]\n"), ElementsAre("127.0.0.1:2379", "etcd-2:2479"));
  // One host; the port defaults to etcd's 2379.
  EXPECT_THAT(hosts_of("  host: 127.0.0.1\n"), ElementsAre("127.0.0.1:2379"));
  EXPECT_THAT(hosts_of("  hosts: etcd1,[::1]\n"), ElementsAre("etcd1:2379", "[::1]:2379"));
  // URLs and protocol: http.
  EXPECT_THAT(hosts_of("  hosts: http://127.0.0.1:2379/\n"), ElementsAre("http://127.0.0.1:2379"));
  EXPECT_THAT(hosts_of("  protocol: http\n  hosts: 127.0.0.1:2379\n"), ElementsAre("http://127.0.0.1:2379"));
  // Authentication.
  const AgentConfig auth = parse("scope: demo\nname: n1\nrestapi:\n  connect_address: 127.0.0.1:8008\netcd3:\n"
                                 "  hosts: 127.0.0.1:2379\n  username: root\n  password: pw\n"
                                 "postgresql:\n  data_dir: /d\n");
  EXPECT_EQ(auth.etcd_username, "root");
  EXPECT_EQ(auth.etcd_password, "pw");
  // https: per host, or for bare hosts with protocol: https (the system's CAs without cacert).
  EXPECT_THAT(hosts_of("  hosts: https://127.0.0.1:2379,https://[::1]:2479/\n"),
              ElementsAre("https://127.0.0.1:2379", "https://[::1]:2479"));
  EXPECT_THAT(hosts_of("  protocol: https\n  hosts: etcd1,etcd2:2479\n"),
              ElementsAre("https://etcd1:2379", "https://etcd2:2479"));
  EXPECT_THAT(hosts_of("  protocol: https\n  host: etcd1\n"), ElementsAre("https://etcd1:2379"));
}

// etcd3.cacert/cert/key/key_password with real files: read into etcd_tls and checked at load, a
// broken one reported at its key; etcd_client_options() carries them (and the credentials) to
// the client pgha-agent and pghactl make.
TEST(AgentConfig, EtcdTlsFilesAreCheckedAtLoadAndReachTheClientOptions) {
  const std::filesystem::path dir = ::testing::TempDir() + "agent_config_test_etcd_tls";
  const test::TestCerts certs = test::make_test_certs(dir);
  const std::string not_pem = (dir / "not-pem.crt").string();
  std::ofstream(not_pem) << "not a certificate\n";
  auto with_etcd3 = [](const std::string& etcd3) {
    return "scope: demo\nname: n1\nrestapi:\n  connect_address: 127.0.0.1:8008\netcd3:\n" + etcd3 +
           "postgresql:\n  data_dir: /d\n";
  };
  const AgentConfig c = parse(with_etcd3("  protocol: https\n  hosts: 127.0.0.1:2379,127.0.0.1:2479\n"
                                         "  cacert: " + certs.ca_cert + "\n  cert: " + certs.server_cert +
                                         "\n  key: " + certs.encrypted_server_key + "\n  key_password: secret\n"
                                         "  username: root\n  password: pw\n"));
  EXPECT_EQ(c.etcd_tls.cafile, certs.ca_cert);
  EXPECT_EQ(c.etcd_tls.certfile, certs.server_cert);
  EXPECT_EQ(c.etcd_tls.keyfile, certs.encrypted_server_key);
  EXPECT_EQ(c.etcd_tls.keyfile_password, "secret");
  EXPECT_EQ(c.etcd_tls.verify, tls::PeerVerification::kRequired);

  const EtcdClientOptions options = etcd_client_options(c);
  EXPECT_THAT(options.endpoints, ElementsAre("https://127.0.0.1:2379", "https://127.0.0.1:2479"));
  EXPECT_EQ(options.tls, c.etcd_tls);
  EXPECT_EQ(options.username, "root");
  EXPECT_EQ(options.password, "pw");
  EXPECT_EQ(options.call_timeout, c.retry_timeout / 2);

  // Without cacert, etcd's certificate is still verified (against the system's CAs).
  const AgentConfig no_ca = parse(with_etcd3("  hosts: https://127.0.0.1:2379\n"));
  EXPECT_EQ(etcd_client_options(no_ca).tls, (tls::TlsFiles{.verify = tls::PeerVerification::kRequired}));
  // The key may sit in the certificate's file.
  const std::string combined = (dir / "combined.pem").string();
  {
    std::ofstream out(combined);
    out << std::ifstream(certs.client_cert).rdbuf() << std::ifstream(certs.client_key).rdbuf();
  }
  EXPECT_EQ(parse(with_etcd3("  hosts: https://127.0.0.1:2379\n  cert: " + combined + "\n")).etcd_tls.certfile,
            combined);

  auto error_of = [&](const std::string& etcd3) {
    try {
      parse(with_etcd3(etcd3));
    } catch (const AgentConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error_of("  hosts: https://127.0.0.1:2379\n  cacert: " + not_pem + "\n"),
              StartsWith("agent.yml:7: etcd3.cacert: CA file " + not_pem + ": "));
  EXPECT_THAT(error_of("  hosts: https://127.0.0.1:2379\n  cert: " + not_pem + "\n  key: " + certs.client_key + "\n"),
              StartsWith("agent.yml:7: etcd3.cert: certificate " + not_pem + ": "));
  EXPECT_THAT(error_of("  hosts: https://127.0.0.1:2379\n  cert: " + certs.client_cert + "\n  key: " +
                       certs.server_key + "\n"),
              AllOf(StartsWith("agent.yml:8: etcd3.key: key " + certs.server_key + ": "), HasSubstr("mismatch")));
  EXPECT_THAT(error_of("  hosts: https://127.0.0.1:2379\n  cert: " + certs.server_cert + "\n  key: " +
                       certs.encrypted_server_key + "\n  key_password: wrong\n"),
              StartsWith("agent.yml:8: etcd3.key: key " + certs.encrypted_server_key + ": "));
  // A certificate without its key (none in its file either).
  EXPECT_THAT(error_of("  hosts: https://127.0.0.1:2379\n  cert: " + certs.client_cert + "\n"),
              StartsWith("agent.yml:7: etcd3.cert: key " + certs.client_cert + ": "));
  std::filesystem::remove_all(dir);
}

TEST(AgentConfig, InitdbForms) {
  auto initdb_of = [](const std::string& initdb) { return parse(kMinimal + "bootstrap:\n" + initdb).initdb_options; };
  EXPECT_THAT(initdb_of("  initdb:\n  - encoding: UTF8\n  - data-checksums\n  - locale: C.UTF-8\n"),
              ElementsAre("--encoding=UTF8", "--data-checksums", "--locale=C.UTF-8"));
  EXPECT_THAT(initdb_of("  initdb: [data-checksums, {auth-host: scram-sha-256}]\n"),
              ElementsAre("--data-checksums", "--auth-host=scram-sha-256"));
  // Patroni also takes a mapping.
  EXPECT_THAT(initdb_of("  initdb:\n    encoding: UTF8\n"), ElementsAre("--encoding=UTF8"));
  EXPECT_THAT(initdb_of("  initdb: []\n"), IsEmpty());
}

TEST(AgentConfig, PgHbaPrecedence) {
  const std::string bootstrap_hba = "  pg_hba:\n  - host all all 0.0.0.0/0 md5\n";
  const std::string dcs_hba = "  dcs:\n    postgresql:\n      pg_hba:\n      - host all all 10.0.0.0/8 md5\n";
  const std::string local_hba = "  pg_hba:\n  - host all all 127.0.0.1/32 scram-sha-256\n";
  // postgresql.pg_hba (kMinimal ends inside the postgresql section) wins over both bootstrap forms.
  EXPECT_THAT(parse(kMinimal + local_hba + "bootstrap:\n" + bootstrap_hba + dcs_hba).pg_hba,
              ElementsAre("host all all 127.0.0.1/32 scram-sha-256"));
  EXPECT_THAT(parse(kMinimal + "bootstrap:\n" + bootstrap_hba + dcs_hba).pg_hba,
              ElementsAre("host all all 10.0.0.0/8 md5"));
  // bootstrap.pg_hba alone (the classic file's form) becomes the whole file, not an addition.
  EXPECT_THAT(parse(kMinimal + "bootstrap:\n" + bootstrap_hba).pg_hba, ElementsAre("host all all 0.0.0.0/0 md5"));
  // An explicitly empty postgresql.pg_hba still wins.
  EXPECT_THAT(parse(kMinimal + "  pg_hba: []\nbootstrap:\n" + bootstrap_hba).pg_hba, IsEmpty());
}

TEST(AgentConfig, LocalPostgresqlSettingsWinOverBootstrapDcs) {
  const AgentConfig c = parse(kMinimal +
                              "  use_pg_rewind: false\n"
                              "  parameters:\n    max_connections: 200\n    wal_log_hints: 'on'\n"
                              "bootstrap:\n  dcs:\n    postgresql:\n      use_pg_rewind: true\n"
                              "      parameters:\n        max_connections: 100\n        hot_standby: on\n");
  EXPECT_FALSE(c.use_pg_rewind);
  EXPECT_EQ(c.parameters, (std::map<std::string, std::string>{
                              {"hot_standby", "on"}, {"max_connections", "200"}, {"wal_log_hints", "on"}}));
  // Kept apart too: once /config is read, its parameters replace the bootstrap ones.
  EXPECT_EQ(c.bootstrap_parameters,
            (std::map<std::string, std::string>{{"hot_standby", "on"}, {"max_connections", "100"}}));
  EXPECT_EQ(c.local_parameters,
            (std::map<std::string, std::string>{{"max_connections", "200"}, {"wal_log_hints", "on"}}));
}

TEST(AgentConfig, ValuesAndNormalisation) {
  const AgentConfig c = parse("scope: demo\nname: n1\nnamespace: service/\n"
                              "restapi:\n  listen: 127.0.0.1:8010\n"
                              "etcd3:\n  hosts: 127.0.0.1:2379\n"
                              "postgresql:\n  listen: 127.0.0.1,localhost:5436\n  connect_address: 127.0.0.1:5436\n"
                              "  data_dir: /d\n  bin_dir: /opt/pg/bin\n"
                              "bootstrap:\n  dcs:\n    synchronous_mode: yes\n    maximum_lag_on_failover: 0\n"
                              "    synchronous_mode_strict: true\n    synchronous_node_count: 2\n"
                              "    maximum_lag_on_syncnode: 1048576\n"
                              "tags:\n  nofailover: True\n  noloadbalance: on\n  clonefrom: true\n  nosync: true\n");
  EXPECT_EQ(c.namespace_, "/service");
  EXPECT_EQ(c.rest_connect_address, "127.0.0.1:8010");  // from a non-wildcard listen
  EXPECT_EQ(c.pg_listen, "127.0.0.1,localhost:5436");
  EXPECT_EQ(c.bin_dir, "/opt/pg/bin");
  EXPECT_TRUE(c.synchronous_mode);
  EXPECT_TRUE(c.synchronous_mode_strict);
  EXPECT_FALSE(c.synchronous_quorum);
  EXPECT_EQ(c.synchronous_node_count, 2);
  EXPECT_EQ(c.maximum_lag_on_syncnode, 1048576);
  EXPECT_EQ(c.maximum_lag_on_failover, 0);
  EXPECT_TRUE(c.nofailover);
  EXPECT_TRUE(c.noloadbalance);
  EXPECT_TRUE(c.clonefrom);
  EXPECT_TRUE(c.nosync);
  const AgentConfig quorum = parse(kMinimal + "bootstrap:\n  dcs:\n    synchronous_mode: quorum\n");
  EXPECT_TRUE(quorum.synchronous_mode);
  EXPECT_TRUE(quorum.synchronous_quorum);
  EXPECT_EQ(parse("scope: demo\nname: n1\nnamespace: /pgha/\n" + kMinimal.substr(kMinimal.find("restapi"))).namespace_,
            "/pgha");
}

}  // namespace
}  // namespace pgha::election

namespace pgha::election {
namespace {

TEST(AgentConfig, BootstrapDcsBecomesJsonEvenWithBytesThatAreNotUtf8) {
  const AgentConfig c = parse(kMinimal + "bootstrap:\n  dcs:\n    ttl: 30\n    postgresql:\n      parameters:\n"
                                         "        application_name: \"a\xff\xfe\"\n");
  EXPECT_NE(c.bootstrap_dcs_json.find("\"ttl\":30"), std::string::npos) << c.bootstrap_dcs_json;
  EXPECT_NE(c.bootstrap_dcs_json.find("a\xef\xbf\xbd"), std::string::npos) << "replaced by U+FFFD";
}

}  // namespace
}  // namespace pgha::election
