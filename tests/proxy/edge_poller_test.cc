// EdgePoller in both modes: relay events come back with their token, the io_context's handlers
// (timers, its own sockets, messages posted from another thread) run inside the loop, a busy relay
// does not starve them, a blocking wait ends at its timeout, on a relay event or on a stop. The
// nested mode must be found on this platform (Boost 1.74 and 1.81, epoll reactor); the portable
// mode is forced. Also the /proc/self/fdinfo reading behind the discovery.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include "proxy/edge_poller.h"
#include "proxy/epoll_watchers.h"

namespace pgha::proxy {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kToken = 0x10;

// A connected pair of non-blocking stream sockets, closed at the end.
struct SocketPair {
  int fds[2] = {-1, -1};
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0); }
  ~SocketPair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  void send_byte(int side) const {
    const char byte = 'x';
    ASSERT_EQ(::write(fds[side], &byte, 1), 1);
  }
  void drain(int side) const {
    char buf[256];
    while (::read(fds[side], buf, sizeof(buf)) > 0) {
    }
  }
};

class EdgePollerTest : public testing::TestWithParam<EdgePoller::Mode> {
 protected:
  asio::io_context io_{1};
  // As in Worker: an io_context without work would stop at its first poll.
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  EdgePoller poller_{io_, GetParam()};

  // Runs the loop until `done` or 5 s; true when done.
  template <typename Done>
  bool loop_until(Done done, int timeout_ms = 100) {
    const auto deadline = Clock::now() + 5s;
    while (!done() && Clock::now() < deadline) {
      const auto events = poller_.wait(timeout_ms);
      for (const epoll_event& ev : events) on_relay_event(ev);
    }
    return done();
  }
  void on_relay_event(const epoll_event& ev) {
    EXPECT_EQ(ev.data.u64, kToken);
    if (ev.events & EPOLLIN) ++readable_;
  }
  int readable_ = 0;
};

TEST_P(EdgePollerTest, RunsInTheRequestedMode) { EXPECT_EQ(poller_.mode(), GetParam()); }

TEST_P(EdgePollerTest, ARelayEventComesBackWithItsToken) {
  SocketPair pair;
  ASSERT_TRUE(poller_.watch(pair.fds[0], kToken));
  pair.send_byte(1);
  EXPECT_TRUE(loop_until([&] { return readable_ > 0; }, -1));
}

TEST_P(EdgePollerTest, EdgeTriggeredEachNewMessageIsReportedOnce) {
  SocketPair pair;
  ASSERT_TRUE(poller_.watch(pair.fds[0], kToken));
  for (int i = 1; i <= 50; ++i) {
    pair.send_byte(1);
    ASSERT_TRUE(loop_until([&] { return readable_ >= i; }, -1)) << "message " << i;
    pair.drain(0);
  }
  // Drained and nothing new: no event.
  EXPECT_TRUE(poller_.wait(20).empty());
}

TEST_P(EdgePollerTest, AnUnwatchedSocketReportsNothing) {
  SocketPair pair;
  ASSERT_TRUE(poller_.watch(pair.fds[0], kToken));
  poller_.unwatch(pair.fds[0]);
  pair.send_byte(1);
  EXPECT_TRUE(poller_.wait(50).empty());
}

TEST_P(EdgePollerTest, ATimerOfTheIoContextFiresInsideTheLoop) {
  bool fired = false;
  asio::steady_timer timer(io_, 20ms);
  timer.async_wait([&](boost::system::error_code) { fired = true; });
  const auto start = Clock::now();
  EXPECT_TRUE(loop_until([&] { return fired; }, -1));
  EXPECT_GE(Clock::now() - start, 15ms);
}

