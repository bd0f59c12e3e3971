// Session: one proxied client connection, owned by its worker thread for its whole life.
//
// run() picks a server, connects with the listener's connect deadline through Asio (reading
// nothing from the client before), retrying another server on failure. Then it hands both
// sockets to the worker's EdgePoller (registered once, edge-triggered) and relays with two
// pumps (client→server, server→client) driven by readiness events. A pump borrows a fixed
// buffer from the worker's pool, reads what is there, writes all of it and returns the buffer,
// so an idle session holds none and a slow peer stalls the other side (structural
// backpressure, nothing queued). EOF on one side half-closes the other. An idle session is
// this object and nothing else: no pending operation, no coroutine frame.
//
// Lifetime: the connect coroutine holds it (shared_ptr), then the session holds itself while it
// relays; close() hands that reference to the worker, which drops it after the current batch
// of events (so events already fetched for it never see freed memory). The worker keeps a raw
// pointer in its intrusive list for close()/idle sweeps, unlinked in the destructor.
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
#include "proxy/pipe_pool.h"

namespace pgha::proxy {

class Worker;
struct ListenerState;

// Relayed sockets name their io_context's executor type instead of the type-erased default:
// smaller sockets and smaller pending operations, which is most of an idle session's memory.
using RelaySocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

class Session : public std::enable_shared_from_this<Session> {
 public:
  // Takes over a listener slot reserved with ListenerState::try_reserve_slot() and the accepted
  // non-blocking socket client_fd.
  Session(Worker& worker, std::size_t listener_index, ListenerState& listener, int client_fd);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // A coroutine keeps its session alive through this parameter: co_spawn starts it lazily,
  // after the spawner's own reference may be gone.
  static boost::asio::awaitable<void> run(std::shared_ptr<Session> self);

  // Closes both sockets at once; the pumps end. Idempotent.
  void close();

  // From the worker's loop: readiness of the client (side 0) or server (side 1) socket.
  void on_ready(int side, std::uint32_t events);
  // From the worker's loop: a pump that yielded after its fairness budget continues.
  void resume(int pump) { relay(pump); }

  std::size_t listener_index() const { return listener_index_; }
  int server_index() const { return server_index_; }
  std::chrono::steady_clock::time_point last_activity() const { return last_activity_; }
  bool closed() const { return closed_; }
  // While held (no server UP): when the hold began; the epoch when never held.
  std::chrono::steady_clock::time_point held_since() const { return held_since_; }
  // Worker-side of holding: counts this client among the listener's held ones (false: hold_max
  // reached). A client held again after a failed release keeps its first held_since().
  bool begin_hold(std::chrono::steady_clock::time_point now);
  // While held, the client's socket is watched for a hang-up only (nothing is read): a client
  // that gives up is closed at once instead of reaching a server on release. False when the
  // kernel refused to watch it (the caller closes it).
  bool watch_while_held();
  void unwatch_held();
  bool half_closed() const { return pumps_done_ == 1; }

  // Worker's intrusive list.
  Session* prev = nullptr;
  Session* next = nullptr;

 private:
  // One direction of the relay and the chunk it is writing, if any. Kept small: an idle
  // session's memory is mostly this object (pump 0: client → server, pump 1: the reverse).
  // What a pump waits for. With edge-triggered readiness a pump must remember it: an event is
  // reported once, whether or not the pump wanted it then.
  enum class Wait : std::uint8_t { kNothing, kReadable, kWritable, kTurn, kDone };
  struct Pump {
    std::optional<BufferPool::Lease> buffer;  // held only while a chunk is being written
    std::uint64_t bytes = 0;
    std::uint64_t spliced = 0;                // of which moved with splice(2)
    PipePool::Pipe pipe;                      // held only while a bulk stream flows
    std::uint32_t in_pipe = 0;                // bytes in pipe
    std::uint32_t size = 0;                   // bytes in buffer (buffers are well under 4 GiB)
    std::uint32_t written = 0;
    Wait wait = Wait::kReadable;
    bool more = false;                        // the source may hold more: read before waiting
    bool bulk = false;                        // the last read filled its buffer or pipe
  };
  enum class Connect { kConnected, kFailed, kHeld };
  boost::asio::awaitable<Connect> connect_to_server();
  // A client that found no server: held by the worker when its listener holds clients (true),
  // else counted and logged as `why` (false: the caller closes it).
  bool hold_or_give_up(bool no_server);
  void end_hold();
  void count_connect_error(int server);
  void start_relay();
  // Reads and writes until the source is drained or would block, the destination would block,
  // or the fairness budget is spent; records what it waits for and returns.
  void relay(int pump);
  void pump_finished(int pump, bool orderly_eof);
  void return_pipe(Pump& pump);
  void close_sockets();

  // Ordered by size to avoid padding.
  Worker& worker_;
  ListenerState& listener_;
  std::shared_ptr<Session> self_;  // set while relaying; close() hands it to the worker
  RelaySocket server_;             // only while connecting; then released to fds_[1]
  std::chrono::steady_clock::time_point last_activity_;
  std::chrono::steady_clock::time_point held_since_{};
  Pump pumps_[2];
  int fds_[2];                     // client, server (-1: not open)
  std::uint32_t listener_index_;
  std::uint32_t connect_attempt_ = 0;
  int server_index_ = -1;
  bool closed_ = false;
  bool connecting_ = false;
  bool relaying_ = false;
  bool holding_ = false;           // counted in the listener's held clients
  bool held_watched_ = false;      // the client's socket is in the poller while held
  bool peer_done_[2] = {false, false};  // the side reported RDHUP/HUP/ERR: read it to the end
  std::uint8_t pumps_done_ = 0;
};

}  // namespace pgha::proxy
