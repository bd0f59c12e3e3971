// PeerClient: what one agent asks of another member during a switchover — its REST API (is it
// there, what does it say of itself, does it answer 200 on /primary yet), the WAL its PostgreSQL
// has received, forwarding a switchover request to the leader, and asking it to confirm us as
// the leader in failsafe mode. HttpPeerClient is the real one
// (cpp-httplib and libpq, every call bounded by its timeout); HA loop tests use a fake.
//
// Blocking: call from the HA thread or a REST worker thread, never an io thread. Thread-safe
// (no state between calls).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "election/agent_config.h"
#include "election/cluster_view.h"
#include "election/failsafe.h"
#include "election/pg_status.h"
#include "election/rest_api.h"

namespace pgha::election {

// What a member's GET /patroni said.
struct PeerApiState {
  bool reachable = false;
  std::string error;         // why not reachable / not parseable
  std::string state;         // "running", "stopped", ...
  std::string role;          // "replica", "master", "demoted", ...
  bool nofailover = false;
};

class PeerClient {
 public:
  using Millis = std::chrono::milliseconds;
  virtual ~PeerClient() = default;

  virtual PeerApiState api_state(const MemberStatus& member, Millis timeout) = 0;
  // pg_last_wal_receive_lsn() of the member's PostgreSQL (0 when it has received nothing yet).
  virtual PgStatus received_lsn(const MemberStatus& member, Millis timeout, std::int64_t* lsn) = 0;
  // True when the member's REST API answers 200 on /primary.
  virtual bool answers_primary(const MemberStatus& member, Millis timeout) = 0;
  // POST /switchover (or /failover) to `member`, returning its answer; 503 when it did not answer.
  virtual SwitchoverResult forward_switchover(const MemberStatus& member, const SwitchoverRequest& request,
                                              bool failover, Millis timeout) = 0;
  // POST /failsafe (failsafe.h) to the REST API at `api_url`: its answer, 503 when it did not
  // answer.
  virtual FailsafeAnswer confirm_failsafe(const std::string& api_url, const FailsafeBody& body, Millis timeout) = 0;
};

class HttpPeerClient final : public PeerClient {
 public:
  // Uses the config's superuser for PostgreSQL and its REST credentials for forwarded POSTs.
  explicit HttpPeerClient(const AgentConfig& config) : config_(config) {}

  PeerApiState api_state(const MemberStatus& member, Millis timeout) override;
  PgStatus received_lsn(const MemberStatus& member, Millis timeout, std::int64_t* lsn) override;
  bool answers_primary(const MemberStatus& member, Millis timeout) override;
  SwitchoverResult forward_switchover(const MemberStatus& member, const SwitchoverRequest& request, bool failover,
                                      Millis timeout) override;
  FailsafeAnswer confirm_failsafe(const std::string& api_url, const FailsafeBody& body, Millis timeout) override;

 private:
  const AgentConfig& config_;
};

}  // namespace pgha::election
