#include "election/postgres_control.h"

#include "election/process_alive.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <libpq-fe.h>


namespace pgha::election {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr const char* kManagedConf = "pgha.conf";
constexpr const char* kStandbyConf = "pgha.standby.conf";
constexpr const char* kSyncConf = "pgha.sync.conf";  // synchronous_standby_names, synchronous_mode only
constexpr const char* kIdentMap = "pgha";

std::int64_t ms_left(Clock::time_point deadline) {
  return std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
}

// pg_ctl/pg_promote take whole seconds: at least 1, never past the deadline by more than that.
std::string seconds_left(Clock::time_point deadline) {
  return std::to_string(std::max<std::int64_t>(1, ms_left(deadline) / 1000));
}

Clock::time_point min_deadline(Clock::time_point a, Clock::time_point b) { return a < b ? a : b; }

// postgresql.conf string: single quotes doubled, backslashes escaped.
std::string conf_quote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += "''";
    else if (c == '\\') out += "\\\\";
    else out += c;
  }
  return out + "'";
}

// A libpq conninfo value.
std::string conninfo_quote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string pgpass_escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// pg_hba.conf / pg_ident.conf names: double-quoted so any role name is taken literally.
std::string hba_quote(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += "\"\"";
    else out += c;
  }
  return out + "\"";
}

bool valid_parameter_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.';
  });
}

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

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

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

// Host and port of a "postgres://[user@]host:port/db" URL (Patroni's conn_url).
std::optional<PgUpstream> upstream_of_url(const std::string& url) {
  const auto scheme = url.find("://");
  std::string rest = scheme == std::string::npos ? url : url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?"));
  if (const auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  return PgUpstream::parse(rest);
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

}  // namespace

std::string format_lsn(std::int64_t lsn) {
  char text[32];
  std::snprintf(text, sizeof text, "%X/%X", static_cast<unsigned>(static_cast<std::uint64_t>(lsn) >> 32),
                static_cast<unsigned>(static_cast<std::uint64_t>(lsn) & 0xffffffffu));
  return text;
}

std::optional<std::int64_t> parse_lsn(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size() || slash > 8 || text.size() - slash - 1 > 8) {
    return std::nullopt;
  }
  auto hex = [](const std::string& part) -> std::optional<std::uint64_t> {
    std::uint64_t value = 0;
    for (char c : part) {
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (digit < 0) return std::nullopt;
      value = value * 16 + static_cast<std::uint64_t>(digit);
    }
    return value;
  };
  const auto high = hex(text.substr(0, slash));
  const auto low = hex(text.substr(slash + 1));
  if (!high || !low) return std::nullopt;
  return static_cast<std::int64_t>((*high << 32) | *low);
}

std::optional<PgUpstream> PgUpstream::parse(const std::string& host_port) {
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == host_port.size()) return std::nullopt;
  std::string host = host_port.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = host_port.substr(colon + 1);
  if (!std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const int port = std::atoi(port_text.c_str());
  if (port <= 0 || port > 65535) return std::nullopt;
  return PgUpstream{host, port};
}

void PgProbe::apply_to(LocalState& local, const std::vector<MemberStatus>& members) const {
  local.data_dir_initialized = data_dir_initialized;
  local.postgres_running = running;
  local.in_recovery = in_recovery;
  local.wal_position = wal_position;
  local.timeline = timeline;
  local.following.clear();
  if (!in_recovery || following.empty()) return;
  for (const auto& member : members) {
    const auto address = upstream_of_url(member.conn_url);
    if (address && address->address() == following) {
      local.following = member.name;
      return;
    }
  }
}

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

// ---------------------------------------------------------------------------------------------
// Files

bool PostgresControl::chown_to_os_user(const std::string& path) const {
  return os_uid_ < 0 || ::chown(path.c_str(), static_cast<uid_t>(os_uid_), static_cast<gid_t>(os_gid_)) == 0;
}

