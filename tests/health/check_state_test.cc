// CheckState against HAProxy's rules (check.c: set_server_check_status, srv_getinter), and
// pgha's initial states. Sequences are strings: 'S' success, 'F' failure.
#include "health/check_state.h"

#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace pgha::health {
namespace {

CheckTiming timing(int rise, int fall) {
  CheckTiming t;
  t.rise = rise;
  t.fall = fall;
  return t;
}

struct SequenceCase {
  std::string name;
  int rise;
  int fall;
  InitialState initial;
  std::string results;         // 'S' / 'F'
  std::string expected_up;     // after each result: 'U' up, 'D' down
  std::vector<int> expected_health;
  std::string transitions;     // after each result: '+' went up, '-' went down, '.' none
};
void PrintTo(const SequenceCase& c, std::ostream* os) { *os << c.name; }

class CheckStateSequence : public ::testing::TestWithParam<SequenceCase> {};

TEST_P(CheckStateSequence, FollowsHaproxyCounters) {
  const SequenceCase& c = GetParam();
  ASSERT_EQ(c.results.size(), c.expected_up.size());
  ASSERT_EQ(c.results.size(), c.expected_health.size());
  ASSERT_EQ(c.results.size(), c.transitions.size());
  CheckState state(timing(c.rise, c.fall), c.initial);
  for (std::size_t i = 0; i < c.results.size(); ++i) {
    const Transition t = state.on_result(c.results[i] == 'S');
    SCOPED_TRACE("after result #" + std::to_string(i + 1) + " '" + c.results[i] + "'");
    EXPECT_EQ(state.up(), c.expected_up[i] == 'U');
    EXPECT_EQ(state.health(), c.expected_health[i]);
    const char got = t == Transition::kWentUp ? '+' : t == Transition::kWentDown ? '-' : '.';
    EXPECT_EQ(got, c.transitions[i]);
  }
}

using IS = InitialState;
INSTANTIATE_TEST_SUITE_P(
    Haproxy, CheckStateSequence,
    ::testing::Values(
        // rise 2, fall 3: health 0..4, UP while health >= 2.
        SequenceCase{"FullUpNeedsFallFailures", 2, 3, IS::kUp, "FFF", "UUD", {3, 2, 0}, "..-"},
        SequenceCase{"OneSuccessWhileGoingDownRestoresFullHealth", 2, 3, IS::kUp, "FFSFF", "UUUUU",
                     {3, 2, 4, 3, 2}, "....."},
        SequenceCase{"DownNeedsRiseSuccesses", 2, 3, IS::kDown, "SS", "DU", {1, 4}, ".+"},
        SequenceCase{"FailureWhileGoingUpResetsToZero", 3, 2, IS::kDown, "SSFSSS", "DDDDDU",
                     {1, 2, 0, 1, 2, 4}, ".....+"},
        SequenceCase{"FailureAtZeroStaysZero", 2, 3, IS::kDown, "FF", "DD", {0, 0}, ".."},
        SequenceCase{"SuccessAtFullStaysFull", 2, 3, IS::kUp, "SS", "UU", {4, 4}, ".."},
        SequenceCase{"FlapDownThenUp", 2, 2, IS::kUp, "FFSSFF", "UDDUUD", {2, 0, 1, 3, 2, 0}, ".-.+.-"},
        SequenceCase{"RiseOneFallOne", 1, 1, IS::kUp, "FSFS", "DUDU", {0, 1, 0, 1}, "-+-+"},
        // pgha's default: the first result decides at once.
        SequenceCase{"DownUntilFirstCheckSuccessGoesUpAtOnce", 2, 3, IS::kDownUntilFirstCheck, "SF", "UU",
                     {4, 3}, "+."},
        SequenceCase{"DownUntilFirstCheckFailureStaysDown", 2, 3, IS::kDownUntilFirstCheck, "FSS", "DDU",
                     {0, 1, 4}, "..+"},
        SequenceCase{"DownUntilFirstCheckRiseOne", 1, 3, IS::kDownUntilFirstCheck, "S", "U", {3}, "+"},
        // HAProxy's own default ("up, but will fall down at first failure").
        SequenceCase{"UpUntilFirstFailureGoesDownAtOnce", 2, 3, IS::kUpUntilFirstFailure, "F", "D", {0}, "-"},
        SequenceCase{"UpUntilFirstFailureSuccessFillsHealth", 2, 3, IS::kUpUntilFirstFailure, "SFF", "UUU",
                     {4, 3, 2}, "..."}),
    [](const ::testing::TestParamInfo<SequenceCase>& info) { return info.param.name; });

TEST(CheckState, InitialStates) {
  const CheckTiming t = timing(2, 3);
  struct Case { InitialState initial; bool up; int health; };
  for (const Case& c : {Case{IS::kUp, true, 4}, Case{IS::kDown, false, 0},
                        Case{IS::kDownUntilFirstCheck, false, 1}, Case{IS::kUpUntilFirstFailure, true, 2}}) {
    CheckState state(t, c.initial);
    SCOPED_TRACE(static_cast<int>(c.initial));
    EXPECT_EQ(state.up(), c.up);
    EXPECT_EQ(state.health(), c.health);
    EXPECT_FALSE(state.checked());
    EXPECT_EQ(state.consecutive_failures(), 0);
    EXPECT_EQ(state.consecutive_successes(), 0);
  }
  EXPECT_FALSE(CheckState(t).up()) << "default initial state is DOWN until the first check";
}

TEST(CheckState, CountsConsecutiveResults) {
  CheckState state(timing(2, 3), IS::kUp);
  state.on_result(false);
  state.on_result(false);
  EXPECT_TRUE(state.checked());
  EXPECT_EQ(state.consecutive_failures(), 2);
  EXPECT_EQ(state.consecutive_successes(), 0);
  state.on_result(true);
  EXPECT_EQ(state.consecutive_failures(), 0);
  EXPECT_EQ(state.consecutive_successes(), 1);
  state.on_result(true);
  EXPECT_EQ(state.consecutive_successes(), 2);
}

// srv_getinter: inter at full health, downinter when DOWN at 0, fastinter in between;
// fastinter and downinter default to inter.
struct IntervalCase {
  std::string name;
  InitialState initial;
  std::string results;
  int fastinter_ms;
  int downinter_ms;
  int expected_ms;
};
void PrintTo(const IntervalCase& c, std::ostream* os) { *os << c.name; }

class CheckStateInterval : public ::testing::TestWithParam<IntervalCase> {};

TEST_P(CheckStateInterval, PicksHaproxyInterval) {
  const IntervalCase& c = GetParam();
  CheckTiming t = timing(2, 3);
  t.inter = Millis{2000};
  t.fastinter = Millis{c.fastinter_ms};
  t.downinter = Millis{c.downinter_ms};
  CheckState state(t, c.initial);
  for (char r : c.results) state.on_result(r == 'S');
  EXPECT_EQ(state.next_interval(), Millis{c.expected_ms});
}

INSTANTIATE_TEST_SUITE_P(
    Haproxy, CheckStateInterval,
    ::testing::Values(
        IntervalCase{"UpFullUsesInter", IS::kUp, "", 500, 5000, 2000},
        IntervalCase{"UpFullAfterSuccessUsesInter", IS::kUp, "FS", 500, 5000, 2000},
        IntervalCase{"GoingDownUsesFastinter", IS::kUp, "F", 500, 5000, 500},
        IntervalCase{"GoingDownFastinterDefaultsToInter", IS::kUp, "F", 0, 5000, 2000},
        IntervalCase{"DownUsesDowninter", IS::kUp, "FFF", 500, 5000, 5000},
        IntervalCase{"DownDowninterDefaultsToInter", IS::kDown, "", 500, 0, 2000},
        IntervalCase{"GoingUpUsesFastinter", IS::kDown, "S", 500, 5000, 500},
        IntervalCase{"HaproxyDefaultStartUsesFastinter", IS::kUpUntilFirstFailure, "", 500, 5000, 500},
        IntervalCase{"FirstCheckIsImmediate", IS::kDownUntilFirstCheck, "", 500, 5000, 0},
        IntervalCase{"AfterFirstFailureUsesDowninter", IS::kDownUntilFirstCheck, "F", 500, 5000, 5000},
        IntervalCase{"AfterFirstSuccessUsesInter", IS::kDownUntilFirstCheck, "S", 500, 5000, 2000}),
    [](const ::testing::TestParamInfo<IntervalCase>& info) { return info.param.name; });

// "observe layer4" with on-error (HAProxy's check.c: check_notify_failure and friends), from a
// server UP with full health (rise 2, fall 3: health 4).
TEST(CheckState, ObservedErrorsApplyTheOnErrorAction) {
  {
    CheckState s(timing(2, 3), InitialState::kUp);
    EXPECT_EQ(s.on_observed_errors(OnError::kFastinter), Transition::kNone);
    EXPECT_EQ(s.health(), 4);
    EXPECT_TRUE(s.up());
  }
  {
    CheckState s(timing(2, 3), InitialState::kUp);
    EXPECT_EQ(s.on_observed_errors(OnError::kFailCheck), Transition::kNone);
    EXPECT_EQ(s.health(), 3) << "counts as one failed check";
    EXPECT_EQ(s.on_observed_errors(OnError::kFailCheck), Transition::kNone);
    EXPECT_EQ(s.on_observed_errors(OnError::kFailCheck), Transition::kWentDown);
  }
  {
    CheckState s(timing(2, 3), InitialState::kUp);
    EXPECT_EQ(s.on_observed_errors(OnError::kSuddenDeath), Transition::kNone);
    EXPECT_TRUE(s.up());
    EXPECT_EQ(s.on_result(false), Transition::kWentDown) << "one failed check from DOWN";
  }
  {
    CheckState s(timing(2, 3), InitialState::kUp);
    EXPECT_EQ(s.on_observed_errors(OnError::kMarkDown), Transition::kWentDown);
    EXPECT_EQ(s.health(), 0);
    EXPECT_EQ(s.on_result(true), Transition::kNone) << "rise successes bring it back";
    EXPECT_EQ(s.on_result(true), Transition::kWentUp);
    EXPECT_EQ(s.on_observed_errors(OnError::kMarkDown), Transition::kWentDown);
    EXPECT_EQ(s.on_observed_errors(OnError::kMarkDown), Transition::kNone) << "already DOWN";
  }
}

TEST(CheckState, ThresholdsBelowOneActAsOne) {
  CheckState state(timing(0, 0), IS::kUp);
  EXPECT_EQ(state.health(), 1);
  EXPECT_EQ(state.on_result(false), Transition::kWentDown);
  EXPECT_EQ(state.on_result(true), Transition::kWentUp);
}

}  // namespace
}  // namespace pgha::health
