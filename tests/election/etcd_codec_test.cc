// Table tests of the etcd gateway JSON codec: base64, int64 strings, omitted proto3 defaults,
// error bodies, request shapes (checked against what etcd 3.4's gateway accepts and sends).
#include "election/etcd_codec.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/election/log_capture.h"

namespace pgha::election {
namespace {

using nlohmann::json;
namespace codec = etcd_codec;
using Code = EtcdStatus::Code;

TEST(EtcdCodec, Base64KnownVectors) {
  struct Case {
    std::string bytes;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
      {"/service/pg/leader", "L3NlcnZpY2UvcGcvbGVhZGVy"},
      {std::string("\0\xff\xfe", 3), "AP/+"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(codec::base64_encode(c.bytes), c.text) << c.text;
    auto decoded = codec::base64_decode(c.text);
    ASSERT_TRUE(decoded) << c.text;
    EXPECT_EQ(*decoded, c.bytes) << c.text;
  }
}

TEST(EtcdCodec, Base64RoundTripsEveryByteAndLength) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t length = 0; length <= all.size(); length += 7) {
    const std::string bytes = all.substr(all.size() - length);
    auto decoded = codec::base64_decode(codec::base64_encode(bytes));
    ASSERT_TRUE(decoded) << length;
    EXPECT_EQ(*decoded, bytes) << length;
  }
}

TEST(EtcdCodec, Base64RejectsGarbage) {
  for (const std::string bad : {"!!", "Zm9v!", "Z", "Zm9vY", "Zg=a", "Zm 9v", "Zg==="}) {
    EXPECT_FALSE(codec::base64_decode(bad)) << bad;
  }
  // Unpadded input is accepted (some producers strip the padding).
  EXPECT_EQ(codec::base64_decode("Zg").value_or("?"), "f");
}

TEST(EtcdCodec, Int64Strings) {
  struct Case {
    std::string text;
    std::optional<std::int64_t> value;
  };
  const std::vector<Case> cases = {
      {"0", 0},
      {"7587861231955236870", 7587861231955236870},
      {"9223372036854775807", INT64_MAX},
      {"-1", -1},
      {"9223372036854775808", std::nullopt},
      {"", std::nullopt},
      {"12a", std::nullopt},
      {" 1", std::nullopt},
      {"+1", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(codec::parse_int64(c.text), c.value) << c.text;
}

TEST(EtcdCodec, PrefixRangeEnd) {
  EXPECT_EQ(codec::prefix_range_end("/service/pg/"), "/service/pg0");
  EXPECT_EQ(codec::prefix_range_end("a"), "b");
  EXPECT_EQ(codec::prefix_range_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(codec::prefix_range_end(std::string("\xff\xff", 2)), std::string(1, '\0'));
  EXPECT_EQ(codec::prefix_range_end(""), std::string(1, '\0'));
}

TEST(EtcdCodec, RangeResponseWithAllFields) {
  const std::string body =
      R"({"header":{"cluster_id":"1860737219366987405","member_id":"18397043619772372915","revision":"42","raft_term":"2"},)"
      R"("kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"40","version":"3","value":"Yg==","lease":"7587861231955236870"}],"count":"1"})";
  auto reply = codec::parse_range_response(body);
  ASSERT_TRUE(reply) << reply.status().to_string();
  EXPECT_EQ(reply->revision, 42);
  EXPECT_EQ(reply->count, 1);
  ASSERT_EQ(reply->kvs.size(), 1u);
  const KeyValue& kv = reply->kvs[0];
  EXPECT_EQ(kv.key, "a");
  EXPECT_EQ(kv.value, "b");
  EXPECT_EQ(kv.create_revision, 2);
  EXPECT_EQ(kv.mod_revision, 40);
  EXPECT_EQ(kv.version, 3);
  EXPECT_EQ(kv.lease, 7587861231955236870);
}

