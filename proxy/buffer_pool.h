// BufferPool: fixed-size relay buffers for one worker thread. A pump borrows a buffer only
// while data is in flight (read → fully written) and gives it back at once, so an idle
// session holds no buffer and the steady state allocates nothing.
// Not thread-safe: owned and used by exactly one worker thread.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace pgha::proxy {

class BufferPool {
 public:
  // A borrowed buffer; returns itself to the pool on destruction.
  class Lease {
   public:
    Lease(BufferPool& pool, std::unique_ptr<char[]> block) : pool_(&pool), block_(std::move(block)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease() {
      if (block_) pool_->give_back(std::move(block_));
    }
    char* data() { return block_.get(); }
    std::size_t size() const { return pool_->buffer_size(); }

   private:
    BufferPool* pool_;
    std::unique_ptr<char[]> block_;
  };

  // buffer_size: bytes per buffer; max_idle: how many free buffers are kept for reuse
  // (more than that are freed when returned, bounding idle memory after a burst).
  BufferPool(std::size_t buffer_size, std::size_t max_idle);

  Lease borrow();
  std::size_t buffer_size() const { return buffer_size_; }
  std::size_t idle() const { return free_.size(); }
  std::size_t lent() const { return lent_; }
  std::size_t allocations() const { return allocations_; }

 private:
  void give_back(std::unique_ptr<char[]> block);

  std::size_t buffer_size_;
  std::size_t max_idle_;
  std::vector<std::unique_ptr<char[]>> free_;
  std::size_t lent_ = 0;
  std::size_t allocations_ = 0;
};

}  // namespace pgha::proxy
