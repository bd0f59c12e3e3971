// PostgresControl: drives this node's PostgreSQL 15 for the HA loop — bootstrap (initdb with data
// checksums, managed configuration, roles), start/stop/restart, a status probe, promotion,
// cloning from the leader (pg_basebackup), following a leader (primary_conninfo +
// standby.signal), fencing (demote = stop now) and rejoining a former primary (pg_rewind, with a
// fresh clone when rewind fails, if the configuration allows it).
//
// Files it owns: in the data dir, `pgha.conf` (included from postgresql.conf: listen address,
// socket dir, replication settings, the config's parameters), `pgha.standby.conf` (primary_conninfo
// when following; included from pgha.conf), pg_hba.conf and pg_ident.conf (replaced by the config's
// rules plus a peer rule so the agent connects through the socket as the superuser); beside the
// data dir, `<data_dir>-pgha/` with `sock/` (unix socket — not in the data dir, which pg_rewind
// would copy), `log/commands.log` (every tool's output) and `log/postgresql.log`, and the pgpass
// file (AgentConfig::pgpass or `<data_dir>-pgha/pgpass`, mode 0600) through which the tools get
// passwords. Tools run by fork/exec with a clean environment; when the agent is root they run as
// the `postgres` OS user (runuser), since PostgreSQL refuses root.
//
// Every call is blocking and bounded by the timeout it is given; errors come back as PgStatus
// (nothing throws). Notable outcomes (a re-clone after a failed pg_rewind, a fast stop that had to
// become immediate) are in the returned status and in the commands log; the HA loop logs them.
// Call only from the agent's HA thread — never an io or REST thread. Not thread-safe.
//
// Defined in several files, one concern each: postgres_control.cc (construction, running tools,
// SQL on the local server), postgres_bootstrap.cc, postgres_config_files.cc, postgres_process.cc
// (start, stop, probe, promote, follow, demote) and postgres_rejoin.cc (clone, pg_rewind).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "election/agent_config.h"
#include "election/cluster_view.h"
#include "election/command_runner.h"
#include "election/local_postgres.h"
#include "election/pg_connection.h"
#include "election/pg_status.h"

namespace pgha::election {

struct PostgresControlOptions {
  std::string runtime_dir;           // "" → "<data_dir>-pgha" beside the data dir
  std::string os_user = "postgres";  // PostgreSQL's tools run as this user when the agent is root
};

class PostgresControl final : public LocalPostgres {
 public:
  using Options = PostgresControlOptions;

  explicit PostgresControl(AgentConfig config, Options options = {});

  // initdb (data checksums + config.initdb_options) into an empty or absent data dir, managed
  // configuration, start, then the superuser's password, the replication role and the extra
  // users (LOGIN plus their options, e.g. the classic setup's admin: createrole, createdb). Succeeds only when PostgreSQL
  // answers queries. On failure after initdb the new data dir is stopped and removed.
  PgStatus bootstrap(Millis timeout) override;

  // Already running → success with note "already running", nothing changed (the HA loop's probe
  // then sees what runs and acts on it).
  PgStatus start_primary(Millis timeout) override;
  PgStatus start_standby(Millis timeout, std::optional<PgUpstream> upstream, bool in_sync_with_upstream) override;
  // pg_ctl stop; not running → success.
  PgStatus stop(StopMode mode, Millis timeout) override;

  // Never fails: what could not be seen stays false/0 and `error` says why.
  PgProbe probe(Millis timeout) override;

  // pg_promote(true, …), waits until out of recovery, drops the standby settings and runs a
  // CHECKPOINT so pg_rewind on the old primary sees the new timeline in the control file.
  PgStatus promote(Millis timeout) override;

  // pg_basebackup -X stream -c fast from `upstream` as the replication user into a fresh data dir
  // (a data dir that was there is removed; refused while PostgreSQL runs, and refused when the
  // directory holds files but no PostgreSQL data), then configures it as that upstream's replica.
  // Leaves PostgreSQL stopped: start() is the next step.
  PgStatus clone_from(const PgUpstream& upstream, Millis timeout) override;

  // Makes this node a replica of `upstream` and leaves it running: writes primary_conninfo and
  // standby.signal; a running replica only reloads (primary_conninfo is reloadable since PG 13),
  // a running primary restarts, a stopped node starts.
  PgStatus follow(const PgUpstream& upstream, Millis timeout) override;

  // Fencing: stop accepting writes as fast as possible — stop -m fast within half the timeout,
  // else -m immediate, else SIGQUIT to the postmaster. The HA loop rejoins later.
  PgStatus demote(Millis timeout) override;