PgStatus PostgresControl::write_file(const std::string& path, const std::string& content, unsigned mode) {
  // A fresh, unpredictable temporary beside the target, created exclusively (mkstemp: O_EXCL, so
  // a symlink planted in the directory is never followed), given its mode and owner through the
  // descriptor before the content goes in, synced, then renamed over the target (which replaces
  // a symlink at the target itself rather than writing through it).
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string temporary = (dir / ("." + target.filename().string() + ".pgha-XXXXXX")).string();
  const int fd = ::mkstemp(temporary.data());
  if (fd < 0) return PgStatus::error("cannot create a temporary file for " + path + ": " + std::strerror(errno));
  auto give_up = [&](const char* step) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    ::unlink(temporary.c_str());
    return PgStatus::error("cannot write " + path + " (" + step + "): " + why);
  };
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) return give_up("chmod");
  if (os_uid_ >= 0 && ::fchown(fd, static_cast<uid_t>(os_uid_), static_cast<gid_t>(os_gid_)) != 0) {
    return give_up("chown");
  }
  for (std::size_t written = 0; written < content.size();) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return give_up("write");
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return give_up("fsync");
  if (::close(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temporary.c_str());
    return PgStatus::error("cannot write " + path + " (close): " + why);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temporary.c_str());
    return PgStatus::error("cannot install " + path + ": " + why);
  }
  return PgStatus::success();
}

PgStatus PostgresControl::prepare_runtime_dirs() {
  if (os_uid_ < 0 && ::geteuid() == 0) {
    return PgStatus::error("running as root but OS user '" + options_.os_user + "' does not exist");
  }
  for (const std::string& dir : {runtime_dir_, socket_dir(), log_dir()}) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return PgStatus::error("cannot create " + dir + ": " + ec.message());
    if (::chmod(dir.c_str(), 0700) != 0 || !chown_to_os_user(dir)) {
      return PgStatus::error("cannot set the owner/mode of " + dir + ": " + std::strerror(errno));
    }
  }
  // Socket path limit (sun_path): 107 bytes including ".s.PGSQL.<port>".
  if (socket_dir().size() + 20 > 107) {
    return PgStatus::error("unix socket directory path too long (max ~87 bytes): " + socket_dir());
  }
  return PgStatus::success();
}

PgStatus PostgresControl::write_pgpass() {
  std::string content;
  auto add = [&](const PgUser& user) {
    if (user.username.empty() || user.password.empty()) return;
    content += "*:*:*:" + pgpass_escape(user.username) + ":" + pgpass_escape(user.password) + "\n";
  };
  add(config_.replication);
  add(config_.superuser);
  const fs::path parent = fs::path(pgpass_path_).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
  }
  return write_file(pgpass_path_, content, 0600);
}

