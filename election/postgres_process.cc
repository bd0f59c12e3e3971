// PostgresControl's control of the running server: the postmaster's PID, start (as primary or
// as a standby) and stop through pg_ctl, the status probe, promotion, following a leader
// (reload or restart), fencing (demote), and the shutdown checkpoint a stopped server's
// pg_controldata reports. See postgres_control.h.
#include "election/postgres_control.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include <libpq-fe.h>

#include "election/postgres_control_internal.h"
#include "election/process_alive.h"

namespace pgha::election {

using namespace postgres_control_internal;

namespace {

// pg_ctl/pg_promote take whole seconds: at least 1, never past the deadline by more than that.
std::string seconds_left(Clock::time_point deadline) {
  return std::to_string(std::max<std::int64_t>(1, ms_left(deadline) / 1000));
}

// host/port of a conninfo string (primary_conninfo); nullopt without a host.
std::optional<PgUpstream> upstream_of_conninfo(const std::string& conninfo) {
  if (conninfo.empty()) return std::nullopt;
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    if (error != nullptr) PQfreemem(error);
    return std::nullopt;
  }
  PgUpstream upstream;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    if (std::strcmp(o->keyword, "host") == 0) upstream.host = o->val;
    if (std::strcmp(o->keyword, "port") == 0) upstream.port = std::atoi(o->val);
  }
  PQconninfoFree(options);
  if (upstream.host.empty()) return std::nullopt;
  return upstream;
}

// One "Name:   value" line of pg_controldata's output ("" when absent).
std::string control_data_field(const std::string& text, const std::string& name) {
  const auto at = text.find(name + ":");
  if (at == std::string::npos) return {};
  const auto begin = text.find_first_not_of(" \t", at + name.size() + 1);
  const auto end = text.find('\n', at);
  return begin == std::string::npos ? std::string() : text.substr(begin, end == std::string::npos ? end : end - begin);
}

}  // namespace

int PostgresControl::postmaster_pid() const { return static_cast<int>(postmaster_of(config_.data_dir)); }

PgStatus PostgresControl::start_until(Deadline deadline) {
  if (postmaster_pid() != 0) return PgStatus::success("already running");
  if (!fs::exists(fs::path(config_.data_dir) / "PG_VERSION")) {
    return PgStatus::error("cannot start: no PostgreSQL data in " + config_.data_dir);
  }
  if (PgStatus s = prepare_runtime_dirs(); !s.ok()) return s;
  if (PgStatus s = write_pgpass(); !s.ok()) return s;
  raise_to_control_data(deadline);
  if (PgStatus s = write_managed_config(); !s.ok()) return s;
  const CommandResult r = run_tool("pg_ctl", {"start", "-D", config_.data_dir, "-l", server_log(), "-w", "-t",
                                              seconds_left(deadline)},
                                   deadline);
  if (!r.ok()) return PgStatus::error("start failed: " + r.describe + server_log_tail());
  return PgStatus::success("started");
}

PgStatus PostgresControl::stop_until(StopMode mode, Deadline deadline) {
  if (postmaster_pid() == 0) return PgStatus::success("not running");
  const char* mode_name = mode == StopMode::kFast ? "fast" : "immediate";
  const CommandResult r = run_tool("pg_ctl", {"stop", "-D", config_.data_dir, "-m", mode_name, "-w", "-t",
                                              seconds_left(deadline)},
                                   deadline);
  if (!r.ok() && postmaster_pid() != 0) {
    return PgStatus::error(std::string("stop -m ") + mode_name + " failed: " + r.describe);
  }
  return PgStatus::success("stopped");
}

PgStatus PostgresControl::start_primary(Millis timeout) {
  const Deadline deadline = Clock::now() + timeout;
  if (postmaster_pid() != 0) return PgStatus::success("already running");
  // A standby's data dir (standby.signal from its earlier role) starts as a standby: only
  // promote(), which the HA loop does next, ends its recovery.
  if (fs::exists(fs::path(config_.data_dir) / "standby.signal")) {
    return start_standby(timeout, std::nullopt, /*in_sync_with_upstream=*/true);
  }
  if (!fs::exists(fs::path(config_.data_dir) / "PG_VERSION")) {
    return PgStatus::error("cannot start: no PostgreSQL data in " + config_.data_dir);
  }
  if (PgStatus s = prepare_runtime_dirs(); !s.ok()) return s;
  if (PgStatus s = write_standby_config(std::nullopt, /*standby=*/false); !s.ok()) return s;
  return start_until(deadline);
}

