#pragma once
// Runs the library's presence-event handlers (Server::subscribe) on a thread
// of their own, as readers of the event log. Each handler has its own cursor
// into the log; the registry only wakes this thread, so a handler never runs
// on an I/O thread or under a registry lock, and may call any Server function,
// stop() included. A handler that falls behind the log's ring gets one gap
// event for what it missed: memory stays bounded by the ring.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "event_log.hpp"

namespace lifeline::detail {

class EventDispatcher {
 public:
  using Handler = std::function<void(const PresenceEvent&)>;

  /// Starts the thread (it sleeps until there is something to deliver).
  explicit EventDispatcher(EventLog& log);
  /// Stops as drain() does and joins. Must not run on the dispatcher's thread.
  ~EventDispatcher();
  EventDispatcher(const EventDispatcher&) = delete;
  EventDispatcher& operator=(const EventDispatcher&) = delete;

  /// Any thread. `handler` gets every event after `cursor`, preceded by
  /// `first` (a gap marker from a resume point) when set. Returns a token.
  std::uint64_t add(Handler handler, std::uint64_t cursor, std::optional<PresenceEvent> first);
  /// Any thread; never waits for a handler. After it returns the handler is
  /// not called again, but for a call already running on the dispatcher thread.
  void remove(std::uint64_t token);

  /// Any thread. Delivers every event the log holds now to every handler,
  /// then ends the thread; waits for that unless called on the thread itself
  /// (from a handler), in which case the thread ends once the handler returns.
  void drain();
  bool on_this_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  struct Reader {
    Handler handler;
    std::uint64_t cursor = 0;
    std::optional<PresenceEvent> first;
    std::atomic<bool> removed{false};
  };
  void run();
  bool deliver_some(Reader& reader);  // true if that reader has more waiting
  void wake();

  EventLog& log_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::uint64_t, std::shared_ptr<Reader>> readers_;  // guarded by mu_
  std::uint64_t next_token_ = 1;                              // guarded by mu_
  bool woken_ = false;                                        // guarded by mu_
  bool draining_ = false;                                     // guarded by mu_
  std::once_flag watch_once_;                                 // the log is watched from the first add() on
  std::uint64_t watch_token_ = 0;                             // set once, under watch_once_
  std::thread thread_;
};

}  // namespace lifeline::detail
