#pragma once
/// Four ways to track N session deadlines, behind one small interface, for the
/// micro-benchmarks in timers_bench.cpp.
///
/// The workload is the server's: each session has a `last_rx` timestamp; a
/// heartbeat ("touch") moves it to now; a session whose `last_rx + timeout` has
/// passed is expired. Every structure stores `last_rx` in a dense per-session
/// array (the session table) and adds what it needs on top:
///
///   WheelTimers   the design (lifeline::TimingWheel, design.md "Liveness"):
///                 touch is the store and nothing else; the wheel is visited
///                 when a slot comes due and re-inserts at last_rx + timeout.
///   HeapTimers    an indexed binary min-heap of deadlines: every touch changes
///                 the session's key in place (a sift, O(log N)).
///   LazyPqTimers  std::priority_queue with lazy deletion: every touch pushes a
///                 (deadline, id, version) entry; entries whose version is not
///                 the session's current one are discarded when they surface.
///   ScanTimers    no timer structure: every tick scans all N timestamps.
///
/// Interface (all times are nanoseconds on a simulated clock):
///   T(n, timeout, tick, start)       n sessions, none registered yet
///   void add(id, last_rx)            registers a session
///   void touch(id, now)              a heartbeat from `id` at `now`; only for
///                                    a live session (an expired one is gone,
///                                    as the server closes it: add() it again)
///   std::size_t maintain(now)        the periodic work at a tick: returns the
///                                    number of elementary operations done
///                                    (wheel visits, heap/queue pops, timestamps
///                                    scanned); expired() counts the sessions
///                                    found expired so far
///   bool bloated() const             true when, maintain() not being called,
///                                    memory has grown past a bound (only the
///                                    lazy queue: an entry per heartbeat)
///   void compact()                   brings it back (a no-op elsewhere); for
///                                    the touch benchmark, which times touch
///                                    alone and never calls maintain()
///
/// None is thread-safe; ids are 0..n-1.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <queue>
#include <ratio>
#include <vector>

#include "timing_wheel.hpp"

namespace lifeline::bench {

using Ns = std::int64_t;

/// A clock that is never read: simulated time drives TimingWheel<SimClock>.
struct SimClock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<SimClock>;
  static constexpr bool is_steady = true;
};

inline SimClock::time_point at(Ns t) { return SimClock::time_point(SimClock::duration(t)); }
inline Ns ns_of(SimClock::time_point t) { return t.time_since_epoch().count(); }

/// Indexed binary min-heap of (deadline, id): pos_[id] is the id's index in
/// heap_, so a deadline can be raised or lowered in place. Sifts move a hole
/// rather than swapping, and keep pos_ up to date.
class IndexedHeap {
 public:
  explicit IndexedHeap(std::size_t n) : pos_(n, kAbsent) { heap_.reserve(n); }

  /// Inserts `id` or changes its deadline.
  void set(std::uint32_t id, Ns deadline) {
    std::size_t i = pos_[id];
    if (i == kAbsent) {
      heap_.push_back({deadline, id});
      sift_up(heap_.size() - 1);
      return;
    }
    const Ns old = heap_[i].deadline;
    heap_[i].deadline = deadline;
    if (deadline < old) {
      sift_up(i);
    } else {
      sift_down(i);
    }
  }

  bool empty() const { return heap_.empty(); }
  Ns top_deadline() const { return heap_.front().deadline; }
  std::uint32_t top_id() const { return heap_.front().id; }

