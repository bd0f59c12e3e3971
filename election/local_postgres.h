// LocalPostgres: this node's PostgreSQL as the HA loop drives it, narrowed to what the loop
// needs. PostgresControl is the real one (pg_ctl, libpq, pg_rewind, pg_basebackup); tests drive
// HaLoop with a fake that records every call, so that the loop's action sequences (start as a
// standby unless we lead, the switchover's stop-then-hand-over, fencing) are checked without a
// database.
//
// The rule every implementation keeps: there is no "start as configured". A start is either
// start_primary() (only the lock holder calls it) or start_standby(), which writes standby.signal
// first, so a node that does not hold the lock can never come up writable by accident.
//
// Calls block up to the timeout they are given; errors come back as PgStatus. HA thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "election/cluster_view.h"
#include "election/pg_connection.h"
#include "election/pg_status.h"

namespace pgha::election {

// The PostgreSQL a replica streams from.
struct PgUpstream {
  std::string host;
  int port = 5432;
  std::string address() const { return host + ":" + std::to_string(port); }  // "host:port"
  // Parses "host:port" or "[v6]:port" (a connect_address); nullopt if malformed.
  static std::optional<PgUpstream> parse(const std::string& host_port);
};

// What probe() saw of the local PostgreSQL.
struct PgProbe {
  bool data_dir_initialized = false;  // PG_VERSION exists
  bool running = false;               // a postmaster is alive for the data dir
  bool accepting = false;             // it answered the probe's queries in time
  bool in_recovery = false;
  std::int64_t wal_position = 0;      // bytes; see MemberStatus::wal_position
  int timeline = 0;
  std::string following;              // "host:port": the WAL sender, else the configured primary_conninfo
  bool streaming = false;             // the WAL receiver is streaming
  // As Patroni shows them: "2026-12-02 02:55:19.649521+00:00" (UTC), the pg_control system
  // identifier in decimal, and the commit time of the last replayed transaction ("" when none).
  std::string postmaster_start_time;
  std::string system_identifier;
  std::string replayed_timestamp;
  std::int64_t server_version = 0;  // server_version_num, e.g. 150018
  bool pending_restart = false;      // a changed setting takes effect only after a restart
  std::string error;                  // why it is not accepting, when running

  // Fills LocalState's PostgreSQL fields. `following` becomes the member whose conn_url
  // (postgres://host:port/...) matches the upstream address, or "" when none does.
  void apply_to(LocalState& local, const std::vector<MemberStatus>& members) const;
};

class LocalPostgres {
 public:
  using Millis = std::chrono::milliseconds;
  enum class StopMode { kFast, kImmediate };

  virtual ~LocalPostgres() = default;

  // initdb into an empty data dir, roles, started as the new cluster's first primary. Only the
  // winner of the initialize race calls it.
  virtual PgStatus bootstrap(Millis timeout) = 0;
  // Starts PostgreSQL out of recovery (removes standby.signal). Only while holding the lock.
  virtual PgStatus start_primary(Millis timeout) = 0;
  // Starts PostgreSQL as a standby (standby.signal), streaming from `upstream` when given, else
  // with no primary_conninfo (no leader known yet). Starting a former primary's data dir this way
  // records that it may have diverged (may_have_diverged()), unless `in_sync_with_upstream` says
  // the upstream is known to have all of its WAL (a clean switchover).
  virtual PgStatus start_standby(Millis timeout, std::optional<PgUpstream> upstream, bool in_sync_with_upstream) = 0;
  // Not running → success.
  virtual PgStatus stop(StopMode mode, Millis timeout) = 0;
  // Never fails: what could not be seen stays false/0 and `error` says why.
  virtual PgProbe probe(Millis timeout) = 0;
  virtual PgStatus promote(Millis timeout) = 0;
  // Fresh copy of `upstream` (left stopped, configured as its standby).
  virtual PgStatus clone_from(const PgUpstream& upstream, Millis timeout) = 0;
  // Points a standby (or a stopped node) at `upstream` and leaves it running as its standby.
  virtual PgStatus follow(const PgUpstream& upstream, Millis timeout) = 0;
  // Fencing: stop being writable now (fast, then immediate, then SIGQUIT).
  virtual PgStatus demote(Millis timeout) = 0;
  // pg_rewind from `upstream` (a re-clone if that fails), then follow it.
  virtual PgStatus rewind_and_follow(const PgUpstream& upstream, Millis timeout) = 0;
  // True when this data dir ran as a primary since it was last rewound, cloned or cleanly handed
  // over: its WAL may hold what no other member has, so it must be rewound before it follows.
  virtual bool may_have_diverged() const = 0;
  // CHECKPOINT on the running server (makes the shutdown checkpoint that follows quick).
  virtual PgStatus checkpoint(Millis timeout) = 0;
  // The LSN of the shutdown checkpoint of a cleanly stopped server (pg_controldata's "Latest
  // checkpoint location" with state "shut down"); an error when the server runs or did not stop
  // cleanly.
  virtual PgStatus shutdown_checkpoint_lsn(Millis timeout, std::int64_t* lsn) = 0;
  // How many client sessions a switchover's grace waits for: client backends other than the
  // caller's own connection that are in a transaction or running a statement (any state but
  // plain idle, or a transaction open), or that connected within `recent` and have not sent a
  // statement yet (a client that just connected through a proxy is about to send its first).
  // Replication connections and background processes never count, nor does an idle session
  // that has run statements before (a pooled or long-lived connection between transactions:
  // the stop ends it, and its client reconnects through the proxy, which holds it).
  virtual PgStatus busy_client_sessions(Millis recent, Millis timeout, int* count) = 0;
  // Writes synchronous_standby_names (the agent's own include file, which wins over
  // postgresql.parameters) and, if PostgreSQL runs, reloads it; the setting is in effect for new
  // sessions when this returns.
  virtual PgStatus set_synchronous_standby_names(const std::string& value, Millis timeout) = 0;
  // Rewrites the configuration files the agent manages (as at a start) and, if PostgreSQL runs,
  // has it reload them (pg_reload_conf(): postgresql.conf, ALTER SYSTEM's settings, pg_hba).
  virtual PgStatus reload_config(Millis timeout) = 0;
  // SQL on the local server as the superuser.
  virtual PgStatus execute(const std::string& sql, Millis timeout, PgRows* rows) = 0;

  // The dynamic configuration (dynamic_settings.h): `parameters` become the postgresql.parameters
  // in effect and, without `synchronous_mode`, the agent's synchronous_standby_names goes. If
  // PostgreSQL runs, its managed file is rewritten and reloaded (a name the server does not know
  // is left out, logged); otherwise the next start writes it. A setting that needs a restart then
  // shows as pending_restart in probe().
  virtual PgStatus apply_parameters(const std::map<std::string, std::string>& parameters, bool synchronous_mode,
                                    Millis timeout) = 0;
};

// "0/5000028" ↔ bytes.
std::string format_lsn(std::int64_t lsn);
std::optional<std::int64_t> parse_lsn(const std::string& text);

}  // namespace pgha::election
