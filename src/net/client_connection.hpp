#pragma once
// One connection attempt of a client: connect, handshake, heartbeat, until it
// ends. Everything an attempt needs lives here and dies with it, so a new
// attempt starts clean without resetting anything by hand. I/O thread only.
//
// Shape: run() connects (TCP, TLS, within connect_timeout), queues HELLO and
// then runs `reader() || watchdog()` beside one writer for the whole
// attempt. Every way an attempt ends (an error read, a silent server, a failed
// write, stop(), a BYE or ERROR from the server) goes through close(reason):
// the first reason is kept, the socket is closed and every timer cancelled, so
// the other coroutines wake up and return.

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#if LIFELINE_TLS
#include <boost/asio/ssl/stream.hpp>
#endif
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "client_impl.hpp"
#include "lifeline/frame_decoder.hpp"
#include "lifeline/heartbeat.hpp"

namespace lifeline {

class Client::Impl::Connection {
 public:
  using Clock = std::chrono::steady_clock;
  using tcp = boost::asio::ip::tcp;

  /// `client` outlives the connection (its backoff loop awaits run()).
  Connection(Impl& client, std::string name);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// The whole attempt; returns once it has ended and its coroutines are done.
  /// Resolves the endpoint's host again (addresses change) and tries each of
  /// its addresses in the resolver's order, each with the connect timeout.
  boost::asio::awaitable<void> run();
  /// Queues a frame unless the attempt is ending.
  void send(std::string_view frame);
  /// Sends BYE if online, then closes once it is written; closes at once otherwise.
  void stop();
  /// SUBSCRIBE as the client's subscription says: resuming after the last
  /// event received when there is one (version 2), with a snapshot if asked.
  void send_subscribe();
  /// Ends the attempt; the first reason given is the one kept.
  void close(std::string reason);

  /// WELCOME received and not closed yet.
  bool online() const { return welcomed_ && !closed_; }
  bool welcomed() const { return welcomed_; }
  const std::string& reason() const { return reason_; }
  bool replaced() const { return replaced_; }
  bool refused() const { return refused_; }
  /// The server's ERROR before WELCOME, if that is how the attempt ended.
  std::optional<proto::ErrorCode> refusal() const { return refusal_; }

 private:
  boost::asio::awaitable<bool> connect();
  boost::asio::awaitable<std::optional<tcp::resolver::results_type>> resolve();
  boost::asio::awaitable<std::string> tls_handshake();  // "" when established (client_tls.cpp)
  void send_hello(std::string token);
  boost::asio::awaitable<void> reader();
  boost::asio::awaitable<void> watchdog();
  Clock::time_point plan_heartbeat(Clock::time_point now);
  boost::asio::awaitable<void> writer();
  // client_frames.cpp
  bool on_frame(const proto::Frame& f);  // false: the frame closed the connection
  bool on_bye_or_error(const proto::Frame& f);
  void on_welcome(proto::Bytes payload);
  bool on_event(proto::Bytes payload);
  bool on_list_reply(proto::Bytes payload);

  Impl& client_;
  const ClientOptions& opts_;
  std::string name_;  // the endpoint as configured, for messages and StateChange::server

  tcp::resolver resolver_;
  tcp::socket socket_;
#if LIFELINE_TLS
  std::optional<boost::asio::ssl::stream<tcp::socket&>> tls_;  // over socket_, when TLS is on
#else
  tcp::socket* tls_ = nullptr;  // always null: the same read and write code, without TLS
#endif
  proto::FrameDecoder decoder_;
  std::array<std::uint8_t, std::size_t{16} * 1024> rx_{};

  Clock::time_point handshake_deadline_;     // per address: TCP connect + TLS + WELCOME
  boost::asio::steady_timer connect_timer_;  // name resolution, TCP connect and TLS handshake
  boost::asio::steady_timer watchdog_timer_;
  Heartbeat hb_{};                             // negotiated, once welcomed
  std::uint8_t version_ = proto::kMinVersion;  // in force, once welcomed
  std::optional<bool> tls_resumed_;            // once the TLS handshake is done
  bool awaiting_snapshot_ = false;             // SUBSCRIBE asked for one; its LIST_REPLY frames come next
  Clock::time_point last_rx_, last_tx_, last_ping_;

  std::string out_;                        // queued for the writer
  boost::asio::steady_timer writer_wake_;  // never expires: a condition variable, cancelled to wake the writer
  bool bye_queued_ = false;                // stop() queued a BYE: nothing else goes out, close after it

  bool welcomed_ = false;
  bool closed_ = false;
  std::string reason_;
  bool replaced_ = false;                    // the server said BYE(replaced): do not fight for the id
  bool refused_ = false;                     // the server (or our own setup) refused: worth a warning, not routine
  std::optional<proto::ErrorCode> refusal_;  // the ERROR code, when the server refused the handshake
};

}  // namespace lifeline