  void pop() {
    pos_[heap_.front().id] = kAbsent;
    const Node last = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) {
      heap_.front() = last;
      sift_down(0);
    }
  }

  std::size_t size() const { return heap_.size(); }

 private:
  struct Node {
    Ns deadline;
    std::uint32_t id;
  };
  static constexpr std::size_t kAbsent = std::numeric_limits<std::uint32_t>::max();

  void place(std::size_t i, const Node& node) {
    heap_[i] = node;
    pos_[node.id] = static_cast<std::uint32_t>(i);
  }

  void sift_up(std::size_t i) {
    const Node node = heap_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (heap_[parent].deadline <= node.deadline) {
        break;
      }
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, node);
  }

  void sift_down(std::size_t i) {
    const Node node = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) {
        break;
      }
      if (child + 1 < n && heap_[child + 1].deadline < heap_[child].deadline) {
        ++child;
      }
      if (node.deadline <= heap_[child].deadline) {
        break;
      }
      place(i, heap_[child]);
      i = child;
    }
    place(i, node);
  }

  std::vector<Node> heap_;
  std::vector<std::uint32_t> pos_;  // index in heap_, kAbsent when not queued
};

/// std::priority_queue of (deadline, id, version) with lazy deletion: a new
/// entry per reschedule, the session's current version in version_, and an
/// entry that surfaces with an older version is stale and dropped.
class LazyDeadlineQueue {
 public:
  explicit LazyDeadlineQueue(std::size_t n) : version_(n, 0) {}

  void push(std::uint32_t id, Ns deadline) { q_.push({deadline, id, ++version_[id]}); }

  /// Pops every entry due at or before `now`; calls `on_due(id)` for each
  /// current one (stale ones are dropped). Returns the number of pops.
  template <class OnDue>
  std::size_t pop_due(Ns now, OnDue&& on_due) {
    std::size_t pops = 0;
    while (!q_.empty() && q_.top().deadline <= now) {
      const Entry e = q_.top();
      q_.pop();
      ++pops;
      if (e.version == version_[e.id]) {
        on_due(e.id);
      }
    }
    return pops;
  }

  /// Drops every stale entry at once, in O(size), keeping the capacity.
  void compact() { q_.drop_stale(version_); }

  std::size_t size() const { return q_.size(); }

 private:
  struct Entry {
    Ns deadline;
    std::uint32_t id;
    std::uint32_t version;
  };
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const { return a.deadline > b.deadline; }
  };
  // std::priority_queue, with access to its protected container for compact().
  struct Queue : std::priority_queue<Entry, std::vector<Entry>, Later> {
    void drop_stale(const std::vector<std::uint32_t>& version) {
      std::erase_if(c, [&](const Entry& e) { return e.version != version[e.id]; });
      std::make_heap(c.begin(), c.end(), comp);
    }
  };

  Queue q_;
  std::vector<std::uint32_t> version_;
};

/// The design: touch is a store; the wheel re-checks each session when its
/// slot comes due.
class WheelTimers {
 public:
  static constexpr const char* kName = "wheel";
  static constexpr std::size_t kSlots = 1024;  // as the server's shard (src/net/shard.cpp)

  WheelTimers(std::size_t n, Ns timeout, Ns tick, Ns start)
      : timeout_(timeout), last_rx_(n), wheel_(SimClock::duration(tick), kSlots, at(start)) {}

  void add(std::uint32_t id, Ns last_rx) {
    last_rx_[id] = last_rx;
    wheel_.schedule(id, at(last_rx + timeout_));
  }
  void touch(std::uint32_t id, Ns now) { last_rx_[id] = now; }

  std::size_t maintain(Ns now) {
    return wheel_.advance(at(now),
                          [this](std::uint64_t id, SimClock::time_point t) -> std::optional<SimClock::time_point> {
                            const Ns deadline = last_rx_[id] + timeout_;
                            if (ns_of(t) >= deadline) {
                              ++expired_;
                              return std::nullopt;
                            }
                            return at(deadline);
                          });
  }
  static bool bloated() { return false; }
  static void compact() {}
  std::size_t expired() const { return expired_; }

 private:
  Ns timeout_;
  std::vector<Ns> last_rx_;
  TimingWheel<SimClock> wheel_;
  std::size_t expired_ = 0;
};

/// Indexed heap: the deadline is kept exact, so touch sifts and maintain only
/// pops sessions that really expired.
class HeapTimers {
 public:
  static constexpr const char* kName = "indexed_heap";