TEST(EtcdCodec, OmittedDefaultsAreZeroFalseEmpty) {
  // proto3 JSON leaves out zero values: no kvs/count for an empty range, no value for an empty
  // value, no lease, no "succeeded" for a failed txn, no TTL for an expired lease.
  auto empty_range = codec::parse_range_response(R"({"header":{"revision":"5"}})");
  ASSERT_TRUE(empty_range);
  EXPECT_EQ(empty_range->revision, 5);
  EXPECT_EQ(empty_range->count, 0);
  EXPECT_TRUE(empty_range->kvs.empty());

  auto empty_value = codec::parse_range_response(R"({"header":{"revision":"5"},"kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"2","version":"1"}],"count":"1"})");
  ASSERT_TRUE(empty_value);
  EXPECT_EQ(empty_value->kvs.at(0).value, "");
  EXPECT_EQ(empty_value->kvs.at(0).lease, 0);

  auto failed = codec::parse_txn_response(R"({"header":{"revision":"9"},"responses":[{"response_range":{"header":{"revision":"9"},"kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"2","version":"1","value":"bjE="}],"count":"1"}}]})");
  ASSERT_TRUE(failed);
  EXPECT_FALSE(failed->succeeded);
  ASSERT_EQ(failed->kvs.size(), 1u);
  EXPECT_EQ(failed->kvs[0].value, "n1");

  auto succeeded = codec::parse_txn_response(R"({"header":{"revision":"10"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"10"}}}]})");
  ASSERT_TRUE(succeeded);
  EXPECT_TRUE(succeeded->succeeded);
  EXPECT_EQ(succeeded->revision, 10);

  auto expired = codec::parse_lease_keepalive_response(R"({"result":{"header":{"revision":"2"},"ID":"123"}})");
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->id, 123);
  EXPECT_EQ(expired->ttl, 0);

  auto no_header = codec::parse_put_response("{}");
  ASSERT_TRUE(no_header);
  EXPECT_EQ(*no_header, 0);

  auto deleted_none = codec::parse_delete_range_response(R"({"header":{"revision":"3"}})");
  ASSERT_TRUE(deleted_none);
  EXPECT_EQ(deleted_none->deleted, 0);
}

TEST(EtcdCodec, LeaseResponses) {
  auto grant = codec::parse_lease_grant_response(R"({"header":{"revision":"1"},"ID":"1707886894711179526","TTL":"5"})");
  ASSERT_TRUE(grant);
  EXPECT_EQ(grant->id, 1707886894711179526);
  EXPECT_EQ(grant->ttl, 5);
  auto keepalive = codec::parse_lease_keepalive_response(R"({"result":{"header":{"revision":"1"},"ID":"77","TTL":"10"}})");
  ASSERT_TRUE(keepalive);
  EXPECT_EQ(keepalive->ttl, 10);
  // Numbers instead of strings are accepted as well.
  auto numeric = codec::parse_lease_grant_response(R"({"ID":77,"TTL":5})");
  ASSERT_TRUE(numeric);
  EXPECT_EQ(numeric->id, 77);
  auto refused = codec::parse_lease_grant_response(R"({"header":{},"ID":"0","error":"lessor: too many leases"})");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.status().code(), Code::kEtcdError);
}

TEST(EtcdCodec, ErrorBodies) {
  struct Case {
    const char* name;
    int http_status;
    std::string body;
    Code code;
    int grpc_code;
  };
  const std::vector<Case> cases = {
      {"lease not found", 404,
       R"({"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5})",
       Code::kLeaseNotFound, 5},
      {"invalid token", 401, R"({"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16})",
       Code::kAuthFailed, 16},
      {"bad password", 400,
       R"({"error":"etcdserver: authentication failed, invalid user ID or password","message":"etcdserver: authentication failed, invalid user ID or password","code":3})",
       Code::kAuthFailed, 3},
      {"no leader", 503, R"({"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14})",
       Code::kUnavailable, 14},
      {"request timed out", 504,
       R"({"error":"etcdserver: request timed out","message":"etcdserver: request timed out","code":4})",
       Code::kUnavailable, 4},
      {"bad argument", 400, R"({"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3})",
       Code::kEtcdError, 3},
      {"not json 502", 502, "<html>bad gateway</html>", Code::kUnavailable, 0},
      {"not json 404", 404, "404 page not found", Code::kEtcdError, 0},
      {"stream error", 0,
       R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}})",
       Code::kUnavailable, 14},
  };
  for (const auto& c : cases) {
    const EtcdStatus status = codec::parse_error_body(c.http_status, c.body);
    EXPECT_EQ(status.code(), c.code) << c.name << ": " << status.to_string();
    EXPECT_EQ(status.grpc_code(), c.grpc_code) << c.name;
    EXPECT_FALSE(status.message().empty()) << c.name;
  }
  // Every parser turns an error body into its status rather than an empty success.
  const std::string lease_gone = cases[0].body;
  EXPECT_EQ(codec::parse_lease_revoke_response(lease_gone).status().code(), Code::kLeaseNotFound);
  EXPECT_EQ(codec::parse_range_response(lease_gone).status().code(), Code::kLeaseNotFound);
  EXPECT_EQ(codec::parse_watch_message(cases.back().body).status().code(), Code::kUnavailable);
  EXPECT_EQ(codec::parse_range_response("not json").status().code(), Code::kBadResponse);
  EXPECT_EQ(codec::parse_range_response(R"({"kvs":[{"key":"!!"}]})").status().code(), Code::kBadResponse);
  EXPECT_EQ(codec::parse_range_response(R"({"header":{"revision":"x"}})").status().code(), Code::kBadResponse);
}

