#include "election/process_alive.h"

#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace pgha::election {

bool process_alive(pid_t pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const auto paren = line.rfind(')');  // the command name may contain spaces and parentheses
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

pid_t postmaster_of(const std::string& data_dir) {
  namespace fs = std::filesystem;
  std::ifstream in(fs::path(data_dir) / "postmaster.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 0 || pid > INT32_MAX) return 0;
  if (!process_alive(static_cast<pid_t>(pid))) return 0;
  std::error_code ec;
  const fs::path cwd = fs::read_symlink("/proc/" + std::to_string(pid) + "/cwd", ec);
  if (!ec && !fs::equivalent(cwd, data_dir, ec) && !ec) return 0;
  return static_cast<pid_t>(pid);
}

}  // namespace pgha::election
