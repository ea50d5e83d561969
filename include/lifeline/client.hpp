#pragma once
/// lifeline::Client: stays connected to a lifeline server, heartbeats, and
/// reconnects by itself (exponential backoff with full jitter, endpoints tried
/// in turn, a connect timeout on every attempt). One exception: when the server
/// says another connection with the same id took over (BYE replaced), the
/// client stops instead of taking the id back ("last one wins": no flapping).
/// Two: when the server refuses the handshake in a way no retry can fix
/// (ClientOptions::stop_when_refused), the client stops and says why.
///
/// Threading: every public member function is thread-safe. Handlers run on the
/// client's I/O thread (its own, or the io_context you gave it), one at a time;
/// they must not block. Set handlers before start().

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lifeline/backoff.hpp"
#include "lifeline/protocol.hpp"

namespace lifeline {

enum class ClientState {
  disconnected,  ///< not started
  connecting,    ///< first connection attempt(s)
  online,        ///< handshake done, heartbeating
  reconnecting,  ///< lost the server; retrying with backoff (one transition per outage)
  stopped,       ///< stop() was called, or another live connection took over our id (BYE replaced)
};
std::string_view to_string(ClientState s);

/// TLS to the server. PEM files, read once at construction.
struct ClientTlsOptions {
  bool enabled = false;
  /// CAs that may sign the server's certificate; empty = the system's.
  std::string ca_file;
  /// The name the server's certificate must carry (DNS name or IP address);
  /// empty = the host part of the endpoint being tried.
  std::string server_name;
  /// Check that the certificate is for that name. On by default; turning it
  /// off lets any certificate from a trusted CA stand in for the server.
  bool verify_hostname = true;
  /// Mutual TLS: this client's certificate and key.
  std::string cert_file;
  std::string key_file;
};

struct ClientOptions {
  /// "host:port" endpoints, tried in turn: IPv4, "[v6]:port", or a host name,
  /// resolved (asynchronously) on every attempt, each of its addresses tried
  /// in the resolver's order with the connect timeout.
  std::vector<std::string> servers;
  /// Client id; empty = the server assigns one.
  std::string id;
  std::vector<proto::Label> labels;
  /// Proposed heartbeat; the server's WELCOME has the final say. 0 = server default.
  std::chrono::milliseconds interval{0};
  std::chrono::milliseconds timeout{0};
  /// Ask the server to drive the heartbeat (the client only answers PINGs).
  bool server_pings = false;
  /// Connect as a tool (ls, watch): not listed as online.
  bool observer = false;
  BackoffPolicy backoff{};
  /// Limit on each attempt's TCP connect plus handshake.
  std::chrono::milliseconds connect_timeout{5000};
  std::uint32_t max_data = proto::kDefaultMaxData;
  bool tcp_keepalive = true;
  ClientTlsOptions tls;
  /// Authentication token sent in HELLO (lifeline token issue). With
  /// token_file set instead, the file is read again before every attempt, so
  /// a renewed token is picked up without a restart.
  std::string token;
  std::string token_file;
  /// Stop (state `stopped`, StateChange::refused set) instead of retrying
  /// when the server refuses the handshake with an ERROR that the same HELLO
  /// would get again: `unsupported_version` (after falling back to version
  /// 1), `malformed` or `too_large` (the HELLO itself), and `unauthorized`
  /// unless the token comes from token_file (which may be fixed meanwhile: it
  /// is read again before every attempt). Any other failure is retried with
  /// backoff, `rejected` included: the id's holder may leave (a standby
  /// client waits for its turn that way).
  bool stop_when_refused = true;

  /// Empty if usable, else a message naming the offending option.
  std::string validate() const;
};

/// Where a presence stream starts (Client::subscribe).
struct SubscribeOptions {
  /// The online list first, delivered to on_list() as LIST_REPLY frames with
  /// `request_id` and the seq they reflect, then every event after that seq:
  /// nothing missed, nothing doubled.
  bool snapshot = false;
  std::uint32_t request_id = 0;
};

struct StateChange {
  ClientState from = ClientState::disconnected;
  ClientState to = ClientState::disconnected;
  std::string server;                     ///< endpoint of the (new) connection, or the one lost
  std::string reason;                     ///< why the connection was lost, for `reconnecting`
  std::chrono::milliseconds interval{0};  ///< negotiated, for `online`
  std::chrono::milliseconds timeout{0};
  unsigned attempts = 0;  ///< connection attempts this outage took, for `online`
  /// For `online` over TLS: the handshake resumed the session of an earlier
  /// connection to this endpoint (a ticket), skipping the certificate exchange.
  std::optional<bool> tls_resumed;
  /// For `stopped`: the server's ERROR that ended the client (stop_when_refused).
  std::optional<proto::ErrorCode> refused;
};

/// The whole online list of one reply (all its LIST_REPLY frames).
struct OnlineList {
  std::vector<proto::ListEntry> entries;
  std::uint32_t online = 0;
  std::uint64_t seq = 0;       ///< the event stream position the list reflects
  std::uint64_t instance = 0;  ///< the server run
  std::string node;            ///< protocol 4: the cluster node that answered ("" alone)
  bool degraded = false;       ///< protocol 4: that node cannot reach the cluster (others' entries as last seen)
};

class Client {
 public:
  /// Completion of list(timeout, ...): the list, or an error (below).
  using ListDone = std::function<void(boost::system::error_code, OnlineList)>;
  /// Completion of wait_online(): success once online, or an error (below).
  using OnlineDone = std::function<void(boost::system::error_code)>;