PgStatus PostgresControl::write_managed_config() {
  const fs::path data = config_.data_dir;
  std::ostringstream conf;
  conf << "# Managed by pgha-agent and rewritten at every start: change the agent's configuration instead.\n"
       << "wal_level = 'replica'\n"
       << "hot_standby = 'on'\n"
       << "wal_log_hints = 'on'\n"
       << "max_wal_senders = '10'\n"
       << "max_replication_slots = '10'\n"
       << "wal_keep_size = '128MB'\n"
       << "password_encryption = 'scram-sha-256'\n";
  if (!config_.parameters.empty()) conf << "# postgresql.parameters\n";
  for (const auto& [name, value] : config_.parameters) {
    if (!valid_parameter_name(name)) return PgStatus::error("invalid PostgreSQL parameter name: '" + name + "'");
    conf << name << " = " << conf_quote(value) << "\n";
  }
  conf << "# owned by the agent (these win over postgresql.parameters)\n"
       << "listen_addresses = " << conf_quote(listen_host_) << "\n"
       << "port = '" << port_ << "'\n"
       << "unix_socket_directories = " << conf_quote(socket_dir()) << "\n"
       << "hba_file = " << conf_quote((data / "pg_hba.conf").string()) << "\n"
       << "ident_file = " << conf_quote((data / "pg_ident.conf").string()) << "\n"
       << "include_if_exists = '" << kStandbyConf << "'\n"
       << "include_if_exists = '" << kSyncConf << "'\n";
  if (PgStatus s = write_file(data / kManagedConf, conf.str(), 0600); !s.ok()) return s;
  if (!config_.synchronous_mode) {
    // Written only in synchronous mode: without it, postgresql.parameters decides.
    std::error_code ignored;
    fs::remove(data / kSyncConf, ignored);
  }

  std::ostringstream hba;
  hba << "# Managed by pgha-agent: postgresql.pg_hba from its configuration, after the agent's own rule.\n"
      << "local all " << hba_quote(config_.superuser.username) << " peer map=" << kIdentMap << "\n";
  for (const auto& rule : config_.pg_hba) hba << rule << "\n";
  if (PgStatus s = write_file(data / "pg_hba.conf", hba.str(), 0600); !s.ok()) return s;

  std::vector<std::string> os_users{options_.os_user};
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != options_.os_user) {
    os_users.emplace_back(pw->pw_name);
  }
  std::ostringstream ident;
  ident << "# Managed by pgha-agent: who may connect through the socket as the superuser (peer).\n";
  for (const auto& os_user : os_users) {
    ident << kIdentMap << " " << hba_quote(os_user) << " " << hba_quote(config_.superuser.username) << "\n";
  }
  if (PgStatus s = write_file(data / "pg_ident.conf", ident.str(), 0600); !s.ok()) return s;

  // postgresql.conf itself stays PostgreSQL's (or the clone source's); it only gains the include.
  const fs::path main_conf = data / "postgresql.conf";
  const std::string include_line = std::string("include_if_exists = '") + kManagedConf + "'";
  if (read_text(main_conf).find(include_line) == std::string::npos) {
    std::ofstream out(main_conf, std::ios::app);
    out << "\n# Added by pgha-agent: its managed settings come last and win.\n" << include_line << "\n";
    if (!out) return PgStatus::error("cannot append to " + main_conf.string());
  }
  return PgStatus::success();
}

PgStatus PostgresControl::write_standby_config(const std::optional<PgUpstream>& upstream, bool standby) {
  const fs::path data = config_.data_dir;
  std::ostringstream conf;
  conf << "# Managed by pgha-agent: the upstream this node follows (empty on a primary, and on a standby\n"
       << "# while no leader is known).\n";
  if (standby) conf << "recovery_target_timeline = 'latest'\n";
  if (upstream) {
    const std::string conninfo = "host=" + conninfo_quote(upstream->host) + " port=" + std::to_string(upstream->port) +
                                 " user=" + conninfo_quote(config_.replication.username) +
                                 " passfile=" + conninfo_quote(pgpass_path_) +
                                 " application_name=" + conninfo_quote(config_.name) +
                                 " connect_timeout=5 keepalives_idle=5 keepalives_interval=2 keepalives_count=3";
    conf << "primary_conninfo = " << conf_quote(conninfo) << "\n"
         << "primary_slot_name = ''\n";
  }
  if (PgStatus s = write_file(data / kStandbyConf, conf.str(), 0600); !s.ok()) return s;
  const fs::path signal = data / "standby.signal";
  if (standby) return write_file(signal, "", 0600);
  std::error_code ec;
  fs::remove(signal, ec);
  return PgStatus::success();
}

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

int PostgresControl::postmaster_pid() const { return static_cast<int>(postmaster_of(config_.data_dir)); }

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

// ---------------------------------------------------------------------------------------------
// Processes and connections

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

