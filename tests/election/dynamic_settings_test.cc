// decode_dynamic_settings(): what the agent applies from the /config key. Each value is checked on
// its own (a bad one keeps the value in effect), the timing values together, and
// postgresql.parameters as Patroni takes them from the cluster-wide configuration.
#include "election/dynamic_settings.h"

#include <gtest/gtest.h>

namespace pgha::election {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

DynamicSettings local_settings() {
  DynamicSettings s;  // ttl 10, loop_wait 2, retry_timeout 4
  s.parameters = {{"shared_buffers", "32MB"}};
  return s;
}

DynamicSettings in_effect() {
  DynamicSettings s = local_settings();
  s.ttl = 20s;
  s.loop_wait = 5s;
  s.retry_timeout = 6s;
  s.maximum_lag_on_failover = 5;
  s.synchronous_node_count = 2;
  s.parameters = {{"work_mem", "8MB"}};
  return s;
}

struct Case {
  const char* name;
  const char* config;
  std::function<void(DynamicSettings&)> expect;  // applied to in_effect()
  std::vector<std::string> errors;
  std::vector<std::string> ignored = {};
};

class DecodeDynamicSettings : public ::testing::TestWithParam<Case> {};

TEST_P(DecodeDynamicSettings, AppliesWhatIsValidAndKeepsWhatIsNot) {
  const Case& c = GetParam();
  const DecodedDynamicSettings decoded = decode_dynamic_settings(json::parse(c.config), local_settings(), in_effect());
  DynamicSettings expected = in_effect();
  c.expect(expected);
  EXPECT_EQ(decoded.errors, c.errors);
  EXPECT_EQ(decoded.ignored, c.ignored);
  EXPECT_EQ(decoded.settings.ttl, expected.ttl);
  EXPECT_EQ(decoded.settings.loop_wait, expected.loop_wait);
  EXPECT_EQ(decoded.settings.retry_timeout, expected.retry_timeout);
  EXPECT_EQ(decoded.settings.maximum_lag_on_failover, expected.maximum_lag_on_failover);
  EXPECT_EQ(decoded.settings.synchronous_mode, expected.synchronous_mode);
  EXPECT_EQ(decoded.settings.synchronous_mode_strict, expected.synchronous_mode_strict);
  EXPECT_EQ(decoded.settings.synchronous_quorum, expected.synchronous_quorum);
  EXPECT_EQ(decoded.settings.synchronous_node_count, expected.synchronous_node_count);
  EXPECT_EQ(decoded.settings.maximum_lag_on_syncnode, expected.maximum_lag_on_syncnode);
  EXPECT_EQ(decoded.settings.parameters, expected.parameters);
}

// Each key absent from /config takes the local value.
void all_local(DynamicSettings& s) { s = local_settings(); }
// The same, but the three timing values in effect stay together.
void local_but_timing_kept(DynamicSettings& s) {
  const DynamicSettings was = s;
  all_local(s);
  s.ttl = was.ttl;
  s.loop_wait = was.loop_wait;
  s.retry_timeout = was.retry_timeout;
}

INSTANTIATE_TEST_SUITE_P(
    Table, DecodeDynamicSettings,
    ::testing::Values(
        Case{"Empty", "{}", all_local, {}},
        Case{"NullsAreAbsent", R"({"ttl": null, "loop_wait": null, "postgresql": null})", all_local, {}},
        Case{"Timing", R"({"ttl": 30, "loop_wait": 1.5, "retry_timeout": "7"})",
             [](DynamicSettings& s) {
               all_local(s);
               s.ttl = 30s;
               s.loop_wait = 1500ms;
               s.retry_timeout = 7s;
             },
             {}},
        Case{"TtlMustBeWholeSeconds", R"({"ttl": 12.5})",
             [](DynamicSettings& s) {
               const DynamicSettings was = s;
               all_local(s);
               s.ttl = was.ttl;  // kept; loop_wait 2 + 2*4 fits 20
             },
             {"ttl: 12.5 is not a whole number of seconds, 1..86400"}},
        Case{"LoopWaitTooShort", R"({"loop_wait": 0.01, "ttl": 30})",
             [](DynamicSettings& s) {
               const DynamicSettings was = s;
               all_local(s);
               s.ttl = 30s;
               s.loop_wait = was.loop_wait;
             },
             {"loop_wait: 0.01 is not a number of seconds, 0.1..86400"}},
        Case{"ConstraintKeepsTheThreeInEffect", R"({"ttl": 10, "loop_wait": 4, "retry_timeout": 4})",
             local_but_timing_kept,
             {"loop_wait + 2*retry_timeout <= ttl is violated: 4 s + 2*4 s > 10 s"}},
        Case{"ConstraintCountsLocalValuesForAbsentKeys", R"({"ttl": 9})",
             local_but_timing_kept,
             {"loop_wait + 2*retry_timeout <= ttl is violated: 2 s + 2*4 s > 9 s"}},
        Case{"Synchronous",
             R"({"synchronous_mode": "on", "synchronous_mode_strict": true, "synchronous_node_count": 3,
                 "maximum_lag_on_syncnode": -1, "maximum_lag_on_failover": 0})",
             [](DynamicSettings& s) {
               all_local(s);
               s.synchronous_mode = s.synchronous_mode_strict = true;
               s.synchronous_node_count = 3;
               s.maximum_lag_on_failover = 0;
             },
             {}},
        Case{"QuorumCommit", R"({"synchronous_mode": "quorum"})",
             [](DynamicSettings& s) {
               all_local(s);
               s.synchronous_mode = s.synchronous_quorum = true;
             },
             {}},
        Case{"BadSynchronousValuesKeepTheirs",
             R"({"synchronous_mode": "sometimes", "synchronous_node_count": 0, "maximum_lag_on_failover": -5})",
             [](DynamicSettings& s) {
               const DynamicSettings was = s;
               all_local(s);
               s.synchronous_node_count = was.synchronous_node_count;
               s.maximum_lag_on_failover = was.maximum_lag_on_failover;
             },
             {"maximum_lag_on_failover: -5 is not a number of bytes >= 0",
              "synchronous_mode: \"sometimes\" is not true, false or quorum",
              "synchronous_node_count: 0 is not an integer, 1..64"}},
        Case{"ParametersReplaceTheLocalBootstrapOnes",
             R"({"postgresql": {"parameters": {"work_mem": "16MB", "fsync": false, "max_connections": 200,
                                               "random_page_cost": 1.5, "gone": null}}})",
             [](DynamicSettings& s) {
               all_local(s);
               s.parameters = {{"fsync", "off"}, {"max_connections", "200"}, {"random_page_cost", "1.5"},
                               {"work_mem", "16MB"}};
             },
             {}},
        Case{"ParametersTheAgentSetsAreIgnored",
             R"({"postgresql": {"parameters": {"port": 5, "Listen_Addresses": "*", "hot_standby": "off",
                                               "unix_socket_directories": "/tmp", "wal_level": "logical"}}})",
             [](DynamicSettings& s) {
               all_local(s);
               s.parameters = {{"wal_level", "logical"}};
             },
             {},
             {"postgresql.parameters.Listen_Addresses: set by the agent, ignored",
              "postgresql.parameters.hot_standby: set by the agent, ignored",
              "postgresql.parameters.port: set by the agent, ignored",
              "postgresql.parameters.unix_socket_directories: set by the agent, ignored"}},
        Case{"ParametersOutOfPatronisBoundsKeepTheirs",
             R"({"postgresql": {"parameters": {"max_connections": 10, "work_mem": "1MB", "wal_level": "minimal",
                                               "wal_keep_size": "8MB", "max_wal_senders": "x", "bad name": 1,
                                               "search_path": "a\nb", "list": [1]}}})",
             [](DynamicSettings& s) {
               all_local(s);
               s.parameters = {{"work_mem", "1MB"}};
             },
             {"postgresql.parameters.bad name: not a PostgreSQL parameter name",
              "postgresql.parameters.list: [1] is not a value postgresql.conf can hold",
              "postgresql.parameters.max_connections: '10' is not an integer >= 25",
              "postgresql.parameters.max_wal_senders: 'x' is not an integer >= 3",
              "postgresql.parameters.search_path: \"a\\nb\" is not a value postgresql.conf can hold",
              "postgresql.parameters.wal_keep_size: '8MB' is not at least 16MB",
              "postgresql.parameters.wal_level: 'minimal' is not replica, hot_standby or logical"}},
        Case{"ParametersNotAnObject", R"({"postgresql": {"parameters": [1]}})",
             [](DynamicSettings& s) {
               const DynamicSettings was = s;
               all_local(s);
               s.parameters = was.parameters;
             },
             {"postgresql.parameters: [1] is not an object"}}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(DynamicSettings, NotAnObjectKeepsEverything) {
  const DecodedDynamicSettings decoded = decode_dynamic_settings(json::array(), local_settings(), in_effect());
  EXPECT_EQ(decoded.settings, in_effect());
  EXPECT_EQ(decoded.errors, std::vector<std::string>{"the configuration is not a JSON object"});
}

TEST(DynamicSettings, LocalParametersWinOverConfigs) {
  AgentConfig config;
  config.bootstrap_parameters = {{"work_mem", "1MB"}, {"shared_buffers", "16MB"}};
  config.local_parameters = {{"work_mem", "2MB"}};
  DynamicSettings dynamic = local_dynamic_settings(config);
  EXPECT_EQ(dynamic.parameters, config.bootstrap_parameters);
  dynamic.parameters = {{"work_mem", "8MB"}, {"maintenance_work_mem", "64MB"}};
  EXPECT_EQ(effective_parameters(dynamic, config),
            (std::map<std::string, std::string>{{"maintenance_work_mem", "64MB"}, {"work_mem", "2MB"}}));
}

}  // namespace
}  // namespace pgha::election
