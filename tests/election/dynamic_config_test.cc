// The /config key: Patroni's patch semantics, what may be stored, and the read-merge-swap against
// an in-memory etcd (created when absent, swapped when present, refused when invalid).
#include "election/dynamic_config.h"

#include <gtest/gtest.h>

#include "tests/election/ha_loop_fakes.h"

namespace pgha::election {
namespace {

using json = nlohmann::json;

TEST(DynamicConfig, PatchMergesObjectsReplacesValuesAndNullDeletes) {
  const json current = json::parse(R"({"ttl": 30, "pause": true, "postgresql": {"parameters": {"a": 1, "b": 2}}})");
  const json patch = json::parse(R"({"pause": null, "loop_wait": 5, "postgresql": {"parameters": {"b": null, "c": 3}}})");
  EXPECT_EQ(merge_config_patch(current, patch),
            json::parse(R"({"ttl": 30, "loop_wait": 5, "postgresql": {"parameters": {"a": 1, "c": 3}}})"));
  EXPECT_EQ(merge_config_patch(json(), json::parse(R"({"pause": true})")), json::parse(R"({"pause": true})"));
  EXPECT_EQ(config_error(json::parse(R"({"pause": "yes"})")), "'pause' must be true or false");
  EXPECT_EQ(config_error(json::parse(R"({"pause": false, "x": [1]})")), "");
}

TEST(DynamicConfig, PatchCreatesThenSwapsTheKeyAndRefusesBadInput) {
  test::FakeDcs dcs;
  const KeyLayout keys("/service", "demo");
  EXPECT_EQ(read_dynamic_config(dcs, keys).body, "{}");
  ConfigResult r = patch_dynamic_config(dcs, keys, R"({"pause": true})");
  EXPECT_EQ(r.http_status, 200) << r.body;
  EXPECT_EQ(dcs.get(keys.config())->value, R"({"pause":true})");
  dcs.set(keys.config(), R"({"pause":true,"ttl":30})");
  r = patch_dynamic_config(dcs, keys, R"({"pause": false})");
  EXPECT_EQ(r.http_status, 200) << r.body;
  EXPECT_EQ(json::parse(dcs.get(keys.config())->value), json::parse(R"({"pause":false,"ttl":30})"));
  EXPECT_EQ(read_dynamic_config(dcs, keys).http_status, 200);

  EXPECT_EQ(patch_dynamic_config(dcs, keys, "[1]").http_status, 400);
  EXPECT_EQ(patch_dynamic_config(dcs, keys, "not json").http_status, 400);
  EXPECT_EQ(patch_dynamic_config(dcs, keys, R"({"pause": 1})").http_status, 400);
  EXPECT_EQ(json::parse(dcs.get(keys.config())->value)["pause"], false) << "a refused patch changes nothing";
  dcs.set(keys.config(), "garbage");
  EXPECT_EQ(patch_dynamic_config(dcs, keys, R"({"pause": true})").http_status, 409);
  EXPECT_EQ(dcs.get(keys.config())->value, "garbage");
  EXPECT_EQ(read_dynamic_config(dcs, keys).http_status, 503);
  dcs.fail_range = 1;
  EXPECT_EQ(patch_dynamic_config(dcs, keys, R"({"pause": true})").http_status, 503);
}

// A PATCH whose result the agents would refuse is not stored: 400 with the reason, the key as it
// was. The constraint counts the agent's local values for what /config does not set.
TEST(DynamicConfig, PatchWithAValueTheAgentsWouldRefuseIsNotStored) {
  test::FakeDcs dcs;
  const KeyLayout keys("/service", "demo");
  dcs.set(keys.config(), R"({"ttl":30})");
  DynamicSettings local;  // ttl 10, loop_wait 2, retry_timeout 4
  ConfigResult r = patch_dynamic_config(dcs, keys, R"({"ttl": "soon"})", local);
  EXPECT_EQ(r.http_status, 400);
  EXPECT_EQ(r.body, R"(Bad request: ttl: "soon" is not a whole number of seconds, 1..86400)");
  r = patch_dynamic_config(dcs, keys, R"({"loop_wait": 10, "retry_timeout": 15})", local);
  EXPECT_EQ(r.http_status, 400);
  EXPECT_EQ(r.body, "Bad request: loop_wait + 2*retry_timeout <= ttl is violated: 10 s + 2*15 s > 30 s");
  r = patch_dynamic_config(dcs, keys, R"({"postgresql": {"parameters": {"max_connections": 10}}})", local);
  EXPECT_EQ(r.http_status, 400);
  EXPECT_EQ(r.body, "Bad request: postgresql.parameters.max_connections: '10' is not an integer >= 25");
  EXPECT_EQ(dcs.get(keys.config())->value, R"({"ttl":30})") << "nothing refused was stored";
  // A value the agents ignore as Patroni does (the agent sets the port) is stored.
  r = patch_dynamic_config(dcs, keys, R"({"loop_wait": 10, "postgresql": {"parameters": {"port": 5}}})", local);
  EXPECT_EQ(r.http_status, 200) << r.body;
  local.retry_timeout = std::chrono::seconds(11);
  EXPECT_EQ(config_error(json::parse(R"({"loop_wait": 10})"), local),
            "loop_wait + 2*retry_timeout <= ttl is violated: 10 s + 2*11 s > 10 s");
}

}  // namespace
}  // namespace pgha::election
