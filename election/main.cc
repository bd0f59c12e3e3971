// pgha-agent: the thin executable. `pgha-agent CONFIG` (like `patroni CONFIG`; also -c/--config):
// loads the agent YAML or patroni.yml (exit 2 with FILE:LINE: KEY: MESSAGE on error), starts the
// REST API, runs the HA loop on the main thread until SIGTERM/SIGINT, then steps down cleanly.
// SIGHUP reloads PostgreSQL's configuration as POST /reload does.
// `pgha-agent --check CONFIG` only loads and validates the file (like `pgha-proxy -c`).
// Under systemd ($NOTIFY_SOCKET): READY=1 after the first HA decision, RELOADING=1 ... READY=1
// around SIGHUP, STOPPING=1, WATCHDOG=1 while the HA loop is not stuck (AgentNotifications).
#include <malloc.h>
#include <signal.h>

#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>

#include "election/agent_config.h"
#include "election/agent_notifications.h"
#include "election/dynamic_config.h"
#include "election/etcd_client.h"
#include "election/etcd_dcs.h"
#include "election/fence_watchdog.h"
#include "election/ha_loop.h"
#include "election/log.h"
#include "election/peer_client.h"
#include "election/postgres_callbacks.h"
#include "election/postgres_control.h"
#include "election/rest_api.h"
#include "log_format/log_format.h"
#include "service_notify/service_notifier.h"
#include "service_notify/watchdog_keepalive.h"
#include "version/pgha_version.h"

