// PostgresCallbacks with real scripts: which callback each event fires, with Patroni's
// arguments (`<action> <role> <scope>`), once per event; the program looked up in PATH; a clean
// environment; pre_promote's verdict and deadline; before_stop without arguments.
#include "election/postgres_callbacks.h"

#include <stdlib.h>

#include <gtest/gtest.h>

#include "tests/election/hook_scripts.h"

namespace pgha::election {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Lines = std::vector<std::string>;
using test::HookScripts;

PgProbe running(bool in_recovery) {
  PgProbe p;
  p.data_dir_initialized = p.running = p.accepting = true;
  p.in_recovery = in_recovery;
  return p;
}
PgProbe stopped_probe() {
  PgProbe p;
  p.data_dir_initialized = true;
  return p;
}

class PostgresCallbacksTest : public ::testing::Test {
 protected:
  PostgresCallbacksTest() {
    config_.scope = "demo";
    const std::string cb = scripts_.recorder("cb.sh", "events");
    for (const char* event : {"on_start", "on_stop", "on_restart", "on_role_change"}) config_.callbacks[event] = {cb};
    config_.callbacks["on_reload"] = {scripts_.recorder("reload.sh", "reloads")};
  }
  PostgresCallbacks& hooks() {
    if (!hooks_) hooks_ = std::make_unique<PostgresCallbacks>(config_, options());
    return *hooks_;
  }
  PostgresCallbacksOptions options() const {
    PostgresCallbacksOptions o;
    o.log_path = scripts_.path("log/callbacks.log");
    o.run_as = "";  // as this process, also when root (the scripts' directory is private)
    return o;
  }
  // The next event line, waited for (each event is awaited before the next is fired: a newer
  // callback would kill one still running).
  std::string next_event() {
    if (!scripts_.wait_lines("events", seen_ + 1)) return "(none)";
    return scripts_.lines("events")[seen_++];
  }
  // No callback beyond those seen, once the running ones are done.
  bool quiet() {
    EXPECT_TRUE(hooks().wait_idle(10s));
    return scripts_.lines("events").size() == seen_;
  }

