// CheckState: HAProxy's per-server health state machine (the "health" counter of check.c)
// with pgha's configurable initial state. Pure and single-threaded: feed it results, ask it
// whether the server is up and when the next check is due.
//
// HAProxy's rules: health runs 0 .. rise+fall-1; the server is UP while health >= rise.
//  - success: if health < rise+fall-1, health++; whenever health then reaches rise (while DOWN,
//    which brings the server UP, or while UP and going down) it jumps to rise+fall-1.
//  - failure: if health > rise, health-- (still UP, "going down"); otherwise the server goes
//    (or stays) DOWN and health = 0.
//  - next interval: inter when UP and health is full; downinter when DOWN and health == 0;
//    fastinter otherwise (transitional). fastinter/downinter default to inter.
// pgha's initial state kDownUntilFirstCheck: routed as DOWN; the first result decides at once
// (success → UP with full health, failure → DOWN with health 0). See InitialState for the
// others. Thresholds below 1 are treated as 1; timing values below 0 as 0.
#pragma once

#include "health/check_spec.h"

namespace pgha::health {

enum class Transition { kNone, kWentUp, kWentDown };

class CheckState {
 public:
  explicit CheckState(const CheckTiming& timing, InitialState initial = InitialState::kDownUntilFirstCheck);

  Transition on_result(bool healthy);
  // Failed client connects reached the error limit ("observe layer4"): applies the on-error
  // action to the health counter (kFastinter changes nothing; the caller checks at once).
  Transition on_observed_errors(OnError action);

  bool up() const { return up_; }
  bool checked() const { return checked_; }  // at least one result received
  int health() const { return health_; }
  int consecutive_failures() const { return consecutive_failures_; }
  int consecutive_successes() const { return consecutive_successes_; }
  // Delay before the next check after the latest result (or before the first check: 0 when
  // the initial state is kDownUntilFirstCheck).
  Millis next_interval() const;

 private:
  CheckTiming timing_;
  bool up_;
  bool checked_ = false;
  bool first_pending_;
  int health_;
  int consecutive_failures_ = 0;
  int consecutive_successes_ = 0;
};

}  // namespace pgha::health
