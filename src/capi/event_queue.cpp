#include "event_queue.hpp"

#include <chrono>
#include <system_error>
#ifdef _WIN32
#include <windows.h>
#else
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#endif

namespace lifeline::capi {
namespace {

thread_local const void* t_callback_owner = nullptr;

#ifdef _WIN32
std::intptr_t make_waitable() {
  HANDLE h = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);  // manual reset: stays set while nonempty
  if (h == nullptr) {
    throw std::system_error(static_cast<int>(::GetLastError()), std::system_category(), "CreateEvent");
  }
  return reinterpret_cast<std::intptr_t>(h);
}
void set_waitable(std::intptr_t w, bool on) {
  const auto h = reinterpret_cast<HANDLE>(w);  // NOLINT(performance-no-int-to-ptr)
  on ? ::SetEvent(h) : ::ResetEvent(h);
}
void close_waitable(std::intptr_t w) { ::CloseHandle(reinterpret_cast<HANDLE>(w)); }  // NOLINT
#else
std::intptr_t make_waitable() {
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  return fd;
}
void set_waitable(std::intptr_t w, bool on) {
  std::uint64_t value = 1;
  const auto fd = static_cast<int>(w);
  // An eventfd is readable while its counter is nonzero: write to set, read to clear.
  [[maybe_unused]] const auto n = on ? ::write(fd, &value, sizeof value) : ::read(fd, &value, sizeof value);
}
void close_waitable(std::intptr_t w) { ::close(static_cast<int>(w)); }
#endif

}  // namespace

EventQueue::EventQueue(const void* owner) : owner_(owner), waitable_(make_waitable()) {}

EventQueue::~EventQueue() { close_waitable(waitable_); }

void EventQueue::set_capacity(std::size_t capacity) {
  const std::lock_guard lock(mu_);
  capacity_ = capacity;
}

void EventQueue::set_callback(ll_event_fn fn, void* user) {
  const std::lock_guard lock(mu_);
  fn_ = fn;
  user_ = user;
}

bool EventQueue::has_callback() const {
  const std::lock_guard lock(mu_);
  return fn_ != nullptr;
}

void EventQueue::push(EventPtr event) {
  std::unique_lock lock(mu_);
  if (fn_ != nullptr) {
    const auto fn = fn_;
    void* const user = user_;
    lock.unlock();
    // No lock around the call: a callback may call back into the library.
    // A client's events all come from its one I/O thread, in order; a
    // server's presence events from its event thread, and its DATA from the
    // I/O thread of each sender (lifeline.h says so).
    event->borrowed = true;
    const void* const outer = t_callback_owner;
    t_callback_owner = owner_;
    try {
      fn(event.get(), user);
    } catch (...) {  // NOLINT(bugprone-empty-catch): a C++ host's exception must not unwind into lifeline
    }
    t_callback_owner = outer;
    return;
  }
  if (queue_.size() >= capacity_ && !queue_.empty()) {
    queue_.pop_front();
    ++dropped_;
  }
  queue_.push_back(std::move(event));
  signal_locked(true);
  lock.unlock();
  cv_.notify_one();
}

EventPtr EventQueue::take_locked() {
  EventPtr ev;
  if (dropped_ > 0) {
    ev = overflow_event(dropped_);
    dropped_ = 0;
  } else {
    ev = std::move(queue_.front());
    queue_.pop_front();
  }
  signal_locked(!queue_.empty() || dropped_ > 0);
  return ev;
}

EventPtr EventQueue::pop(int timeout_ms) {
  std::unique_lock lock(mu_);
  const auto ready = [this] { return !queue_.empty() || dropped_ > 0; };
  if (timeout_ms < 0) {
    cv_.wait(lock, ready);
  } else if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready)) {
    return nullptr;
  }
  return take_locked();
}

void EventQueue::signal_locked(bool nonempty) {
  if (nonempty != signalled_) {
    set_waitable(waitable_, nonempty);
    signalled_ = nonempty;
  }
}

std::intptr_t EventQueue::wait_handle() const { return waitable_; }

bool EventQueue::in_callback_of(const void* owner) { return t_callback_owner == owner; }

}  // namespace lifeline::capi