namespace {

void usage(std::ostream& out) {
  out << "usage: pgha-agent [--check] CONFIG   (a pgha-agent YAML or a patroni.yml; also -c/--config CONFIG)\n"
         "       pgha-agent --version | --help\n"
         "  --check     load and validate CONFIG, print its warnings and exit: 0 when it is valid, 2 when\n"
         "              not; nothing is started and neither etcd nor PostgreSQL is contacted\n"
         "  --log-format FMT   text (default) or json: one JSON object per log line\n"
         "  --version   print the version and exit\n"
         "  -h, --help  print this help and exit\n";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pgha::election;
  // A fixed mmap threshold: glibc otherwise raises it to the size of each large block freed, so
  // that the next replies of that size (an etcd range, a watch message, up to
  // kMaxEtcdReplyBytes) come from the threads' heaps and their pages stay resident after use.
  // With it fixed, such buffers go back to the system when freed and the agent's memory returns
  // to its idle size after a burst of large or hostile replies.
  ::mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  std::string config_path;
  std::string log_format = "text";
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-c" || arg == "--config") {
      if (i + 1 >= argc) {
        std::cerr << "pgha-agent: " << arg << " needs a value\n";
        return 2;
      }
      if (!config_path.empty()) {
        std::cerr << "pgha-agent: more than one configuration file given\n";
        return 2;
      }
      config_path = argv[++i];
    } else if (arg == "--check") {
      check_only = true;
    } else if (arg == "--log-format") {
      if (i + 1 >= argc || !pgha::log_format::is_log_format(argv[i + 1])) {
        std::cerr << "pgha-agent: --log-format needs text or json\n";
        return 2;
      }
      log_format = argv[++i];
    } else if (arg == "-h" || arg == "--help") {
      usage(std::cout);
      return 0;
    } else if (arg == "--version") {
      std::cout << pgha::version_line("pgha-agent") << "\n";
      return 0;
    } else if (config_path.empty() && !arg.empty() && arg[0] != '-') {
      config_path = arg;
    } else {
      std::cerr << "pgha-agent: unknown argument '" << arg << "'\n";
      usage(std::cerr);
      return 2;
    }
  }
  if (config_path.empty()) {
    usage(std::cerr);
    return 2;
  }
  AgentConfig config;
  try {
    config = load_agent_config(config_path);
  } catch (const AgentConfigError& e) {
    std::cerr << "pgha-agent: config error: " << e.what() << "\n";
    return 2;
  }
  if (check_only) {
    for (const std::string& w : config.warnings) std::cerr << "pgha-agent: config warning: " << w << "\n";
    std::cout << "Configuration file is valid: " << config_path << "\n";
    return 0;
  }
  (void)pgha::log_format::apply(log_format);  // checked above
  for (const std::string& w : config.warnings) log().warn("config: {}", w);
  // Before any thread and before the fork below: it takes $NOTIFY_SOCKET and $WATCHDOG_* out of
  // the environment, so that PostgreSQL and the hooks do not notify in the agent's name.
  auto notifier = pgha::service_notify::ServiceNotifier::from_environment(
      [](const std::string& error) { log().warn("systemd: {}", error); });
  // Forked before any thread exists. Without it a frozen or killed leader agent would leave a
  // writable primary behind: refuse to run rather than run unsafe.
  // The watchdog reaches etcd like the agent does, to revoke the agent's lease after fencing.
  const EtcdClientOptions etcd_options = etcd_client_options(config);
  std::unique_ptr<FenceWatchdog> watchdog = FenceWatchdog::start(config.data_dir, etcd_options);
  if (!watchdog) {
    std::cerr << "pgha-agent: cannot start the fencing watchdog\n";
    return 1;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  try {
    EtcdClient etcd(etcd_options);
    EtcdDcs dcs(etcd);
    PostgresControl postgres(config);
    HttpPeerClient peers(config);
    SwitchoverTimings switchover_timings;
    switchover_timings.grace = config.switchover_grace;
    PostgresCallbacksOptions callback_options;
    callback_options.log_path = postgres.log_dir() + "/callbacks.log";
    PostgresCallbacks callbacks(config, callback_options);
    HaLoop loop(config, dcs, postgres, peers, watchdog.get(), switchover_timings, &callbacks);

    RestApiOptions rest_options;
    rest_options.listen = config.rest_listen;
    rest_options.username = config.rest_username;
    rest_options.password = config.rest_password;
    rest_options.tls = config.rest_tls;
    rest_options.liveness_threshold = std::chrono::duration_cast<std::chrono::milliseconds>(config.ttl);
    RestApi rest(
        rest_options, [&loop] { return loop.status(); },
        [&loop](const SwitchoverRequest& r) { return loop.request_switchover(r, /*failover=*/false); },
        [&loop](const SwitchoverRequest& r) { return loop.request_switchover(r, /*failover=*/true); });
    rest.set_config_handlers(
        [&dcs, &config] {
          const ConfigResult r = read_dynamic_config(dcs, KeyLayout(config.namespace_, config.scope));
          return SwitchoverResult{r.http_status, r.body};
        },
        [&dcs, &config](const std::string& patch) {
          // The loop's etcd watch sees the change and acts on it at once. A value the agents
          // would refuse is not stored (400).
          const ConfigResult r = patch_dynamic_config(dcs, KeyLayout(config.namespace_, config.scope), patch,
                                                      local_dynamic_settings(config));
          return SwitchoverResult{r.http_status, r.body};
        });
    rest.set_failsafe_handler([&loop](const std::string& body) { return loop.accept_failsafe(body); });
    PlannedWorkHandlers planned;
    planned.restart = [&loop](const RestartRequest& r) { return loop.request_restart(r); };
    planned.cancel_restart = [&loop] { return loop.cancel_scheduled_restart(); };
    planned.reload = [&loop] { return loop.request_reload(); };
    planned.reinitialize = [&loop](bool force) { return loop.request_reinitialize(force); };
    planned.cancel_switchover = [&loop] { return loop.cancel_scheduled_switchover(); };
    rest.set_planned_work_handlers(std::move(planned));
    rest.start();
    log().info("{}: REST API on {}", config.name, config.rest_listen);

    AgentNotifications notifications(notifier, loop);
    pgha::service_notify::WatchdogKeepalive keepalive(notifier, [&notifications] { return notifications.alive(); });
    keepalive.start();
    std::thread signal_thread([&loop, &notifications, signals] {
      int sig = 0;
      while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
        log().info("SIGHUP: reloading PostgreSQL's configuration");
        notifications.reload();
      }
      log().info("{}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      notifications.stopping();
      loop.stop();
    });
    loop.run();
    keepalive.stop();
    rest.stop();
    // The loop may also end on its own (it does not today); wake the signal thread then.
    pthread_kill(signal_thread.native_handle(), SIGTERM);
    signal_thread.join();
  } catch (const std::exception& e) {
    log().critical("{}", e.what());
    return 1;
  }
  return 0;
}
