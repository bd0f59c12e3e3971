// Helpers for the config loader tests: a private temporary directory, the path of the
// repository's conf/ files, a canonical dump of a ProxyConfig (to compare two loads field by
// field with a readable diff) and an assertion on a ConfigError's file, line and key.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "proxy/config.h"

namespace pgha::proxy::testing {

inline std::filesystem::path source_dir() {
#ifdef PGHA_SOURCE_DIR
  return PGHA_SOURCE_DIR;
#else
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
#endif
}

inline std::string conf_file(const std::string& name) { return (source_dir() / "conf" / name).string(); }

// A unique directory under $TMPDIR, removed with its content on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "pgha-config-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string write(const std::string& name, const std::string& content) const {
    std::filesystem::path file = path_ / name;
    std::ofstream(file, std::ios::binary) << content;
    return file.string();
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline const char* check_type_name(health::CheckType type) {
  switch (type) {
    case health::CheckType::kNone: return "none";
    case health::CheckType::kTcp: return "tcp";
    case health::CheckType::kHttp: return "http";
    case health::CheckType::kPgsql: return "pgsql";
  }
  return "?";
}

// Every field except source_file, one per line.
inline std::string dump(const ProxyConfig& c) {
  std::ostringstream o;
  o << "workers=" << c.workers << " maxconn=" << c.maxconn << " log_level=" << c.log_level << "\n";
  o << "admin enabled=" << c.admin.enabled << " " << c.admin.bind_host << ":" << c.admin.bind_port << "\n";
  for (const ListenerConfig& l : c.listeners) {
    o << "listener " << l.name << " " << l.bind_host << ":" << l.bind_port << " balance=" << static_cast<int>(l.balance)
      << " maxconn=" << l.maxconn << " timeouts=" << l.timeout_connect.count() << "/" << l.timeout_client.count()
      << "/" << l.timeout_server.count() << "/" << l.timeout_tunnel.count() << " hold=" << l.hold_timeout.count()
      << "/" << l.hold_max << "\n";
    for (const ServerConfig& s : l.servers) {
      const health::CheckSpec& k = s.check;
      o << "  server " << s.name << " " << s.host << ":" << s.port << " weight=" << s.weight
        << " maxconn=" << s.maxconn << " backup=" << s.backup << " shutdown=" << s.shutdown_sessions_on_down
        << " grace=" << s.shutdown_grace.count() << "\n"
        << "    check " << check_type_name(k.type) << " " << k.host << ":" << k.port
        << " init=" << static_cast<int>(k.initial_state) << " inter=" << k.timing.inter.count()
        << " fastinter=" << k.timing.fastinter.count() << " downinter=" << k.timing.downinter.count()
        << " rise=" << k.timing.rise << " fall=" << k.timing.fall << " timeout=" << k.timing.timeout.count()
        << " connect_timeout=" << k.timing.connect_timeout.count() << " observe=" << k.observe.layer4 << "/"
        << k.observe.error_limit << "/" << static_cast<int>(k.observe.on_error) << "\n"
        << "    http " << k.http.method << " " << k.http.path << " " << k.http.version << " host="
        << k.http.host_header << " expect=" << k.http.expect_status << " pgsql user=" << k.pgsql.user
        << " ssl=" << k.pgsql.ssl_request << "\n"
        << "    tls " << k.tls.enabled << " verify=" << k.tls.verify << " ca=" << k.tls.ca_file
        << " crt=" << k.tls.cert_file << " key=" << k.tls.key_file << " sni=" << k.tls.sni
        << " verifyhost=" << k.tls.verify_host << " context=" << (k.tls.context != nullptr) << "\n";
    }
  }
  return o.str();
}

// Runs LOAD and expects a ConfigError located at FILE:LINE with KEY, whose message contains
// MESSAGE_PART; what() must carry all of them.
inline void expect_config_error(const std::function<void()>& load, const std::string& file, int line,
                                const std::string& key, const std::string& message_part) {
  try {
    load();
    ADD_FAILURE() << "expected a ConfigError at " << file << ":" << line << " key " << key;
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.file(), file) << what;
    EXPECT_EQ(e.line(), line) << what;
    EXPECT_EQ(e.key(), key) << what;
    EXPECT_NE(e.message().find(message_part), std::string::npos) << what;
    EXPECT_EQ(what.rfind(file + ":" + std::to_string(line) + ": " + key + ": ", 0), 0u) << what;
  }
}

inline bool has_warning(const LoadedConfig& loaded, int line, const std::string& key, const std::string& part) {
  for (const ConfigWarning& w : loaded.warnings) {
    if (w.line == line && w.key == key && w.message.find(part) != std::string::npos) return true;
  }
  return false;
}

inline std::string all_warnings(const LoadedConfig& loaded) {
  std::string out;
  for (const ConfigWarning& w : loaded.warnings) out += w.to_string() + "\n";
  return out;
}

}  // namespace pgha::proxy::testing
