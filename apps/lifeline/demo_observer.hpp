#pragma once
// lifeline demo: the audience. An in-process lifeline::Client in observer mode
// (what `lifeline watch` and `lifeline ls` use) streams the server's presence
// events and fetches the online list. Like any client it reconnects by itself
// when the server comes back, and re-subscribes.
//
// The story waits on conditions over what the observer received (a condition
// variable fed by the client's handlers), each wait bounded by a deadline.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "demo_process.hpp"
#include "lifeline/client.hpp"

namespace lifeline::app::demo {

/// One complete LIST_REPLY, sorted by id.
struct OnlineList {
  std::vector<proto::ListEntry> entries;
  std::int64_t received_ms = 0;  ///< Unix ms when its last frame arrived
  const proto::ListEntry* find(std::string_view id) const;
};

class Observer {
 public:
  /// Run on the client's I/O thread as things arrive, to narrate them live.
  using EventPrinter = std::function<void(const proto::Event&)>;
  using StatePrinter = std::function<void(const StateChange&)>;

  Observer(const std::string& server, EventPrinter on_event, StatePrinter on_state);

  /// Position of the next event to arrive: a wait started from a mark taken
  /// before an action cannot miss the event the action causes.
  std::size_t mark() const;
  /// The first event at position >= `from` that matches, waiting until `deadline`.
  std::optional<proto::Event> wait_event(std::size_t from, const std::function<bool(const proto::Event&)>& match,
                                         Clock::time_point deadline);
  /// Waits until the client is in state `s`.
  bool wait_state(ClientState s, Clock::time_point deadline);
  /// Asks for the online list once online (again after a reconnect) and waits for the whole reply.
  /// Its arrival also proves that everything sent before it, SUBSCRIBE included, was processed.
  std::optional<OnlineList> fetch_list(Clock::time_point deadline);
  /// Why the last connection or attempt failed.
  std::string last_error() const { return client_.last_error(); }
  /// Says BYE and stops reconnecting.
  void stop() { client_.stop(); }

 private:
  void on_event(const proto::Event& e);
  void on_list(const proto::ListReply& r);
  void on_state(const StateChange& c);
  /// Waits for `done` (evaluated under the lock) until `deadline`; throws Interrupted.
  bool wait_until(std::unique_lock<std::mutex>& lock, Clock::time_point deadline, const std::function<bool()>& done);

  EventPrinter print_event_;
  StatePrinter print_state_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<proto::Event> events_;
  ClientState state_ = ClientState::disconnected;
  std::uint64_t connections_ = 0;   // times the client came online
  std::uint32_t list_request_ = 0;  // the LIST whose reply is being collected
  std::vector<proto::ListEntry> partial_;
  std::optional<OnlineList> list_;

  Client client_;  // last: destroyed first, so its handlers never outlive the members above
};

}  // namespace lifeline::app::demo
