// PipePool: kernel pipes for one worker thread, used to move bulk data between two sockets with
// splice(2) (socket → pipe → socket, the pages never copied through user space). Like
// BufferPool, a pump borrows a pipe only while data is in flight and gives it back empty, so an
// idle session holds none; a pipe that still holds data when its session ends is closed instead.
// Not thread-safe: owned and used by exactly one worker thread.
#pragma once

#include <cstddef>
#include <vector>

namespace pgha::proxy {

class PipePool {
 public:
  struct Pipe {
    int read_fd = -1;
    int write_fd = -1;
    int capacity = 0;  // bytes the pipe holds
    explicit operator bool() const { return read_fd >= 0; }
  };

  // max_idle: empty pipes kept for reuse (each costs two descriptors). size: the capacity asked
  // for each pipe (bounded by /proc/sys/fs/pipe-max-size; the kernel's default otherwise). The
  // pages are only used while data is in the pipe.
  PipePool(std::size_t max_idle, int size);
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // A pipe, or an empty Pipe when none can be created (descriptor limit): relay without splice.
  Pipe borrow();
  // Takes back a borrowed pipe; `empty` says whether everything written to it was read.
  void give_back(Pipe pipe, bool empty);

  std::size_t idle() const { return free_.size(); }
  std::size_t lent() const { return lent_; }

 private:
  static void close_pipe(Pipe pipe);

  std::size_t max_idle_;
  int size_;
  std::vector<Pipe> free_;
  std::size_t lent_ = 0;
};

}  // namespace pgha::proxy