  HookScripts scripts_;
  AgentConfig config_;
  std::unique_ptr<PostgresCallbacks> hooks_;
  std::size_t seen_ = 0;
};

TEST_F(PostgresCallbacksTest, EachEventFiresItsCallbackOnceWithPatronisArguments) {
  // The agent starts beside a running primary: on_start, once.
  hooks().observed(running(false));
  EXPECT_EQ(next_event(), "on_start primary demo");
  hooks().observed(running(false));
  EXPECT_TRUE(quiet());
  // Fenced: on_stop as the primary it was.
  hooks().stopped();
  EXPECT_EQ(next_event(), "on_stop primary demo");
  // Started again as a standby: not on_start but on_role_change, once it answers.
  hooks().starting(/*as_primary=*/false, /*running=*/false);
  hooks().observed(stopped_probe());
  EXPECT_TRUE(quiet());
  hooks().observed(running(true));
  EXPECT_EQ(next_event(), "on_role_change replica demo");
  hooks().observed(running(true));
  EXPECT_TRUE(quiet());
  // Pointed at another leader by a reload: on_reload, on its own lane.
  hooks().reloaded();
  ASSERT_TRUE(scripts_.wait_lines("reloads", 1));
  EXPECT_EQ(scripts_.lines("reloads"), Lines{"on_reload replica demo"});
  // Restarted in the same role.
  hooks().starting(/*as_primary=*/false, /*running=*/true);
  hooks().observed(running(true));
  EXPECT_EQ(next_event(), "on_restart replica demo");
  // Promoted.
  hooks().promoted();
  EXPECT_EQ(next_event(), "on_role_change primary demo");
  // Crashed and started again as the primary: on_start.
  hooks().observed(stopped_probe());
  hooks().starting(/*as_primary=*/true, /*running=*/false);
  hooks().observed(running(false));
  EXPECT_EQ(next_event(), "on_start primary demo");
  EXPECT_TRUE(quiet());
  EXPECT_EQ(scripts_.lines("reloads").size(), 1u);
}

TEST_F(PostgresCallbacksTest, AFirstStartFiresOnStartWithTheRoleItCameUpIn) {
  hooks().observed(stopped_probe());
  EXPECT_TRUE(quiet());
  hooks().starting(/*as_primary=*/true, /*running=*/false);  // a standby's data dir stays in recovery
  hooks().observed(running(true));
  EXPECT_EQ(next_event(), "on_start replica demo");
  hooks().promoted();
  EXPECT_EQ(next_event(), "on_role_change primary demo");
}

TEST_F(PostgresCallbacksTest, TheProgramIsLookedUpInPathAndGetsACleanEnvironment) {
  scripts_.script("probe-env.sh", "echo \"$* pw=[$PGPASSWORD] lang=$LANG\" >> '" + scripts_.path("events") + "'");
  config_.callbacks = {{"on_start", {"probe-env.sh", "--flag"}}};
  PostgresCallbacksOptions o = options();
  o.environment = {"PATH=/nonexistent:" + scripts_.dir().string() + ":/usr/bin:/bin", "LANG=C.UTF-8"};
  ::setenv("PGPASSWORD", "secret", 1);
  PostgresCallbacks hooks(config_, o);
  hooks.observed(running(false));
  ASSERT_TRUE(hooks.wait_idle(10s));
  ::unsetenv("PGPASSWORD");
  EXPECT_EQ(next_event(), "--flag on_start primary demo pw=[] lang=C.UTF-8");
}

TEST_F(PostgresCallbacksTest, PrePromoteDecidesWithinItsDeadline) {
  EXPECT_FALSE(hooks().has_pre_promote());
  EXPECT_TRUE(hooks().pre_promote(1s).ok());

  config_.pre_promote = {scripts_.recorder("yes.sh", "pre"), "fence"};
  EXPECT_TRUE(PostgresCallbacks(config_, options()).pre_promote(5s).ok());
  EXPECT_EQ(scripts_.lines("pre"), Lines{"fence"});  // no arguments of its own

  config_.pre_promote = {scripts_.recorder("no.sh", "pre", 3)};
  const PgStatus refused = PostgresCallbacks(config_, options()).pre_promote(5s);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("exited with 3"), std::string::npos) << refused.message();

  config_.pre_promote = {scripts_.sleeper("hung.sh", "pre", "hung.pid", 60)};
  const auto begun = Clock::now();
  const PgStatus hung = PostgresCallbacks(config_, options()).pre_promote(300ms);
  EXPECT_LT(Clock::now() - begun, 3s);
  EXPECT_FALSE(hung.ok());
  EXPECT_NE(hung.message().find("timed out"), std::string::npos) << hung.message();
  EXPECT_FALSE(HookScripts::alive(scripts_.pid_in("hung.pid")));

  config_.pre_promote = {scripts_.path("missing.sh")};
  EXPECT_FALSE(PostgresCallbacks(config_, options()).pre_promote(1s).ok());
}

TEST_F(PostgresCallbacksTest, BeforeStopRunsWithoutArgumentsAndReturnsAtItsDeadline) {
  config_.before_stop = {scripts_.recorder("before.sh", "before", 1)};
  PostgresCallbacks hooks(config_, options());
  EXPECT_TRUE(hooks.has_before_stop());
  hooks.before_stop(5s);  // exit 1 is only logged
  EXPECT_EQ(scripts_.lines("before"), Lines{""});

  config_.before_stop = {scripts_.sleeper("hung.sh", "before", "hung.pid", 60)};
  const auto begun = Clock::now();
  PostgresCallbacks(config_, options()).before_stop(300ms);
  EXPECT_LT(Clock::now() - begun, 3s);
  EXPECT_FALSE(HookScripts::alive(scripts_.pid_in("hung.pid")));
}

}  // namespace
}  // namespace pgha::election