  // Rejoins a former primary under `upstream`: stop, pg_rewind from it (as the superuser; pg_rewind
  // itself finishes crash recovery if the stop was not clean), then follow(). If pg_rewind fails
  // (or use_pg_rewind is off): with remove_data_directory_on_rewind_failure (resp.
  // remove_data_directory_on_diverged_timelines) wipe, clone_from() and start as its replica;
  // without (the default), keep the data dir, leave PostgreSQL stopped (resp. as it is) and
  // return an error, so that the HA loop tries again later. The note says "rewound" or
  // "re-cloned: <why>".
  PgStatus rewind_and_follow(const PgUpstream& upstream, Millis timeout) override;

  // The marker file `<runtime_dir>/diverged` (written when a former primary's data dir is started
  // as a standby) or a data dir without standby.signal.
  bool may_have_diverged() const override;
  PgStatus checkpoint(Millis timeout) override;
  // Runs pg_controldata.
  PgStatus shutdown_checkpoint_lsn(Millis timeout, std::int64_t* lsn) override;

  // One query on pg_stat_activity (see LocalPostgres), on a new connection through the socket.
  PgStatus busy_client_sessions(Millis recent, Millis timeout, int* count) override;
  // Runs SQL on the local PostgreSQL as the superuser through the socket (for the HA loop's
  // extra queries, e.g. pg_stat_replication for GET /patroni, and for tests).
  PgStatus set_synchronous_standby_names(const std::string& value, Millis timeout) override;
  PgStatus apply_parameters(const std::map<std::string, std::string>& parameters, bool synchronous_mode,
                            Millis timeout) override;
  // write_managed_config(), then pg_reload_conf() when running; the note says which.
  PgStatus reload_config(Millis timeout) override;
  PgStatus execute(const std::string& sql, Millis timeout, PgRows* rows = nullptr) override;

  const AgentConfig& config() const { return config_; }
  const std::string& runtime_dir() const { return runtime_dir_; }
  std::string socket_dir() const { return runtime_dir_ + "/sock"; }
  std::string log_dir() const { return runtime_dir_ + "/log"; }
  std::string commands_log() const { return log_dir() + "/commands.log"; }
  std::string server_log() const { return log_dir() + "/postgresql.log"; }
  std::string diverged_marker() const { return runtime_dir_ + "/diverged"; }
  const std::string& pgpass_path() const { return pgpass_path_; }
  // The postmaster's PID from postmaster.pid if that process is alive, else 0.
  int postmaster_pid() const;

 private:
  using Clock = std::chrono::steady_clock;
  using Deadline = Clock::time_point;

  // postgres_config_files.cc
  PgStatus prepare_runtime_dirs();
  PgStatus write_pgpass();
  PgStatus write_managed_config();
  // pgha.standby.conf (primary_conninfo when `upstream`) and standby.signal iff `standby`.
  PgStatus write_standby_config(const std::optional<PgUpstream>& upstream, bool standby);
  PgStatus write_file(const std::string& path, const std::string& content, unsigned mode);
  bool chown_to_os_user(const std::string& path) const;

  // postgres_rejoin.cc
  void set_diverged(bool diverged) const;
  // What reset_data_dir() may find in the data dir before it empties it.
  enum class DataDirContent {
    kMustBePostgres,  // nothing, or PostgreSQL's files: anything else is refused (a wrong data_dir)
    kLeftByOurTool,   // what initdb or pg_basebackup left in the directory we emptied for it
  };
  PgStatus reset_data_dir(DataDirContent content);
  PgStatus checkpoint_source(const PgUpstream& upstream, Deadline deadline);

  // postgres_process.cc
  PgStatus start_until(Deadline deadline);
  PgStatus read_control_data(Deadline deadline, std::string* text) const;
  // Before a standby starts: standby_floors_ from its control file (see the .cc).
  void raise_to_control_data(Deadline deadline);
  PgStatus stop_until(StopMode mode, Deadline deadline);

  // postgres_bootstrap.cc
  PgStatus create_roles(Deadline deadline);

  // postgres_control.cc
  PgStatus connect_local(PgConnection& conn, Deadline deadline) const;
  CommandResult run_tool(const std::string& tool, std::vector<std::string> args, Deadline deadline) const;
  std::string server_log_tail() const;
  // Appends "[time] pgha: <event>" to the commands log, between the tools' own output.
  void record(const std::string& event) const;
  std::string tool(const std::string& name) const { return config_.bin_dir + "/" + name; }

  AgentConfig config_;
  Options options_;
  std::string runtime_dir_;
  std::string pgpass_path_;
  std::string listen_host_;
  int port_ = 5432;
  CommandRunner runner_;
  int os_uid_ = -1;  // the OS user's ids when the agent is root, else -1
  int os_gid_ = -1;
  // The parameter names the running server knew when apply_parameters() last asked (lower case;
  // empty until then): a name it does not know would stop it from starting.
  std::set<std::string> known_parameters_;
  // Settings a standby runs with above the configured value, because its control file records a
  // larger one from the primary (cleared at each start; pending_restart while any is set).
  std::map<std::string, std::string> standby_floors_;
};

}  // namespace pgha::election
