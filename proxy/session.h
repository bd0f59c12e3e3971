// Session: one proxied client connection, owned by its worker thread for its whole life.
//
// run() picks a server, connects with the listener's connect deadline (reading nothing from
// the client before), retrying another server on failure, then starts two pumps
// (client→server, server→client). A pump waits for readability without a buffer, borrows a
// fixed buffer from the worker's pool, reads what is there, writes all of it, and returns
// the buffer, so an idle session holds none and a slow peer stalls the other side
// (structural backpressure, nothing queued). EOF on one side half-closes the other.
//
// Lifetime: shared by its coroutines (shared_from_this); the worker keeps a raw pointer in
// its intrusive list for close()/idle sweeps, unlinked in the destructor.
// Thread-safety: every member is used only on the worker's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace pgha::proxy {

class Worker;
struct ListenerState;

class Session : public std::enable_shared_from_this<Session> {
 public:
  // Takes over a listener slot reserved with ListenerState::try_reserve_slot().
  Session(Worker& worker, std::size_t listener_index, ListenerState& listener, boost::asio::ip::tcp::socket client);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // A coroutine keeps its session alive through this parameter: co_spawn starts it lazily,
  // after the spawner's own reference may be gone.
  static boost::asio::awaitable<void> run(std::shared_ptr<Session> self);

  // Closes both sockets at once; the pumps see operation_aborted and end. Idempotent.
  void close();

  std::size_t listener_index() const { return listener_index_; }
  int server_index() const { return server_index_; }
  std::chrono::steady_clock::time_point last_activity() const { return last_activity_; }
  bool half_closed() const { return pumps_done_ == 1; }

  // Worker's intrusive list.
  Session* prev = nullptr;
  Session* next = nullptr;

 private:
  enum class Direction { kToServer, kToClient };
  boost::asio::awaitable<bool> connect_to_server();
  static boost::asio::awaitable<void> pump(std::shared_ptr<Session> self, Direction direction);
  void pump_finished(bool orderly_eof, boost::asio::ip::tcp::socket& to);

  Worker& worker_;
  std::size_t listener_index_;
  ListenerState& listener_;
  boost::asio::ip::tcp::socket client_;
  boost::asio::ip::tcp::socket server_;
  int server_index_ = -1;
  bool closed_ = false;
  bool connecting_ = false;
  std::uint32_t connect_attempt_ = 0;
  std::uint8_t pumps_done_ = 0;
  std::chrono::steady_clock::time_point last_activity_;
  std::uint64_t bytes_to_server_ = 0;
  std::uint64_t bytes_to_client_ = 0;
};

}  // namespace pgha::proxy
