// Failsafe mode's parts beside the HA loop: the /failsafe key and POST /failsafe body codecs, and
// the witness that keeps confirming and campaigning apart.
#include "election/failsafe.h"

#include <gtest/gtest.h>

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
using Clock = FailsafeWitness::Clock;

TEST(FailsafeCodec, TopologyRoundTripsAndMalformedKeysAreRefusedByName) {
  const FailsafeTopology topology{{"n1", "http://127.0.0.1:8008/patroni"}, {"n2", "https://10.0.0.2:8008/patroni"}};
  EXPECT_EQ(decode_failsafe_topology(encode_failsafe_topology(topology)), topology);
  EXPECT_EQ(decode_failsafe_topology("{}"), FailsafeTopology{});
  std::string error;
  EXPECT_FALSE(decode_failsafe_topology("[1]", &error));
  EXPECT_EQ(error, "not a JSON object");
  EXPECT_FALSE(decode_failsafe_topology(R"({"n1": 5})", &error));
  EXPECT_EQ(error, "the api_url of 'n1' is not a string");
  EXPECT_FALSE(decode_failsafe_topology("{\"n1\":", &error));
}

TEST(FailsafeCodec, BodyNeedsAName) {
  const FailsafeBody body{"n1", "postgres://127.0.0.1:5434/postgres", "http://127.0.0.1:8008/patroni"};
  const auto decoded = decode_failsafe_body(encode_failsafe_body(body));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->name, "n1");
  EXPECT_EQ(decoded->conn_url, body.conn_url);
  EXPECT_EQ(decoded->api_url, body.api_url);
  // Patroni also sends "slots": extra fields are ignored.
  EXPECT_TRUE(decode_failsafe_body(R"({"name":"n1","slots":{"n2":123}})"));
  std::string error;
  EXPECT_FALSE(decode_failsafe_body(R"({"conn_url":"x"})", &error));
  EXPECT_EQ(error, "'name' is missing");
  EXPECT_FALSE(decode_failsafe_body(R"({"name":7})", &error));
  EXPECT_EQ(error, "'name' must be a string");
  EXPECT_FALSE(decode_failsafe_body("not json", &error));
}

TEST(FailsafeWitness, AConfirmationHoldsForTtlAndAPrimaryNeverConfirms) {
  FailsafeWitness witness;
  const auto t0 = Clock::now();
  EXPECT_FALSE(witness.confirmed_leader(4s, t0));
  const FailsafeAnswer refused = witness.confirm({"n1", "", ""}, /*running_primary=*/true, t0);
  EXPECT_EQ(refused.http_status, 500);
  EXPECT_EQ(refused.message, "Running as a leader");
  EXPECT_FALSE(witness.confirmed_leader(4s, t0));
  EXPECT_EQ(witness.confirm({"n1", "", ""}, false, t0).message, "Accepted");
  EXPECT_EQ(witness.confirmed_leader(4s, t0 + 3999ms), "n1");
  EXPECT_FALSE(witness.confirmed_leader(4s, t0 + 4s));
}

TEST(FailsafeWitness, ConfirmingAndCampaigningExcludeEachOther) {
  FailsafeWitness witness;
  const auto t0 = Clock::now();
  ASSERT_EQ(witness.confirm({"n1", "", ""}, false, t0).http_status, 200);
  EXPECT_FALSE(witness.begin_campaign(4s, t0 + 1s)) << "campaigned within ttl of a confirmation";
  EXPECT_FALSE(witness.campaigning());
  EXPECT_TRUE(witness.begin_campaign(4s, t0 + 4s));
  EXPECT_TRUE(witness.campaigning());
  const FailsafeAnswer refused = witness.confirm({"n1", "", ""}, false, t0 + 5s);
  EXPECT_EQ(refused.http_status, 500);
  EXPECT_FALSE(witness.confirmed_leader(4s, t0 + 5s)) << "a refused confirmation must not count";
  witness.stand_down();
  EXPECT_EQ(witness.confirm({"n1", "", ""}, false, t0 + 6s).http_status, 200);
}

}  // namespace
}  // namespace pgha::election
