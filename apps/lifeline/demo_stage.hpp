#pragma once
// lifeline demo: the stage the story plays on. It starts the server and the
// agents as child processes with the story's heartbeat settings, connects the
// observer, and answers "who is online" with the server's own list. The story
// (demo.cpp) decides what happens and judges it; the stage only does it.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "demo_observer.hpp"
#include "demo_output.hpp"
#include "demo_process.hpp"

namespace lifeline::app::demo {

/// The heartbeat the story runs with, and the allowances its bounds add.
struct Timing {
  std::chrono::milliseconds interval{200};
  std::chrono::milliseconds timeout{600};
  std::chrono::milliseconds tick{10};  ///< server timing wheel: a death is reported at most one tick late
  std::chrono::milliseconds backoff_base{200};
  std::chrono::milliseconds backoff_cap{1000};
  /// A BYE or a closed socket reaches the server with no timer involved.
  std::chrono::milliseconds immediate{100};
  /// Scheduling allowance on top of a timer-driven bound, for busy machines.
  std::chrono::milliseconds slack{50};
  /// A reconnect adds a TCP connect and a handshake to the backoff delay.
  std::chrono::milliseconds reconnect_slack{250};
  std::chrono::milliseconds server_down{1000};
};

class Stage {
 public:
  Stage(const Timing& timing, Narrator& out, Children& children);

  /// Starts the server on 127.0.0.1:`port` (0: a free port the kernel picks,
  /// so nothing can take it in between) and returns the port it listens on.
  std::uint16_t start_server(std::uint16_t port);
  /// Unix ms when the running server began to listen.
  std::int64_t server_listening_ms() const { return server_listening_ms_; }
  std::uint16_t port() const { return port_; }
  std::string server_address() const { return "127.0.0.1:" + std::to_string(port_); }

  void start_agent(const std::string& id);
  /// The agents started so far, in order.
  const std::vector<std::string>& agents() const { return agents_; }

  /// Connects and subscribes the observer; returns once it is subscribed.
  void connect_observer();
  Observer& observer() { return *observer_; }
  Children& children() { return children_; }

  /// Waits until every id is in the server's online list, and returns that list.
  std::optional<OnlineList> wait_listed(const std::vector<std::string>& ids, Clock::time_point deadline);
  /// The first offline event of `id` from `mark` on.
  std::optional<proto::Event> wait_offline(const std::string& id, std::size_t mark, Clock::time_point deadline);

  /// Why `id` is missing from the online list, shown in the table's STATE column.
  void set_absence(const std::string& id, std::string why) { absence_[id] = std::move(why); }
  /// Prints the server's online list, with a row for every agent.
  void show_table();

 private:
  std::vector<std::string> server_args(std::uint16_t port, const std::filesystem::path& port_file) const;
  std::vector<TableRow> rows(const OnlineList& list) const;

  const Timing& t_;
  Narrator& out_;
  Children& children_;
  std::uint16_t port_ = 0;
  unsigned server_starts_ = 0;
  std::int64_t server_listening_ms_ = 0;
  std::vector<std::string> agents_;
  std::map<std::string, std::string> absence_;
  std::unique_ptr<Observer> observer_;  // made once the server's port is known
};

}  // namespace lifeline::app::demo
