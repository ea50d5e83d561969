// The parts of EventLoop both backends share (event_loop.cpp: epoll;
// event_loop_win.cpp: WSAPoll): functions posted from other threads, quit,
// and how long a wait may last.
#include <algorithm>

#include "event_loop.hpp"

namespace lifeline::detail {

int EventLoop::wait_ms(Clock::time_point now, Clock::time_point deadline) {
  // Whole milliseconds, rounded up so a deadline is never handled early (a
  // wheel tick would otherwise spin until it is due).
  if (deadline <= now) {
    return 0;
  }
  constexpr auto kMaxWait = std::chrono::milliseconds(1000);
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
  return static_cast<int>(std::min(wait, kMaxWait).count());
}

void EventLoop::post(std::function<void()> fn) {
  bool was_empty = false;
  {
    const std::lock_guard lock(mu_);
    was_empty = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  // Only the first post after a drain needs to wake the loop: the rest are
  // picked up by the same run_posted().
  if (was_empty) {
    wake();
  }
}

void EventLoop::quit() {
  {
    const std::lock_guard lock(mu_);
    quit_ = true;
  }
  wake();
}

bool EventLoop::run_posted() {
  {
    const std::lock_guard lock(mu_);
    running_.swap(posted_);
  }
  for (auto& fn : running_) {
    fn();
  }
  running_.clear();
  const std::lock_guard lock(mu_);
  return quit_;
}

}  // namespace lifeline::detail
