// See callback_runner.h.
#include "election/callback_runner.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>

#include "election/log.h"

namespace pgha::election {

namespace {

// Bounds the memory of a long-running agent; tests read only the last few.
constexpr std::size_t kCompletedKept = 64;

}  // namespace

CallbackRunner::CallbackRunner(CommandRunner runner, std::string log_path)
    : runner_(std::move(runner)), log_path_(std::move(log_path)) {
  cancel_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (cancel_fd_ < 0) throw std::runtime_error("callbacks: eventfd failed");
  thread_ = std::thread([this] { work(); });
}

CallbackRunner::~CallbackRunner() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    next_.reset();
    cancel_running();
  }
  cv_.notify_all();
  thread_.join();
  ::close(cancel_fd_);
}

void CallbackRunner::cancel_running() {
  if (!running_) return;
  const std::uint64_t one = 1;
  // A full counter (never, at one write per callback) would only mean it is signalled already.
  (void)!::write(cancel_fd_, &one, sizeof one);
}

void CallbackRunner::run(std::string name, std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    if (next_) log().info("callback {} dropped before it started: {} replaces it", next_->name, name);
    next_ = Job{std::move(name), std::move(argv), timeout};
    cancel_running();
  }
  cv_.notify_all();
}

bool CallbackRunner::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [this] { return !running_ && !next_; });
}

std::vector<CallbackRunner::Completed> CallbackRunner::completed() const {
  std::lock_guard lock(mutex_);
  return completed_;
}

void CallbackRunner::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || next_.has_value(); });
    if (stopping_) return;
    Job job = std::move(*next_);
    next_.reset();
    // A cancel meant for the previous callback must not kill this one; one that comes from here
    // on is meant for it (the descriptor stays readable until this read).
    std::uint64_t drained = 0;
    (void)!::read(cancel_fd_, &drained, sizeof drained);
    running_ = true;
    lock.unlock();

    CommandResult result = runner_.run(job.argv, job.timeout, log_path_, cancel_fd_);
    if (result.ok()) {
      log().info("callback {}: {}", job.name, result.describe);
    } else if (result.cancelled) {
      log().warn("callback {}: a newer callback replaced it: {}", job.name, result.describe);
    } else {
      log().warn("callback {}: {}", job.name, result.describe);
    }

    lock.lock();
    running_ = false;
    completed_.push_back({std::move(job.name), std::move(result)});
    if (completed_.size() > kCompletedKept) completed_.erase(completed_.begin());
    cv_.notify_all();
  }
}

}  // namespace pgha::election
