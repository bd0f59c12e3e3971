// ProxyProcess: the pgha-proxy binary (PGHA_PROXY_BIN) run by a test (a ChildProcess).
// Test thread only.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tests/support/child_process.h"

namespace pgha::proxy::testing {

// `pgha-proxy -f config --grace GRACE_MS` (200 unless given), with `environment` ("KEY=VALUE")
// added to the test's.
class ProxyProcess : public test::ChildProcess {
 public:
  ProxyProcess(const std::string& config, const std::string& log, std::vector<std::string> environment = {},
               const std::string& grace_ms = "200")
      : ChildProcess({PGHA_PROXY_BIN, "-f", config, "--grace", grace_ms}, log, std::move(environment)) {}
};

}  // namespace pgha::proxy::testing
