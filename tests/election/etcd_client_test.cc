// EtcdClient against a real single-member etcd 3.4 started by the fixture on free loopback
// ports: KV and txn round trips, leases (revoke, keepalive, expiry), watch (order, resume,
// stream break, prompt stop), endpoint failover and call deadlines, authentication.
#include "election/etcd_client.h"

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/election/etcd_process.h"
#include "tests/election/tcp_forwarder.h"
#include "tests/support/test_servers.h"

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Code = EtcdStatus::Code;
using pgha::test::elapsed_since;
using pgha::test::eventually;

// Collects watch events from the watch thread.
class EventLog {
 public:
  WatchCallback callback() {
    return [this](const WatchResponse& response) {
      std::lock_guard lock(mutex_);
      for (const auto& event : response.events) {
        entries_.push_back((event.type == WatchEvent::Type::kPut ? "PUT " : "DELETE ") + event.kv.key +
                           (event.type == WatchEvent::Type::kPut ? "=" + event.kv.value : ""));
        revisions_.push_back(event.kv.mod_revision);
      }
    };
  }
  std::vector<std::string> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }
  std::vector<std::int64_t> revisions() const {
    std::lock_guard lock(mutex_);
    return revisions_;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> entries_;
  std::vector<std::int64_t> revisions_;
};

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { etcd_ = std::make_unique<test::EtcdProcess>(); }
  static void TearDownTestSuite() { etcd_.reset(); }

  static EtcdClientOptions options_for(std::vector<std::string> endpoints) {
    EtcdClientOptions options;
    options.endpoints = std::move(endpoints);
    options.call_timeout = 2000ms;
    return options;
  }
  static EtcdClient live_client() { return EtcdClient(options_for({etcd_->endpoint()})); }
  // A prefix of its own per test, so tests sharing the etcd do not see each other's keys.
  static std::string prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string("/pgha-test/") + info->name() + "/";
  }

  static std::unique_ptr<test::EtcdProcess> etcd_;
};

std::unique_ptr<test::EtcdProcess> EtcdClientTest::etcd_;

TEST_F(EtcdClientTest, PutAndRangeRoundTrip) {
  EtcdClient client = live_client();
  const std::string key = prefix() + "binary";
  const std::string value("\0\x01\xffvalue\n", 9);
  auto put = client.put(key, value);
  ASSERT_TRUE(put) << put.status().to_string();

  auto got = client.range(key);
  ASSERT_TRUE(got) << got.status().to_string();
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].key, key);
  EXPECT_EQ(got->kvs[0].value, value);
  EXPECT_EQ(got->kvs[0].create_revision, *put);
  EXPECT_EQ(got->kvs[0].mod_revision, *put);
  EXPECT_EQ(got->kvs[0].version, 1);
  EXPECT_EQ(got->kvs[0].lease, 0);
  EXPECT_GE(got->revision, *put);

  auto empty_value = client.put(key, "");
  ASSERT_TRUE(empty_value);
  got = client.range(key);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->kvs.at(0).value, "");
  EXPECT_EQ(got->kvs.at(0).version, 2);

  auto absent = client.range(prefix() + "absent");
  ASSERT_TRUE(absent) << absent.status().to_string();
  EXPECT_TRUE(absent->kvs.empty());

  ASSERT_TRUE(client.put(prefix() + "members/a", "1"));
  ASSERT_TRUE(client.put(prefix() + "members/b", "2"));
  ASSERT_TRUE(client.put(prefix() + "members0", "sibling, not under the prefix"));
  auto members = client.range_prefix(prefix() + "members/");
  ASSERT_TRUE(members);
  ASSERT_EQ(members->kvs.size(), 2u);
  EXPECT_EQ(members->kvs[0].key, prefix() + "members/a");
  EXPECT_EQ(members->kvs[1].value, "2");

  auto deleted = client.delete_key(prefix() + "members/a");
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->deleted, 1);
  deleted = client.delete_key(prefix() + "members/a");
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->deleted, 0);

  // etcd's own rejection comes back as an etcd error, not as a transport failure.
  auto rejected = client.put("", "no key");
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.status().code(), Code::kEtcdError) << rejected.status().to_string();
  EXPECT_NE(rejected.status().message().find("key is not provided"), std::string::npos);
}

