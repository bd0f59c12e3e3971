// yaml_to_json(): a patroni.yml subtree as the JSON Patroni would store it, scalars typed as
// PyYAML (YAML 1.1) types them: true/false/yes/no/on/off are booleans, ~/null/empty are null,
// decimal integers and floats are numbers, quoted scalars and everything else are strings. The
// member that bootstraps a cluster writes bootstrap.dcs this way to the /config key, so that
// patronictl show-config and GET /config read what Patroni itself would have written.
// Pure function; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace pgha::election {

nlohmann::json yaml_to_json(const YAML::Node& node);

}  // namespace pgha::election
