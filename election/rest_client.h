// RestClient: one cpp-httplib client for a member's REST API, made from the api_url of its member
// key ("http://host:port/patroni" or "https://...") and the config's ctl settings
// (AgentConfig::ctl_tls, ctl_username, ctl_password: Patroni's ctl keys, else restapi's). Over
// https the server's certificate must chain to ctl_tls.cafile (the system's CAs without one) and
// name the host, unless ctl.insecure; the client certificate is presented when one is set, for
// APIs that ask for it (verify_client). Basic auth goes with every request when configured.
//
// Used by HttpPeerClient (the agent asking other members) and pghactl. Blocking: never on an io
// thread. One per call, by one thread; making one re-reads the certificate files, so renewed ones
// are picked up.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <httplib.h>

#include "election/agent_config.h"

namespace pgha::election {

class RestClient {
 public:
  // Check ok() before use: the URL or the client certificate may be unusable.
  RestClient(const std::string& api_url, const AgentConfig& config, std::chrono::milliseconds connect_timeout,
             std::chrono::milliseconds read_timeout);

  bool ok() const { return client_ != nullptr; }
  // Why !ok(): "no REST API address in 'x'", or the client certificate file and OpenSSL's reason.
  const std::string& error() const { return error_; }
  // "https://host:port", for messages.
  const std::string& base() const { return base_; }

  httplib::Result get(const std::string& path);
  httplib::Result post(const std::string& path, const std::string& json_body);
  httplib::Result del(const std::string& path);
  // What went wrong with a request that has no reply: cpp-httplib's reason, and OpenSSL's when the
  // server's certificate was refused.
  std::string describe_failure(const httplib::Result& result) const;

 private:
  std::unique_ptr<httplib::ClientImpl> client_;
  httplib::SSLClient* tls_ = nullptr;  // client_, when https
  std::string base_;
  std::string error_;
};

}  // namespace pgha::election
