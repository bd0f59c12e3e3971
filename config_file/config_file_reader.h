// read_config_file(): the one way pgha-proxy and pgha-agent read a configuration file. Only a
// regular file (or a symlink to one) is read, and at most `max_bytes` of it: a device such as
// /dev/zero, a FIFO (whose open would wait for a writer), a socket or a directory is refused
// without blocking, and so is a file larger than the cap, whether it was large when opened or
// grew while it was read. The loaders turn `error` into their "FILE:0: file: MESSAGE" errors.
// Blocking file I/O: call at start-up or from a reload thread, never from an io thread.
// Pure function of the file system; thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace pgha::config_file {

// Far more than any real configuration (a few KiB), small enough that a wrong path costs little.
inline constexpr std::size_t kMaxConfigFileBytes = 4 * 1024 * 1024;

struct ConfigFileText {
  std::string text;   // the whole file when error is empty
  std::string error;  // what went wrong, without the path ("not a regular file (a FIFO)")

  bool ok() const { return error.empty(); }
};

[[nodiscard]] ConfigFileText read_config_file(const std::string& path, std::size_t max_bytes = kMaxConfigFileBytes);

}  // namespace pgha::config_file
