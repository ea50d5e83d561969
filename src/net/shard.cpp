#include "shard.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "address.hpp"
#include "lifeline/log.hpp"
#include "server_context.hpp"
#include "socket_options.hpp"
#include "sys.hpp"

namespace lifeline::detail {
namespace {
thread_local const Shard* t_current_shard = nullptr;  // set on each shard's own thread
// Enough slots that a default 30 s timeout fits in one turn at a 50 ms tick;
// longer deadlines park in the last slot and are re-checked when it comes round.
constexpr std::size_t kWheelSlots = 1024;
constexpr std::size_t kReadBuffer = std::size_t{64} * 1024;
// Connections taken per readiness report of a listener: the listener is
// level-triggered, so the rest come in the next round, after other sockets.
constexpr int kAcceptBatch = 64;
// After EMFILE and friends: how long to stop accepting instead of spinning on
// a connection that cannot be taken.
constexpr std::chrono::milliseconds kAcceptPause{100};
// TLS handshakes in flight (on all shards) before accepting pauses. A full
// handshake costs the server about 1 ms of CPU here: 1024 are a second of
// work, so each one finishes well inside the default 5 s handshake deadline
// while the rest wait, cheaply, in the listen backlog. Without a limit, a
// storm of 19,000 full handshakes started them all, none finished in time,
// and the crowd never came back; with 256, resumed storms slowed down
// (docs/benchmarks.md, "TLS at scale"). Accepting resumes as
// soon as half of them are done (Shard::tls_handshake_done), not after a
// timed pause: an idle accept while the backlog overflows would cost the
// clients whose SYNs are dropped a second each.
constexpr int kMaxTlsHandshakes = 1024;
constexpr int kResumeTlsHandshakes = kMaxTlsHandshakes / 2;
// The pause's backstop, should a resume be missed.
constexpr std::chrono::milliseconds kHandshakePause{1000};
}  // namespace

Shard::Shard(ServerContext& ctx, std::uint32_t index)
    : ctx_(ctx), index_(index), wheel_(ctx.options.tick, kWheelSlots, Clock::now()), rx_(kReadBuffer) {}

Shard::~Shard() { join(); }

void Shard::start() {
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    if (const auto ec = loop_.add(listeners_[i].get(), EPOLLIN, listener_tag(i))) {
      throw std::system_error(ec, "cannot watch a listening socket");
    }
  }
  thread_ = std::thread([this] {
    t_current_shard = this;
    try {
      loop_.run(
          [this](std::uint64_t tag, std::uint32_t events) { on_ready(tag, events); }, wheel_.next_due(),
          [this](Clock::time_point now) {
            metrics_.tick_lag.observe(std::chrono::duration_cast<std::chrono::microseconds>(now - wheel_.next_due()));
            wheel_.advance(now, [this](std::uint64_t no, Clock::time_point t) { return visit(no, t); });
            return wheel_.next_due();
          });
    } catch (const std::exception& e) {
      logger()->critical("I/O thread {} stopped by an exception: {}", index_, e.what());
    }
  });
}

void Shard::join() {
  loop_.quit();
  // A handler on this shard's thread may call Server::stop(): that thread ends
  // once the handler returns, and a later join from another thread reaps it.
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
  }
}

bool Shard::on_this_thread() const { return t_current_shard == this; }

void Shard::on_ready(std::uint64_t tag, std::uint32_t events) {
  assert_in_loop_thread(*this);
  if (shard_of(tag) == kNotASession) {
    accept_from(index_of(tag));
    return;
  }
  // A connection's tag is its address: no lookup by session number on the
  // heartbeat path. The object is alive: a session that closes goes to the
  // graveyard, emptied only by a posted task, which runs after this batch of
  // events; and its socket, closed by then, reports nothing later. A closed
  // connection ignores what is left of the batch (Connection::on_io).
  connection_of(tag)->on_io(events);  // the connection reads and hands its bytes to the session
}

