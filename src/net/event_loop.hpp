#pragma once
// The server's per-thread event loop: one epoll set, one eventfd for posts
// from other threads, and a single deadline (the shard's timing wheel).
//
// Why not Asio's reactor for server sessions (docs/architecture.md): Asio
// re-arms a read with a speculative recv() that returns EAGAIN after every
// heartbeat, and keeps a reactor record plus a pending operation per socket.
// Here a socket is added once, edge-triggered, and a heartbeat costs one
// recv() and one send(): on this machine a syscall is most of what a heartbeat
// costs. Asio stays the layer of the client, where one connection per process
// makes those costs irrelevant and coroutines make the reconnect logic short.

#ifndef _WIN32
#include <sys/epoll.h>
#endif

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <system_error>
#include <vector>

namespace lifeline::detail {

#ifdef _WIN32
// The event mask the session code speaks is epoll's; the Windows backend
// (event_loop_win.cpp) translates it to and from WSAPoll's.
inline constexpr std::uint32_t EPOLLIN = 0x001;
inline constexpr std::uint32_t EPOLLOUT = 0x004;
inline constexpr std::uint32_t EPOLLERR = 0x008;
inline constexpr std::uint32_t EPOLLHUP = 0x010;
inline constexpr std::uint32_t EPOLLRDHUP = 0x2000;
inline constexpr std::uint32_t EPOLLET = 1U << 31U;
#endif

/// An owned file descriptor (closed on destruction; move-only).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  /// Called with the tag an fd was added with and the epoll event mask.
  using ReadyFn = std::function<void(std::uint64_t tag, std::uint32_t events)>;
  /// Called when the deadline has passed; returns the next deadline.
  using DeadlineFn = std::function<Clock::time_point(Clock::time_point now)>;

  /// Throws std::system_error if the kernel refuses an epoll set or eventfd.
  EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop();

  /// Loop thread only. Registers `fd` for `events` (EPOLLIN, EPOLLOUT, EPOLLET, ...).
  std::error_code add(int fd, std::uint32_t events, std::uint64_t tag);
  /// Loop thread only. Unregisters `fd` (closing it does the same on Linux).
  void remove(int fd);
#ifdef _WIN32
  /// Loop thread only. Reports EPOLLOUT once `fd` can take more output: what
  /// an edge-triggered EPOLLOUT does by itself on Linux.
  void want_write(int fd);
  /// Loop thread only. `fd` is about to be closed: forget it.
  void closing(int fd) { remove(fd); }
#else
  void want_write(int /*fd*/) {}  // edge-triggered EPOLLOUT is armed for good
  void closing(int /*fd*/) {}     // closing a socket takes it out of the epoll set
#endif

  /// Any thread. Runs `fn` on the loop thread, in posting order.
  void post(std::function<void()> fn);
  /// Any thread. Makes run() return once the current iteration is done.
  void quit();

  /// Runs on the calling thread until quit(): dispatches ready fds, posted
  /// functions, and `on_deadline` whenever `first_deadline` (then whatever it
  /// returns) has passed.
  void run(const ReadyFn& on_ready, Clock::time_point first_deadline, const DeadlineFn& on_deadline);

 private:
  /// Runs what was posted; true once quit() was called.
  bool run_posted();
  void wake();
  /// The wait before `deadline` in whole milliseconds, rounded up, at most 1 s.
  static int wait_ms(Clock::time_point now, Clock::time_point deadline);

#ifdef _WIN32
  struct Watch {
    int fd;
    std::uint32_t events;  // EPOLLIN, EPOLLOUT, ...
    std::uint64_t tag;
    bool want_out;  // POLLOUT is asked for only until it has been reported once
  };
  std::vector<Watch> watches_;
  Fd wake_in_;   // a loopback UDP socket: WSAPoll waits on sockets only
  Fd wake_out_;  // connected to wake_in_
#else
  Fd epoll_;
  Fd wake_fd_;
#endif
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;  // guarded by mu_
  std::vector<std::function<void()>> running_;
  bool quit_ = false;  // guarded by mu_
};

}  // namespace lifeline::detail