TEST_F(EtcdClientTest, CreateIfAbsentSucceedsOnceAndConditionalWritesCheckValues) {
  EtcdClient client = live_client();
  const std::string leader = prefix() + "leader";
  auto first = client.create_if_absent(leader, "node1");
  ASSERT_TRUE(first) << first.status().to_string();

  auto second = client.create_if_absent(leader, "node2");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.status().code(), Code::kTxnFailed);
  EXPECT_NE(second.status().message().find("node1"), std::string::npos) << second.status().to_string();
  EXPECT_EQ(client.range(leader)->kvs.at(0).value, "node1");

  auto wrong_swap = client.compare_and_swap(leader, "node2", "node3");
  ASSERT_FALSE(wrong_swap);
  EXPECT_EQ(wrong_swap.status().code(), Code::kTxnFailed);
  auto swap = client.compare_and_swap(leader, "node1", "node3");
  ASSERT_TRUE(swap) << swap.status().to_string();
  EXPECT_EQ(client.range(leader)->kvs.at(0).value, "node3");

  auto wrong_delete = client.delete_if_value(leader, "node1");
  ASSERT_FALSE(wrong_delete);
  EXPECT_EQ(wrong_delete.status().code(), Code::kTxnFailed);
  EXPECT_EQ(client.range(leader)->kvs.size(), 1u);
  ASSERT_TRUE(client.delete_if_value(leader, "node3"));
  EXPECT_TRUE(client.range(leader)->kvs.empty());

  // Once the key is gone, the next owner can take it.
  ASSERT_TRUE(client.create_if_absent(leader, "node2"));
  EXPECT_EQ(client.range(leader)->kvs.at(0).value, "node2");
}

TEST_F(EtcdClientTest, RevokedLeaseTakesItsKeyAlong) {
  EtcdClient client = live_client();
  auto lease = client.lease_grant(30s);
  ASSERT_TRUE(lease) << lease.status().to_string();
  EXPECT_EQ(lease->ttl, 30);
  const std::string key = prefix() + "leader";
  ASSERT_TRUE(client.create_if_absent(key, "node1", lease->id));
  auto held = client.range(key);
  ASSERT_TRUE(held);
  ASSERT_EQ(held->kvs.size(), 1u);
  EXPECT_EQ(held->kvs[0].lease, lease->id);

  EXPECT_TRUE(client.lease_revoke(lease->id).ok());
  auto gone = client.range(key);
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->kvs.empty());

  const EtcdStatus again = client.lease_revoke(lease->id);
  EXPECT_EQ(again.code(), Code::kLeaseNotFound) << again.to_string();
  auto keepalive = client.lease_keepalive(lease->id);
  ASSERT_TRUE(keepalive) << keepalive.status().to_string();
  EXPECT_EQ(*keepalive, 0);
  auto put_on_dead_lease = client.put(key, "x", lease->id);
  ASSERT_FALSE(put_on_dead_lease);
  EXPECT_EQ(put_on_dead_lease.status().code(), Code::kLeaseNotFound);
}

TEST_F(EtcdClientTest, KeepaliveHoldsTheLeaseWhileAnIdleLeaseExpires) {
  EtcdClient client = live_client();
  auto kept = client.lease_grant(2s);
  auto idle = client.lease_grant(2s);
  ASSERT_TRUE(kept && idle);
  ASSERT_TRUE(client.put(prefix() + "kept", "1", kept->id));
  ASSERT_TRUE(client.put(prefix() + "idle", "1", idle->id));

  // Refresh one lease for twice its TTL; the other one must expire and take its key along.
  const auto start = Clock::now();
  bool idle_key_gone = false;
  while (Clock::now() - start < 4s || !idle_key_gone) {
    ASSERT_LT(elapsed_since(start), 10s) << "the idle lease never expired";
    auto ttl = client.lease_keepalive(kept->id);
    ASSERT_TRUE(ttl) << ttl.status().to_string();
    EXPECT_EQ(*ttl, 2);
    auto idle_key = client.range(prefix() + "idle");
    ASSERT_TRUE(idle_key);
    idle_key_gone = idle_key->kvs.empty();
    std::this_thread::sleep_for(300ms);
  }
  auto kept_key = client.range(prefix() + "kept");
  ASSERT_TRUE(kept_key);
  EXPECT_EQ(kept_key->kvs.size(), 1u) << "the refreshed lease expired";
  auto idle_ttl = client.lease_keepalive(idle->id);
  ASSERT_TRUE(idle_ttl);
  EXPECT_EQ(*idle_ttl, 0);

  // Left alone, the kept lease expires too (polled with a deadline).
  EXPECT_TRUE(eventually([&] {
    auto got = client.range(prefix() + "kept");
    return got && got->kvs.empty();
  }, 6000ms));
}