void Shard::accept_from(std::size_t listener) {
  if (listener >= listeners_.size() || !listeners_[listener]) {
    return;
  }
  const int lfd = listeners_[listener].get();
  for (int i = 0; i < kAcceptBatch; ++i) {
    if (ctx_.tls && ctx_.tls_handshakes.load(std::memory_order_relaxed) >= kMaxTlsHandshakes) {
      pause_accepting(AcceptPause::handshakes, kHandshakePause);
      return;
    }
    SocketAddress ep;
    Fd fd(sys::accept_nonblocking(lfd, ep.data(), &ep.size));
    if (!fd) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        return;
      }
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        logger()->error("accept failed: {}; not accepting for {} ms", std::strerror(err), kAcceptPause.count());
        pause_accepting(AcceptPause::error, kAcceptPause);
        return;
      }
      continue;  // ECONNABORTED and the like: that connection is gone, the next may be fine
    }
    auto peer = to_string(ep);
    metrics_.accepted.add();
    if (ctx_.tls) {
      ctx_.tls_handshakes.fetch_add(1, std::memory_order_relaxed);  // given back by the Connection
    }
    // Counted here, on the one accepting thread, so the limits are exact; a
    // refused connection still gets a session, to say why before it closes.
    auto refusal = ctx_.limits.admit(host_of(peer));
    auto& target = *ctx_.shards[next_shard_++ % ctx_.shards.size()];
    const bool websocket = listener >= ws_first_;
    if (&target == this) {
      adopt(std::move(fd), std::move(peer), refusal, websocket);
    } else {
      target.post([&target, raw = fd.release(), peer = std::move(peer), refusal = std::move(refusal),
                   websocket]() mutable { target.adopt(Fd(raw), std::move(peer), refusal, websocket); });
    }
  }
}

void Shard::tls_handshake_done(ServerContext& ctx) {
  // Once stopping, nothing accepts again (and shards are being torn down).
  if (ctx.tls_handshakes.fetch_sub(1, std::memory_order_relaxed) == kResumeTlsHandshakes + 1 && !ctx.stopping.load()) {
    auto& acceptor = *ctx.shards.front();
    if (acceptor.on_this_thread()) {
      acceptor.resume_accepting(AcceptPause::handshakes);
    } else {
      acceptor.post([&acceptor] { acceptor.resume_accepting(AcceptPause::handshakes); });
    }
  }
}

void Shard::resume_accepting(AcceptPause why) {
  assert_in_loop_thread(*this);
  if (accept_paused_ != why || why == AcceptPause::none) {
    return;  // not paused, or paused for the other reason
  }
  accept_paused_ = AcceptPause::none;
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    if (listeners_[i]) {
      loop_.add(listeners_[i].get(), EPOLLIN, listener_tag(i));
    }
  }
}

void Shard::pause_accepting(AcceptPause why, std::chrono::milliseconds pause) {
  if (accept_paused_ != AcceptPause::none) {
    return;
  }
  accept_paused_ = why;
  for (const auto& l : listeners_) {
    loop_.remove(l.get());
  }
  accept_resume_at_ = Clock::now() + pause;
  wheel_.schedule(kResumeAcceptTag, accept_resume_at_);
}

std::optional<Shard::Clock::time_point> Shard::visit(std::uint64_t session_no, Clock::time_point now) {
  assert_in_loop_thread(*this);
  if (session_no == kResumeAcceptTag) {
    // An entry left by an earlier pause (ended early by its handshakes) must
    // not end a later one: only the current pause's own deadline counts, and
    // an entry that comes round before it waits for it.
    if (accept_paused_ != AcceptPause::none && now < accept_resume_at_) {
      return accept_resume_at_;
    }
    resume_accepting(accept_paused_);
    return std::nullopt;
  }
  auto* session = find(session_no);
  if (session == nullptr) {
    return std::nullopt;  // closed since it was scheduled
  }
  return session->on_wheel(now);
}

