#include "proxy/epoll_watchers.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <memory>
#include <string>

namespace pgha::proxy {

namespace {

// Parses the unsigned number in `text` after `key` (decimal or hex), skipping blanks before it.
bool number_after(std::string_view text, std::string_view key, int base, unsigned long& out) {
  const auto at = text.find(key);
  if (at == std::string_view::npos) return false;
  std::string_view rest = text.substr(at + key.size());
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), out, base);
  return ec == std::errc() && end != rest.data();
}

// Reads a small /proc file whole; empty on any failure.
std::string read_proc_file(int dir_fd, const char* name) {
  std::string text;
  const int fd = ::openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

}  // namespace

bool fdinfo_lists_target(std::string_view fdinfo, int fd, ino_t ino) {
  // A target line: "tfd:        5 events:       19 data:                5  pos:0 ino:3f5 sdev:f"
  while (!fdinfo.empty()) {
    const auto eol = fdinfo.find('\n');
    const std::string_view line = fdinfo.substr(0, eol);
    fdinfo = eol == std::string_view::npos ? std::string_view{} : fdinfo.substr(eol + 1);
    if (!line.starts_with("tfd:")) continue;
    unsigned long tfd = 0;
    unsigned long tino = 0;
    if (number_after(line, "tfd:", 10, tfd) && number_after(line, " ino:", 16, tino) &&
        tfd == static_cast<unsigned long>(fd) && tino == static_cast<unsigned long>(ino)) {
      return true;
    }
  }
  return false;
}

std::vector<int> epoll_sets_watching(int fd) {
  std::vector<int> sets;
  struct stat target {};
  if (::fstat(fd, &target) != 0) return sets;
  std::unique_ptr<DIR, DirCloser> fds(::opendir("/proc/self/fd"));
  const int info_dir = ::open("/proc/self/fdinfo", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (!fds || info_dir < 0) {
    if (info_dir >= 0) ::close(info_dir);
    return sets;
  }
  const int fds_dir = ::dirfd(fds.get());
  while (const dirent* entry = ::readdir(fds.get())) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    char link[64];
    const ssize_t n = ::readlinkat(fds_dir, entry->d_name, link, sizeof(link));
    if (n <= 0 || std::string_view(link, static_cast<std::size_t>(n)) != "anon_inode:[eventpoll]") continue;
    if (fdinfo_lists_target(read_proc_file(info_dir, entry->d_name), fd, target.st_ino)) {
      sets.push_back(std::atoi(entry->d_name));
    }
  }
  ::close(info_dir);
  return sets;
}

}  // namespace pgha::proxy