TEST_F(EtcdClientTest, WatchSeesEventsInOrderAndResumesAfterStopStart) {
  EtcdClient client = live_client();
  EventLog seen;
  auto watch = client.watch(prefix(), 0, seen.callback());
  ASSERT_TRUE(eventually([&] { return watch->connected(); }));

  ASSERT_TRUE(client.put(prefix() + "a", "1"));
  ASSERT_TRUE(client.put("/pgha-test/elsewhere", "not watched"));
  ASSERT_TRUE(client.put(prefix() + "b", "2"));
  ASSERT_TRUE(client.delete_key(prefix() + "a"));
  ASSERT_TRUE(eventually([&] { return seen.size() >= 3; }));
  EXPECT_EQ(seen.entries(), (std::vector<std::string>{"PUT " + prefix() + "a=1", "PUT " + prefix() + "b=2",
                                                      "DELETE " + prefix() + "a"}));
  const auto revisions = seen.revisions();
  EXPECT_TRUE(std::is_sorted(revisions.begin(), revisions.end()));
  EXPECT_EQ(watch->next_revision(), revisions.back() + 1);

  // Stopped: changes made now are picked up by a watch started from where the old one ended.
  const std::int64_t resume_from = watch->next_revision();
  watch.reset();
  ASSERT_TRUE(client.put(prefix() + "c", "3"));
  ASSERT_TRUE(client.delete_key(prefix() + "b"));
  EventLog resumed;
  auto second = client.watch(prefix(), resume_from, resumed.callback());
  ASSERT_TRUE(eventually([&] { return resumed.size() >= 2; }));
  EXPECT_EQ(resumed.entries(), (std::vector<std::string>{"PUT " + prefix() + "c=3", "DELETE " + prefix() + "b"}));
}

TEST_F(EtcdClientTest, WatchReopensABrokenStreamFromTheNextRevision) {
  test::TcpForwarder forwarder(etcd_->client_port());
  EtcdClient direct = live_client();
  EtcdClient via_forwarder(options_for({forwarder.endpoint()}));
  EventLog seen;
  auto watch = via_forwarder.watch(prefix(), 0, seen.callback());
  ASSERT_TRUE(eventually([&] { return watch->connected(); }));
  ASSERT_TRUE(direct.put(prefix() + "k1", "before"));
  ASSERT_TRUE(eventually([&] { return seen.size() == 1; }));

  // Break the stream and keep it broken while k2 is written: only a watch that reopens from
  // the revision after k1 can see k2 (one reopened "from now" would miss it).
  forwarder.cut_and_refuse();
  ASSERT_TRUE(eventually([&] { return !watch->connected(); }));
  ASSERT_TRUE(direct.put(prefix() + "k2", "while broken"));
  forwarder.resume();
  ASSERT_TRUE(eventually([&] { return seen.size() >= 2; }));
  std::this_thread::sleep_for(200ms);  // let a duplicate of k1, if any, arrive (it must not)
  EXPECT_EQ(seen.entries(), (std::vector<std::string>{"PUT " + prefix() + "k1=before", "PUT " + prefix() + "k2=while broken"}));
  EXPECT_GE(watch->streams_opened(), 2);
}

TEST_F(EtcdClientTest, WatchFailsOverToALiveEndpointAndStopsPromptly) {
  const std::uint16_t closed_port = test::free_loopback_port();
  EtcdClient client(options_for({"http://127.0.0.1:" + std::to_string(closed_port), etcd_->endpoint()}));
  EventLog seen;
  auto watch = client.watch(prefix(), 0, seen.callback());
  ASSERT_TRUE(eventually([&] { return watch->connected(); }));
  ASSERT_TRUE(client.put(prefix() + "x", "1"));
  ASSERT_TRUE(eventually([&] { return seen.size() == 1; }));

  // Idle stream (its read timeout is a minute): stop must not wait for data.
  const auto start = Clock::now();
  watch->stop();
  EXPECT_LT(elapsed_since(start), 500ms);
  EXPECT_FALSE(watch->connected());
}

TEST_F(EtcdClientTest, DeadEndpointIsSkippedQuicklyAndTheLiveOneRemembered) {
  const std::string dead = "http://127.0.0.1:" + std::to_string(test::free_loopback_port());
  EtcdClient client(options_for({dead, etcd_->endpoint()}));
  EXPECT_EQ(client.active_endpoint(), dead);
  const auto start = Clock::now();
  auto put = client.put(prefix() + "k", "v");
  ASSERT_TRUE(put) << put.status().to_string();
  EXPECT_LT(elapsed_since(start), 300ms);
  EXPECT_EQ(client.active_endpoint(), etcd_->endpoint());
  auto got = client.range(prefix() + "k");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->kvs.at(0).value, "v");

  EtcdClient nowhere(options_for({dead, "http://127.0.0.1:" + std::to_string(test::free_loopback_port())}));
  const auto refused_start = Clock::now();
  auto refused = nowhere.range(prefix() + "k");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.status().code(), Code::kUnreachable) << refused.status().to_string();
  EXPECT_LT(elapsed_since(refused_start), 300ms);
}

