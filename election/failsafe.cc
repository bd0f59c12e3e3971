#include "election/failsafe.h"

#include <nlohmann/json.hpp>

#include "election/bounded_json.h"

namespace pgha::election {

namespace {

void set_error(std::string* error, const std::string& why) {
  if (error) *error = why;
}

}  // namespace

std::string encode_failsafe_topology(const FailsafeTopology& topology) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, api_url] : topology) j[name] = api_url;
  return json_text(j);
}

std::optional<FailsafeTopology> decode_failsafe_topology(const std::string& text, std::string* error) {
  const nlohmann::json j = parse_bounded_json(text);
  if (!j.is_object()) {
    set_error(error, "not a JSON object");
    return std::nullopt;
  }
  FailsafeTopology topology;
  for (const auto& [name, api_url] : j.items()) {
    if (!api_url.is_string()) {
      set_error(error, "the api_url of '" + name + "' is not a string");
      return std::nullopt;
    }
    topology[name] = api_url.get<std::string>();
  }
  return topology;
}

std::string encode_failsafe_body(const FailsafeBody& body) {
  return json_text({{"name", body.name}, {"conn_url", body.conn_url}, {"api_url", body.api_url}});
}

std::optional<FailsafeBody> decode_failsafe_body(const std::string& text, std::string* error) {
  const nlohmann::json j = parse_bounded_json(text);
  if (!j.is_object()) {
    set_error(error, "expected a JSON object with name, conn_url and api_url");
    return std::nullopt;
  }
  FailsafeBody body;
  for (auto [key, field] : {std::pair{"name", &body.name}, {"conn_url", &body.conn_url}, {"api_url", &body.api_url}}) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_string()) {
      set_error(error, std::string("'") + key + "' must be a string");
      return std::nullopt;
    }
    *field = it->get<std::string>();
  }
  if (body.name.empty()) {
    set_error(error, "'name' is missing");
    return std::nullopt;
  }
  return body;
}

FailsafeAnswer FailsafeWitness::confirm(const FailsafeBody& body, bool running_primary, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (running_primary) return {500, "Running as a leader"};
  if (campaigning_) return {500, "Campaigning for the leader lock"};
  confirmed_at_ = now;
  confirmed_name_ = body.name;
  return {};
}

std::optional<std::string> FailsafeWitness::confirmed_leader(std::chrono::milliseconds ttl,
                                                             Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  if (!confirmed_at_ || now - *confirmed_at_ >= ttl) return std::nullopt;
  return confirmed_name_;
}

bool FailsafeWitness::begin_campaign(std::chrono::milliseconds ttl, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (campaigning_) return true;
  if (confirmed_at_ && now - *confirmed_at_ < ttl) return false;
  campaigning_ = true;
  return true;
}

void FailsafeWitness::stand_down() {
  std::lock_guard lock(mutex_);
  campaigning_ = false;
}

bool FailsafeWitness::campaigning() const {
  std::lock_guard lock(mutex_);
  return campaigning_;
}

}  // namespace pgha::election
