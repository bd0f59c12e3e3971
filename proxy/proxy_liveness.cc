#include "proxy/proxy_liveness.h"

#include "proxy/proxy_service.h"

namespace pgha::proxy {

void ProxyLiveness::watch(ProxyService* service) {
  std::lock_guard lock(mutex_);
  service_ = service;
}

bool ProxyLiveness::alive() {
  std::lock_guard lock(mutex_);
  const bool answered = round_ && round_->answered();
  round_ = service_ ? service_->ping_workers() : nullptr;
  return answered;
}

}  // namespace pgha::proxy
