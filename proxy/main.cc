// pgha-proxy: the thin executable. Parses the command line, loads and validates the config
// (exit 2 with FILE:LINE: KEY: MESSAGE before binding anything), runs ProxyService, and
// waits for signals: SIGTERM drains sessions for up to --grace (SIGINT or a second SIGTERM
// meanwhile ends the drain), SIGINT stops at once, SIGHUP
// reloads the configuration file. A file that does not load, or a service that does not start,
// is logged and changes nothing; otherwise new sessions use the new configuration on the same
// listening sockets, and the old sessions go on (for up to --reload-grace if given).
// Under systemd (Type=notify or notify-reload, $NOTIFY_SOCKET): READY=1 once the listeners are
// bound and every server's first check has run, RELOADING=1 ... READY=1 around a reload,
// STOPPING=1 on SIGTERM/SIGINT, and WATCHDOG=1 while every relay worker answers (docs/systemd.md).
#include <signal.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "log_format/log_format.h"
#include "proxy/config.h"
#include "proxy/fd_budget.h"
#include "proxy/log.h"
#include "proxy/proxy_liveness.h"
#include "proxy/proxy_service.h"
#include "proxy/retired_services.h"
#include "service_notify/service_notifier.h"
#include "service_notify/watchdog_keepalive.h"
#include "version/pgha_version.h"

namespace {

void usage(std::ostream& out) {
  out << "usage: pgha-proxy -f FILE [--check] [--grace MS] [--reload-grace MS] [--log-level LEVEL]\n"
         "       pgha-proxy --version | --help\n"
         "  -f, --config FILE   native YAML (.yaml/.yml) or an haproxy.cfg subset (auto-detected)\n"
         "  -c, --check         validate the configuration and exit (like haproxy -c)\n"
         "  --grace MS          on SIGTERM, wait this long for sessions to end (default 5000;\n"
         "                      SIGINT or a second SIGTERM meanwhile ends the wait)\n"
         "  --reload-grace MS   on SIGHUP (reload), how long the previous configuration's sessions\n"
         "                      may go on (default: until they end, as HAProxy's old process)\n"
         "  --log-level LEVEL   trace|debug|info|warn|error|critical|off (default: config's, else info)\n"
         "  --log-format FMT    text (default) or json: one JSON object per log line\n"
         "  --version           print the version and exit\n"
         "  -h, --help          print this help and exit\n"
         "A malformed option value is an error (exit 2).\n";
}

// SIGHUP: replaces `current` with a service built from the file, if it loads and starts.
// Returns "" on success, else why the running configuration stays.
std::string reload(const std::string& path, bool level_from_command_line, std::unique_ptr<pgha::proxy::ProxyService>& current,
            pgha::proxy::RetiredServices& retired, std::chrono::milliseconds reload_grace) {
  using pgha::proxy::log;
  pgha::proxy::LoadedConfig loaded;
  try {
    loaded = pgha::proxy::load_config(path);
  } catch (const pgha::proxy::ConfigError& e) {
    log().error("SIGHUP: config error: {}; the running configuration stays", e.what());
    return std::string("config error: ") + e.what();
  }
  for (const auto& w : loaded.warnings) log().warn("config: {}", w.to_string());
  if (!level_from_command_line) spdlog::set_level(spdlog::level::from_str(loaded.config.log_level));
  try {
    auto next = std::make_unique<pgha::proxy::ProxyService>(std::move(loaded.config), current.get());
    pgha::proxy::ListenerHandover handover = current->hand_over_listeners();
    const std::size_t handed = handover.size();
    current->stop_admin();
    try {
      next->start(&handover);
    } catch (...) {
      current->restart_admin();
      throw;
    }
    log().info("SIGHUP: reloaded {} ({} listening socket(s) taken over); {} session(s) of the previous "
               "configuration go on{}",
               path, handed - handover.size(), current->session_count(),
               reload_grace.count() < 0 ? " until they end" : " for up to " + std::to_string(reload_grace.count()) + " ms");
    const auto grace = reload_grace.count() < 0 ? std::chrono::milliseconds::max() : reload_grace;
    retired.retire(std::move(current), grace);
    current = std::move(next);
  } catch (const std::exception& e) {
    log().error("SIGHUP: reload failed: {}; the running configuration stays", e.what());
    return std::string("reload failed: ") + e.what();
  }
  return "";
}

// The value of a numeric option, or exit 2 naming the option and the value.
long milliseconds_option(const std::string& option, const std::string& text) {
  constexpr long kMax = 86'400'000;  // a day: any longer is a typo
  long value = -1;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 0 || value > kMax) {
    std::cerr << "pgha-proxy: " << option << ": '" << text << "' is not a number of milliseconds (0.."
              << kMax << ")\n";
    std::exit(2);
  }
  return value;
}

