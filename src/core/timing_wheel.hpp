#pragma once
/// Hashed timing wheel for liveness deadlines (docs/architecture.md, "The
/// heartbeat path"). Private to the library: the server's shards use it.
///
/// Each key sits in exactly one slot. The heartbeat path never touches the
/// wheel: it only stores a timestamp in the session. When a slot comes due,
/// `advance` asks the owner about each key, which answers "expired" (drop) or
/// "next deadline" (re-insert). A key with deadline d lands in the first slot
/// due at or after d, so an expiry is seen at most one tick late, plus however
/// late the caller runs `advance`.
///
/// Not thread-safe: one wheel per I/O thread, used only from that thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace lifeline {

template <class Clock = std::chrono::steady_clock>
class TimingWheel {
 public:
  using time_point = typename Clock::time_point;
  using duration = typename Clock::duration;

  /// `tick` is the resolution; `slots * tick` is the horizon beyond which a
  /// key is parked in the last slot and re-checked when it comes round.
  TimingWheel(duration tick, std::size_t slots, time_point start) : tick_(tick), slots_(slots), due_(start + tick) {}

  void schedule(std::uint64_t key, time_point deadline) {
    slots_[slot_for(deadline)].push_back(key);
    ++size_;
  }

  /// Processes every slot due at or before `now`. `visit(key, now)` returns
  /// `std::optional<time_point>`: a deadline to re-insert the key at, or
  /// nullopt to drop it. Returns the number of keys visited. After a stall it
  /// walks every missed slot (an empty slot costs a swap), so no key is late.
  template <class Visit>
  std::size_t advance(time_point now, Visit&& visit) {
    std::size_t visited = 0;
    while (due_ <= now) {
      // The due keys leave with their buffer and the slot starts again from
      // nothing: passing a used buffer on to the slot (as a reused scratch
      // vector would) leaves every slot, after one turn, holding capacity for
      // its busiest moment, about 136 B per session at a 3 s timeout.
      std::vector<std::uint64_t> due;
      due.swap(slots_[cursor_]);  // visit may schedule into any slot, this one included
      size_ -= due.size();
      cursor_ = (cursor_ + 1) % slots_.size();
      due_ += tick_;
      for (const auto key : due) {
        ++visited;
        if (const std::optional<time_point> next = visit(key, now)) {
          schedule(key, *next);
        }
      }
    }
    return visited;
  }

  /// When the next slot comes due: the caller's timer should fire then.
  time_point next_due() const { return due_; }
  duration tick() const { return tick_; }
  std::size_t size() const { return size_; }
  std::size_t slot_count() const { return slots_.size(); }
  /// Heap memory the slots hold for their keys (capacity, not size).
  std::size_t heap_bytes() const {
    std::size_t bytes = 0;
    for (const auto& slot : slots_) {
      bytes += slot.capacity() * sizeof(std::uint64_t);
    }
    return bytes;
  }

 private:
  std::size_t slot_for(time_point deadline) const {
    if (deadline <= due_) {
      return cursor_;
    }
    // Round up: the slot due at or after the deadline, capped at the horizon.
    auto ticks = static_cast<std::size_t>((deadline - due_ + tick_ - duration(1)) / tick_);
    if (ticks >= slots_.size()) {
      ticks = slots_.size() - 1;
    }
    return (cursor_ + ticks) % slots_.size();
  }

  duration tick_;
  std::vector<std::vector<std::uint64_t>> slots_;
  std::size_t cursor_ = 0;
  std::size_t size_ = 0;
  time_point due_;
};

}  // namespace lifeline
