#pragma once
// The presence event log: every presence change of one server run, numbered,
// the newest of them kept in a bounded ring. It is the one stream every reader
// of presence reads (SUBSCRIBE sessions, Server::subscribe handlers, and later
// SSE, history, hooks, the cluster): readers pull from their own cursor on
// their own thread, so the writer never waits for a reader, never runs a
// reader's code, and a slow reader costs no memory beyond the ring: once the
// ring has moved past its cursor, the reader gets a gap marker instead.
//
// Thread-safe. The registry appends under its own lock (so sequence order is
// the order of the state changes), then calls notify() outside it.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "lifeline/presence.hpp"

namespace lifeline::detail {

class EventLog {
 public:
  /// Tells a reader that events may be waiting. It runs on the appending
  /// thread, so it only posts a wake-up to the reader's own thread: it must
  /// not block, read the log or call watch()/unwatch().
  using Wake = std::function<void()>;

  /// `instance` names this server run; `capacity` (at least 1) is how many of
  /// the newest events are kept for readers that fall behind or resume.
  EventLog(std::uint64_t instance, std::size_t capacity);

  std::uint64_t instance() const { return instance_; }
  std::size_t capacity() const { return capacity_; }

  /// Numbers `ev` (the next seq, this instance) and keeps it, dropping the
  /// oldest event beyond the capacity. Returns the seq. Never blocks on a reader.
  std::uint64_t append(PresenceEvent ev);
  /// The seq of the newest event, 0 before the first.
  std::uint64_t last_seq() const;

  /// Up to `max` events with seq > `after`, in order, appended to `out`. If
  /// the ring no longer holds seq `after + 1`, the first is a gap marker
  /// (kind `gap`, seq = the last event the reader cannot get) and the rest
  /// follow it. Returns the cursor to read from next time.
  std::uint64_t read_after(std::uint64_t after, std::size_t max, std::vector<PresenceEvent>& out) const;

  /// Where a reader that last saw `after_seq` of `instance` resumes: `after_seq`
  /// itself if this run still has what follows it, else a gap (`gap` true, the
  /// cursor at the last event it cannot get: the oldest kept minus one, or the
  /// newest when the instance is another run's or the seq is in the future).
  struct Resume {
    std::uint64_t cursor = 0;
    bool gap = false;
  };
  Resume resume_point(std::uint64_t instance, std::uint64_t after_seq) const;
  /// The gap marker that stands for every event up to and including `seq`.
  PresenceEvent gap_marker(std::uint64_t seq) const;

  /// Registers `wake`, called after appends until unwatch(). Returns a token.
  std::uint64_t watch(Wake wake);
  /// After it returns, `wake` is not called again. It waits at most for the
  /// wake-ups being called at that moment, each of which only posts.
  void unwatch(std::uint64_t token);
  /// Calls every registered wake-up (the registry, after an append, outside its lock).
  void notify();

 private:
  const std::uint64_t instance_;
  const std::size_t capacity_;

  mutable std::mutex mu_;  // the ring
  std::deque<PresenceEvent> ring_;
  std::uint64_t last_seq_ = 0;

  std::mutex watch_mu_;  // the reader list; held while wake-ups run, which only post
  std::map<std::uint64_t, Wake> watchers_;
  std::uint64_t next_token_ = 1;
};

}  // namespace lifeline::detail
