#pragma once
// Client internals: the long-lived part of a client. It outlives every
// connection attempt and keeps what an outage must not lose: options, the
// backoff and its timer, the handlers and the public state. Each attempt is a
// Connection (client_connection.hpp), created for that attempt and destroyed
// after it. Members marked "I/O thread" are touched only from the client's
// executor; the rest are guarded by `mu` or atomic.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#if LIFELINE_TLS
#include <boost/asio/ssl/context.hpp>
#endif
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "lifeline/client.hpp"

namespace lifeline {
namespace detail {
#if LIFELINE_TLS
using ClientTlsContext = boost::asio::ssl::context;
#else
struct ClientTlsContext {};  // never made: a build without TLS refuses the option
#endif
/// Throws std::invalid_argument naming a TLS file that cannot be loaded (or,
/// in a build without TLS, saying so).
std::unique_ptr<ClientTlsContext> make_client_tls_context(const ClientTlsOptions& opts);

/// An endpoint's newest TLS session (Client::Impl::tls_sessions).
struct TlsSessionSlot {
#if LIFELINE_TLS
  struct Free {
    void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
  };
  std::unique_ptr<SSL_SESSION, Free> session;
#endif
};
}  // namespace detail

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  using tcp = boost::asio::ip::tcp;

  class Connection;  // one attempt (client_connection.hpp)

  Impl(boost::asio::any_io_executor executor, ClientOptions options);

  // The backoff loop (client_loop.cpp): one Connection per attempt.
  boost::asio::awaitable<void> main_loop();
  /// I/O thread. Ends the backoff wait or the current attempt (with a BYE if online).
  void request_stop();
  void run_when_stopped();
  void set_state(ClientState to, StateChange change);
  void set_error(std::string why);
  // Waits with deadlines (client_waits.cpp), all on the I/O thread.
  struct PendingList;
  struct PendingOnline;
  /// True if `r` answers a list(timeout) request (it then goes nowhere else).
  bool take_list_reply(const proto::ListReply& r);
  void finish_list(const std::shared_ptr<PendingList>& p, boost::system::error_code ec);
  void finish_online(const std::shared_ptr<PendingOnline>& w, boost::system::error_code ec);
  /// Completes or fails the waits a state change decides.
  void settle_waits(ClientState to);
  std::vector<std::shared_ptr<PendingList>> pending_lists;
  std::vector<std::shared_ptr<PendingOnline>> online_waiters;
  std::uint32_t next_wait_request = 0xF000'0000U;

  /// An ERROR before WELCOME that the same HELLO would get again (ClientOptions::stop_when_refused).
  bool retry_cannot_help(proto::ErrorCode code) const;

  ClientOptions opts;
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
  std::atomic<bool> silenced{false};  // the Client object is gone: call no handler

  std::unique_ptr<detail::ClientTlsContext> tls_ctx;  // set when TLS is on
  /// I/O thread. The newest TLS session (ticket) of each endpoint, offered on
  /// the next connection to it (client_tls.cpp); map nodes do not move, so a
  /// connection's SSL object can point at its endpoint's slot.
  std::map<std::string, detail::TlsSessionSlot> tls_sessions;

  // I/O thread.
  Backoff backoff;
  boost::asio::steady_timer backoff_timer;          // the wait between attempts, nothing else
  std::vector<std::function<void()>> when_stopped;  // stop() callbacks, run after `stopped`
  unsigned attempts = 0;                // connection attempts since the last WELCOME (reported with `online`)
  std::shared_ptr<Connection> current;  // the attempt in progress, if any
  /// The protocol version HELLO offers: the newest, until a server refuses it.
  std::uint8_t hello_version = proto::kVersion;
  // The presence stream (subscribe()): where it stands, so a reconnect resumes just after it.
  bool subscribed = false;
  SubscribeOptions subscription;
  bool stream_known = false;  // an event or snapshot has been received
  std::uint64_t stream_instance = 0;
  std::uint64_t stream_seq = 0;
};

}  // namespace lifeline
