// Failsafe mode (Patroni's failsafe_mode, in the /config key): when etcd cannot be reached, a
// leader stays primary only while every member it knows confirms, over REST (POST /failsafe),
// that it still takes it for the primary; otherwise it fences as without failsafe mode.
//
// The pieces, beside the HA loop:
//  - the /failsafe key ({"member": "api_url", ...}): the leader writes the members it must ask,
//    so that everyone agrees on who they are when etcd is gone; a member not in it never
//    campaigns while failsafe mode is on;
//  - FailsafeBody: what the leader posts (its name, conn_url, api_url), as Patroni posts it;
//  - FailsafeWitness: a member's memory of the confirmations it gave. A member that confirmed a
//    leader within ttl does not campaign, so a leader whose round of confirmations started at T
//    may stay writable until T + ttl (less a margin) whatever etcd says of its lease: everyone who
//    confirmed did so after T and holds back until at least T + ttl. Confirming and campaigning
//    exclude each other: once the HA thread decided to campaign, a confirmation is refused (the
//    leader then fences), and a confirmation given just before the campaign stops it.
//
// Thread-safety: the codec functions are pure; FailsafeWitness is thread-safe (REST workers
// confirm, the HA thread campaigns).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace pgha::election {

// The /failsafe key: member name → api_url.
using FailsafeTopology = std::map<std::string, std::string>;

std::string encode_failsafe_topology(const FailsafeTopology& topology);
// nullopt (with `error` saying why) unless the text is a JSON object of strings.
std::optional<FailsafeTopology> decode_failsafe_topology(const std::string& text, std::string* error = nullptr);

// The body of POST /failsafe.
struct FailsafeBody {
  std::string name;
  std::string conn_url;
  std::string api_url;
};
std::string encode_failsafe_body(const FailsafeBody& body);
// nullopt (with `error`) unless the text is a JSON object with a non-empty string "name".
std::optional<FailsafeBody> decode_failsafe_body(const std::string& text, std::string* error = nullptr);

// What POST /failsafe answers: 200 "Accepted", else why not.
struct FailsafeAnswer {
  int http_status = 200;
  std::string message = "Accepted";
};

class FailsafeWitness {
 public:
  using Clock = std::chrono::steady_clock;

  // A leader asks us to confirm it. Refused (500, as Patroni) when we run the primary
  // ("Running as a leader") or have decided to campaign; otherwise remembered with the time.
  FailsafeAnswer confirm(const FailsafeBody& body, bool running_primary, Clock::time_point now = Clock::now());

  // The member we confirmed within `ttl` of `now`, if any.
  std::optional<std::string> confirmed_leader(std::chrono::milliseconds ttl, Clock::time_point now = Clock::now()) const;

  // The HA thread is about to take the leader lock. False when a leader was confirmed within ttl
  // (do not campaign now); true otherwise, and from then on every confirmation is refused until
  // stand_down().
  [[nodiscard]] bool begin_campaign(std::chrono::milliseconds ttl, Clock::time_point now = Clock::now());
  // We neither lead nor campaign any more: confirmations may be given again.
  void stand_down();
  bool campaigning() const;

 private:
  mutable std::mutex mutex_;
  std::optional<Clock::time_point> confirmed_at_;
  std::string confirmed_name_;
  bool campaigning_ = false;
};

}  // namespace pgha::election
