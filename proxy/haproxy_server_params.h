// HaproxyServerParams: what an haproxy.cfg "server" or "default-server" line sets after the
// server's address (check and its timing, weight, backup, observe, the TLS check keywords...),
// and parse_server_params(), which reads those keywords. Part of HaproxyConfigLoader, apart for
// size: a value type and stateless functions, used on the loading thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "health/check_spec.h"
#include "proxy/config.h"
#include "proxy/config_loader.h"

namespace pgha::proxy::config_detail {

struct HaproxyServerParams {
  bool check = false;
  std::optional<uint16_t> check_port;
  std::string check_addr;
  health::CheckTiming timing;  // inter, fastinter, downinter, rise, fall
  int weight = 1;
  int maxconn = 0;
  bool backup = false;
  bool shutdown_sessions = false;
  Millis shutdown_grace{0};  // pgha-shutdown-grace
  health::InitialState initial_state = health::InitialState::kDownUntilFirstCheck;
  health::ObserveSpec observe;
  int observe_line = 0;
  // check-ssl, ca-file, crt, check-sni, verifyhost; the context is built once the server is known.
  health::CheckTlsSpec tls;
  std::optional<bool> verify;  // "verify none|required"; unset: global ssl-server-verify
  int ca_file_line = 0;
  int crt_line = 0;
};

// Global settings that server keywords use when they are read (HAProxy's ca-base, crt-base: the
// directories of relative ca-file and crt paths).
struct ServerParamBases {
  std::string ca_base;
  std::string crt_base;
};

// True for a word that is a server keyword (so "server NAME check" lacks its address).
bool is_server_param_keyword(std::string_view word);

// Reads tokens[first..] of the line at `line` (file and line; the key is each keyword) into
// `params`; a keyword that is ignored adds a warning, one that would change routing or checking
// if ignored throws ConfigError.
void parse_server_params(const std::vector<std::string>& tokens, std::size_t first, HaproxyServerParams& params,
                         const Location& line, const ServerParamBases& bases, std::vector<ConfigWarning>& warnings);

}  // namespace pgha::proxy::config_detail
