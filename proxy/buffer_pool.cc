#include "proxy/buffer_pool.h"

namespace pgha::proxy {

BufferPool::BufferPool(std::size_t buffer_size, std::size_t max_idle)
    : buffer_size_(buffer_size), max_idle_(max_idle) {
  free_.reserve(max_idle_);
}

BufferPool::Lease BufferPool::borrow() {
  ++lent_;
  if (!free_.empty()) {
    auto block = std::move(free_.back());
    free_.pop_back();
    return Lease(*this, std::move(block));
  }
  ++allocations_;
  return Lease(*this, std::make_unique_for_overwrite<char[]>(buffer_size_));
}

void BufferPool::give_back(std::unique_ptr<char[]> block) {
  --lent_;
  if (free_.size() < max_idle_) free_.push_back(std::move(block));
}

}  // namespace pgha::proxy
