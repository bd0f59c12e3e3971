// CheckState: HAProxy's health counter (check.c, set_server_check_status) and interval choice
// (srv_getinter), with pgha's initial states. See check_state.h for the rules.
#include "health/check_state.h"

#include <algorithm>

namespace pgha::health {
namespace {

CheckTiming sanitized(CheckTiming t) {
  t.rise = std::max(t.rise, 1);
  t.fall = std::max(t.fall, 1);
  t.inter = std::max(t.inter, Millis{0});
  t.fastinter = std::max(t.fastinter, Millis{0});
  t.downinter = std::max(t.downinter, Millis{0});
  return t;
}

int full_health(const CheckTiming& t) { return t.rise + t.fall - 1; }

int initial_health(const CheckTiming& t, InitialState initial) {
  switch (initial) {
    case InitialState::kUp:
      return full_health(t);
    case InitialState::kDown:
      return 0;
    case InitialState::kUpUntilFirstFailure:
      return t.rise;
    case InitialState::kDownUntilFirstCheck:
      break;
  }
  // One success reaches rise (→ UP, full health); one failure drops to 0.
  return t.rise - 1;
}

}  // namespace

CheckState::CheckState(const CheckTiming& timing, InitialState initial)
    : timing_(sanitized(timing)),
      up_(initial == InitialState::kUp || initial == InitialState::kUpUntilFirstFailure),
      first_pending_(initial == InitialState::kDownUntilFirstCheck),
      health_(initial_health(timing_, initial)) {}

Transition CheckState::on_result(bool healthy) {
  checked_ = true;
  first_pending_ = false;
  const bool was_up = up_;
  const int full = full_health(timing_);
  if (healthy) {
    ++consecutive_successes_;
    consecutive_failures_ = 0;
    if (health_ < full) {
      ++health_;
      if (health_ >= timing_.rise) health_ = full;
    }
    if (health_ >= timing_.rise) up_ = true;
  } else {
    ++consecutive_failures_;
    consecutive_successes_ = 0;
    if (health_ > 0) {
      --health_;
      if (health_ < timing_.rise) health_ = 0;
    }
    if (health_ == 0) up_ = false;
  }
  if (up_ && !was_up) return Transition::kWentUp;
  if (!up_ && was_up) return Transition::kWentDown;
  return Transition::kNone;
}

Transition CheckState::on_observed_errors(OnError action) {
  switch (action) {
    case OnError::kFastinter:
      return Transition::kNone;
    case OnError::kFailCheck:
      return on_result(false);
    case OnError::kSuddenDeath:
      // HAProxy: "a pre-fatal failed health check": one more failure marks the server DOWN.
      if (up_ && health_ > timing_.rise) health_ = timing_.rise;
      return Transition::kNone;
    case OnError::kMarkDown:
      break;
  }
  const bool was_up = up_;
  health_ = 0;
  up_ = false;
  consecutive_successes_ = 0;
  return was_up ? Transition::kWentDown : Transition::kNone;
}

Millis CheckState::next_interval() const {
  if (first_pending_) return Millis{0};
  const Millis inter = timing_.inter;
  if (up_ && health_ == full_health(timing_)) return inter;
  if (!up_ && health_ == 0) return timing_.downinter.count() > 0 ? timing_.downinter : inter;
  return timing_.fastinter.count() > 0 ? timing_.fastinter : inter;
}

}  // namespace pgha::health
