#include "event_loop.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace lifeline::detail {
namespace {
constexpr std::uint64_t kWakeTag = ~std::uint64_t{0};
// Events taken per epoll_wait; more simply wait for the next call.
constexpr int kBatch = 256;

std::system_error last_error(const char* what) { return {errno, std::generic_category(), what}; }

}  // namespace

void Fd::reset(int fd) {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = fd;
}

EventLoop::EventLoop() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!epoll_) {
    throw last_error("epoll_create1");
  }
  wake_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_fd_) {
    throw last_error("eventfd");
  }
  if (const auto ec = add(wake_fd_.get(), EPOLLIN, kWakeTag)) {
    throw std::system_error(ec, "epoll_ctl(eventfd)");
  }
}

EventLoop::~EventLoop() = default;

std::error_code EventLoop::add(int fd, std::uint32_t events, std::uint64_t tag) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return {errno, std::generic_category()};
  }
  return {};
}

void EventLoop::remove(int fd) { ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_.get(), &one, sizeof one);
}

void EventLoop::run(const ReadyFn& on_ready, Clock::time_point first_deadline, const DeadlineFn& on_deadline) {
  std::array<epoll_event, kBatch> events{};
  auto deadline = first_deadline;
  for (;;) {
    const int n = ::epoll_wait(epoll_.get(), events.data(), kBatch, wait_ms(Clock::now(), deadline));
    if (n < 0 && errno != EINTR) {
      throw last_error("epoll_wait");
    }
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeTag) {
        woken = true;
      } else {
        on_ready(events[i].data.u64, events[i].events);
      }
    }
    if (woken) {
      std::uint64_t count = 0;
      [[maybe_unused]] const auto r = ::read(wake_fd_.get(), &count, sizeof count);
      if (run_posted()) {
        return;  // quit()
      }
    }
    if (const auto now = Clock::now(); now >= deadline) {
      deadline = on_deadline(now);
    }
  }
}

}  // namespace lifeline::detail
