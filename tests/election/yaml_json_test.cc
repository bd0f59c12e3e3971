#include "election/yaml_json.h"

#include <gtest/gtest.h>

namespace pgha::election {
namespace {

TEST(YamlToJson, TypesScalarsAsPyYamlDoes) {
  const YAML::Node node = YAML::Load(R"(
ttl: 30
loop_wait: 0.5
synchronous_mode: on
pause: no
quoted: "30"
empty:
tilde: ~
name: postgres
negative: -1
version: 15.4.1
postgresql:
  use_pg_rewind: true
  parameters: {max_connections: 100, wal_level: replica}
  pg_hba: [host all all 0.0.0.0/0 md5]
)");
  EXPECT_EQ(yaml_to_json(node).dump(),
            R"({"empty":null,"loop_wait":0.5,"name":"postgres","negative":-1,"pause":false,)"
            R"("postgresql":{"parameters":{"max_connections":100,"wal_level":"replica"},)"
            R"("pg_hba":["host all all 0.0.0.0/0 md5"],"use_pg_rewind":true},)"
            R"("quoted":"30","synchronous_mode":true,"tilde":null,"ttl":30,"version":"15.4.1"})");
}

}  // namespace
}  // namespace pgha::election
