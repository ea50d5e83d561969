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

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <system_error>
#include <vector>

namespace lifeline::detail {

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
  /// Loop thread only. Unregisters `fd` (closing it does the same).
  void remove(int fd);

  /// Any thread. Runs `fn` on the loop thread, in posting order.
  void post(std::function<void()> fn);
  /// Any thread. Makes run() return once the current iteration is done.
  void quit();

  /// Runs on the calling thread until quit(): dispatches ready fds, posted
  /// functions, and `on_deadline` whenever `first_deadline` (then whatever it
  /// returns) has passed.
  void run(const ReadyFn& on_ready, Clock::time_point first_deadline, const DeadlineFn& on_deadline);

 private:
  void run_posted();
  void wake();

  Fd epoll_;
  Fd wake_fd_;
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;  // guarded by mu_
  std::vector<std::function<void()>> running_;
  bool quit_ = false;  // guarded by mu_
};

}  // namespace lifeline::detail
