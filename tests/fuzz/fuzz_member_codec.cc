// Fuzz target: the codec of Patroni's keys under /<namespace>/<scope>/ (election/member_codec.h)
// over any value another member, Patroni or an operator may have written: decode_member,
// decode_failover, the /status optimes, and decode_cluster over a range read by the etcd codec.
// What is decoded encodes to JSON that decodes to the same again (the agent republishes what it
// read), and every value it cannot read is listed, never fatal. Input: a member name and a
// namespace (FuzzedDataProvider strings), then the value.
#include <cstddef>
#include <cstdint>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include "election/member_codec.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using namespace pgha::election;
using pgha::fuzz::require;

bool same_member(const MemberStatus& a, const MemberStatus& b) {
  return a.name == b.name && a.role == b.role && a.state == b.state && a.conn_url == b.conn_url &&
         a.api_url == b.api_url && a.wal_position == b.wal_position && a.timeline == b.timeline &&
         a.nofailover == b.nofailover;
}

void check_member(const std::string& name, const std::string& json) {
  std::string error;
  const auto member = decode_member(name, json, &error);
  if (!member) {
    require(!error.empty());
    return;
  }
  require(member->wal_position >= 0 && member->timeline >= 0);
  const auto again = decode_member(name, encode_member(*member));
  require(again && same_member(*again, *member));
}

void check_failover(const std::string& json) {
  const auto request = decode_failover(json);
  if (!request) return;
  const auto again = decode_failover(encode_failover(*request));
  require(again && again->leader == request->leader && again->candidate == request->candidate);
}

void check_status_key(const std::string& json) {
  std::string error;
  const std::int64_t optime = decode_leader_optime(json, &error);
  require(optime >= 0);
  require(decode_leader_optime(encode_leader_optime(optime)) == optime);
  const std::int64_t handover = decode_handover_optime(json, &error);
  require(handover >= 0);
  require(decode_handover_optime(encode_handover_optime(handover)) == handover);
}

void check_cluster(const std::string& namespace_, const std::string& scope, const std::string& body) {
  const KeyLayout layout(namespace_, scope);
  const auto range = etcd_codec::parse_range_response(body);
  if (!range) return;
  KeyValue leader;
  const ClusterView view = decode_cluster(layout, *range, &leader);
  require(view.members.size() + view.unreadable.size() <= range->kvs.size());
  for (const MemberStatus& member : view.members) require(member.wal_position >= 0 && member.timeline >= 0);
  if (view.leader) require(leader.key == layout.leader() && leader.value == *view.leader);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  const std::string name = input.ConsumeRandomLengthString(64);
  const std::string namespace_ = input.ConsumeRandomLengthString(32);
  const std::string value = input.ConsumeRemainingBytesAsString();
  check_member(name, value);
  check_failover(value);
  check_status_key(value);
  check_cluster(namespace_, name, value);
  (void)host_port_of_conn_url(value);
  return 0;
}
