// PostgresControl's constructor and the plumbing its other parts share: running a PostgreSQL
// tool, the commands log and the server log's tail, SQL on the local server through the socket.
// The rest is split by concern: postgres_bootstrap.cc (initdb and roles),
// postgres_config_files.cc (the files it writes), postgres_process.cc (starting, stopping,
// probing, promoting, following, fencing) and postgres_rejoin.cc (cloning, pg_rewind, the data
// dir's removal). See postgres_control.h.
#include "election/postgres_control.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "election/postgres_control_internal.h"

namespace pgha::election {

using namespace postgres_control_internal;

namespace {

std::string tail_of_file(const fs::path& path, std::size_t max_bytes) {
  std::string text = read_text(path);
  if (text.size() > max_bytes) {
    text = text.substr(text.size() - max_bytes);
    const auto newline = text.find('\n');
    if (newline != std::string::npos) text.erase(0, newline + 1);
    text.insert(0, "...");
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

PostgresControl::PostgresControl(AgentConfig config, Options options)
    : config_(std::move(config)),
      options_(std::move(options)),
      runner_(CommandRunner::Options{options_.os_user, CommandRunner::default_environment()}) {
  std::string data = config_.data_dir;
  while (data.size() > 1 && data.back() == '/') data.pop_back();
  runtime_dir_ = options_.runtime_dir.empty() ? data + "-pgha" : options_.runtime_dir;
  pgpass_path_ = config_.pgpass.empty() ? runtime_dir_ + "/pgpass" : config_.pgpass;
  const auto listen = PgUpstream::parse(config_.pg_listen);
  listen_host_ = listen ? listen->host : "127.0.0.1";
  port_ = listen ? listen->port : 5432;
  if (::geteuid() == 0) {
    if (const passwd* pw = ::getpwnam(options_.os_user.c_str())) {
      os_uid_ = static_cast<int>(pw->pw_uid);
      os_gid_ = static_cast<int>(pw->pw_gid);
    }
  }
}

void PostgresControl::record(const std::string& event) const {
  std::ofstream out(commands_log(), std::ios::app);
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
  out << "[" << stamp << "] pgha: " << event << "\n";
}

std::string PostgresControl::server_log_tail() const {
  const std::string tail = tail_of_file(server_log(), 1200);
  return tail.empty() ? std::string() : "; server log: " + tail;
}

CommandResult PostgresControl::run_tool(const std::string& name, std::vector<std::string> args,
                                        Deadline deadline) const {
  args.insert(args.begin(), tool(name));
  return runner_.run(args, milliseconds(std::max<std::int64_t>(1, ms_left(deadline))), commands_log());
}

PgStatus PostgresControl::connect_local(PgConnection& conn, Deadline deadline) const {
  const auto statement_ms = std::max<std::int64_t>(100, ms_left(deadline));
  return conn.connect({{"host", socket_dir()},
                       {"port", std::to_string(port_)},
                       {"user", config_.superuser.username},
                       {"dbname", "postgres"},
                       {"application_name", "pgha-agent"},
                       {"options", "-c statement_timeout=" + std::to_string(statement_ms)}},
                      deadline);
}

PgStatus PostgresControl::execute(const std::string& sql, Millis timeout, PgRows* rows) {
  const Deadline deadline = Clock::now() + timeout;
  PgConnection conn;
  if (PgStatus s = connect_local(conn, deadline); !s.ok()) return s;
  return conn.query(sql, deadline, rows);
}

PgStatus PostgresControl::checkpoint(Millis timeout) { return execute("CHECKPOINT", timeout); }

PgStatus PostgresControl::busy_client_sessions(Millis recent, Millis timeout, int* count) {
  // state is NULL while a backend has not yet reported any activity (still starting), and
  // 'disabled' without track_activities: neither can be shown to be idle, so both count.
  const std::string since = "clock_timestamp() - interval '" + std::to_string(std::max<std::int64_t>(0, recent.count())) +
                            " milliseconds'";
  const std::string sql =
      "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
      "AND (state IS DISTINCT FROM 'idle' OR xact_start IS NOT NULL OR (query = '' AND backend_start > " + since +
      "))";
  PgRows rows;
  if (PgStatus s = execute(sql, timeout, &rows); !s.ok()) return s;
  if (rows.empty() || rows[0].empty() || !rows[0][0]) return PgStatus::error("pg_stat_activity: no count returned");
  *count = std::atoi(rows[0][0]->c_str());
  return PgStatus::success();
}

}  // namespace pgha::election
