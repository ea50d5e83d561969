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
}

void Client::Impl::set_error(std::string why) {
  const std::lock_guard lock(mu);
  last_error = std::move(why);
}

asio::awaitable<void> Client::Impl::main_loop() {
  const auto self = shared_from_this();
  set_state(ClientState::connecting, {});
  std::size_t next_endpoint = 0;
  std::string stopped_because;
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
    const auto i = next_endpoint++ % endpoints.size();
    ++attempts;
    const auto conn = std::make_shared<Connection>(*this, endpoint_names[i]);
    current = conn;
    co_await conn->run(endpoints[i]);
    current.reset();
    if (stopping) {
      break;
    }
    if (conn->welcomed() && conn->replaced()) {
      // Another live connection now holds our id. Reconnecting would take it
      // back, and the two would take it from each other forever: last one wins.
      stopped_because = conn->reason() + "; not reconnecting: another connection with this id is live";
      break;
    }
    if (conn->welcomed()) {
      attempts = 0;  // the next outage counts from zero
      StateChange c;
      c.server = endpoint_names[i];
      c.reason = conn->reason();
      set_state(ClientState::reconnecting, c);
    } else {
      set_error(endpoint_names[i] + ": " + conn->reason());
      // An unreachable server is routine during an outage; a refusal (a bad
      // token, a certificate for another id) needs someone to act.
      logger()->log(conn->refused() ? spdlog::level::warn : spdlog::level::debug, "attempt {} to {} failed: {}",
                    attempts, endpoint_names[i], conn->reason());
    }
  }
  StateChange last;
  last.reason = stopped_because;
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
