#pragma once
// Client internals. All members marked "I/O thread" are touched only from the
// client's executor; the rest are guarded by `mu` or atomic.

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <optional>
#include <thread>

#include "lifeline/client.hpp"
#include "lifeline/frame_decoder.hpp"
#include "lifeline/heartbeat.hpp"

namespace lifeline {
namespace detail {
/// Throws std::invalid_argument naming a TLS file that cannot be loaded.
std::unique_ptr<boost::asio::ssl::context> make_client_tls_context(const ClientTlsOptions& opts);
}  // namespace detail

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  using Clock = std::chrono::steady_clock;
  using tcp = boost::asio::ip::tcp;

  Impl(boost::asio::any_io_executor executor, ClientOptions options);

  // Connection loop (client_session.cpp).
  boost::asio::awaitable<void> main_loop();
  struct AttemptResult {
    bool reached_online = false;
    std::string why;
  };
  boost::asio::awaitable<AttemptResult> attempt(const tcp::endpoint& ep, const std::string& name);
  boost::asio::awaitable<std::string> reader();
  boost::asio::awaitable<std::string> watchdog();
  boost::asio::awaitable<void> writer(std::uint64_t gen);
  bool on_frame(const proto::Frame& f);  // false: end the connection (end_reason set)
  void on_welcome(proto::Bytes payload);
  void send_frame(std::string_view frame);  // I/O thread
  /// I/O thread. Sends BYE if online. True if it had to queue the BYE behind a
  /// write in flight: the writer then closes the socket once the BYE is out.
  bool send_bye();
  void run_when_stopped();
  void set_state(ClientState to, StateChange change);
  void set_error(std::string why);

  ClientOptions opts;
  std::vector<tcp::endpoint> endpoints;
  std::vector<std::string> endpoint_names;
  boost::asio::any_io_executor ex;

  // Own thread, when constructed without an executor.
  std::unique_ptr<boost::asio::io_context> own_io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::thread thread;

  StateHandler state_handler;
  DataHandler data_handler;
  EventHandler event_handler;
  ListHandler list_handler;

  mutable std::mutex mu;
  ClientState state = ClientState::disconnected;
  std::optional<std::chrono::microseconds> rtt;
  std::string last_error;
  std::string id;
  std::atomic<bool> stopping{false};
  std::atomic<bool> want_subscribe{false};
  std::atomic<bool> silenced{false};  // the Client object is gone: call no handler

  std::unique_ptr<boost::asio::ssl::context> tls_ctx;  // set when TLS is on

  // I/O thread.
  std::optional<tcp::socket> socket;
  std::optional<boost::asio::ssl::stream<tcp::socket&>> tls;                   // over `socket`, when TLS is on
  boost::asio::awaitable<std::string> tls_handshake(const std::string& name);  // "" when established
  boost::asio::steady_timer timer;
  Backoff backoff;
  proto::FrameDecoder decoder;
  Heartbeat hb{};
  bool handshaking = true;
  Clock::time_point handshake_deadline;
  Clock::time_point last_rx, last_tx, last_ping;
  std::string end_reason;
  std::string write_error;  // why the writer failed; the reader ends the connection with it
  bool replaced = false;    // the server said BYE(replaced): do not fight for the id
  bool refused = false;     // the server answered ERROR (unauthorized, rejected, ...): worth a warning
  std::string out;
  bool flushing = false;
  bool close_after_flush = false;                   // stop() queued a BYE behind a write in flight
  std::vector<std::function<void()>> when_stopped;  // stop() callbacks, run after `stopped`
  unsigned attempts = 0;  // connection attempts since the last WELCOME (reported with `online`)
  std::uint64_t gen = 0;  // connection attempt number; a writer of an old one stops
  std::string current_server;
  std::array<std::uint8_t, std::size_t{16} * 1024> rx{};
};

}  // namespace lifeline
