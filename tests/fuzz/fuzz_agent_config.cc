// Fuzz target: pgha-agent's configuration parser (parse_agent_config: its YAML or a patroni.yml)
// over any text. An AgentConfigError "FILE:LINE: KEY: MESSAGE" is the answer to a bad file; any
// other exception, a crash or a hang is a finding, and so is a loaded config that breaks what the
// agent relies on: the timing rule loop_wait + 2*retry_timeout <= ttl, names that can be parts
// of etcd keys, and the addresses the other members use.
#include <cstddef>
#include <cstdint>
#include <string>

#include "election/agent_config.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using pgha::fuzz::require;

bool key_part(const std::string& name) {
  return !name.empty() && name.find_first_of("/ \t\r\n") == std::string::npos;
}

void check_config(const pgha::election::AgentConfig& config) {
  require(config.loop_wait.count() > 0 && config.retry_timeout.count() > 0 && config.ttl.count() > 0);
  require(config.loop_wait + 2 * config.retry_timeout <= config.ttl);
  require(key_part(config.scope) && key_part(config.name));
  require(config.namespace_.size() > 1 && config.namespace_.front() == '/' && config.namespace_.back() != '/');
  require(!config.etcd_hosts.empty());
  require(!config.rest_connect_address.empty() && !config.pg_connect_address.empty());
  require(!config.data_dir.empty());
}

// "FILE:LINE: KEY: " with LINE a line of the text (0 when the problem has none) and a key.
void check_error(const std::string& what, const std::string& file, std::string_view text) {
  require(what.rfind(file + ":", 0) == 0);
  const std::size_t digits = what.find_first_not_of("0123456789", file.size() + 1);
  require(digits != std::string::npos && digits > file.size() + 1 && digits - file.size() - 1 <= 9);
  require(what.compare(digits, 2, ": ") == 0 && what.compare(digits + 2, 2, ": ") != 0);  // a key follows
  require(std::stoi(what.substr(file.size() + 1, digits - file.size() - 1)) <= pgha::fuzz::line_count(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pgha;
  const std::string file = "fuzz.yml";
  const std::string text(fuzz::as_text(data, size));
  try {
    check_config(election::parse_agent_config(text, file));
  } catch (const election::AgentConfigError& error) {
    check_error(error.what(), file, text);
  }
  return 0;
}
