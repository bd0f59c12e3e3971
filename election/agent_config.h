// AgentConfig: pgha-agent's configuration as plain validated structs, loaded once at start from
// native YAML or from the subset of a patroni.yml that the classic setup uses (the same keys, so an
// existing patroni.yml works unchanged). Value type; read-only after loading.
//
// Timing defaults (used when bootstrap.dcs does not set them; a patroni.yml's explicit values
// win): ttl 10 s, loop_wait 2 s, retry_timeout 4 s, the launcher's "fast" profile. Why:
// - loop_wait + 2 * retry_timeout = 10 = ttl, Patroni's constraint with no slack to waste;
// - a leader that cannot refresh for retry_timeout (4 s) demotes; its lease expires elsewhere
//   only at ttl (10 s), so even if the refresh failure is noticed one loop_wait late (6 s) there
//   are 4 s left for the demotion before any replica may take the lock;
// - 4 s rides out an etcd leader election (~1-2 s) and the fsync stalls of a 2-core machine
//   under pgbench load without a false failover, which a 1-2 s retry_timeout would not;
// - a dead leader is replaced within ttl (plus one watch event), 3x faster than Patroni's 30 s.
// Patroni's keys we do not implement are either ignored with a warning (harmless ones: log,
// watchdog, postgresql.pg_ctl_timeout...) or rejected (their absence would change behaviour:
// TLS, other DCSs...); unknown keys are errors, so a typo never goes unnoticed.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "election/etcd_options.h"
#include "tls_context/tls_files.h"

namespace pgha::election {

using Seconds = std::chrono::seconds;

struct PgUser {
  std::string username;
  std::string password;
  std::vector<std::string> options;       // bootstrap.users.<name>.options: CREATE ROLE options ("createdb")
};

struct AgentConfig {
  std::string source_file;
  std::string scope = "postgres";         // cluster name (required in a file): keys live under /service/<scope>/
  std::string name;                       // this member's name (unique in the scope)
  std::string namespace_ = "/service";    // Patroni's "namespace": leading '/', no trailing '/'

  // restapi
  std::string rest_listen = "0.0.0.0:8008";
  std::string rest_connect_address;       // host:port others use to reach this API (default: listen, unless a wildcard)
  std::string rest_username;              // basic auth for POST /switchover, /failover
  std::string rest_password;
  // restapi.certfile, keyfile, keyfile_password, cafile, verify_client: the API speaks HTTPS when
  // certfile is set; the files are proven to load when the config is. ciphers: OpenSSL's cipher
  // list for TLS 1.2 (empty: its defaults).
  tls::TlsFiles rest_tls;
  std::string rest_ciphers;

  // How this agent (asking other members) and pghactl reach REST APIs, resolved as Patroni does:
  // each ctl key, else its restapi counterpart (ctl.cacert|restapi.cafile, certfile, keyfile,
  // keyfile_password, authentication). certfile is presented as the client certificate; the
  // server's certificate and name are checked (kRequired; the system's CAs when no CA file)
  // unless ctl.insecure (kNone).
  tls::TlsFiles ctl_tls{.verify = tls::PeerVerification::kRequired};
  std::string ctl_username;
  std::string ctl_password;

  // etcd3
  std::vector<std::string> etcd_hosts;    // "host:port" (http assumed; port 2379 if omitted), "http://" or "https://" URLs
  std::string etcd_username;              // etcd3.username/password: etcd authentication (optional)
  std::string etcd_password;
  // etcd3.cacert (cafile), cert (certfile), key (keyfile), key_password: for https members only,
  // checked when the file is loaded; etcd's certificate is always verified (the system's CAs
  // without cacert).
  tls::TlsFiles etcd_tls{.verify = tls::PeerVerification::kRequired};
  std::chrono::milliseconds etcd_timeout{0};  // per call; 0 → derived from retry_timeout

  // bootstrap.dcs as JSON ("{}" when absent): the member that bootstraps the cluster writes it
  // to the /config key, as Patroni does.
  std::string bootstrap_dcs_json = "{}";
  // bootstrap.dcs (HA timing). Constraint: loop_wait + 2 * retry_timeout <= ttl.
  Seconds ttl{10};                                 // whole seconds: etcd grants leases in seconds
  // Patroni takes whole seconds for these two; pgha-agent also takes decimals (0.5, 1.5), so that
  // a short ttl (2-4 s) still leaves room for retries that ride out an etcd election.
  std::chrono::milliseconds loop_wait{2000};
  std::chrono::milliseconds retry_timeout{4000};
  std::int64_t maximum_lag_on_failover = 1048576;  // bytes
  bool synchronous_mode = false;         // commits wait for a synchronous standby (sync_state.h)
  bool synchronous_mode_strict = false;  // never run without one: commits wait until one connects
  bool synchronous_quorum = false;       // synchronous_mode: quorum ('ANY k (...)', sync_state.h)
  int synchronous_node_count = 1;
  std::int64_t maximum_lag_on_syncnode = -1;  // bytes; -1: no limit
  bool use_pg_rewind = true;                       // postgresql.use_pg_rewind wins over bootstrap.dcs.postgresql's
  // Replication slots (replication_slots.h): use_slots (same precedence), how long a vanished
  // member's slot is kept, and bootstrap.dcs.slots (physical, never dropped).
  bool use_slots = true;
  std::chrono::milliseconds member_slots_ttl{std::chrono::minutes(30)};
  std::set<std::string> permanent_slots;
  // May a former primary's data dir be wiped and cloned afresh from the leader (both false by
  // default, as in Patroni: the data stays for the operator and the agent retries the rejoin):
  // when pg_rewind fails, and when it may have diverged but use_pg_rewind is off. Same precedence.
  bool remove_data_directory_on_rewind_failure = false;
  bool remove_data_directory_on_diverged_timelines = false;

