#include "event_dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <vector>

#include "lifeline/log.hpp"

namespace lifeline::detail {
namespace {
// Events handed to one handler before the next handler gets its turn, so one
// busy reader cannot starve the others.
constexpr std::size_t kBatch = 256;
}  // namespace

EventDispatcher::EventDispatcher(EventLog& log) : log_(log) {
  thread_ = std::thread([this] { run(); });
}

EventDispatcher::~EventDispatcher() {
  drain();
  if (watch_token_ != 0) {
    log_.unwatch(watch_token_);
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::uint64_t EventDispatcher::add(Handler handler, std::uint64_t cursor, std::optional<PresenceEvent> first) {
  auto reader = std::make_shared<Reader>();
  reader->handler = std::move(handler);
  reader->cursor = cursor;
  reader->first = std::move(first);
  // The log wakes this thread only once someone reads: a server without
  // handlers pays nothing per presence change. Outside mu_, which the wake-up
  // takes while the log holds its own lock.
  std::call_once(watch_once_, [this] { watch_token_ = log_.watch([this] { wake(); }); });
  std::uint64_t token = 0;
  {
    const std::lock_guard lock(mu_);
    token = next_token_++;
    readers_.emplace(token, std::move(reader));
    woken_ = true;  // events after its cursor may be waiting already
  }
  cv_.notify_one();
  return token;
}

void EventDispatcher::remove(std::uint64_t token) {
  const std::lock_guard lock(mu_);
  if (auto it = readers_.find(token); it != readers_.end()) {
    it->second->removed = true;
    readers_.erase(it);
  }
}

void EventDispatcher::drain() {
  {
    const std::lock_guard lock(mu_);
    draining_ = true;
    woken_ = true;
  }
  cv_.notify_one();
  if (!on_this_thread() && thread_.joinable()) {
    thread_.join();
  }
}

void EventDispatcher::wake() {
  {
    const std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

void EventDispatcher::run() {
  for (;;) {
    std::vector<std::shared_ptr<Reader>> readers;
    bool draining = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return woken_; });
      woken_ = false;
      draining = draining_;
      readers.reserve(readers_.size());
      for (const auto& [token, reader] : readers_) {
        readers.push_back(reader);
      }
    }
    // Handlers run here, with no lock held: they may subscribe, unsubscribe or stop the server.
    bool more = false;
    for (const auto& reader : readers) {
      more = deliver_some(*reader) || more;
    }
    if (more) {
      const std::lock_guard lock(mu_);
      woken_ = true;
    } else if (draining) {
      return;  // every handler has every event the log held when drain() was called
    }
  }
}

bool EventDispatcher::deliver_some(Reader& reader) {
  std::vector<PresenceEvent> batch;
  if (reader.first) {
    batch.push_back(std::move(*reader.first));
    reader.first.reset();
  }
  reader.cursor = log_.read_after(reader.cursor, kBatch, batch);
  for (const auto& ev : batch) {
    if (reader.removed) {
      return false;
    }
    try {
      reader.handler(ev);
    } catch (const std::exception& e) {
      logger()->error("a presence event handler threw on seq {}: {}", ev.seq, e.what());
    }
  }
  return batch.size() >= kBatch;
}

}  // namespace lifeline::detail