  HeapTimers(std::size_t n, Ns timeout, Ns /*tick*/, Ns /*start*/) : timeout_(timeout), last_rx_(n), heap_(n) {}

  void add(std::uint32_t id, Ns last_rx) {
    last_rx_[id] = last_rx;
    heap_.set(id, last_rx + timeout_);
  }
  void touch(std::uint32_t id, Ns now) {
    last_rx_[id] = now;
    heap_.set(id, now + timeout_);
  }

  std::size_t maintain(Ns now) {
    std::size_t pops = 0;
    while (!heap_.empty() && heap_.top_deadline() <= now) {
      heap_.pop();
      ++pops;
      ++expired_;
    }
    return pops;
  }
  static bool bloated() { return false; }
  static void compact() {}
  std::size_t expired() const { return expired_; }

 private:
  Ns timeout_;
  std::vector<Ns> last_rx_;
  IndexedHeap heap_;
  std::size_t expired_ = 0;
};

/// std::priority_queue with lazy deletion: touch pushes, maintain pops the
/// stale entries as they come due.
class LazyPqTimers {
 public:
  static constexpr const char* kName = "lazy_pq";

  LazyPqTimers(std::size_t n, Ns timeout, Ns /*tick*/, Ns /*start*/) : n_(n), timeout_(timeout), last_rx_(n), q_(n) {}

  void add(std::uint32_t id, Ns last_rx) {
    last_rx_[id] = last_rx;
    q_.push(id, last_rx + timeout_);
  }
  void touch(std::uint32_t id, Ns now) {
    last_rx_[id] = now;
    q_.push(id, now + timeout_);
  }

  std::size_t maintain(Ns now) {
    // A current entry that comes due is an expiry (its deadline is exact).
    return q_.pop_due(now, [this](std::uint32_t /*id*/) { ++expired_; });
  }
  /// One entry per heartbeat until it surfaces: without pops, memory grows
  /// without bound. (Under maintain() it holds about timeout / interval.)
  bool bloated() const { return q_.size() > 4 * n_; }
  void compact() { q_.compact(); }
  std::size_t expired() const { return expired_; }

 private:
  std::size_t n_;
  Ns timeout_;
  std::vector<Ns> last_rx_;
  LazyDeadlineQueue q_;
  std::size_t expired_ = 0;
};

/// No timer structure: each tick scans every timestamp. Given its best shot:
/// each block of timestamps is first tested with a branch-free (vectorizable)
/// reduction, and only a block holding an expiry is walked again.
class ScanTimers {
 public:
  static constexpr const char* kName = "scan";

  ScanTimers(std::size_t n, Ns timeout, Ns /*tick*/, Ns /*start*/) : timeout_(timeout), last_rx_(n, kGone) {}

  void add(std::uint32_t id, Ns last_rx) { last_rx_[id] = last_rx; }
  void touch(std::uint32_t id, Ns now) { last_rx_[id] = now; }

  std::size_t maintain(Ns now) {
    const Ns cutoff = now - timeout_;  // expired: last_rx <= cutoff
    const std::size_t n = last_rx_.size();
    Ns* const rx = last_rx_.data();
    for (std::size_t begin = 0; begin < n; begin += kBlock) {
      const std::size_t end = std::min(n, begin + kBlock);
      bool any = false;
      for (std::size_t i = begin; i < end; ++i) {
        any |= rx[i] <= cutoff;
      }
      if (any) [[unlikely]] {
        for (std::size_t i = begin; i < end; ++i) {
          if (rx[i] <= cutoff) {
            rx[i] = kGone;  // removed: never expires again
            ++expired_;
          }
        }
      }
    }
    return n;
  }
  static bool bloated() { return false; }
  static void compact() {}
  std::size_t expired() const { return expired_; }

 private:
  static constexpr std::size_t kBlock = 256;
  static constexpr Ns kGone = std::numeric_limits<Ns>::max();

  Ns timeout_;
  std::vector<Ns> last_rx_;
  std::size_t expired_ = 0;
};

}  // namespace lifeline::bench
