// PostgresCallbacks: Patroni's hooks around the local PostgreSQL, for the HA loop.
//
// Callbacks (postgresql.callbacks): on_start, on_stop, on_restart, on_reload, on_role_change run
// asynchronously with three arguments appended, `<action> <role> <scope>` (role: primary,
// replica, demoted or uninitialized, as Patroni 3 names them). One event fires one callback:
//   on_start        PostgreSQL came up after the agent started it (the role is what it came up
//                   as), or the agent found it already running when it started
//   on_restart      it came up again after the agent restarted it in the same role
//   on_stop         the agent stopped it (a planned stop, or a fencing demotion: role primary)
//   on_role_change  it was promoted (primary), or a former primary came up as a standby (replica)
//   on_reload       the agent reloaded its configuration (a replica pointed at a new leader)
// A start's callback fires when the loop next sees PostgreSQL answer, with the role it answers
// in, as Patroni fires it once the start completes. Callbacks run on CallbackRunner threads (one
// for on_reload, one for the rest, as in Patroni): a newer one kills the one still running, and
// each is killed at postgresql.callback_timeout.
//
// Hooks (postgresql.pre_promote, postgresql.before_stop) run synchronously, with no arguments,
// under the deadline the caller gives (the HA loop keeps it within retry_timeout and its fencing
// deadline): pre_promote's outcome decides whether the promotion goes ahead (a non-zero exit, a
// kill at the deadline or a failure to start all say no); before_stop's is only logged.
//
// Commands run without a shell (CommandRunner): argv[0] without a '/' is looked up in PATH, as
// Patroni's subprocess does; the environment is PATH (the agent's) and LANG=C.UTF-8 only, so no
// secret of the agent's (PGPASSWORD...) reaches a script; when the agent is root they run as the
// PostgreSQL OS user, as under Patroni; output is appended to the log file.
//
// HA thread only (the CallbackRunners have their own threads); wait_idle() and completed() are
// thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "election/agent_config.h"
#include "election/callback_runner.h"
#include "election/command_runner.h"
#include "election/local_postgres.h"
#include "election/pg_status.h"

namespace pgha::election {

struct PostgresCallbacksOptions {
  std::string log_path;                  // every hook's output; its directory is created if needed
  std::string run_as = "postgres";       // the OS user when the agent is root
  std::vector<std::string> environment;  // empty: PATH (the agent's) and LANG=C.UTF-8
};

class PostgresCallbacks {
 public:
  using Millis = std::chrono::milliseconds;
  using Options = PostgresCallbacksOptions;

  PostgresCallbacks(const AgentConfig& config, Options options);

  // The loop's probe of this iteration: fires a start's pending callback once PostgreSQL answers,
  // or on_start the first time it is seen running (the agent started beside a running server).
  void observed(const PgProbe& probe);
  // Before the agent starts (or restarts) PostgreSQL. `as_primary`: start_primary(); `running`:
  // it runs now (a restart).
  void starting(bool as_primary, bool running);
  // The agent stopped a running PostgreSQL.
  void stopped();
  void promoted();
  void reloaded();

  bool has_pre_promote() const { return !pre_promote_.empty(); }
  bool has_before_stop() const { return !before_stop_.empty(); }
  // Success when there is no pre_promote or it exited with 0 within `timeout`.
  PgStatus pre_promote(Millis timeout);
  // Runs before_stop (if any) for up to `timeout`; its outcome is only logged.
  void before_stop(Millis timeout);

  // Waits up to `timeout` until no callback runs or waits to run (a shutdown lets on_stop finish).
  bool wait_idle(Millis timeout);
  // The callbacks that have finished, oldest first (on_reload's apart from the others).
  std::vector<CallbackRunner::Completed> completed() const;
  std::vector<CallbackRunner::Completed> completed_reloads() const;

 private:
  enum class Pending { kStart, kRestart, kRoleChange };

  void fire(const std::string& action);
  // argv with argv[0] resolved against the children's PATH.
  std::vector<std::string> resolved(std::vector<std::string> argv) const;
  CommandResult run_hook(const char* name, const std::vector<std::string>& argv, Millis timeout);

  std::string scope_;
  std::map<std::string, std::vector<std::string>> callbacks_;
  std::vector<std::string> pre_promote_;
  std::vector<std::string> before_stop_;
  Millis callback_timeout_;
  std::string log_path_;
  std::string search_path_;  // PATH as the children get it
  CommandRunner runner_;
  std::unique_ptr<CallbackRunner> callbacks_runner_;
  std::unique_ptr<CallbackRunner> reload_runner_;

  std::string role_ = "uninitialized";  // Patroni's role of the local PostgreSQL, as last known
  std::optional<Pending> pending_;      // what the next time PostgreSQL answers fires
  bool fired_ = false;                  // a start, stop, restart or role change was signalled
};

}  // namespace pgha::election
