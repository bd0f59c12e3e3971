#include "proxy/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace pgha::proxy {

PipePool::PipePool(std::size_t max_idle, int size) : max_idle_(max_idle), size_(size) { free_.reserve(max_idle_); }

PipePool::~PipePool() {
  for (const Pipe& p : free_) close_pipe(p);
}

PipePool::Pipe PipePool::borrow() {
  if (!free_.empty()) {
    const Pipe p = free_.back();
    free_.pop_back();
    ++lent_;
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  int capacity = ::fcntl(fds[1], F_SETPIPE_SZ, size_);
  if (capacity < 0) capacity = ::fcntl(fds[1], F_GETPIPE_SZ);
  if (capacity <= 0) {
    close_pipe({fds[0], fds[1], 0});
    return {};
  }
  ++lent_;
  return {fds[0], fds[1], capacity};
}

void PipePool::give_back(Pipe pipe, bool empty) {
  if (!pipe) return;
  --lent_;
  if (empty && free_.size() < max_idle_) {
    free_.push_back(pipe);
  } else {
    close_pipe(pipe);
  }
}

void PipePool::close_pipe(Pipe pipe) {
  ::close(pipe.read_fd);
  ::close(pipe.write_fd);
}

}  // namespace pgha::proxy