PgStatus PostgresControl::start_standby(Millis timeout, std::optional<PgUpstream> upstream, bool in_sync_with_upstream) {
  const Deadline deadline = Clock::now() + timeout;
  if (postmaster_pid() != 0) return PgStatus::success("already running");
  const fs::path data = config_.data_dir;
  if (!fs::exists(data / "PG_VERSION")) return PgStatus::error("cannot start: no PostgreSQL data in " + data.string());
  if (PgStatus s = prepare_runtime_dirs(); !s.ok()) return s;
  if (PgStatus s = write_pgpass(); !s.ok()) return s;
  // A primary's data dir started as a standby may hold WAL the new leader never got: remember
  // it, so that the loop rewinds before following (the marker survives restarts of the agent).
  const bool was_primary = !fs::exists(data / "standby.signal");
  if (was_primary && !in_sync_with_upstream) set_diverged(true);
  if (PgStatus s = write_standby_config(upstream, /*standby=*/true); !s.ok()) return s;
  PgStatus started = start_until(deadline);
  if (!started.ok()) return started;
  return PgStatus::success(std::string("started as a standby") +
                           (upstream ? " of " + upstream->address() : " (no upstream yet)"));
}

PgStatus PostgresControl::stop(StopMode mode, Millis timeout) { return stop_until(mode, Clock::now() + timeout); }

PgProbe PostgresControl::probe(Millis timeout) {
  const Deadline deadline = Clock::now() + timeout;
  PgProbe probe;
  probe.data_dir_initialized = fs::exists(fs::path(config_.data_dir) / "PG_VERSION");
  probe.running = postmaster_pid() != 0;
  if (!probe.running) return probe;
  PgConnection conn;
  if (PgStatus s = connect_local(conn, deadline); !s.ok()) {
    probe.error = s.message();
    return probe;
  }
  PgStatus status;
  const auto recovery = conn.query_value("SELECT pg_is_in_recovery()", deadline, &status);
  if (!status.ok() || !recovery) {
    probe.error = status.ok() ? "no answer to pg_is_in_recovery()" : status.message();
    return probe;
  }
  probe.in_recovery = *recovery == "t";
  PgRows rows;
  // Columns 0-4 whatever the role: start time, system id, replay time (Patroni's formats), the
  // server's version number and whether a setting waits for a restart.
  constexpr std::size_t kCommonColumnCount = 5;
  constexpr const char* kCommonColumns =
      "SELECT to_char(pg_postmaster_start_time() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US\"+00:00\"'),"
      " (SELECT system_identifier FROM pg_control_system())::text,"
      " to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US\"+00:00\"'),"
      " current_setting('server_version_num'),"
      " EXISTS (SELECT 1 FROM pg_settings WHERE pending_restart),";
  if (!probe.in_recovery) {
    // The WAL file name of the insert position starts with the current timeline (hex): unlike
    // pg_control_checkpoint() it is right at once after a promotion.
    status = conn.query(
        std::string(kCommonColumns) +
            " (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint,"
            " ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int",
        deadline, &rows);
  } else {
    status = conn.query(
        std::string(kCommonColumns) +
            " (greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) - '0/0'::pg_lsn)::bigint,"
            " greatest((SELECT received_tli FROM pg_stat_wal_receiver),"
            "          (SELECT timeline_id FROM pg_control_checkpoint())),"
            " (SELECT status FROM pg_stat_wal_receiver),"
            " (SELECT sender_host FROM pg_stat_wal_receiver),"
            " (SELECT sender_port FROM pg_stat_wal_receiver),"
            " current_setting('primary_conninfo')",
        deadline, &rows);
  }
  if (!status.ok() || rows.empty()) {
    probe.error = status.ok() ? "no row from the status query" : status.message();
    return probe;
  }
  const PgRow& row = rows.front();
  auto column = [&](std::size_t i) { return i < row.size() && row[i] ? *row[i] : std::string(); };
  auto text = [&](std::size_t i) { return column(i + kCommonColumnCount); };
  probe.accepting = true;
  probe.postmaster_start_time = column(0);
  probe.system_identifier = column(1);
  probe.replayed_timestamp = column(2);
  probe.server_version = std::atoll(column(3).c_str());
  probe.pending_restart = column(4) == "t" || !standby_floors_.empty();
  probe.wal_position = std::atoll(text(0).c_str());
  probe.timeline = std::atoi(text(1).c_str());
  if (probe.in_recovery) {
    probe.streaming = text(2) == "streaming";
    if (!text(3).empty() && !text(4).empty()) {
      probe.following = text(3) + ":" + text(4);
    } else if (const auto configured = upstream_of_conninfo(text(5))) {
      probe.following = configured->address();
    }
  }
  return probe;
}

