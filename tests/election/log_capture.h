// LogCapture: records every message the "election" logger emits while it lives (the message
// text as formatted from its arguments, one entry per call), at `level` and above, and restores
// the logger's level and sinks when destroyed. Create it before the code under test starts its
// threads and destroy it after they stop: spdlog's sink list is not safe to change while a
// thread logs.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/sinks/base_sink.h>

#include "election/log.h"

namespace pgha::election::testing {

class LogCapture {
 public:
  explicit LogCapture(spdlog::level::level_enum level = spdlog::level::trace)
      : sink_(std::make_shared<Sink>()), previous_level_(log().level()) {
    log().sinks().push_back(sink_);
    log().set_level(level);
  }
  ~LogCapture() {
    auto& sinks = log().sinks();
    std::erase(sinks, sink_);
    log().set_level(previous_level_);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::vector<std::string> messages() const { return sink_->messages(); }

 private:
  class Sink : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::vector<std::string> messages() {
      std::lock_guard lock(base_sink<std::mutex>::mutex_);
      return messages_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      messages_.emplace_back(msg.payload.data(), msg.payload.size());
    }
    void flush_() override {}

   private:
    std::vector<std::string> messages_;
  };

  std::shared_ptr<Sink> sink_;
  spdlog::level::level_enum previous_level_;
};

// True when `text` holds a byte below 0x20 (NUL, ESC, CR, LF, ...) or DEL.
inline bool has_control_bytes(const std::string& text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

}  // namespace pgha::election::testing
