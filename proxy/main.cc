// pgha-proxy: the thin executable. Parses the command line, loads and validates the config
// (exit 2 with FILE:LINE: KEY: MESSAGE before binding anything), runs ProxyService, and
// waits for signals: SIGTERM drains sessions for up to --grace, SIGINT stops at once.
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include <spdlog/spdlog.h>

#include "proxy/config.h"
#include "proxy/log.h"
#include "proxy/proxy_service.h"

namespace {

void usage(std::ostream& out) {
  out << "usage: pgha-proxy -f FILE [--check] [--grace MS] [--log-level LEVEL]\n"
         "  -f, --config FILE   native YAML (.yaml/.yml) or an haproxy.cfg subset (auto-detected)\n"
         "  -c, --check         validate the configuration and exit (like haproxy -c)\n"
         "  --grace MS          on SIGTERM, wait this long for sessions to end (default 5000)\n"
         "  --log-level LEVEL   trace|debug|info|warn|error (default: config's, else info)\n";
}

// Descriptors are the proxy's capacity: two per session. Use the whole hard limit.
void raise_fd_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::string log_level;
  bool check_only = false;
  long grace_ms = 5000;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "pgha-proxy: " << name << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "-f" || arg == "--config") {
      config_path = value(arg.c_str());
    } else if (arg == "-c" || arg == "--check") {
      check_only = true;
    } else if (arg == "--grace") {
      grace_ms = std::stol(value("--grace"));
    } else if (arg == "--log-level") {
      log_level = value("--log-level");
    } else if (arg == "-h" || arg == "--help") {
      usage(std::cout);
      return 0;
    } else {
      std::cerr << "pgha-proxy: unknown argument '" << arg << "'\n";
      usage(std::cerr);
      return 2;
    }
  }
  if (config_path.empty()) {
    usage(std::cerr);
    return 2;
  }

  pgha::proxy::LoadedConfig loaded;
  try {
    loaded = pgha::proxy::load_config(config_path);
  } catch (const pgha::proxy::ConfigError& e) {
    std::cerr << "pgha-proxy: config error: " << e.what() << "\n";
    return 2;
  }
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e [%n] %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(log_level.empty() ? loaded.config.log_level : log_level));
  for (const auto& w : loaded.warnings) pgha::proxy::log().warn("config: {}", w.to_string());
  if (check_only) {
    std::cout << "Configuration file is valid: " << config_path << "\n";
    return 0;
  }

  raise_fd_limit();
  // Block the signals in every thread; the main thread takes them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  try {
    pgha::proxy::ProxyService service(std::move(loaded.config));
    service.start();
    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGHUP) {
        pgha::proxy::log().warn("SIGHUP: configuration reload is not supported yet; restart to apply changes");
        continue;
      }
      pgha::proxy::log().info("{}: stopping{}", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                              sig == SIGTERM ? " (draining sessions for up to " + std::to_string(grace_ms) + " ms)" : "");
      service.stop(std::chrono::milliseconds(sig == SIGTERM ? grace_ms : 0));
      break;
    }
  } catch (const std::exception& e) {
    pgha::proxy::log().critical("{}", e.what());
    return 1;
  }
  return 0;
}
