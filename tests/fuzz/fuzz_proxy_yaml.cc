// Fuzz target: pgha-proxy's native YAML loader (YamlConfigLoader::parse) over any text. A
// ConfigError naming file, line and key is the answer to a bad file; any other exception, a crash,
// a hang or a loaded config that breaks proxy_config_invariants.h is a finding. (admin.token_file
// and admin.token_env read a file or the environment: both must stay bounded too.)
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/yaml_config_loader.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/proxy_config_invariants.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pgha;
  const std::string file = "fuzz.yaml";
  const std::string text(fuzz::as_text(data, size));
  try {
    fuzz::check_proxy_config(proxy::YamlConfigLoader(file).parse(text).config);
  } catch (const proxy::ConfigError& error) {
    fuzz::check_config_error(error, file, text);
  }
  return 0;
}