TEST(EtcdCodec, ErrorTextsCarryNoControlBytes) {
  // What etcd (or whatever answers on its port) sends ends up in log lines and REST replies.
  const std::string raw("boom\x1b[31m\n\0forged line\r\n", 24);
  const std::string json_error =
      R"({"error":"x","message":"etcdserver: lease not found\u001b[31m\n\u0000forged line","code":5})";
  const std::string stream_error =
      R"({"error":{"grpc_code":14,"http_code":503,"message":"no leader\u001b]0;x\u0007\r\n","http_status":"x"}})";
  const EtcdStatus statuses[] = {
      codec::parse_error_body(500, raw),
      codec::parse_error_body(404, raw),
      codec::parse_error_body(400, json_error),
      codec::parse_error_body(0, stream_error),
      codec::parse_range_response(raw).status(),
      codec::parse_watch_message(stream_error).status(),
      // A lease grant refused in the reply's own "error" field, not in an error body.
      codec::parse_lease_grant_response(R"({"header":{},"ID":"1","error":"lessor\u001b[31m\nforged line"})").status(),
  };
  for (const EtcdStatus& status : statuses) {
    const std::string text = status.to_string();
    EXPECT_FALSE(testing::has_control_bytes(text)) << text;
  }
  // The code is still judged on what etcd said.
  EXPECT_EQ(statuses[2].code(), Code::kLeaseNotFound);
  EXPECT_EQ(statuses[2].message(), "etcdserver: lease not found.[31m..forged line");
  EXPECT_EQ(statuses[0].message(), "HTTP 500: boom.[31m..forged line..");
  EXPECT_EQ(statuses[6].code(), Code::kEtcdError);
  EXPECT_EQ(statuses[6].message(), "lessor.[31m.forged line");
}

TEST(EtcdCodec, TxnRequestShape) {
  const std::string body = codec::txn_request({Compare::create_revision_equals("/s/leader", 0)},
                                              {TxnOp::put("/s/leader", "node1", 7586366012445564191)},
                                              {TxnOp::range("/s/leader")});
  const json expected = json::parse(R"({
    "compare":[{"key":"L3MvbGVhZGVy","target":"CREATE","result":"EQUAL","create_revision":"0"}],
    "success":[{"request_put":{"key":"L3MvbGVhZGVy","value":"bm9kZTE=","lease":"7586366012445564191"}}],
    "failure":[{"request_range":{"key":"L3MvbGVhZGVy"}}]})");
  EXPECT_EQ(json::parse(body), expected) << body;

  const json by_value = json::parse(codec::txn_request({Compare::value_equals("k", "v")}, {TxnOp::delete_key("k")}, {}));
  EXPECT_EQ(by_value["compare"][0], json::parse(R"({"key":"aw==","target":"VALUE","result":"EQUAL","value":"dg=="})"));
  EXPECT_EQ(by_value["success"][0], json::parse(R"({"request_delete_range":{"key":"aw=="}})"));
  EXPECT_EQ(by_value["failure"], json::array());

  const json by_mod = json::parse(codec::txn_request({Compare::mod_revision_equals("k", 17)}, {}, {}));
  EXPECT_EQ(by_mod["compare"][0], json::parse(R"({"key":"aw==","target":"MOD","result":"EQUAL","mod_revision":"17"})"));
}

TEST(EtcdCodec, OtherRequestShapes) {
  struct Case {
    const char* name;
    std::string body;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"range", codec::range_request("a"), R"({"key":"YQ=="})"},
      {"range prefix", codec::range_request("a/", codec::prefix_range_end("a/")), R"({"key":"YS8=","range_end":"YTA="})"},
      {"put", codec::put_request("a", "b"), R"({"key":"YQ==","value":"Yg=="})"},
      {"put with lease", codec::put_request("a", "", 5), R"({"key":"YQ==","value":"","lease":"5"})"},
      {"delete", codec::delete_range_request("a"), R"({"key":"YQ=="})"},
      {"grant", codec::lease_grant_request(10), R"({"TTL":"10"})"},
      {"keepalive", codec::lease_keepalive_request(7586366012445564191), R"({"ID":"7586366012445564191"})"},
      {"revoke", codec::lease_revoke_request(9), R"({"ID":"9"})"},
      {"watch from now", codec::watch_create_request("a/", "a0", 0, false),
       R"({"create_request":{"key":"YS8=","range_end":"YTA="}})"},
      {"watch from revision", codec::watch_create_request("a", "", 12, true),
       R"({"create_request":{"key":"YQ==","start_revision":"12","progress_notify":true}})"},
      {"authenticate", codec::authenticate_request("root", "pw"), R"({"name":"root","password":"pw"})"},
  };
  for (const auto& c : cases) EXPECT_EQ(json::parse(c.body), json::parse(c.expected)) << c.name << ": " << c.body;
}

