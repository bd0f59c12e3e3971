// Session: one proxied client connection, owned by its worker thread for its whole life.
//
// run() picks a server, connects with the listener's connect deadline (reading nothing from
// the client before), retrying another server on failure, then starts two pumps
// (client→server, server→client). A pump waits for readability without a buffer, borrows a
// fixed buffer from the worker's pool, reads what is there, writes all of it, and returns
// the buffer, so an idle session holds none and a slow peer stalls the other side
// (structural backpressure, nothing queued). EOF on one side half-closes the other.
// The pumps are plain completion handlers, not coroutines: an idle session is then only this
// object and two pending waits (no parked coroutine frames), about 1 KiB of heap.
//
// Lifetime: shared by its pending handlers and the connect coroutine (shared_ptr); the worker
// keeps a raw pointer in its intrusive list for close()/idle sweeps, unlinked in the destructor.
// Thread-safety: every member is used only on the worker's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/buffer_pool.h"

namespace pgha::proxy {

class Worker;
struct ListenerState;

// Relayed sockets name their io_context's executor type instead of the type-erased default:
// smaller sockets and smaller pending operations, which is most of an idle session's memory.
using RelaySocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

class Session : public std::enable_shared_from_this<Session> {
 public:
  // Takes over a listener slot reserved with ListenerState::try_reserve_slot().
  Session(Worker& worker, std::size_t listener_index, ListenerState& listener, RelaySocket client);
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
  // One direction of the relay and the chunk it is writing, if any. Kept small: an idle
  // session's memory is mostly this object (pump 0: client → server, pump 1: the reverse).
  struct Pump {
    std::optional<BufferPool::Lease> buffer;  // held only while a chunk is being written
    std::uint64_t bytes = 0;
    std::uint32_t size = 0;                   // bytes in buffer (buffers are well under 4 GiB)
    std::uint32_t written = 0;
    bool more = false;                        // the last read filled the buffer
  };
  RelaySocket& source(int pump) { return pump == 0 ? client_ : server_; }
  RelaySocket& sink(int pump) { return pump == 0 ? server_ : client_; }
  boost::asio::awaitable<bool> connect_to_server();
  void start_pumps();
  void wait_readable(int pump);
  void wait_writable(int pump);
  // Reads and writes until the source would block, the destination would block, or the fairness
  // budget is spent; then arms the matching wait (or posts itself) and returns.
  void relay(int pump);
  void pump_finished(int pump, bool orderly_eof);

  // Ordered by size to avoid padding.
  Worker& worker_;
  ListenerState& listener_;
  RelaySocket client_;
  RelaySocket server_;
  std::chrono::steady_clock::time_point last_activity_;
  Pump pumps_[2];
  std::uint32_t listener_index_;
  std::uint32_t connect_attempt_ = 0;
  int server_index_ = -1;
  bool closed_ = false;
  bool connecting_ = false;
  std::uint8_t pumps_done_ = 0;
};

}  // namespace pgha::proxy