PgStatus PostgresControl::set_synchronous_standby_names(const std::string& value, Millis timeout) {
  const Deadline deadline = Clock::now() + timeout;
  if (PgStatus s = write_file(fs::path(config_.data_dir) / kSyncConf,
                              "# Managed by pgha-agent (synchronous_mode): the standbys commits wait for.\n"
                              "synchronous_standby_names = " + conf_quote(value) + "\n",
                              0600);
      !s.ok()) {
    return s;
  }
  if (postmaster_pid() == 0) return PgStatus::success("written; PostgreSQL is not running");
  {
    PgConnection conn;
    if (PgStatus s = connect_local(conn, deadline); !s.ok()) return s;
    if (PgStatus s = conn.query("SELECT pg_reload_conf()", deadline); !s.ok()) return s;
  }
  // The postmaster reloads asynchronously: done once a new session sees the value.
  std::string seen;
  while (Clock::now() < deadline) {
    PgConnection conn;
    PgStatus s = connect_local(conn, deadline);
    std::optional<std::string> shown;
    if (s.ok()) shown = conn.query_value("SHOW synchronous_standby_names", deadline, &s);
    if (shown && *shown == value) return PgStatus::success();
    if (shown) seen = *shown;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return PgStatus::error("synchronous_standby_names still '" + seen + "', not '" + value + "', after the reload");
}

PgStatus PostgresControl::execute(const std::string& sql, Millis timeout, PgRows* rows) {
  const Deadline deadline = Clock::now() + timeout;
  PgConnection conn;
  if (PgStatus s = connect_local(conn, deadline); !s.ok()) return s;
  return conn.query(sql, deadline, rows);
}

PgStatus PostgresControl::start_until(Deadline deadline) {
  if (postmaster_pid() != 0) return PgStatus::success("already running");
  if (!fs::exists(fs::path(config_.data_dir) / "PG_VERSION")) {
    return PgStatus::error("cannot start: no PostgreSQL data in " + config_.data_dir);
  }
  if (PgStatus s = prepare_runtime_dirs(); !s.ok()) return s;
  if (PgStatus s = write_pgpass(); !s.ok()) return s;
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

// ---------------------------------------------------------------------------------------------
// Public calls

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

PgStatus PostgresControl::shutdown_checkpoint_lsn(Millis timeout, std::int64_t* lsn) {
  const Deadline deadline = Clock::now() + timeout;
  if (postmaster_pid() != 0) return PgStatus::error("pg_controldata: PostgreSQL still runs");
  // Through the runner (as the OS user, clean environment); the output goes to a file of ours.
  const std::string out_path = runtime_dir_ + "/controldata.out";
  std::error_code ignored;
  fs::remove(out_path, ignored);
  const CommandResult r = runner_.run({tool("pg_controldata"), "-D", config_.data_dir},
                                      milliseconds(std::max<std::int64_t>(1, ms_left(deadline))), out_path);
  const std::string text = read_text(out_path);
  fs::remove(out_path, ignored);
  if (!r.ok()) return PgStatus::error("pg_controldata failed: " + r.describe);
  auto field = [&](const std::string& name) -> std::string {
    const auto at = text.find(name + ":");
    if (at == std::string::npos) return {};
    const auto begin = text.find_first_not_of(" \t", at + name.size() + 1);
    const auto end = text.find('\n', at);
    return begin == std::string::npos ? std::string() : text.substr(begin, end == std::string::npos ? end : end - begin);
  };
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
  if (!probe.in_recovery) {
    // The WAL file name of the insert position starts with the current timeline (hex): unlike
    // pg_control_checkpoint() it is right at once after a promotion.
    status = conn.query(
        "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint,"
        " ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int",
        deadline, &rows);
  } else {
    status = conn.query(
        "SELECT (greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) - '0/0'::pg_lsn)::bigint,"
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
  auto text = [&](std::size_t i) { return i < row.size() && row[i] ? *row[i] : std::string(); };
  probe.accepting = true;
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
