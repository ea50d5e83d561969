// The client's backoff loop: one Connection per attempt, and on any loss wait
// a jittered backoff and try the next endpoint. Runs on the client's executor.

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "client_connection.hpp"
#include "client_impl.hpp"
#include "lifeline/log.hpp"

namespace lifeline {
namespace asio = boost::asio;

namespace {
// A failed attempt is logged as a warning the first time in an outage and
// every this many attempts after (attempts 1, 11, 21, ...): an operator sees
// that and why the server is unreachable, without a line per retry.
constexpr unsigned kWarnEvery = 10;
}  // namespace

bool Client::Impl::retry_cannot_help(proto::ErrorCode code) const {
  switch (code) {
    case proto::ErrorCode::unauthorized: return opts.token_file.empty();  // a file may be fixed meanwhile
    case proto::ErrorCode::unsupported_version:
    case proto::ErrorCode::malformed:
    case proto::ErrorCode::too_large: return true;
    default: return false;
  }
}

void Client::Impl::set_state(ClientState to, StateChange change) {
  {
    const std::lock_guard lock(mu);
    change.from = state;
    change.to = to;
    state = to;
    if (!change.reason.empty()) {
      last_error = change.reason;
    }
  }
  if (state_handler && !silenced) {
    state_handler(change);
  }
  settle_waits(to);
}

void Client::Impl::set_error(std::string why) {
  const std::lock_guard lock(mu);
  last_error = std::move(why);
}

asio::awaitable<void> Client::Impl::main_loop() {
  const auto self = shared_from_this();
  set_state(ClientState::connecting, {});
  std::size_t next_endpoint = 0;
  StateChange last;  // the `stopped` transition
  bool wait_first = false;
  while (!stopping) {
    if (wait_first) {
      backoff_timer.expires_after(backoff.next());
      co_await backoff_timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (stopping) {
        break;
      }
    }
    wait_first = true;  // every retry waits a jittered delay, the first one after a loss too
    const auto i = next_endpoint++ % opts.servers.size();
    ++attempts;
    const auto conn = std::make_shared<Connection>(*this, opts.servers[i]);
    current = conn;
    co_await conn->run();
    current.reset();
    if (stopping) {
      break;
    }
    if (conn->welcomed() && conn->replaced()) {
      // Another live connection now holds our id. Reconnecting would take it
      // back, and the two would take it from each other forever: last one wins.
      last.reason = conn->reason() + "; not reconnecting: another connection with this id is live";
      break;
    }
    if (conn->welcomed()) {
      attempts = 0;  // the next outage counts from zero
      StateChange c;
      c.server = opts.servers[i];
      c.reason = conn->reason();
      set_state(ClientState::reconnecting, c);
    } else {
      set_error(opts.servers[i] + ": " + conn->reason());
      if (const auto code = conn->refusal(); code && opts.stop_when_refused && retry_cannot_help(*code)) {
        logger()->error("{} refused the handshake: {}; not retrying", opts.servers[i], conn->reason());
        last.server = opts.servers[i];
        last.reason = opts.servers[i] + ": " + conn->reason() + "; not retrying: the same HELLO would be refused again";
        last.refused = code;
        break;
      }
      // An unreachable server is routine during an outage; a refusal (a bad
      // token, a certificate for another id) needs someone to act.
      const bool warn = conn->refused() || attempts % kWarnEvery == 1;
      logger()->log(warn ? spdlog::level::warn : spdlog::level::debug, "attempt {} to {} failed: {}", attempts,
                    opts.servers[i], conn->reason());
    }
  }
  set_state(ClientState::stopped, last);
  run_when_stopped();
}

void Client::Impl::request_stop() {
  // The backoff wait, if that is where the loop is; it then sees `stopping`.
  backoff_timer.cancel();
  if (current) {
    current->stop();  // BYE if online; the loop sees `stopping` once the attempt is over
  }
}

void Client::Impl::run_when_stopped() {
  auto callbacks = std::move(when_stopped);
  when_stopped.clear();
  for (auto& f : callbacks) {
    f();
  }
}

}  // namespace lifeline
