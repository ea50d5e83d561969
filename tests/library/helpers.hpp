#pragma once
// Shared helpers for the library tests: waiting on a condition with a deadline
// (never a bare sleep), thread-safe recorders for callbacks, option presets with
// short heartbeats, and a scriptable raw TCP peer for the client tests.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "lifeline/client.hpp"
#include "lifeline/server.hpp"

namespace lifeline::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// Polls `pred` every millisecond until it holds or `deadline` has passed; true if it held.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds deadline = 2000ms);

/// A thread-safe list of values pushed from callbacks, with waits on a condition variable.
template <class T>
class Recorder {
 public:
  void push(T v) {
    {
      const std::lock_guard lock(mu_);
      items_.push_back(std::move(v));
    }
    cv_.notify_all();
  }
  std::vector<T> items() const {
    const std::lock_guard lock(mu_);
    return items_;
  }
  std::size_t size() const {
    const std::lock_guard lock(mu_);
    return items_.size();
  }
  /// Waits until some item satisfies `pred`; returns a copy of the first such item.
  std::optional<T> wait_for(const std::function<bool(const T&)>& pred, std::chrono::milliseconds deadline = 2000ms) {
    std::unique_lock lock(mu_);
    std::optional<T> found;
    cv_.wait_for(lock, deadline, [&] {
      for (const auto& v : items_) {
        if (pred(v)) {
          found = v;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  /// Waits until at least `n` items satisfy `pred`.
  bool wait_count(const std::function<bool(const T&)>& pred, std::size_t n,
                  std::chrono::milliseconds deadline = 2000ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return count_locked(pred) >= n; });
  }
  std::size_t count(const std::function<bool(const T&)>& pred) const {
    const std::lock_guard lock(mu_);
    return count_locked(pred);
  }

 private:
  std::size_t count_locked(const std::function<bool(const T&)>& pred) const {
    std::size_t n = 0;
    for (const auto& v : items_) {
      n += pred(v) ? 1 : 0;
    }
    return n;
  }
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<T> items_;
};

/// Server options with a short heartbeat: limits lowered so 50 ms / 300 ms is allowed.
ServerOptions fast_server_options(unsigned threads = 2);
/// Client options for one server on 127.0.0.1, heartbeat 50 ms / 300 ms, backoff 20..100 ms.
ClientOptions fast_client_options(std::uint16_t port, std::string id);
std::string local(std::uint16_t port);
/// A port on 127.0.0.1 that nothing listens on (bound, then released).
std::uint16_t closed_port();

/// Constructs a T (Client or Server) from `opts` and returns the std::invalid_argument
/// message it throws, or a marker text if it throws none.
template <class T, class Options>
std::string thrown_invalid_argument(Options opts) {
  try {
    T object(std::move(opts));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no std::invalid_argument thrown>";
}

/// How long a wait may take beyond what the client promises before a test calls
/// it a hang: the machine may be loaded (2 cores shared with other builds), so
/// upper bounds are hang guards and the promise itself is checked otherwise
/// (lower bounds, times stamped on the client's thread, the client's own text).
inline constexpr std::chrono::milliseconds kLoadSlack{5000};

/// Records a client's state changes, when they happened, and data.
struct ClientProbe {
  Recorder<StateChange> states;
  Recorder<std::pair<ClientState, Clock::time_point>> times;  // stamped on the client's thread
  Recorder<std::string> data;
  void attach(Client& c);
  /// When the client first changed to `s`, if it has.
  std::optional<Clock::time_point> first_time(ClientState s) const {
    for (const auto& [state, t] : times.items()) {
      if (state == s) {
        return t;
      }
    }
    return std::nullopt;
  }
  bool wait_state(ClientState s, std::chrono::milliseconds deadline = 2000ms, std::size_t n = 1) {
    return states.wait_count([s](const StateChange& c) { return c.to == s; }, n, deadline);
  }
  std::size_t count_state(ClientState s) const {
    return states.count([s](const StateChange& c) { return c.to == s; });
  }
  /// Attaches to `c`, starts it and waits until it is online (the usual opening of a test).
  bool start_online(Client& c, std::chrono::milliseconds deadline = 2000ms) {
    attach(c);
    c.start();
    return wait_state(ClientState::online, deadline);
  }
};

/// The heartbeat a RawServer dictates in its WELCOME.
struct RawWelcome {
  std::chrono::milliseconds interval{50};
  std::chrono::milliseconds timeout{150};
};

/// A hand-written TCP peer on 127.0.0.1 for what a real Server never does.
class RawServer {
 public:
  enum class Mode {
    close_at_once,        ///< accept and close at once: a failed attempt
    hold,                 ///< accept and never answer: no WELCOME
    welcome_then_silent,  ///< read HELLO, answer WELCOME, then never send a byte (input is discarded)
    version1_only,        ///< as welcome_then_silent, but a HELLO above version 1 gets ERROR unsupported_version
  };
  using Welcome = RawWelcome;

  explicit RawServer(Mode mode, std::uint16_t port = 0, Welcome welcome = {});
  ~RawServer();
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string endpoint() const { return local(port_); }
  int accepted() const { return accepted_.load(); }
  int hellos() const { return hellos_.load(); }
  /// Closes the listener and every connection; idempotent.
  void close();

 private:
  struct Conn;
  void accept_next();
  void on_accepted(boost::asio::ip::tcp::socket socket);

  Mode mode_;
  Welcome welcome_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<Conn>> conns_;  // io thread only
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<int> hellos_{0};
  std::thread thread_;
};

}  // namespace lifeline::test
