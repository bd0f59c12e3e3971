// See postgres_callbacks.h.
#include "election/postgres_callbacks.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "election/log.h"

namespace pgha::election {

namespace {

namespace fs = std::filesystem;

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr const char* kOnReload = "on_reload";

std::vector<std::string> default_environment() {
  const char* path = std::getenv("PATH");
  return {std::string("PATH=") + (path != nullptr && *path != '\0' ? path : kDefaultPath), "LANG=C.UTF-8"};
}

std::string path_of(const std::vector<std::string>& environment) {
  for (const std::string& entry : environment) {
    if (entry.rfind("PATH=", 0) == 0) return entry.substr(5);
  }
  return kDefaultPath;
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

PostgresCallbacks::PostgresCallbacks(const AgentConfig& config, Options options)
    : scope_(config.scope),
      callbacks_(config.callbacks),
      pre_promote_(config.pre_promote),
      before_stop_(config.before_stop),
      callback_timeout_(config.callback_timeout),
      log_path_(std::move(options.log_path)),
      runner_(CommandRunner::Options{
          options.run_as, options.environment.empty() ? default_environment() : options.environment}) {
  search_path_ = path_of(options.environment.empty() ? default_environment() : options.environment);
  // Threads only for the lanes that have something to run.
  const bool reload = callbacks_.count(kOnReload) != 0;
  if (callbacks_.size() > (reload ? 1u : 0u)) callbacks_runner_ = std::make_unique<CallbackRunner>(runner_, log_path_);
  if (reload) reload_runner_ = std::make_unique<CallbackRunner>(runner_, log_path_);
}

void PostgresCallbacks::observed(const PgProbe& probe) {
  if (!probe.running || !probe.accepting) return;
  role_ = probe.in_recovery ? "replica" : "primary";
  if (pending_) {
    const Pending pending = *pending_;
    pending_.reset();
    fire(pending == Pending::kRoleChange ? "on_role_change" : pending == Pending::kRestart ? "on_restart" : "on_start");
  } else if (!fired_) {
    fire("on_start");  // found running: Patroni too signals it once
  }
}

void PostgresCallbacks::starting(bool as_primary, bool running) {
  // A former primary coming back as a standby changes role: that is the one callback it gets.
  if (!as_primary && fired_ && (role_ == "primary" || role_ == "demoted")) {
    pending_ = Pending::kRoleChange;
  } else {
    pending_ = running ? Pending::kRestart : Pending::kStart;
  }
}

void PostgresCallbacks::stopped() {
  // A pending start's callback stays: a rejoin stops and starts in one call, announced before it.
  fire("on_stop");
  if (role_ == "primary") role_ = "demoted";
}

void PostgresCallbacks::promoted() {
  pending_.reset();
  role_ = "primary";
  fire("on_role_change");
}

void PostgresCallbacks::reloaded() { fire(kOnReload); }

void PostgresCallbacks::fire(const std::string& action) {
  if (action != kOnReload) fired_ = true;
  const auto it = callbacks_.find(action);
  if (it == callbacks_.end()) return;
  std::vector<std::string> argv = resolved(it->second);
  argv.insert(argv.end(), {action, role_, scope_});
  std::error_code ignored;
  fs::create_directories(fs::path(log_path_).parent_path(), ignored);
  log().info("callback {}: starting {} {} {}", action, argv.front(), role_, scope_);
  CallbackRunner& lane = action == kOnReload ? *reload_runner_ : *callbacks_runner_;
  lane.run(action, std::move(argv), callback_timeout_);
}

std::vector<std::string> PostgresCallbacks::resolved(std::vector<std::string> argv) const {
  std::string& program = argv.front();
  if (program.find('/') != std::string::npos) {
    if (program.front() != '/') program = fs::absolute(program).lexically_normal().string();
    return argv;
  }
  std::size_t begin = 0;
  while (begin <= search_path_.size()) {
    std::size_t end = search_path_.find(':', begin);
    if (end == std::string::npos) end = search_path_.size();
    const std::string dir = end == begin ? "." : search_path_.substr(begin, end - begin);
    const std::string candidate = dir + "/" + program;
    if (is_executable_file(candidate)) {
      program = fs::absolute(candidate).lexically_normal().string();
      return argv;
    }
    begin = end + 1;
  }
  return argv;  // not found: the run reports it ("could not be executed")
}

CommandResult PostgresCallbacks::run_hook(const char* name, const std::vector<std::string>& argv, Millis timeout) {
  std::error_code ignored;
  fs::create_directories(fs::path(log_path_).parent_path(), ignored);
  log().info("{}: running {} (deadline {} ms)", name, argv.front(), timeout.count());
  return runner_.run(resolved(argv), std::max(timeout, Millis(1)), log_path_);
}

PgStatus PostgresCallbacks::pre_promote(Millis timeout) {
  if (pre_promote_.empty()) return PgStatus::success();
  const CommandResult r = run_hook("pre_promote", pre_promote_, timeout);
  if (r.ok()) return PgStatus::success("pre_promote " + r.describe);
  return PgStatus::error("pre_promote " + r.describe);
}

void PostgresCallbacks::before_stop(Millis timeout) {
  if (before_stop_.empty()) return;
  const CommandResult r = run_hook("before_stop", before_stop_, timeout);
  if (r.ok()) log().info("before_stop {}", r.describe);
  else log().warn("before_stop {} (PostgreSQL is stopped regardless)", r.describe);
}

bool PostgresCallbacks::wait_idle(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] { return std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()); };
  bool idle = true;
  if (callbacks_runner_) idle = callbacks_runner_->wait_idle(left()) && idle;
  if (reload_runner_) idle = reload_runner_->wait_idle(left()) && idle;
  return idle;
}

std::vector<CallbackRunner::Completed> PostgresCallbacks::completed() const {
  return callbacks_runner_ ? callbacks_runner_->completed() : std::vector<CallbackRunner::Completed>{};
}

std::vector<CallbackRunner::Completed> PostgresCallbacks::completed_reloads() const {
  return reload_runner_ ? reload_runner_->completed() : std::vector<CallbackRunner::Completed>{};
}

}  // namespace pgha::election