// The value of --log-level, or exit 2: spdlog would silently turn an unknown name into "off".
std::string log_level_option(const std::string& text) {
  for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    if (text == level) return text;
  }
  std::cerr << "pgha-proxy: --log-level: unknown level '" << text
            << "' (trace, debug, info, warn, error, critical, off)\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::string log_level;
  std::string log_format = "text";
  bool check_only = false;
  long grace_ms = 5000;
  long reload_grace_ms = -1;
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
      grace_ms = milliseconds_option(arg, value("--grace"));
    } else if (arg == "--reload-grace") {
      reload_grace_ms = milliseconds_option(arg, value("--reload-grace"));
    } else if (arg == "--log-level") {
      log_level = log_level_option(value("--log-level"));
    } else if (arg == "--log-format") {
      log_format = value("--log-format");
      if (!pgha::log_format::is_log_format(log_format)) {
        std::cerr << "pgha-proxy: --log-format: unknown format '" << log_format << "' (expected text or json)\n";
        return 2;
      }
    } else if (arg == "-h" || arg == "--help") {
      usage(std::cout);
      return 0;
    } else if (arg == "--version") {
      std::cout << pgha::version_line("pgha-proxy") << "\n";
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
  (void)pgha::log_format::apply(log_format);  // checked above
  spdlog::set_level(spdlog::level::from_str(log_level.empty() ? loaded.config.log_level : log_level));
  for (const auto& w : loaded.warnings) pgha::proxy::log().warn("config: {}", w.to_string());
  if (check_only) {
    std::cout << "Configuration file is valid: " << config_path << "\n";
    return 0;
  }

  // Descriptors are the proxy's capacity: two per session. Use the whole hard limit.
  if (!pgha::proxy::raise_fd_limit_to_hard_limit()) pgha::proxy::log().warn("cannot raise the descriptor limit");
  // Block the signals in every thread; the main thread takes them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // Before any thread: it takes $NOTIFY_SOCKET and $WATCHDOG_* out of the environment.
  auto notifier = pgha::service_notify::ServiceNotifier::from_environment(
      [](const std::string& error) { pgha::proxy::log().warn("systemd: {}", error); });

  pgha::proxy::RetiredServices retired;
  try {
    auto service = std::make_unique<pgha::proxy::ProxyService>(std::move(loaded.config));
    service->start();
    // READY once every server's first check has run (it does within its check deadline, also
    // when the server is dead), so that a client of a freshly started proxy finds the servers'
    // real states; at the latest a second after the longest check deadline. Signals are taken
    // meanwhile (a reload then is not announced: the service manager is still waiting for READY).
    bool ready = false;
    const auto ready_deadline =
        std::chrono::steady_clock::now() + service->health().longest_check_deadline() + std::chrono::seconds(1);
    pgha::proxy::ProxyLiveness liveness;
    liveness.watch(service.get());
    pgha::service_notify::WatchdogKeepalive keepalive(notifier, [&liveness] { return liveness.alive(); });
    keepalive.start();
    for (;;) {
      if (!ready && (service->health().first_checks_done() || std::chrono::steady_clock::now() >= ready_deadline)) {
        if (!service->health().first_checks_done()) pgha::proxy::log().warn("systemd: READY before every first check ended");
        notifier.ready(service->status_line());
        ready = true;
      }
      // Wakes once a second to free the services that reloads retired, once they have drained;
      // every 10 ms until READY.
      const timespec tick = ready ? timespec{1, 0} : timespec{0, 10'000'000};
      const int sig = sigtimedwait(&signals, nullptr, &tick);
      retired.free_drained();
      if (sig < 0) continue;  // EAGAIN (tick) or EINTR
      if (sig == SIGHUP) {
        if (ready) notifier.reloading("reloading " + config_path);
        const std::string refused =
            reload(config_path, !log_level.empty(), service, retired, std::chrono::milliseconds(reload_grace_ms));
        liveness.watch(service.get());  // before free_drained() may free the previous service
        if (ready) notifier.ready(refused.empty() ? service->status_line() : "reload refused: " + refused);
        continue;
      }
      pgha::proxy::log().info("{}: stopping{}", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                              sig == SIGTERM ? " (draining sessions for up to " + std::to_string(grace_ms) + " ms)" : "");
      const std::chrono::milliseconds grace(sig == SIGTERM ? grace_ms : 0);
      notifier.stopping("stopping: " + std::to_string(service->session_count()) + " session(s) to drain");
      retired.hurry(grace);
      // While the sessions drain, SIGINT (or a second SIGTERM) closes the rest at once.
      std::atomic<bool> stopped{false};
      std::thread impatient;
      if (grace.count() > 0) {
        impatient = std::thread([&] {
          sigset_t stop_signals;
          sigemptyset(&stop_signals);
          sigaddset(&stop_signals, SIGINT);
          sigaddset(&stop_signals, SIGTERM);
          const timespec poll{0, 100'000'000};
          while (!stopped.load()) {
            const int again = sigtimedwait(&stop_signals, nullptr, &poll);
            if (again != SIGINT && again != SIGTERM) continue;
            pgha::proxy::log().info("{}: closing the {} remaining session(s) now", again == SIGINT ? "SIGINT" : "SIGTERM",
                                    service->session_count());
            retired.hurry(std::chrono::milliseconds{0});
            service->hurry_stop(std::chrono::milliseconds{0});
            return;
          }
        });
      }
      service->stop(grace);
      stopped = true;
      if (impatient.joinable()) impatient.join();
      keepalive.stop();
      break;
    }
  } catch (const std::exception& e) {
    retired.hurry(std::chrono::milliseconds{0});
    retired.free_all();
    pgha::proxy::log().critical("{}", e.what());
    return 1;
  }
  retired.free_all();  // hurried above: within --grace
  return 0;
}