void Shard::adopt(Fd socket, std::string peer, const std::string& refusal, bool websocket) {
  assert_in_loop_thread(*this);
  std::uint32_t index = 0;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  auto& slot = slots_[index];
  const auto no = make_session_no(index_, slot.gen, index);
  slot.session = std::make_unique<Session>(*this, std::move(socket), no, std::move(peer), refusal.empty(), websocket);
  auto& session = *slot.session;
  metrics_.opened.add();
  // This session's only wheel entry until it closes: it stands for the
  // handshake deadline first, then the heartbeat's or the drain's (Session::on_wheel).
  wheel_.schedule(no, Clock::now() + std::min(ctx_.options.handshake_timeout, ctx_.options.heartbeat.min_timeout / 2));
  session.start();
  if (ctx_.stopping.load()) {
    metrics_.refused_shutdown.add();
    session.end_with_error(proto::ErrorCode::shutting_down, "server is shutting down", Reason::shutdown);
  } else if (!refusal.empty()) {
    metrics_.refused_limit.add();
    session.end_with_error(proto::ErrorCode::too_many_connections, refusal, Reason::rejected);
  }
}

Session* Shard::find(std::uint64_t session_no) const {
  assert_in_loop_thread(*this);
  const auto index = index_of(session_no);
  if (shard_of(session_no) != index_ || index >= slots_.size()) {
    return nullptr;
  }
  const auto& slot = slots_[index];
  if ((slot.gen & 0xFFFFFFU) != gen_of(session_no)) {
    return nullptr;
  }
  return slot.session.get();
}

void Shard::close_displaced(const SessionAddress& displaced) {
  ctx_.shards.at(displaced.shard)->with_session(displaced.session, [](Session& old) {
    old.end_with_bye(Reason::replaced, "a new connection with the same id took over");
  });
}

void Shard::forget(std::uint64_t session_no) {
  assert_in_loop_thread(*this);
  const auto index = index_of(session_no);
  if (index >= slots_.size() || (slots_[index].gen & 0xFFFFFFU) != gen_of(session_no) || !slots_[index].session) {
    return;
  }
  // The session may be the caller: destroy it from a later posted task, once
  // nothing of it is on this thread's stack.
  if (graveyard_.empty()) {
    post([this] { graveyard_.clear(); });
  }
  graveyard_.push_back(std::move(slots_[index].session));
  metrics_.closed.add();
  if ((++slots_[index].gen & 0xFFFFFFU) == 0) {
    ++slots_[index].gen;  // generation 0 is skipped: session number 0 stays unused
  }
  free_.push_back(index);
}

void Shard::close_listeners() {
  assert_in_loop_thread(*this);
  for (const auto& l : listeners_) {
    loop_.closing(l.get());
  }
  listeners_.clear();  // closing an fd also takes it out of the epoll set
}

std::vector<Session*> Shard::live_sessions() const {
  std::vector<Session*> live;
  for (const auto& slot : slots_) {
    if (slot.session) {
      live.push_back(slot.session.get());
    }
  }
  return live;
}

void Shard::close_clients(Reason reason, std::string_view text) {
  assert_in_loop_thread(*this);
  for (auto* s : live_sessions()) {
    if (s->holds_id()) {
      s->end_with_bye(reason, text);
    }
  }
}

void Shard::close_all(Reason reason) {
  assert_in_loop_thread(*this);
  for (auto* s : live_sessions()) {
    // Server::stop has closed every client on every shard first: the log now
    // holds every offline event, and a subscriber gets them before its BYE.
    s->pump_events(true);
    // A draining session (after a kick, timeout or ERROR) waits for its peer's
    // EOF; a frozen or unreachable peer never sends one, so end it now.
    s->end_with_bye(reason, "server is shutting down");
    s->connection().abort();
  }
}

}  // namespace lifeline::detail