PgStatus PostgresControl::promote(Millis timeout) {
  const Deadline deadline = Clock::now() + timeout;
  PgConnection conn;
  if (PgStatus s = connect_local(conn, deadline); !s.ok()) return PgStatus::error("promote: " + s.message());
  PgStatus status;
  auto recovery = conn.query_value("SELECT pg_is_in_recovery()", deadline, &status);
  if (!status.ok()) return PgStatus::error("promote: " + status.message());
  if (recovery && *recovery == "f") return PgStatus::success("already primary");
  // Not pg_promote(true): it checks for the end of recovery only every 100 ms. Ask, then watch
  // closely: every 10 ms of this is writes refused.
  auto asked = conn.query_value("SELECT pg_promote(false)", deadline, &status);
  if (!status.ok()) return PgStatus::error("promote: pg_promote: " + status.message() + server_log_tail());
  if (!asked || *asked != "t") return PgStatus::error("promote: pg_promote refused" + server_log_tail());
  for (;;) {
    recovery = conn.query_value("SELECT pg_is_in_recovery()", deadline, &status);
    if (status.ok() && recovery && *recovery == "f") break;
    if (!status.ok()) return PgStatus::error("promote: " + status.message());
    if (ms_left(deadline) <= 0) return PgStatus::error("promote: still in recovery at the deadline" + server_log_tail());
    std::this_thread::sleep_for(milliseconds(10));
  }
  std::string note = "promoted";
  if (PgStatus s = write_standby_config(std::nullopt, /*standby=*/false); !s.ok()) note += "; " + s.message();
  if (PgStatus s = conn.query("SELECT pg_reload_conf()", deadline); !s.ok()) note += "; reload failed: " + s.message();
  // The CHECKPOINT that makes the new timeline visible to pg_rewind (in the control file) is left
  // to the caller, once it has announced the new primary: it takes a while under write load.
  record("promote: " + note);
  return PgStatus::success(note);
}

PgStatus PostgresControl::follow(const PgUpstream& upstream, Millis timeout) {
  const Deadline deadline = Clock::now() + timeout;
  if (!fs::exists(fs::path(config_.data_dir) / "PG_VERSION")) {
    return PgStatus::error("follow: no PostgreSQL data in " + config_.data_dir + " (clone first)");
  }
  if (PgStatus s = prepare_runtime_dirs(); !s.ok()) return s;
  if (PgStatus s = write_pgpass(); !s.ok()) return s;
  if (PgStatus s = write_managed_config(); !s.ok()) return s;
  if (PgStatus s = write_standby_config(upstream, /*standby=*/true); !s.ok()) return s;
  if (postmaster_pid() == 0) {
    PgStatus started = start_until(deadline);
    return started.ok() ? PgStatus::success("started following " + upstream.address()) : started;
  }
  {
    PgConnection conn;
    PgStatus status = connect_local(conn, min_deadline(deadline, Clock::now() + timeout / 4));
    std::optional<std::string> recovery;
    if (status.ok()) recovery = conn.query_value("SELECT pg_is_in_recovery()", deadline, &status);
    if (status.ok() && recovery && *recovery == "t") {
      // primary_conninfo is reloadable since PostgreSQL 13: the WAL receiver reconnects.
      if (PgStatus s = conn.query("SELECT pg_reload_conf()", deadline); !s.ok()) {
        return PgStatus::error("follow: reload: " + s.message());
      }
      return PgStatus::success("reloaded to follow " + upstream.address());
    }
  }
  // A primary (or a server that does not answer) turns replica through a restart.
  if (PgStatus s = stop_until(StopMode::kFast, Clock::now() + timeout / 2); !s.ok()) {
    if (PgStatus hard = stop_until(StopMode::kImmediate, deadline); !hard.ok()) {
      return PgStatus::error("follow: " + hard.message());
    }
  }
  PgStatus started = start_until(deadline);
  return started.ok() ? PgStatus::success("restarted to follow " + upstream.address()) : started;
}