  // postgresql
  std::string pg_listen = "127.0.0.1:5432";     // listen_addresses:port
  std::string pg_connect_address;               // host:port others use (default: listen, unless a wildcard)
  std::string data_dir;
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  std::string pgpass;                           // path of a pgpass file the agent writes
  PgUser superuser{"postgres", ""};
  PgUser replication{"replicator", ""};
  std::map<std::string, PgUser> extra_users;    // bootstrap.users (e.g. admin for pgsql-check)
  // bootstrap.dcs.postgresql.parameters overlaid by postgresql.parameters (local wins) → postgresql.conf
  // until the /config key is read; then /config's postgresql.parameters replace the bootstrap ones
  // (dynamic_settings.h).
  std::map<std::string, std::string> parameters;
  std::map<std::string, std::string> bootstrap_parameters;  // bootstrap.dcs.postgresql.parameters alone
  std::map<std::string, std::string> local_parameters;      // postgresql.parameters alone
  // The first that is set of postgresql.pg_hba, bootstrap.dcs.postgresql.pg_hba, bootstrap.pg_hba;
  // written as the whole pg_hba.conf (never appended to initdb's trust lines, which would let any
  // local user in without a password).
  std::vector<std::string> pg_hba;
  // bootstrap.initdb as initdb arguments, in order: "- encoding: UTF8" → "--encoding=UTF8",
  // "- data-checksums" → "--data-checksums".
  std::vector<std::string> initdb_options;
  // postgresql.callbacks (by event: on_start, on_stop, on_restart, on_reload, on_role_change),
  // postgresql.pre_promote and postgresql.before_stop: commands split into words as Patroni
  // splits them (command_words.h) and run without a shell; empty: none. See postgres_callbacks.h.
  std::map<std::string, std::vector<std::string>> callbacks;
  std::vector<std::string> pre_promote;
  std::vector<std::string> before_stop;
  // postgresql.callback_timeout (pgha-agent's own): a callback still running after this long is
  // killed (Patroni lets one run for ever). Decimal seconds, 0.1..3600.
  std::chrono::milliseconds callback_timeout{60000};

  // switchover_grace (top level, pgha-agent's own): in a planned switchover, once /primary answers
  // 503 the leader waits up to this long for client sessions to finish their transactions before
  // it stops PostgreSQL (0: stop at once). Decimal seconds, 0..30.
  std::chrono::milliseconds switchover_grace{2000};

  // tags
  bool nofailover = false;
  bool noloadbalance = false;
  bool clonefrom = false;
  // tags.replicatefrom: stream from this member instead of the leader (cascading replication).
  std::string replicatefrom;
  bool nosync = false;
  // tags.failover_priority: among members equally far ahead, the higher one campaigns (0: never,
  // like nofailover). Patroni's default is 1.
  int failover_priority = 1;
  // Custom tags (any other key under tags:), as written, for /patroni and /replica?tag_<key>=.
  std::map<std::string, std::string> custom_tags;

  // Keys accepted but not implemented, as "FILE:LINE: KEY: MESSAGE"; the caller logs them at warn.
  std::vector<std::string> warnings;
};

// A configuration error with its location. what() is "FILE:LINE: KEY: MESSAGE".
class AgentConfigError : public std::runtime_error {
 public:
  AgentConfigError(const std::string& file, int line, const std::string& key, const std::string& message)
      : std::runtime_error(file + ":" + std::to_string(line) + ": " + key + ": " + message) {}
};

// Loads a pgha-agent YAML or a patroni.yml (same keys). Throws AgentConfigError.
AgentConfig load_agent_config(const std::string& path);

// The same from YAML text; `source_file` names it in errors and warnings. Throws AgentConfigError.
AgentConfig parse_agent_config(const std::string& yaml_text, const std::string& source_file);

// How pgha-agent (and pghactl, with the same file) reaches etcd: members, TLS, credentials, and a
// call deadline that fits inside retry_timeout.
EtcdClientOptions etcd_client_options(const AgentConfig& config);

}  // namespace pgha::election