TEST_F(EtcdClientTest, SilentEndpointFailsWithinTheDeadline) {
  test::SilentServer silent;
  EtcdClientOptions options = options_for({"http://127.0.0.1:" + std::to_string(silent.port())});
  options.call_timeout = 600ms;
  EtcdClient client(options);
  const auto start = Clock::now();
  auto got = client.range(prefix() + "k");
  const auto elapsed = elapsed_since(start);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), Code::kTimeout) << got.status().to_string();
  EXPECT_GE(elapsed, 500ms);
  EXPECT_LT(elapsed, 600ms + 250ms);

  // A per-call deadline overrides the default.
  const auto short_start = Clock::now();
  auto short_call = client.lease_keepalive(1, 200ms);
  EXPECT_EQ(short_call.status().code(), Code::kTimeout);
  EXPECT_LT(elapsed_since(short_start), 200ms + 250ms);
}

TEST_F(EtcdClientTest, SilentEndpointLeavesTimeForTheNextOne) {
  test::SilentServer silent;
  EtcdClientOptions options = options_for({"http://127.0.0.1:" + std::to_string(silent.port()), etcd_->endpoint()});
  options.call_timeout = 1000ms;
  EtcdClient client(options);
  const auto start = Clock::now();
  auto put = client.put(prefix() + "k", "v");
  const auto elapsed = elapsed_since(start);
  ASSERT_TRUE(put) << put.status().to_string();
  EXPECT_LT(elapsed, 1000ms);
  EXPECT_EQ(client.active_endpoint(), etcd_->endpoint());
  // The next call goes straight to the member that answered.
  const auto second_start = Clock::now();
  ASSERT_TRUE(client.range(prefix() + "k"));
  EXPECT_LT(elapsed_since(second_start), 200ms);
}

// A dedicated etcd: enabling auth would disturb the shared one.
TEST(EtcdClientAuthTest, TokenFromUserAndPasswordIsSentAndRenewed) {
  test::EtcdProcess etcd;
  const std::string etcdctl = "ETCDCTL_API=3 etcdctl --endpoints=" + etcd.endpoint() + " >/dev/null 2>&1 ";
  ASSERT_TRUE(etcd.enable_root_auth("secret"));

  EtcdClientOptions options;
  options.endpoints = {etcd.endpoint()};
  EtcdClient anonymous(options);
  auto refused = anonymous.put("/auth/k", "v");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.status().code(), Code::kAuthFailed) << refused.status().to_string();

  options.username = "root";
  options.password = "wrong";
  EtcdClient wrong(options);
  auto wrong_password = wrong.put("/auth/k", "v");
  ASSERT_FALSE(wrong_password);
  EXPECT_EQ(wrong_password.status().code(), Code::kAuthFailed) << wrong_password.status().to_string();

  options.password = "secret";
  EtcdClient client(options);
  ASSERT_TRUE(client.put("/auth/k", "v"));
  EventLog seen;
  auto watch = client.watch("/auth/", 0, seen.callback());
  ASSERT_TRUE(eventually([&] { return watch->connected(); }));
  ASSERT_TRUE(client.put("/auth/k", "w"));
  ASSERT_TRUE(eventually([&] { return seen.size() == 1; }));

  const std::int64_t resume_from = watch->next_revision();
  watch.reset();  // so that only the call below can notice the stale token

  // Turning auth off and on drops every token etcd gave out: the client authenticates again.
  ASSERT_EQ(std::system((etcdctl + "--user root:secret auth disable").c_str()), 0);
  ASSERT_EQ(std::system((etcdctl + "auth enable").c_str()), 0);
  auto after_reset = client.range("/auth/k");
  ASSERT_TRUE(after_reset) << after_reset.status().to_string();
  EXPECT_EQ(after_reset->kvs.at(0).value, "w");

  // A watch follows across another restart (its stream breaks, it reconnects with a token).
  watch = client.watch("/auth/", resume_from, seen.callback());
  ASSERT_TRUE(eventually([&] { return watch->connected(); }));
  etcd.kill();
  etcd.start();
  ASSERT_TRUE(client.put("/auth/k", "after restart", 0, 3000ms));
  ASSERT_TRUE(eventually([&] { return seen.size() == 2; }));
  EXPECT_EQ(seen.entries().back(), "PUT /auth/k=after restart");
}

}  // namespace
}  // namespace pgha::election