PgStatus PostgresControl::demote(Millis timeout) {
  const auto begun = Clock::now();
  const Deadline deadline = begun + timeout;
  const int pid = postmaster_pid();
  if (pid == 0) return PgStatus::success("not running");
  PgStatus fast = stop_until(StopMode::kFast, begun + timeout / 2);
  if (fast.ok()) return PgStatus::success("stopped (fast)");
  record("demote: fast stop did not finish in time, stopping immediately: " + fast.message());
  PgStatus immediate = stop_until(StopMode::kImmediate, begun + timeout * 3 / 4);
  if (immediate.ok()) return PgStatus::success("stopped (immediate)");
  // Last resort: SIGQUIT is the postmaster's own immediate-shutdown signal.
  record("demote: pg_ctl could not stop it, sending SIGQUIT to postmaster " + std::to_string(pid));
  ::kill(pid, SIGQUIT);
  while (process_alive(pid)) {
    if (ms_left(deadline) <= 0) {
      return PgStatus::error("demote: postmaster " + std::to_string(pid) + " still alive at the deadline");
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return PgStatus::success("stopped (SIGQUIT)");
}

PgStatus PostgresControl::read_control_data(Deadline deadline, std::string* text) const {
  // Through the runner (as the OS user, clean environment); the output goes to a file of ours.
  const std::string out_path = runtime_dir_ + "/controldata.out";
  std::error_code ignored;
  fs::remove(out_path, ignored);
  const CommandResult r = runner_.run({tool("pg_controldata"), "-D", config_.data_dir},
                                      milliseconds(std::max<std::int64_t>(1, ms_left(deadline))), out_path);
  *text = read_text(out_path);
  fs::remove(out_path, ignored);
  if (!r.ok()) return PgStatus::error("pg_controldata failed: " + r.describe);
  return PgStatus::success();
}

void PostgresControl::raise_to_control_data(Deadline deadline) {
  standby_floors_.clear();
  if (!fs::exists(fs::path(config_.data_dir) / "standby.signal")) return;
  // As Patroni does: a standby cannot run with less than the primary had when it wrote the WAL
  // being replayed (PostgreSQL records those settings in the control file). A /config that lowered
  // one must not stop a replica restarted before the primary: it starts with the recorded value,
  // and reports pending_restart until it runs with the configured one.
  std::string text;
  if (PgStatus s = read_control_data(deadline, &text); !s.ok()) {
    record("start: " + s.message() + "; the configured settings are used as they are");
    return;
  }
  struct Floor {
    const char* parameter;
    const char* control_field;
    std::int64_t server_default;
  };
  static constexpr Floor kFloors[] = {{"max_connections", "max_connections setting", 100},
                                      {"max_worker_processes", "max_worker_processes setting", 8},
                                      {"max_wal_senders", "max_wal_senders setting", 10},
                                      {"max_prepared_transactions", "max_prepared_xacts setting", 0},
                                      {"max_locks_per_transaction", "max_locks_per_xact setting", 64}};
  for (const Floor& floor : kFloors) {
    const std::string recorded_text = control_data_field(text, floor.control_field);
    const auto configured_at = config_.parameters.find(floor.parameter);
    const std::string configured_text =
        configured_at != config_.parameters.end() ? configured_at->second : std::to_string(floor.server_default);
    char* end = nullptr;
    const long long recorded = std::strtoll(recorded_text.c_str(), &end, 10);
    if (recorded_text.empty() || *end != '\0') continue;
    const long long configured = std::strtoll(configured_text.c_str(), &end, 10);
    if (*end != '\0' || recorded <= configured) continue;
    standby_floors_[floor.parameter] = std::to_string(recorded);
    record(std::string("start: ") + floor.parameter + " " + configured_text + " is below the primary's " +
           recorded_text + " (control file): starting with " + recorded_text + ", a restart is pending");
  }
}

PgStatus PostgresControl::shutdown_checkpoint_lsn(Millis timeout, std::int64_t* lsn) {
  const Deadline deadline = Clock::now() + timeout;
  if (postmaster_pid() != 0) return PgStatus::error("pg_controldata: PostgreSQL still runs");
  std::string text;
  if (PgStatus s = read_control_data(deadline, &text); !s.ok()) return s;
  auto field = [&text](const std::string& name) { return control_data_field(text, name); };
  const std::string state = field("Database cluster state");
  if (state != "shut down") {
    return PgStatus::error("pg_controldata: cluster state is '" + state + "', not 'shut down' (no clean shutdown checkpoint)");
  }
  const std::string location = field("Latest checkpoint location");
  const auto parsed = parse_lsn(location);
  if (!parsed) return PgStatus::error("pg_controldata: cannot parse 'Latest checkpoint location: " + location + "'");
  *lsn = *parsed;
  return PgStatus::success(location);
}

}  // namespace pgha::election
