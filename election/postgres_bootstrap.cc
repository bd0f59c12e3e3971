// PostgresControl::bootstrap(): initdb into an empty data dir, the managed configuration, the
// first start as primary, and the roles of the configuration (superuser password, replication
// role, extra users). See postgres_control.h.
#include "election/postgres_control.h"

#include <cctype>
#include <filesystem>

namespace pgha::election {
namespace {

namespace fs = std::filesystem;

// bootstrap.initdb entries arrive as "--encoding=UTF8", "encoding: UTF8", "encoding=UTF8" or
// "data-checksums" (Patroni's list of strings and one-key maps).
std::string initdb_argument(std::string option) {
  auto trim = [](std::string s) {
    const auto b = s.find_first_not_of(" \t");
    const auto e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  option = trim(option);
  if (option.rfind("-", 0) == 0) return option;
  const auto sep = option.find_first_of(":=");
  if (sep == std::string::npos) return "--" + option;
  return "--" + trim(option.substr(0, sep)) + "=" + trim(option.substr(sep + 1));
}

}  // namespace

PgStatus PostgresControl::bootstrap(Millis timeout) {
  const Deadline deadline = Clock::now() + timeout;
  const fs::path data = config_.data_dir;
  if (fs::exists(data / "PG_VERSION")) return PgStatus::error("bootstrap refused: " + data.string() + " already holds a cluster");
  if (postmaster_pid() != 0) return PgStatus::error("bootstrap refused: a postmaster runs on " + data.string());
  if (PgStatus s = prepare_runtime_dirs(); !s.ok()) return s;
  if (PgStatus s = write_pgpass(); !s.ok()) return s;
  if (PgStatus s = reset_data_dir(DataDirContent::kMustBePostgres); !s.ok()) return s;

  std::vector<std::string> args{"-D", config_.data_dir, "-U", config_.superuser.username, "--data-checksums",
                                "--auth-local=peer", "--auth-host=scram-sha-256"};
  for (const auto& option : config_.initdb_options) args.push_back(initdb_argument(option));
  const CommandResult initdb = run_tool("initdb", args, deadline);
  if (!initdb.ok()) {
    std::string message = "bootstrap: initdb failed: " + initdb.describe;
    if (PgStatus reset = reset_data_dir(DataDirContent::kLeftByOurTool); !reset.ok()) {
      message += "; removing what it left failed: " + reset.message();
    }
    return PgStatus::error(message);
  }

  PgStatus outcome = write_standby_config(std::nullopt, /*standby=*/false);
  if (outcome.ok()) outcome = start_until(deadline);
  if (outcome.ok()) outcome = create_roles(deadline);
  if (outcome.ok()) {
    record("bootstrap: initialized " + config_.data_dir + " and started it as primary on " + config_.pg_listen);
    return PgStatus::success("bootstrapped");
  }
  // A half-made cluster must not look initialized to the next HA loop iteration.
  record("bootstrap failed, removing the new data dir " + config_.data_dir + ": " + outcome.message());
  if (PgStatus stopped = stop_until(StopMode::kImmediate, std::max(deadline, Clock::now() + std::chrono::seconds(5)));
      !stopped.ok()) {
    // Never wipe a data dir under a running postmaster: leave it for the operator.
    return PgStatus::error("bootstrap: " + outcome.message() + "; stopping the new server failed (" + stopped.message() +
                           "), so " + config_.data_dir + " was left in place");
  }
  if (PgStatus reset = reset_data_dir(DataDirContent::kLeftByOurTool); !reset.ok()) {
    return PgStatus::error("bootstrap: " + outcome.message() + "; removing the new data dir failed: " + reset.message());
  }
  return PgStatus::error("bootstrap: " + outcome.message());
}

PgStatus PostgresControl::create_roles(Deadline deadline) {
  PgConnection conn;
  if (PgStatus s = connect_local(conn, deadline); !s.ok()) return PgStatus::error("connecting after start: " + s.message());
  auto ensure_role = [&](const PgUser& user, const std::string& attributes) -> PgStatus {
    if (user.username.empty()) return PgStatus::success();
    PgStatus status;
    const auto exists = conn.query_value("SELECT count(*) FROM pg_roles WHERE rolname = " +
                                             conn.quote_literal(user.username), deadline, &status);
    if (!status.ok()) return status;
    std::string sql = (exists && *exists != "0" ? "ALTER ROLE " : "CREATE ROLE ") + conn.quote_identifier(user.username);
    if (!attributes.empty()) sql += " WITH " + attributes;
    if (!user.password.empty()) {
      const auto verifier = conn.scram_verifier(user.username, user.password);
      if (!verifier) return PgStatus::error("cannot compute the SCRAM verifier for " + user.username);
      sql += (attributes.empty() ? " WITH" : "") + std::string(" PASSWORD ") + conn.quote_literal(*verifier);
    }
    if (attributes.empty() && user.password.empty()) return PgStatus::success();
    if (PgStatus s = conn.query(sql, deadline); !s.ok()) return PgStatus::error("role " + user.username + ": " + s.message());
    return PgStatus::success();
  };
  if (PgStatus s = ensure_role(config_.superuser, ""); !s.ok()) return s;
  if (config_.replication.username != config_.superuser.username) {
    if (PgStatus s = ensure_role(config_.replication, "REPLICATION LOGIN"); !s.ok()) return s;
  }
  for (const auto& [key, user] : config_.extra_users) {
    PgUser named = user;
    if (named.username.empty()) named.username = key;
    // bootstrap.users.<name>.options are role attributes (createrole, createdb, ...): keywords
    // only, so nothing but letters reaches the statement.
    std::string attributes = "LOGIN";
    for (const auto& option : user.options) {
      std::string keyword;
      for (char c : option) {
        if (std::isalpha(static_cast<unsigned char>(c)) == 0 && c != '_') {
          return PgStatus::error("user " + named.username + ": invalid role option '" + option + "'");
        }
        keyword += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
      if (!keyword.empty() && keyword != "LOGIN") attributes += " " + keyword;
    }
    if (PgStatus s = ensure_role(named, attributes); !s.ok()) return s;
  }
  return PgStatus::success();
}

}  // namespace pgha::election
