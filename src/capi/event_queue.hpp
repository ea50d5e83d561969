#pragma once
// Where a handle's events go: to the host's callback on the library thread
// that produced them, or into a bounded queue the host polls. A full queue
// drops its oldest event and counts it; the next poll reports the count as
// one LL_EVENT_OVERFLOW event, so memory stays bounded and the host knows
// what it missed. A waitable handle (eventfd / event HANDLE) is signalled
// exactly while the queue holds something.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>

#include "event.hpp"

namespace lifeline::capi {

class EventQueue {
 public:
  static constexpr std::size_t kDefaultCapacity = 1024;

  /// `owner` is the handle, for the in-callback check.
  explicit EventQueue(const void* owner);
  ~EventQueue();
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  /// Any thread. Applies to events pushed from now on.
  void set_capacity(std::size_t capacity);
  /// Set before events flow (before start). `fn` NULL = the queue.
  void set_callback(ll_event_fn fn, void* user);
  bool has_callback() const;

  /// A library thread: the callback runs now, or the event is queued.
  void push(EventPtr event);
  /// The caller's thread: the next event, or nullptr after `timeout_ms`
  /// (0 = no wait, negative = for ever).
  EventPtr pop(int timeout_ms);
  /// The waitable handle (an eventfd, or an event HANDLE on Windows).
  std::intptr_t wait_handle() const;

  /// True on a thread running a callback of `owner`.
  static bool in_callback_of(const void* owner);

 private:
  EventPtr take_locked();
  void signal_locked(bool nonempty);

  const void* owner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<EventPtr> queue_;
  std::size_t capacity_ = kDefaultCapacity;
  std::uint64_t dropped_ = 0;
  bool signalled_ = false;
  ll_event_fn fn_ = nullptr;
  void* user_ = nullptr;
  std::intptr_t waitable_ = -1;
};

}  // namespace lifeline::capi
