// lifeline::Client: the public, thread-safe face; it posts everything to the
// client's executor, where client_loop.cpp runs one Connection per attempt.

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <stdexcept>

#include "address.hpp"
#include "client_connection.hpp"
#include "client_impl.hpp"
#include "lifeline/log.hpp"

namespace lifeline {
namespace asio = boost::asio;

std::string_view to_string(ClientState s) {
  switch (s) {
    case ClientState::disconnected: return "disconnected";
    case ClientState::connecting: return "connecting";
    case ClientState::online: return "online";
    case ClientState::reconnecting: return "reconnecting";
    case ClientState::stopped: return "stopped";
  }
  return "unknown";
}

std::string ClientOptions::validate() const {
  if (servers.empty()) {
    return "at least one server address is required";
  }
  if (auto err = detail::check_endpoints(servers, "server"); !err.empty()) {
    return err;
  }
  if (!id.empty() && !proto::valid_id(id)) {
    return "client id '" + id + "' is invalid: use 1..128 characters of [A-Za-z0-9._:@-]";
  }
  if (labels.size() > proto::kMaxLabels) {
    return "at most 32 labels";
  }
  for (const auto& l : labels) {
    if (l.key.empty() || l.key.size() > proto::kMaxLabelKey || l.value.size() > proto::kMaxLabelValue) {
      return "label '" + l.key + "': key must be 1..64 bytes and value 0..256 bytes";
    }
  }
  if (interval.count() < 0 || timeout.count() < 0) {
    return "interval and timeout must not be negative";
  }
  if (interval.count() > 0 && timeout.count() > 0 && timeout < 2 * interval) {
    return "timeout must be at least twice the interval";
  }
  if (connect_timeout.count() <= 0) {
    return "connect-timeout must be positive";
  }
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return "tls-cert and tls-key go together";
  }
  if (!tls.enabled && (!tls.ca_file.empty() || !tls.cert_file.empty() || !tls.server_name.empty())) {
    return "TLS files or a server name are set but TLS is not enabled";
  }
  if (!token.empty() && !token_file.empty()) {
    return "token and token-file exclude each other";
  }
  if (token.size() > proto::kMaxTokenLength) {
    return "token is longer than " + std::to_string(proto::kMaxTokenLength) + " bytes";
  }
  return backoff.validate();
}

Client::Impl::Impl(asio::any_io_executor executor, ClientOptions options)
    : opts(std::move(options)), ex(std::move(executor)), backoff(opts.backoff), backoff_timer(ex) {
  if (opts.tls.enabled) {
    tls_ctx = detail::make_client_tls_context(opts.tls);
  }
}

namespace {
ClientOptions checked(ClientOptions o) {
  if (auto err = o.validate(); !err.empty()) {
    throw std::invalid_argument(err);
  }
  return o;
}
}  // namespace

Client::Client(ClientOptions options) {
  auto io = std::make_unique<asio::io_context>(1);
  impl_ = std::make_shared<Impl>(io->get_executor(), checked(std::move(options)));
  impl_->own_io = std::move(io);
}

Client::Client(asio::any_io_executor executor, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), checked(std::move(options)))) {}

Client::~Client() {
  impl_->silenced = true;
  try {
    stop();
    if (impl_->thread.joinable()) {
      impl_->work.reset();
      impl_->thread.join();
    }
  } catch (const std::exception& e) {
    // A destructor must not throw; a failure here (out of memory, a thread
    // error) is only worth a log line.
    logger()->error("stopping a client failed: {}", e.what());
  }
}

void Client::on_state(StateHandler h) { impl_->state_handler = std::move(h); }
void Client::on_data(DataHandler h) { impl_->data_handler = std::move(h); }
void Client::on_event(EventHandler h) { impl_->event_handler = std::move(h); }
void Client::on_list(ListHandler h) { impl_->list_handler = std::move(h); }

void Client::start() {
  if (impl_->stopping) {
    return;  // stopped before it started: stays stopped
  }
  asio::co_spawn(impl_->ex, impl_->main_loop(), asio::detached);
  if (impl_->own_io && !impl_->thread.joinable()) {
    impl_->work.emplace(impl_->own_io->get_executor());
    impl_->thread = std::thread([io = impl_->own_io.get()] { io->run(); });
  }
}

void Client::stop(std::function<void()> done) {
  if (impl_->own_io && !impl_->thread.joinable()) {
    // Never started on its own thread: nothing runs the io_context, so stop here.
    impl_->stopping = true;
    if (impl_->state != ClientState::stopped) {
      impl_->set_state(ClientState::stopped, {});
    }
    if (done) {
      done();
    }
    return;
  }
  // Set on the I/O thread, so the connection loop cannot see it and close
  // before this BYE has been sent.
  asio::post(impl_->ex, [impl = impl_, done = std::move(done)]() mutable {
    impl->stopping = true;
    if (done) {
      impl->when_stopped.push_back(std::move(done));
    }
    if (impl->state == ClientState::disconnected || impl->state == ClientState::stopped) {
      // No connection loop is running (never started, or already ended).
      impl->set_state(ClientState::stopped, {});
      impl->run_when_stopped();
      return;
    }
    impl->request_stop();
  });
}

bool Client::send(std::string payload) {
  if (state() != ClientState::online) {
    return false;
  }
  asio::post(impl_->ex, [impl = impl_, payload = std::move(payload)] {
    if (impl->current && impl->current->online()) {
      std::string frame;
      proto::encode_data(payload, frame);
      impl->current->send(frame);
    }
  });
  return true;
}

bool Client::list(std::uint32_t request_id) {
  if (state() != ClientState::online) {
    return false;
  }
  asio::post(impl_->ex, [impl = impl_, request_id] {
    if (impl->current && impl->current->online()) {
      std::string frame;
      proto::encode_list(request_id, frame);
      impl->current->send(frame);
    }
  });
  return true;
}

void Client::subscribe(SubscribeOptions options) {
  // Decided on the I/O thread, where WELCOME reads it: a WELCOME arriving
  // meanwhile cannot send a second SUBSCRIBE.
  asio::post(impl_->ex, [impl = impl_, options] {
    if (impl->subscribed) {
      return;
    }
    impl->subscribed = true;
    impl->subscription = options;
    // Not online yet: WELCOME sends it (and every later WELCOME too).
    if (impl->current && impl->current->online()) {
      impl->current->send_subscribe();
    }
  });
}

ClientState Client::state() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->state;
}

std::optional<std::chrono::microseconds> Client::rtt() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->rtt;
}

std::string Client::last_error() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->last_error;
}

std::string Client::id() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->id;
}

}  // namespace lifeline
