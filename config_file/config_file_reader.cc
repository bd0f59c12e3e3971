#include "config_file/config_file_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pgha::config_file {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a plain file";
}

ConfigFileText failure(std::string message) { return ConfigFileText{{}, std::move(message)}; }

std::string too_large(std::size_t max_bytes) {
  return "larger than " + std::to_string(max_bytes) + " bytes: not a configuration file";
}

// Closes the descriptor on every path out.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

ConfigFileText read_config_file(const std::string& path, std::size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0) return failure(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return failure(std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return failure(std::string("cannot read: ") + kind_of(st.st_mode) + ", not a regular file");
  if (static_cast<std::size_t>(st.st_size) > max_bytes) return failure(too_large(max_bytes));

  ConfigFileText result;
  result.text.reserve(static_cast<std::size_t>(st.st_size));
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return failure(std::string("cannot read: ") + std::strerror(errno));
    }
    if (n == 0) break;
    // The file may grow while it is read (a log written to the wrong path): stop at the cap.
    if (result.text.size() + static_cast<std::size_t>(n) > max_bytes) return failure(too_large(max_bytes));
    result.text.append(buffer, static_cast<std::size_t>(n));
  }
  return result;
}

}  // namespace pgha::config_file
