// How PostgresControl brings a node's data in line with the leader's: emptying the data dir
// (refused for a directory that holds no PostgreSQL data), cloning with pg_basebackup, rejoining
// a former primary with pg_rewind (or a fresh clone when that fails and the configuration allows
// it), and the diverged marker that says a rewind must come before following. See
// postgres_control.h.
#include "election/postgres_control.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "election/postgres_control_internal.h"

namespace pgha::election {

using namespace postgres_control_internal;

PgStatus PostgresControl::reset_data_dir(DataDirContent content) {
  const fs::path data = config_.data_dir;
  if (data.empty() || data == data.root_path() || data.relative_path().empty()) {
    return PgStatus::error("refusing to wipe data_dir '" + config_.data_dir + "'");
  }
  std::error_code ec;
  if (content == DataDirContent::kMustBePostgres && fs::exists(fs::symlink_status(data, ec))) {
    // A wrong data_dir (a home, /var/lib, another service's directory) must never be emptied:
    // only an empty directory or one that holds PostgreSQL's files is.
    if (!fs::is_directory(data, ec)) {
      return PgStatus::error("refusing to wipe data_dir " + data.string() + ": it is not a directory");
    }
    const bool empty = fs::is_empty(data, ec);
    if (ec) return PgStatus::error("cannot list data_dir " + data.string() + ": " + ec.message());
    // PG_VERSION: a data dir; backup_label alone: what an interrupted pg_basebackup leaves (the
    // server sends it first).
    const bool postgres =
        fs::is_regular_file(data / "PG_VERSION", ec) || fs::is_regular_file(data / "backup_label", ec);
    if (!empty && !postgres) {
      return PgStatus::error("refusing to wipe data_dir " + data.string() +
                             ": it is not empty and holds no PostgreSQL data (no PG_VERSION); check "
                             "postgresql.data_dir, or empty the directory");
    }
  }
  fs::remove_all(data, ec);
  if (ec) return PgStatus::error("cannot remove " + data.string() + ": " + ec.message());
  fs::create_directories(data, ec);
  if (ec) return PgStatus::error("cannot create " + data.string() + ": " + ec.message());
  if (::chmod(data.c_str(), 0700) != 0 || !chown_to_os_user(data)) {
    return PgStatus::error("cannot set the owner/mode of " + data.string() + ": " + std::strerror(errno));
  }
  return PgStatus::success();
}

bool PostgresControl::may_have_diverged() const {
  const fs::path data = config_.data_dir;
  if (fs::exists(diverged_marker())) return true;
  return fs::exists(data / "PG_VERSION") && !fs::exists(data / "standby.signal");
}

void PostgresControl::set_diverged(bool diverged) const {
  if (!diverged) {
    std::error_code ignored;
    fs::remove(diverged_marker(), ignored);
    return;
  }
  std::ofstream marker(diverged_marker(), std::ios::trunc);
  marker << "this data dir ran as a primary: rewind before following another member\n";
  if (!marker) record("cannot write " + diverged_marker() + ": " + std::strerror(errno));
}

PgStatus PostgresControl::clone_from(const PgUpstream& upstream, Millis timeout) {
  const Deadline deadline = Clock::now() + timeout;
  if (postmaster_pid() != 0) return PgStatus::error("clone refused: PostgreSQL is running on " + config_.data_dir);
  if (PgStatus s = prepare_runtime_dirs(); !s.ok()) return s;
  if (PgStatus s = write_pgpass(); !s.ok()) return s;
  if (PgStatus s = reset_data_dir(DataDirContent::kMustBePostgres); !s.ok()) return s;
  const std::string conninfo = "host=" + conninfo_quote(upstream.host) + " port=" + std::to_string(upstream.port) +
                               " user=" + conninfo_quote(config_.replication.username) +
                               " passfile=" + conninfo_quote(pgpass_path_) +
                               " application_name=" + conninfo_quote(config_.name + "-basebackup") +
                               " connect_timeout=" + std::to_string(std::clamp<std::int64_t>(ms_left(deadline) / 1000, 2, 10));
  const CommandResult r = run_tool("pg_basebackup", {"-D", config_.data_dir, "-X", "stream", "-c", "fast", "-w",
                                                     "-d", conninfo},
                                   deadline);
  if (!r.ok()) {
    std::string message = "clone from " + upstream.address() + " failed: " + r.describe;
    // A partial copy must not look like a data dir.
    if (PgStatus reset = reset_data_dir(DataDirContent::kLeftByOurTool); !reset.ok()) {
      message += "; removing the partial copy failed: " + reset.message();
    }
    return PgStatus::error(message);
  }
  // The copy carries the source's managed files (its port, its hba): make them this node's.
  if (PgStatus s = write_managed_config(); !s.ok()) return s;
  if (PgStatus s = write_standby_config(upstream, /*standby=*/true); !s.ok()) return s;
  set_diverged(false);  // a fresh copy of the leader
  const std::string note = "cloned from " + upstream.address() + " in " + std::to_string(r.elapsed.count()) + " ms";
  record("clone: " + note);
  return PgStatus::success(note);
}

PgStatus PostgresControl::checkpoint_source(const PgUpstream& upstream, Deadline deadline) {
  PgConnection conn;
  const auto statement_ms = std::max<std::int64_t>(100, ms_left(deadline));
  PgStatus s = conn.connect({{"host", upstream.host},
                             {"port", std::to_string(upstream.port)},
                             {"user", config_.superuser.username},
                             {"password", config_.superuser.password},
                             {"dbname", "postgres"},
                             {"application_name", "pgha-agent"},
                             {"options", "-c statement_timeout=" + std::to_string(statement_ms)}},
                            deadline);
  if (s.ok()) s = conn.query("CHECKPOINT", deadline);
  return s;
}

PgStatus PostgresControl::rewind_and_follow(const PgUpstream& upstream, Millis timeout) {
  const auto begun = Clock::now();
  const Deadline deadline = begun + timeout;
  auto reclone = [&](const std::string& why) -> PgStatus {
    record("rejoin: re-cloning " + config_.data_dir + " from " + upstream.address() + " because " + why);
    if (PgStatus s = stop_until(StopMode::kImmediate, deadline); !s.ok()) return PgStatus::error("rejoin: " + s.message());
    if (PgStatus s = clone_from(upstream, milliseconds(std::max<std::int64_t>(1, ms_left(deadline)))); !s.ok()) {
      return PgStatus::error("rejoin: " + why + "; then " + s.message());
    }
    if (PgStatus s = start_until(deadline); !s.ok()) return PgStatus::error("rejoin: re-cloned but " + s.message());
    return PgStatus::success("re-cloned: " + why);
  };
  // Nothing is stopped, rewound or wiped unless the new leader answers as a primary: a rejoin
  // against a source that is down (it may have died since it was elected) must leave this
  // node's data as it is, so it can still be promoted or rejoin later.
  {
    PgConnection source;
    const Deadline check_deadline = min_deadline(deadline, Clock::now() + std::chrono::seconds(5));
    PgStatus s = source.connect({{"host", upstream.host},
                                 {"port", std::to_string(upstream.port)},
                                 {"user", config_.superuser.username},
                                 {"password", config_.superuser.password},
                                 {"dbname", "postgres"},
                                 {"application_name", "pgha-agent"}},
                                check_deadline);
    std::optional<std::string> in_recovery;
    if (s.ok()) in_recovery = source.query_value("SELECT pg_is_in_recovery()", check_deadline, &s);
    if (!s.ok() || !in_recovery) {
      return PgStatus::error("rejoin: source " + upstream.address() + " is unreachable, nothing changed: " + s.message());
    }
    if (*in_recovery != "f") {
      return PgStatus::error("rejoin: source " + upstream.address() + " is not a primary (in recovery), nothing changed");
    }
  }
  if (!fs::exists(fs::path(config_.data_dir) / "PG_VERSION")) return reclone("there was no data dir");
  if (!config_.use_pg_rewind) {
    if (config_.remove_data_directory_on_diverged_timelines) return reclone("use_pg_rewind is off");
    record("rejoin: use_pg_rewind is off and remove_data_directory_on_diverged_timelines is false: " +
           config_.data_dir + " left as it is");
    return PgStatus::error("rejoin: use_pg_rewind is off and postgresql.remove_data_directory_on_diverged_timelines "
                           "is false: " + config_.data_dir + " was left as it is (nothing changed); "
                           "retrying later");
  }

  if (PgStatus s = stop_until(StopMode::kFast, begun + timeout / 4); !s.ok()) {
    // pg_rewind finishes crash recovery itself (single-user mode) after an unclean stop.
    if (PgStatus hard = stop_until(StopMode::kImmediate, begun + timeout / 3); !hard.ok()) {
      return PgStatus::error("rejoin: cannot stop PostgreSQL: " + hard.message());
    }
  }
  if (PgStatus s = prepare_runtime_dirs(); !s.ok()) return s;
  if (PgStatus s = write_pgpass(); !s.ok()) return s;
  // A single-user crash recovery refuses standby mode; follow() writes the signal again.
  std::error_code ignored;
  fs::remove(fs::path(config_.data_dir) / "standby.signal", ignored);
  std::string checkpoint_note;
  record("rejoin: CHECKPOINT on the source " + upstream.address() + ", then pg_rewind");
  if (PgStatus s = checkpoint_source(upstream, min_deadline(deadline, Clock::now() + timeout / 6)); !s.ok()) {
    checkpoint_note = "; CHECKPOINT on the source failed (pg_rewind may misjudge its timeline): " + s.message();
    record("rejoin: " + checkpoint_note.substr(2));
  }
  const std::string source = "host=" + conninfo_quote(upstream.host) + " port=" + std::to_string(upstream.port) +
                             " user=" + conninfo_quote(config_.superuser.username) + " dbname=postgres" +
                             " passfile=" + conninfo_quote(pgpass_path_) + " connect_timeout=5";
  const CommandResult rewind = run_tool("pg_rewind", {"-D", config_.data_dir, "--source-server=" + source},
                                        min_deadline(deadline, begun + timeout * 2 / 3));
  if (!rewind.ok()) {
    if (config_.remove_data_directory_on_rewind_failure) return reclone("pg_rewind failed: " + rewind.describe);
    // Keep the data for the operator (and for a later attempt): put back the signal removed above
    // so that whatever starts this data dir next starts a standby.
    PgStatus kept = write_file((fs::path(config_.data_dir) / "standby.signal").string(), "", 0600);
    record("rejoin: pg_rewind from " + upstream.address() + " failed; " + config_.data_dir +
           " kept (remove_data_directory_on_rewind_failure is false), PostgreSQL left stopped");
    return PgStatus::error("rejoin: pg_rewind from " + upstream.address() + " failed: " + rewind.describe + "; " +
                           config_.data_dir + " was kept and PostgreSQL left stopped " +
                           "(postgresql.remove_data_directory_on_rewind_failure is false); retrying later" +
                           (kept.ok() ? std::string() : "; restoring standby.signal failed: " + kept.message()));
  }
  record("rejoin: pg_rewind from " + upstream.address() + " done in " + std::to_string(rewind.elapsed.count()) + " ms");
  set_diverged(false);
  PgStatus followed = follow(upstream, milliseconds(std::max<std::int64_t>(1, ms_left(deadline))));
  if (!followed.ok()) return PgStatus::error("rejoin: rewound, but " + followed.message());
  return PgStatus::success("rewound; " + followed.message() + checkpoint_note);
}

}  // namespace pgha::election