  using StateHandler = std::function<void(const StateChange&)>;
  using DataHandler = std::function<void(std::string_view payload)>;
  using EventHandler = std::function<void(const proto::Event&)>;
  using ListHandler = std::function<void(const proto::ListReply&)>;

  /// Runs on its own I/O thread. Throws std::invalid_argument naming a bad
  /// option (a TLS file that cannot be loaded among them).
  explicit Client(ClientOptions options);
  /// Runs on `executor` (the caller runs its io_context): many clients can share a thread.
  Client(boost::asio::any_io_executor executor, ClientOptions options);
  /// Stops without waiting for the network.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void on_state(StateHandler h);
  void on_data(DataHandler h);
  /// Presence events after subscribe().
  void on_event(EventHandler h);
  /// LIST_REPLY frames after list().
  void on_list(ListHandler h);

  void start();
  /// Sends BYE (if online) and stops reconnecting; `done` runs once the BYE is written.
  void stop(std::function<void()> done = {});

  /// Queues DATA; false if not online (nothing is buffered across outages).
  bool send(std::string payload);
  /// Asks for the online list; replies arrive at on_list. False if not online.
  bool list(std::uint32_t request_id);
  /// Subscribes to presence events, on_event() from now on. After a
  /// reconnect it resumes just after the last event it received: the server
  /// sends what was missed, or, if it no longer has it (it restarted, or the
  /// outage outlasted its replay buffer), an event of kind `gap`, followed by
  /// a fresh snapshot when `options.snapshot` is set. Call once.
  void subscribe(SubscribeOptions options = {});

  /// Asks for the online list and completes once the whole reply is in, with
  /// its own deadline: no hand-made mutex or condition variable, and no wait
  /// for a reply that never comes. Errors: boost::asio::error::not_connected
  /// (not online when called), timed_out (no complete reply within
  /// `timeout`), connection_aborted (the connection was lost first),
  /// operation_aborted (the client stopped). `done` runs on the client's I/O
  /// thread (on the caller's for not_connected, which is known at once) and
  /// must not block. These replies do not reach on_list().
  void list(std::chrono::milliseconds timeout, ListDone done);
  /// Completes once the client is online (at once if it is), or with
  /// timed_out after `timeout`, or operation_aborted if it stops first (then
  /// last_error() says why: a refusal, a takeover). `done` runs on the
  /// client's I/O thread and must not block. Called before start() on a
  /// client with its own thread, the wait begins at start().
  void wait_online(std::chrono::milliseconds timeout, OnlineDone done);

  /// list(timeout) with an Asio completion token: `co_await
  /// client.async_list(2s, asio::use_awaitable)` in a coroutine (an error
  /// throws boost::system::system_error), `.get()` on `asio::use_future`'s
  /// future, or a handler. The completion runs on the token's executor.
  template <class Token>
  auto async_list(std::chrono::milliseconds timeout, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, OnlineList)>(
        [this](auto handler, std::chrono::milliseconds t) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          list(t, [h](boost::system::error_code ec, OnlineList l) {
            auto ex = boost::asio::get_associated_executor(*h);
            boost::asio::dispatch(ex, [h, ec, l = std::move(l)]() mutable { std::move (*h)(ec, std::move(l)); });
          });
        },
        token, timeout);
  }
  /// wait_online() with an Asio completion token, as async_list().
  template <class Token>
  auto async_wait_online(std::chrono::milliseconds timeout, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler, std::chrono::milliseconds t) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          wait_online(t, [h](boost::system::error_code ec) {
            auto ex = boost::asio::get_associated_executor(*h);
            boost::asio::dispatch(ex, [h, ec]() mutable { std::move (*h)(ec); });
          });
        },
        token, timeout);
  }

  ClientState state() const;
  /// Last measured round-trip time, if any.
  std::optional<std::chrono::microseconds> rtt() const;
  /// Why the last connection or attempt failed ("" if none).
  std::string last_error() const;
  /// The id in force (the assigned one if options.id was empty), once online.
  std::string id() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace lifeline
