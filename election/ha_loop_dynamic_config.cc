// HaLoop's part that applies the dynamic configuration (/config, dynamic_settings.h) at run time,
// as Patroni does: each iteration reads the key with the cluster, and the timing, synchronous
// replication and PostgreSQL's parameters follow it. The safety rule of a ttl change: the fencing
// deadline (and the watchdog) always follow the lease that holds the leader key, so a shorter ttl
// never leaves a primary writable past its lease. See ha_loop.h.
#include <algorithm>

#include "election/bounded_json.h"
#include "election/ha_loop.h"
#include "election/log.h"

namespace pgha::election {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

namespace {

const KeyValue* find_key(const RangeResponse& range, const std::string& key) {
  for (const KeyValue& kv : range.kvs) {
    if (kv.key == key) return &kv;
  }
  return nullptr;
}

std::string on_off(bool value) { return value ? "on" : "off"; }

std::string bytes_text(std::int64_t value) { return value < 0 ? "no limit" : std::to_string(value) + " bytes"; }

// "work_mem 4MB -> 8MB, max_connections (new) 200, shared_buffers 64MB -> (removed)"
std::string parameter_changes(const std::map<std::string, std::string>& before,
                              const std::map<std::string, std::string>& after) {
  std::string out;
  auto add = [&out](const std::string& text) { out += (out.empty() ? "" : ", ") + text; };
  for (const auto& [name, value] : after) {
    auto it = before.find(name);
    if (it == before.end()) add(name + " (new) " + value);
    else if (it->second != value) add(name + " " + it->second + " -> " + value);
  }
  for (const auto& [name, value] : before) {
    if (!after.count(name)) add(name + " " + value + " -> (removed)");
  }
  return out;
}

}  // namespace

void HaLoop::apply_dynamic_config(const RangeResponse& range) {
  const KeyValue* stored = find_key(range, keys_.config());
  const nlohmann::json config = stored ? parse_bounded_json(stored->value) : nlohmann::json::object();
  const DecodedDynamicSettings decoded = decode_dynamic_settings(config, local_dynamic_, dynamic_);
  std::vector<std::string> refusals;
  for (const std::string& e : decoded.errors) refusals.push_back(e + ": the value in effect is kept");
  for (const std::string& i : decoded.ignored) refusals.push_back(i);
  if (refusals != logged_config_errors_) {  // once per change, not every loop
    for (const std::string& e : decoded.errors) {
      log().error("{}: {}: {}: the value in effect is kept", config_.name, keys_.config(), e);
    }
    for (const std::string& i : decoded.ignored) log().warn("{}: {}: {}", config_.name, keys_.config(), i);
    logged_config_errors_ = refusals;
  }
  const DynamicSettings& wanted = decoded.settings;
  const DynamicSettings& was = dynamic_;
  auto changed = [this](const char* key, const std::string& from, const std::string& to) {
    if (from != to) log().warn("{}: {} changed from {} to {}", config_.name, key, from, to);
  };
  changed("ttl", duration_text(was.ttl), duration_text(wanted.ttl));
  changed("loop_wait", duration_text(was.loop_wait), duration_text(wanted.loop_wait));
  changed("retry_timeout", duration_text(was.retry_timeout), duration_text(wanted.retry_timeout));
  changed("maximum_lag_on_failover", bytes_text(was.maximum_lag_on_failover), bytes_text(wanted.maximum_lag_on_failover));
  const auto mode = [](const DynamicSettings& d) {
    return d.synchronous_quorum ? std::string("quorum") : on_off(d.synchronous_mode);
  };
  changed("synchronous_mode", mode(was), mode(wanted));
  changed("synchronous_mode_strict", on_off(was.synchronous_mode_strict), on_off(wanted.synchronous_mode_strict));
  changed("synchronous_node_count", std::to_string(was.synchronous_node_count),
          std::to_string(wanted.synchronous_node_count));
  changed("maximum_lag_on_syncnode", bytes_text(was.maximum_lag_on_syncnode), bytes_text(wanted.maximum_lag_on_syncnode));
  if (const std::string changes = parameter_changes(was.parameters, wanted.parameters); !changes.empty()) {
    log().warn("{}: postgresql.parameters from {}: {}", config_.name, keys_.config(), changes);
  }
  dynamic_ = wanted;

  apply_timing(wanted);
  const bool keep_sync_file = apply_synchronous_mode(wanted, range);
  apply_postgresql_parameters(wanted, keep_sync_file);
}

void HaLoop::apply_timing(const DynamicSettings& wanted) {
  settings_.maximum_lag_on_failover = wanted.maximum_lag_on_failover;
  settings_.ttl = wanted.ttl;
  // A lease of the new ttl now rather than at the next iteration: the sooner the lease held
  // matches, the sooner a longer loop_wait or retry_timeout may apply.
  if (lease_id_ != 0 && held_lease_ttl_ != settings_.ttl) (void)renew_lease_for_new_ttl();
  // loop_wait and retry_timeout only within the lease actually held (or about to be granted):
  // a leader that waits loop_wait and retries for retry_timeout must still fence within it.
  const Millis lease = lease_id_ != 0 ? held_lease_ttl_ : Millis(settings_.ttl);
  if (wanted.loop_wait + 2 * wanted.retry_timeout <= lease) {
    settings_.loop_wait = wanted.loop_wait;
    settings_.retry_timeout = wanted.retry_timeout;
    logged_timing_wait_ = false;
  } else if (!logged_timing_wait_ &&
             (settings_.loop_wait != wanted.loop_wait || settings_.retry_timeout != wanted.retry_timeout)) {
    logged_timing_wait_ = true;
    log().warn("{}: loop_wait {} and retry_timeout {} wait for a lease of ttl {} (the lease held has {})",
               config_.name, duration_text(wanted.loop_wait), duration_text(wanted.retry_timeout),
               duration_text(wanted.ttl), duration_text(held_lease_ttl_));
  }
}

void HaLoop::start_synchronous_replication(const DynamicSettings& wanted) {
  sync_.emplace(config_.name, keys_, sync_settings_of(wanted), dcs_, postgres_,
                std::min<Millis>(settings_.retry_timeout / 2, 2000ms));
  sync_->set_reload_hook([this] { callbacks_->reloaded(); });
}

bool HaLoop::apply_synchronous_mode(const DynamicSettings& wanted, const RangeResponse& range) {
  const Millis timeout = std::min<Millis>(settings_.retry_timeout / 2, 2000ms);
  if (wanted.synchronous_mode) {
    if (sync_) sync_->set_settings(sync_settings_of(wanted), timeout);
    else start_synchronous_replication(wanted);
    settings_.synchronous_mode = true;
    return true;
  }
  // Off: decide() no longer reads /sync, and the leader deletes it before synchronous commits
  // stop (Patroni's order: the key first, then synchronous_standby_names), so /sync never names
  // a standby that may lack an acknowledged commit.
  settings_.synchronous_mode = false;
  sync_.reset();
  const KeyValue* sync_key = find_key(range, keys_.sync());
  if (!holds_lock_ || sync_key == nullptr) return false;
  auto deleted = dcs_.delete_if_value(keys_.sync(), sync_key->value);
  if (deleted.ok()) {
    log().warn("{}: synchronous replication disabled: deleted {}", config_.name, keys_.sync());
    return false;
  }
  if (deleted.status().code() == EtcdStatus::Code::kTxnFailed) return true;  // changed since: looked at again
  log().warn("{}: synchronous replication disabled, but deleting {} failed ({}): synchronous_standby_names "
             "stays until it is deleted", config_.name, keys_.sync(), deleted.status().to_string());
  return true;
}

void HaLoop::apply_postgresql_parameters(const DynamicSettings& wanted, bool keep_sync_file) {
  std::map<std::string, std::string> parameters = effective_parameters(wanted, config_);
  if (parameters == applied_parameters_ && keep_sync_file == applied_sync_file_) return;
  const PgStatus applied = postgres_.apply_parameters(parameters, keep_sync_file, settings_.retry_timeout);
  if (!applied.ok()) {
    // Tried again at the next iteration.
    log().warn("{}: applying postgresql.parameters failed: {}", config_.name, applied.message());
    return;
  }
  log().info("{}: postgresql.parameters applied: {}", config_.name, applied.message());
  applied_parameters_ = std::move(parameters);
  applied_sync_file_ = keep_sync_file;
}

bool HaLoop::renew_lease_for_new_ttl() {
  if (unsure_lease_ != 0) return false;  // the last attempt's lease is not settled yet
  const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(settings_.ttl);
  const auto asked_at = Clock::now();
  auto grant = dcs_.grant_lease(ttl);
  if (!grant.ok()) {
    log().warn("{}: no lease of the new ttl {} yet ({}): keeping lease {:x}", config_.name, duration_text(ttl),
               grant.status().to_string(), lease_id_);
    return false;
  }
  const std::int64_t fresh = grant.value().id;
  if (holds_lock_) {
    // Until the move is known, the leader key may be on either lease: fence by the earlier.
    unsure_lease_ = fresh;
    unsure_lease_expiry_ = asked_at + ttl;
    unsure_lease_fence_ = unsure_lease_expiry_ - std::min<Millis>(1000ms, Millis(ttl) / 4);
    update_watchdog();
    auto moved = dcs_.compare_and_swap(keys_.leader(), config_.name, config_.name, fresh);
    if (!moved.ok() && moved.status().code() != EtcdStatus::Code::kTxnFailed) {
      // Unknown whether the key moved: take the new lease back (a moved key goes with it, and the
      // next read shows we lost the lock); until that is known, fencing counts from both.
      log().warn("{}: moving the leader key onto lease {:x} (ttl {}) went unanswered ({}): keeping lease {:x}",
                 config_.name, fresh, duration_text(ttl), moved.status().to_string(), lease_id_);
      if (dcs_.revoke_lease(fresh).ok()) unsure_lease_ = 0;
      update_watchdog();
      return false;
    }
    unsure_lease_ = 0;
    if (!moved.ok()) {
      log().warn("{}: the leader key no longer names us: not moving it onto the new lease", config_.name);
      holds_lock_ = false;
    }
  }
  log().warn("{}: lease {:x} with ttl {} replaces lease {:x} (ttl {}){}", config_.name, fresh, duration_text(ttl),
             lease_id_, duration_text(held_lease_ttl_), holds_lock_ ? ", the leader key moved onto it" : "");
  replaced_lease_ = lease_id_;
  lease_id_ = fresh;
  held_lease_ttl_ = ttl;
  last_refresh_ = asked_at;
  doubt_since_.reset();
  update_watchdog();
  extend_published_lock();
  return true;
}

void HaLoop::retire_replaced_lease() {
  if (replaced_lease_ != 0) {
    if (EtcdStatus revoked = dcs_.revoke_lease(replaced_lease_); !revoked.ok()) {
      log().info("{}: revoking the replaced lease {:x} failed ({}): it expires by itself", config_.name,
                 replaced_lease_, revoked.to_string());
    }
    replaced_lease_ = 0;  // it is no longer kept alive either way
  }
  if (unsure_lease_ != 0 && (Clock::now() >= unsure_lease_expiry_ || dcs_.revoke_lease(unsure_lease_).ok())) {
    unsure_lease_ = 0;
  }
}

}  // namespace pgha::election