TEST(EtcdCodec, WatchMessages) {
  auto created = codec::parse_watch_message(R"({"result":{"header":{"revision":"3"},"created":true}})");
  ASSERT_TRUE(created);
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->revision, 3);
  EXPECT_TRUE(created->events.empty());

  auto events = codec::parse_watch_message(
      R"({"result":{"header":{"revision":"3"},"events":[{"kv":{"key":"YQ==","create_revision":"2","mod_revision":"2","version":"1","value":"Yg=="}},{"type":"DELETE","kv":{"key":"YQ==","mod_revision":"3"}}]}})");
  ASSERT_TRUE(events);
  ASSERT_EQ(events->events.size(), 2u);
  EXPECT_EQ(events->events[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(events->events[0].kv.value, "b");
  EXPECT_EQ(events->events[1].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(events->events[1].kv.key, "a");
  EXPECT_EQ(events->events[1].kv.mod_revision, 3);

  auto compacted = codec::parse_watch_message(R"({"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"5"}})");
  ASSERT_TRUE(compacted);
  EXPECT_TRUE(compacted->canceled);
  EXPECT_EQ(compacted->compact_revision, 5);

  EXPECT_FALSE(codec::parse_watch_message(R"({"result":{"events":[{"type":"BOGUS","kv":{}}]}})"));
  EXPECT_FALSE(codec::parse_watch_message(R"({"header":{}})"));
}

// Numbers a broken or hostile gateway might send: refused with the field named, never converted.
TEST(EtcdCodec, OutOfRangeNumbersAreRefusedByName) {
  struct Case {
    std::string body;
    std::string message;
  };
  const std::vector<Case> range_cases = {
      {R"({"header":{"revision":1e300}})", "malformed range response: 'revision' is 1e+300, not an integer in 0..9223372036854775807"},
      {R"({"header":{"revision":"-3"}})", "'revision' is \"-3\", not an integer in 0.."},
      {R"({"header":{"revision":-3}})", "'revision' is -3, not an integer in 0.."},
      {R"({"header":{"revision":18446744073709551615}})", "'revision' is 18446744073709551615, not an integer"},
      {R"({"header":{"revision":"1"},"count":2.5})", "'count' is 2.5, not an integer"},
      {R"({"header":{"revision":"1"},"kvs":[{"key":"YQ==","create_revision":"2","mod_revision":-1}]})",
       "'mod_revision' is -1"},
      {R"({"header":{"revision":"1"},"kvs":[{"key":"YQ==","lease":9223372036854775808}]})", "'lease' is 9223372036854775808"},
  };
  for (const Case& c : range_cases) {
    auto reply = codec::parse_range_response(c.body);
    ASSERT_FALSE(reply) << c.body;
    EXPECT_EQ(reply.status().code(), Code::kBadResponse) << c.body;
    EXPECT_NE(reply.status().message().find(c.message), std::string::npos) << reply.status().message();
  }
  auto keepalive = codec::parse_lease_keepalive_response(R"({"result":{"ID":"77","TTL":-5}})");
  ASSERT_FALSE(keepalive);
  EXPECT_NE(keepalive.status().message().find("malformed keepalive response: 'TTL' is -5"), std::string::npos)
      << keepalive.status().message();
  auto grant = codec::parse_lease_grant_response(R"({"ID":1e19,"TTL":"5"})");
  ASSERT_FALSE(grant);
  EXPECT_NE(grant.status().message().find("'ID' is 1e+19"), std::string::npos) << grant.status().message();
  auto watch = codec::parse_watch_message(R"({"result":{"header":{"revision":"3"},"watch_id":"0","compact_revision":-2}})");
  ASSERT_FALSE(watch);
  EXPECT_NE(watch.status().message().find("'compact_revision' is -2"), std::string::npos) << watch.status().message();
  // etcd's own "no watch" id is -1 (a failed creation): accepted.
  EXPECT_TRUE(codec::parse_watch_message(R"({"result":{"header":{"revision":"3"},"watch_id":"-1","canceled":true}})"));
  // An error body with an absurd code still gives an error, with the code left at 0.
  for (const char* code : {"1e300", "99999999999", "-14"}) {
    const EtcdStatus error =
        codec::parse_error_body(400, std::string(R"({"error":"boom","message":"boom","code":)") + code + "}");
    EXPECT_EQ(error.code(), Code::kEtcdError) << code;
    EXPECT_EQ(error.grpc_code(), 0) << code;
    EXPECT_EQ(error.message(), "boom");
  }
}

}  // namespace
}  // namespace pgha::election
