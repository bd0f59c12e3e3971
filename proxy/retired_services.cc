// See retired_services.h.
#include "proxy/retired_services.h"

namespace pgha::proxy {

RetiredServices::~RetiredServices() {
  hurry(std::chrono::milliseconds{0});
  free_all();
}

void RetiredServices::retire(std::unique_ptr<ProxyService> service, std::chrono::milliseconds grace) {
  Retired r{std::move(service), std::make_unique<std::atomic<bool>>(false), {}};
  ProxyService* draining = r.service.get();
  std::atomic<bool>* drained = r.drained.get();
  r.thread = std::thread([draining, drained, grace] {
    draining->stop(grace);
    drained->store(true, std::memory_order_release);
  });
  retired_.push_back(std::move(r));
}

std::size_t RetiredServices::free_drained() {
  std::size_t freed = 0;
  std::erase_if(retired_, [&freed](Retired& r) {
    if (!r.drained->load(std::memory_order_acquire)) return false;
    r.thread.join();
    r.service.reset();
    ++freed;
    return true;
  });
  return freed;
}

void RetiredServices::hurry(std::chrono::milliseconds grace) {
  for (Retired& r : retired_) r.service->hurry_stop(grace);
}

void RetiredServices::free_all() {
  for (Retired& r : retired_) {
    if (r.thread.joinable()) r.thread.join();
  }
  retired_.clear();
}

}  // namespace pgha::proxy
