// HookScripts: a temporary directory of shell scripts standing in for callbacks and hooks in
// tests. A recording script appends its arguments (one line per run, space-separated) to a file
// of the directory; others sleep, fail, or write their PID first so that a test can check the
// process is gone. Removed with its files when destroyed. Test thread only.
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace pgha::election::test {

class HookScripts {
 public:
  HookScripts() {
    char tmpl[] = "/tmp/pgha-hooks-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) dir_ = tmpl;
  }
  ~HookScripts() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  HookScripts(const HookScripts&) = delete;
  HookScripts& operator=(const HookScripts&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // An executable /bin/sh script NAME with BODY; returns its path.
  std::string script(const std::string& name, const std::string& body) const {
    const std::string file = path(name);
    std::ofstream(file) << "#!/bin/sh\n" << body << "\n";
    ::chmod(file.c_str(), 0755);
    return file;
  }
  // Appends "$*" to OUT, then exits with CODE.
  std::string recorder(const std::string& name, const std::string& out, int code = 0) const {
    return script(name, "echo \"$*\" >> '" + path(out) + "'\nexit " + std::to_string(code));
  }
  // Appends "$*" to OUT, writes its PID to PID_FILE, then sleeps SECONDS (exec: the PID is sleep's).
  std::string sleeper(const std::string& name, const std::string& out, const std::string& pid_file,
                      int seconds) const {
    return script(name, "echo \"$*\" >> '" + path(out) + "'\necho $$ > '" + path(pid_file) + "'\nexec sleep " +
                            std::to_string(seconds));
  }

  // The lines of FILE ({} when it does not exist).
  std::vector<std::string> lines(const std::string& file) const {
    std::ifstream in(path(file));
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  // Polls (every 5 ms, up to TIMEOUT) until FILE has at least COUNT lines.
  bool wait_lines(const std::string& file, std::size_t count,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (lines(file).size() < count) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  // The PID a sleeper wrote (0 until it has).
  pid_t pid_in(const std::string& file) const {
    std::ifstream in(path(file));
    pid_t pid = 0;
    in >> pid;
    return pid;
  }
  // Polls until a sleeper has written its PID to FILE (0 after 10 s).
  pid_t wait_pid(const std::string& file) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (pid_in(file) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pid_in(file);
  }
  // Whether PID is alive: neither gone nor a zombie (its new parent, init, reaps it when it likes).
  static bool alive(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string id, comm, state;
    return static_cast<bool>(stat >> id >> comm >> state) && state != "Z";
  }
  // Polls until PID is dead (false if it still lives after 5 s).
  static bool wait_dead(pid_t pid) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (alive(pid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return !alive(pid);
  }

 private:
  std::filesystem::path dir_;
};

}  // namespace pgha::election::test
