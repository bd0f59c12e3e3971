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

}  // namespace
}  // namespace pgha::election
