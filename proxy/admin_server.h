// AdminServer: pgha-proxy's admin HTTP API (cpp-httplib) on its own thread, 127.0.0.1 by
// default: GET /status (JSON), GET /metrics (Prometheus text), POST
// /servers/{listener}/{server}/{drain|maint|ready}. It only reads counters and snapshots
// and posts admin states to the HealthMonitor; it never touches a worker's sessions directly.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "proxy/config.h"

namespace httplib {
class Server;
}

namespace pgha::proxy {

class ProxyService;

class AdminServer {
 public:
  AdminServer(ProxyService& service, AdminConfig config);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void bind();  // throws std::runtime_error when the port cannot be bound
  void start();
  void stop();
  int port() const { return port_; }

 private:
  ProxyService& service_;
  AdminConfig config_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// Renderers, separate from the HTTP plumbing so that tests can call them directly.
std::string render_status_json(const ProxyService& service);
std::string render_metrics(const ProxyService& service);

}  // namespace pgha::proxy
