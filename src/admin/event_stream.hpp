#pragma once
// GET /v1/events: one Server-Sent Events stream, a reader of the server's
// event log like any subscriber. The server's event thread formats each event
// and queues it here; the admin thread writes what is queued. A reader more
// than `backlog` messages behind is closed (it resumes with Last-Event-ID).

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "context.hpp"
#include "http_util.hpp"

namespace lifeline::admin {

/// Where a stream starts, from the request: checked before any header is sent.
struct StreamStart {
  bool snapshot = false;
  std::optional<std::pair<std::uint64_t, std::uint64_t>> resume;  // instance, seq of Last-Event-ID
};

class EventFeed : public std::enable_shared_from_this<EventFeed> {
 public:
  EventFeed(boost::asio::any_io_executor ex, std::size_t backlog) : wake_(ex), backlog_(backlog) {}

  /// Subscribes to `server` as `start` asks, and queues the first messages
  /// (the snapshot). Admin thread.
  void start(Server& server, const StreamStart& start);
  /// Unsubscribes (the handler may run once more: it holds this feed alive).
  void stop(Server& server);

  /// Everything queued, as one chunk of SSE text; empty if nothing is.
  std::string take();
  /// True once the reader fell `backlog` messages behind.
  bool overflowed() const { return overflow_.load(); }
  /// Wakes when something is queued or after `idle` (a keepalive is due).
  boost::asio::steady_timer& timer() { return wake_; }

 private:
  void on_event(Server& server, const PresenceEvent& e);  // the server's event thread
  void push(std::string message);
  std::string snapshot_message(const PresenceSnapshot& snap) const;

  boost::asio::steady_timer wake_;
  std::size_t backlog_;
  std::mutex mu_;
  std::deque<std::string> queue_;
  std::atomic<bool> overflow_{false};
  std::atomic<bool> wake_posted_{false};
  std::uint64_t token_ = 0;
  // Event thread only: with ?snapshot=1, a resume the server cannot honour is
  // answered gap + snapshot, and events the snapshot covers are skipped.
  bool snapshot_on_gap_ = false;
  std::uint64_t skip_through_ = 0;
};

/// "event: <kind>\nid: ...\ndata: ...\n\n" for one presence event.
std::string sse_message(const PresenceEvent& e);

}  // namespace lifeline::admin
