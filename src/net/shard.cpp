#include "shard.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lifeline/log.hpp"
#include "server_context.hpp"

namespace lifeline::detail {
namespace asio = boost::asio;
namespace {
thread_local const Shard* t_current_shard = nullptr;  // set on each shard's own thread
// Enough slots that a default 30 s timeout fits in one turn at a 50 ms tick;
// longer deadlines park in the last slot and are re-checked when it comes round.
constexpr std::size_t kWheelSlots = 1024;
constexpr std::size_t kReadBuffer = std::size_t{64} * 1024;
}  // namespace

Shard::Shard(ServerContext& ctx, std::uint32_t index)
    : ctx_(ctx), index_(index), wheel_(ctx.options.tick, kWheelSlots, Clock::now()), timer_(io_), rx_(kReadBuffer) {}

Shard::~Shard() { join(); }

void Shard::start() {
  work_.emplace(io_.get_executor());
  start_ticking();
  thread_ = std::thread([this] {
    t_current_shard = this;
    try {
      io_.run();
    } catch (const std::exception& e) {
      logger()->critical("I/O thread {} stopped by an exception: {}", index_, e.what());
    }
  });
}

void Shard::join() {
  work_.reset();
  // A handler on this shard's thread may call Server::stop(): that thread ends
  // once the handler returns, and a later join from another thread reaps it.
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
  }
}

bool Shard::on_this_thread() const { return t_current_shard == this; }

void Shard::start_ticking() {
  asio::co_spawn(
      io_,
      [this]() -> asio::awaitable<void> {
        for (;;) {
          timer_.expires_at(wheel_.next_due());
          auto [ec] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
          // cancel() cannot stop a wait whose completion is already queued, so
          // the loop also checks the server's stop flag: otherwise it would
          // re-arm forever and the thread would never finish.
          if (ec || ctx_.stopping.load()) {
            co_return;
          }
          wheel_.advance(Clock::now(), [this](std::uint64_t no, Clock::time_point now) { return visit(no, now); });
        }
      },
      asio::detached);
}

std::optional<Shard::Clock::time_point> Shard::visit(std::uint64_t session_no, Clock::time_point now) const {
  auto session = find(session_no);
  if (!session) {
    return std::nullopt;  // closed since it was scheduled
  }
  return session->on_wheel(now);
}

void Shard::adopt(Session::Socket socket) {
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
  slot.session = std::make_shared<Session>(*this, std::move(socket), no);
  if (ctx_.stopping.load()) {
    slot.session->close_with_error(proto::ErrorCode::shutting_down, "server is shutting down", Reason::shutdown);
  }
  // The handshake deadline is this session's only wheel entry until it closes.
  wheel_.schedule(no, Clock::now() + std::min(ctx_.options.handshake_timeout, ctx_.options.heartbeat.min_timeout / 2));
  slot.session->start();
}

std::shared_ptr<Session> Shard::find(std::uint64_t session_no) const {
  const auto index = index_of(session_no);
  if (shard_of(session_no) != index_ || index >= slots_.size()) {
    return nullptr;
  }
  const auto& slot = slots_[index];
  if ((slot.gen & 0xFFFFFFU) != gen_of(session_no)) {
    return nullptr;
  }
  return slot.session;
}

void Shard::forget(std::uint64_t session_no) {
  const auto index = index_of(session_no);
  if (index >= slots_.size() || (slots_[index].gen & 0xFFFFFFU) != gen_of(session_no) || !slots_[index].session) {
    return;
  }
  // The session object lives on until its coroutine returns; drop it off this
  // thread's stack first so a close from inside the session stays safe.
  asio::post(io_, [s = std::move(slots_[index].session)] {});
  ++slots_[index].gen;
  free_.push_back(index);
}

void Shard::close_all(Reason reason) {
  std::vector<std::shared_ptr<Session>> live;
  for (const auto& slot : slots_) {
    if (slot.session) {
      live.push_back(slot.session);
    }
  }
  for (const auto& s : live) {
    // A draining session (after a kick, timeout or ERROR) waits for its peer's
    // EOF; a frozen or unreachable peer never sends one, so end it now.
    s->close_with_bye(reason, "server is shutting down");
    s->terminate();
  }
  timer_.cancel();
}

}  // namespace lifeline::detail