TEST_P(EdgePollerTest, ASocketOfTheIoContextCompletesInsideTheLoop) {
  asio::local::stream_protocol::socket a(io_);
  asio::local::stream_protocol::socket b(io_);
  asio::local::connect_pair(a, b);
  char byte = 0;
  bool read = false;
  asio::async_read(a, asio::buffer(&byte, 1), [&](boost::system::error_code ec, std::size_t) { read = !ec; });
  std::thread writer([&] {
    std::this_thread::sleep_for(20ms);  // the loop is asleep by then
    const char x = 'x';
    EXPECT_EQ(::write(b.native_handle(), &x, 1), 1);
  });
  EXPECT_TRUE(loop_until([&] { return read; }, -1));
  writer.join();
  EXPECT_EQ(byte, 'x');
}

TEST_P(EdgePollerTest, APostFromAnotherThreadRunsAfterWake) {
  std::atomic<bool> ran = false;
  std::thread other([&] {
    std::this_thread::sleep_for(20ms);
    asio::post(io_, [&] { ran = true; });
    poller_.wake();
  });
  EXPECT_TRUE(loop_until([&] { return ran.load(); }, -1));
  other.join();
}

TEST_P(EdgePollerTest, ARelayEventWakesABlockingWaitEveryTime) {
  SocketPair pair;
  ASSERT_TRUE(poller_.watch(pair.fds[0], kToken));
  for (int i = 1; i <= 20; ++i) {
    std::thread writer([&] {
      std::this_thread::sleep_for(2ms);
      pair.send_byte(1);
    });
    const auto start = Clock::now();
    while (readable_ < i && Clock::now() - start < 5s) {
      for (const epoll_event& ev : poller_.wait(10'000)) on_relay_event(ev);
    }
    writer.join();
    ASSERT_EQ(readable_, i);
    EXPECT_LT(Clock::now() - start, 2s) << "a wake-up was missed at message " << i;
    pair.drain(0);
  }
}

TEST_P(EdgePollerTest, ABusyRelayDoesNotStarveTheIoContext) {
  SocketPair pair;
  ASSERT_TRUE(poller_.watch(pair.fds[0], kToken));
  bool fired = false;
  asio::steady_timer timer(io_, 20ms);
  timer.async_wait([&](boost::system::error_code) { fired = true; });
  const auto deadline = Clock::now() + 5s;
  int batches = 0;
  while (!fired && Clock::now() < deadline) {
    pair.send_byte(1);  // a new edge before every wait
    for (const epoll_event& ev : poller_.wait(-1)) on_relay_event(ev);
    pair.drain(0);
    ++batches;
  }
  EXPECT_TRUE(fired);
  EXPECT_GT(batches, 1);
}

TEST_P(EdgePollerTest, ABlockingWaitEndsAtItsTimeout) {
  const auto start = Clock::now();
  EXPECT_TRUE(poller_.wait(50).empty());
  EXPECT_TRUE(poller_.wait(50).empty());
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 90ms);
  EXPECT_LT(took, 2s);
}

TEST_P(EdgePollerTest, StoppingTheIoContextEndsTheWait) {
  std::thread other([&] {
    std::this_thread::sleep_for(20ms);
    asio::post(io_, [&] { io_.stop(); });
    poller_.wake();
  });
  const auto start = Clock::now();
  while (!io_.stopped() && Clock::now() - start < 5s) poller_.wait(-1);
  other.join();
  EXPECT_TRUE(io_.stopped());
}

INSTANTIATE_TEST_SUITE_P(Modes, EdgePollerTest, testing::Values(EdgePoller::Mode::kNested, EdgePoller::Mode::kPortable),
                         [](const auto& info) { return info.param == EdgePoller::Mode::kNested ? "Nested" : "Portable"; });

TEST(EdgePollerDiscoveryTest, TheDefaultIsNestedAndFindsTheOneEpollSetOfTheIoContext) {
  asio::io_context io;
  EdgePoller poller(io, std::nullopt);
  EXPECT_EQ(poller.mode(), EdgePoller::Mode::kNested);
  // A socket of the io_context is in exactly one epoll set: its reactor's (not the poller's).
  asio::local::stream_protocol::socket a(io);
  asio::local::stream_protocol::socket b(io);
  asio::local::connect_pair(a, b);
  EXPECT_EQ(epoll_sets_watching(a.native_handle()).size(), 1u);
}

TEST(EdgePollerDiscoveryTest, TwoIoContextsEachGetTheirOwn) {
  asio::io_context io1;
  asio::io_context io2;
  EdgePoller p1(io1, EdgePoller::Mode::kNested);
  EdgePoller p2(io2, EdgePoller::Mode::kNested);
  bool fired = false;
  asio::steady_timer timer(io2, 10ms);
  timer.async_wait([&](boost::system::error_code) { fired = true; });
  const auto deadline = Clock::now() + 5s;
  while (!fired && Clock::now() < deadline) p2.wait(100);
  EXPECT_TRUE(fired);
}

TEST(EdgePollerDiscoveryTest, TheEnvironmentChoosesTheMode) {
  ::unsetenv("PGHA_PROXY_EVENT_LOOP");
  EXPECT_EQ(EdgePoller::mode_from_environment(), std::nullopt);
  ::setenv("PGHA_PROXY_EVENT_LOOP", "auto", 1);
  EXPECT_EQ(EdgePoller::mode_from_environment(), std::nullopt);
  ::setenv("PGHA_PROXY_EVENT_LOOP", "portable", 1);
  EXPECT_EQ(EdgePoller::mode_from_environment(), EdgePoller::Mode::kPortable);
  {
    asio::io_context io;
    EdgePoller poller(io);
    EXPECT_EQ(poller.mode(), EdgePoller::Mode::kPortable);
  }
  ::setenv("PGHA_PROXY_EVENT_LOOP", "nested", 1);
  EXPECT_THROW(EdgePoller::mode_from_environment(), std::invalid_argument);
  ::unsetenv("PGHA_PROXY_EVENT_LOOP");
}

TEST(EpollWatchersTest, FdinfoTargetLinesMatchNumberAndInode) {
  const std::string fdinfo =
      "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1039\n"
      "tfd:        4 events:       19 data:                4  pos:0 ino:94af sdev:f\n"
      "tfd:       12 events: 8000201d data:     7f00dead0000  pos:0 ino:1 sdev:d\n";
  EXPECT_TRUE(fdinfo_lists_target(fdinfo, 4, 0x94af));
  EXPECT_TRUE(fdinfo_lists_target(fdinfo, 12, 0x1));
  EXPECT_FALSE(fdinfo_lists_target(fdinfo, 4, 0x94ae));  // a reused number: another file
  EXPECT_FALSE(fdinfo_lists_target(fdinfo, 1, 0x94af));  // not a target
  EXPECT_FALSE(fdinfo_lists_target("ino:\t94af\n", 4, 0x94af));  // the set's own inode line
  EXPECT_FALSE(fdinfo_lists_target("", 4, 0x94af));
}

TEST(EpollWatchersTest, FindsTheEpollSetsThatWatchAPipe) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  const int set1 = ::epoll_create1(EPOLL_CLOEXEC);
  const int set2 = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  EXPECT_TRUE(epoll_sets_watching(p[0]).empty());
  ASSERT_EQ(::epoll_ctl(set1, EPOLL_CTL_ADD, p[0], &ev), 0);
  EXPECT_EQ(epoll_sets_watching(p[0]), std::vector<int>{set1});
  ASSERT_EQ(::epoll_ctl(set2, EPOLL_CTL_ADD, p[0], &ev), 0);
  EXPECT_EQ(epoll_sets_watching(p[0]).size(), 2u);
  EXPECT_TRUE(epoll_sets_watching(p[1]).empty());
  EXPECT_TRUE(epoll_sets_watching(-1).empty());
  for (const int fd : {p[0], p[1], set1, set2}) ::close(fd);
}

}  // namespace
}  // namespace pgha::proxy
