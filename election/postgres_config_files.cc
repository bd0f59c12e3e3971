// The files PostgresControl writes: the runtime dirs beside the data dir, the pgpass file,
// pgha.conf and its include in postgresql.conf, pg_hba.conf and pg_ident.conf, and the standby
// settings (pgha.standby.conf, standby.signal); with the quoting each file's syntax needs. Every
// file is replaced atomically through write_file(). See postgres_control.h.
#include "election/postgres_control.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "election/postgres_control_internal.h"
#include "election/replication_slots.h"

namespace pgha::election {

using namespace postgres_control_internal;

namespace {

constexpr const char* kManagedConf = "pgha.conf";
constexpr const char* kStandbyConf = "pgha.standby.conf";
constexpr const char* kSyncConf = "pgha.sync.conf";  // synchronous_standby_names, synchronous_mode only
constexpr const char* kIdentMap = "pgha";

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

}  // namespace

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
  // The name is built with append rather than "." + ...: GCC 12 -O2 raises a false -Wrestrict on
  // that operator+ (GCC bug 105329).
  std::string temporary = (dir / std::string(".").append(target.filename().string()).append(".pgha-XXXXXX")).string();
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
  if (!standby_floors_.empty()) conf << "# a standby needs at least what its primary had (its control file)\n";
  for (const auto& [name, value] : standby_floors_) conf << name << " = " << conf_quote(value) << "\n";
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
  // Written on a primary too: it can only change at a restart, and leaving it out after a
  // promotion made PostgreSQL report pending_restart for its (equal) default.
  conf << "recovery_target_timeline = 'latest'\n";
  if (upstream) {
    const std::string conninfo = "host=" + conninfo_quote(upstream->host) + " port=" + std::to_string(upstream->port) +
                                 " user=" + conninfo_quote(config_.replication.username) +
                                 " passfile=" + conninfo_quote(pgpass_path_) +
                                 " application_name=" + conninfo_quote(config_.name) +
                                 " connect_timeout=5 keepalives_idle=5 keepalives_interval=2 keepalives_count=3";
    // The slot the leader keeps for this member (replication_slots.h); none without use_slots.
    conf << "primary_conninfo = " << conf_quote(conninfo) << "\n"
         << "primary_slot_name = " << conf_quote(config_.use_slots ? slot_name_for_member(config_.name) : "") << "\n";
  }
  if (PgStatus s = write_file(data / kStandbyConf, conf.str(), 0600); !s.ok()) return s;
  const fs::path signal = data / "standby.signal";
  if (standby) return write_file(signal, "", 0600);
  std::error_code ec;
  fs::remove(signal, ec);
  return PgStatus::success();
}

PgStatus PostgresControl::reload_config(Millis timeout) {
  const Deadline deadline = Clock::now() + timeout;
  if (!fs::exists(fs::path(config_.data_dir) / "PG_VERSION")) {
    return PgStatus::error("no PostgreSQL data in " + config_.data_dir + " to reload");
  }
  if (PgStatus s = write_managed_config(); !s.ok()) return s;
  if (postmaster_pid() == 0) return PgStatus::success("configuration files rewritten; PostgreSQL is not running");
  PgConnection conn;
  if (PgStatus s = connect_local(conn, deadline); !s.ok()) return s;
  if (PgStatus s = conn.query("SELECT pg_reload_conf()", deadline); !s.ok()) return s;
  record("reload: configuration files rewritten, pg_reload_conf()");
  return PgStatus::success("configuration files rewritten, PostgreSQL reloaded");
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

PgStatus PostgresControl::apply_parameters(const std::map<std::string, std::string>& parameters, bool synchronous_mode,
                                          Millis timeout) {
  const Deadline deadline = Clock::now() + timeout;
  const bool running = postmaster_pid() != 0;
  if (running) {
    PgConnection conn;
    PgRows rows;
    if (PgStatus s = connect_local(conn, deadline); !s.ok()) return s;
    if (PgStatus s = conn.query("SELECT lower(name) FROM pg_settings", deadline, &rows); !s.ok()) return s;
    known_parameters_.clear();
    for (const PgRow& row : rows) {
      if (!row.empty() && row[0]) known_parameters_.insert(*row[0]);
    }
  }
  // As Patroni does: a name PostgreSQL does not know (and that is not an extension's, with a dot)
  // is left out, or the next start would fail on it.
  std::map<std::string, std::string> kept;
  std::string left_out;
  for (const auto& [name, value] : parameters) {
    std::string key = name;
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!known_parameters_.empty() && key.find('.') == std::string::npos && known_parameters_.count(key) == 0) {
      left_out += (left_out.empty() ? "" : ", ") + name;
      continue;
    }
    kept[name] = value;
  }
  config_.parameters = std::move(kept);
  config_.synchronous_mode = synchronous_mode;
  const std::string note = left_out.empty() ? "" : "; unknown to PostgreSQL, left out: " + left_out;
  if (!running) return PgStatus::success("PostgreSQL is not running: its next start uses them" + note);
  if (PgStatus s = write_managed_config(); !s.ok()) return s;
  PgConnection conn;
  if (PgStatus s = connect_local(conn, deadline); !s.ok()) return s;
  if (PgStatus s = conn.query("SELECT pg_reload_conf()", deadline); !s.ok()) return s;
  record("postgresql.parameters applied; configuration reloaded" + note);
  return PgStatus::success("reloaded" + note);
}

}  // namespace pgha::election
