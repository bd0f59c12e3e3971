// EtcdWatch: one watch on a key prefix, streamed from POST /v3/watch on its own thread.
// Created by EtcdClient::watch(); destroying it (or stop()) ends the stream and joins the thread.
// When the stream breaks (member gone, member lost its leader, idle timeout) it reopens on the
// next endpoint from the revision after the last one delivered, so no event is lost or repeated;
// if that revision was compacted, the callback gets a response with compact_revision set (events
// in between are gone: re-read the keys) and the watch goes on from there.
// Threads: the callback runs on the watch thread, one response at a time, and must not call
// stop() on its own watch; stop() may be called from any other thread and returns within about
// the connect timeout (it shuts the socket down rather than waiting for data; a TLS handshake in
// progress ends first, within the connect timeout per wait).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "election/etcd_codec.h"

namespace httplib {
class ClientImpl;
}

namespace pgha::election {

class EtcdTransport;

// Receives responses that carry events, and compaction notices; never "created" or progress.
using WatchCallback = std::function<void(const WatchResponse&)>;

class EtcdWatch {
 public:
  // start_revision 0 = changes after now.
  EtcdWatch(std::shared_ptr<EtcdTransport> transport, std::string prefix, std::int64_t start_revision,
            WatchCallback callback);
  ~EtcdWatch();
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  void stop();

  // The revision a reopened stream would start from (last delivered event's revision + 1).
  std::int64_t next_revision() const { return next_revision_.load(); }
  // True while a stream is open and etcd confirmed the watch.
  bool connected() const { return connected_.load(); }
  // Streams opened so far, the first one included.
  int streams_opened() const { return streams_opened_.load(); }

 private:
  void run();
  // Opens one stream on `endpoint` and follows it until it ends; true if etcd confirmed it.
  bool follow_stream(const std::string& endpoint);
  // Handles one message (setting `confirmed` once etcd created the watch); false ends the stream.
  bool handle_message(std::string_view message, bool& confirmed);
  // Runs the callback; an exception from it is logged, not propagated into the stream.
  void deliver(const WatchResponse& response);
  void wait_before_retry(std::chrono::milliseconds delay);

  const std::shared_ptr<EtcdTransport> transport_;
  const std::string prefix_;
  const WatchCallback callback_;
  std::atomic<std::int64_t> next_revision_;
  std::atomic<bool> connected_{false};
  std::atomic<int> streams_opened_{0};
  std::atomic<bool> stopping_{false};

  std::mutex mutex_;  // guards active_client_, finished_
  std::condition_variable wake_;
  httplib::ClientImpl* active_client_ = nullptr;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace pgha::election
