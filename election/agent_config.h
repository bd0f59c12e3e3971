// AgentConfig: pgha-agent's configuration as plain validated structs, loaded once at start from
// native YAML or from the subset of a patroni.yml the article uses (the same keys, so an
// existing patroni.yml works unchanged). Value type; read-only after loading.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace pgha::election {

using Seconds = std::chrono::seconds;

struct PgUser {
  std::string username;
  std::string password;
};

struct AgentConfig {
  std::string source_file;
  std::string scope = "postgres";         // cluster name: keys live under /service/<scope>/
  std::string name;                       // this member's name (unique in the scope)
  std::string namespace_ = "/service";    // Patroni's "namespace"

  // restapi
  std::string rest_listen = "0.0.0.0:8008";
  std::string rest_connect_address;       // host:port others use to reach this API
  std::string rest_username;              // basic auth for POST /switchover, /failover
  std::string rest_password;

  // etcd3
  std::vector<std::string> etcd_hosts;    // "host:port" (http assumed) or full URLs
  std::chrono::milliseconds etcd_timeout{0};  // per call; 0 → derived from retry_timeout

  // bootstrap.dcs (HA timing). Constraint: loop_wait + 2 * retry_timeout <= ttl.
  Seconds ttl{30};
  Seconds loop_wait{10};
  Seconds retry_timeout{10};
  std::int64_t maximum_lag_on_failover = 1048576;  // bytes
  bool synchronous_mode = false;
  bool use_pg_rewind = true;

  // postgresql
  std::string pg_listen = "127.0.0.1:5432";     // listen_addresses:port
  std::string pg_connect_address;               // host:port others use (replication, proxy)
  std::string data_dir;
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  std::string pgpass;                           // path of a pgpass file the agent writes
  PgUser superuser{"postgres", ""};
  PgUser replication{"replicator", ""};
  std::map<std::string, PgUser> extra_users;    // bootstrap.users (e.g. admin for pgsql-check)
  std::map<std::string, std::string> parameters;  // postgresql.parameters → postgresql.conf
  std::vector<std::string> pg_hba;              // postgresql.pg_hba (preferred) or bootstrap.pg_hba
  std::vector<std::string> initdb_options;      // bootstrap.initdb: encoding, data-checksums...

  // tags
  bool nofailover = false;
  bool noloadbalance = false;
};

// A configuration error with its location. what() is "FILE:LINE: KEY: MESSAGE".
class AgentConfigError : public std::runtime_error {
 public:
  AgentConfigError(const std::string& file, int line, const std::string& key, const std::string& message)
      : std::runtime_error(file + ":" + std::to_string(line) + ": " + key + ": " + message) {}
};

// Loads a pgha-agent YAML or a patroni.yml (same keys). Throws AgentConfigError.
AgentConfig load_agent_config(const std::string& path);

}  // namespace pgha::election
