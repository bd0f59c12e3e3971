#include "election/planned_work.h"

#include <utility>

namespace pgha::election {

namespace {

std::string seconds_of(std::chrono::milliseconds wait) {
  return std::to_string((wait.count() + 999) / 1000) + " s";
}

}  // namespace

SwitchoverResult PlannedWork::submit(Kind kind, const RestartRequest& restart, bool force, Millis wait,
                                     const std::function<void()>& wake) {
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    if (running_) return {503, std::string(name(running_->kind)) + " already in progress"};
    if (queued_) {
      if (!force) return {503, std::string(name(queued_->kind)) + " already in progress"};
      // The withdrawn job's request is answered by its own wait (its id is no longer queued).
      queued_.reset();
    }
    id = ++next_id_;
    queued_ = Job{id, kind, restart};
  }
  cv_.notify_all();
  wake();
  std::unique_lock lock(mutex_);
  // Answered, or gone without an answer (withdrawn by a forced job, or over).
  const auto settled = [&] {
    const bool queued = queued_ && queued_->id == id;
    const bool running = running_ && running_->id == id;
    return answered_id_ == id || (!queued && !running);
  };
  cv_.wait_for(lock, wait, settled);
  if (answered_id_ == id) return answer_;
  if (queued_ && queued_->id == id) {
    queued_.reset();
    return {503, std::string("the HA loop did not start the ") + name(kind) + " within " + seconds_of(wait) +
                     "; the request was withdrawn"};
  }
  if (running_ && running_->id == id) {
    return {503, std::string(name(kind)) + " still in progress after " + seconds_of(wait) +
                     ": the HA loop finishes it (see the agent's log)"};
  }
  return {503, std::string(name(kind)) + " withdrawn: a forced request took its place"};
}

std::optional<PlannedWork::Job> PlannedWork::take() {
  std::lock_guard lock(mutex_);
  if (running_ || !queued_) return std::nullopt;
  running_ = std::move(queued_);
  queued_.reset();
  return running_;
}

void PlannedWork::answer(std::uint64_t id, SwitchoverResult result) {
  {
    std::lock_guard lock(mutex_);
    answered_id_ = id;
    answer_ = std::move(result);
  }
  cv_.notify_all();
}

void PlannedWork::finish(std::uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    if (running_ && running_->id == id) running_.reset();
  }
  cv_.notify_all();
}

void PlannedWork::request_reload() {
  std::lock_guard lock(mutex_);
  reload_ = true;
}

bool PlannedWork::take_reload() {
  std::lock_guard lock(mutex_);
  return std::exchange(reload_, false);
}

bool PlannedWork::schedule(ScheduledRestart restart) {
  std::lock_guard lock(mutex_);
  if (scheduled_) return false;
  scheduled_ = std::move(restart);
  return true;
}

bool PlannedWork::cancel_schedule() {
  std::lock_guard lock(mutex_);
  const bool had = scheduled_.has_value();
  scheduled_.reset();
  return had;
}

std::optional<PlannedWork::ScheduledRestart> PlannedWork::scheduled() const {
  std::lock_guard lock(mutex_);
  return scheduled_;
}

}  // namespace pgha::election
