#include "demo_observer.hpp"

#include <algorithm>

#include "demo_output.hpp"

namespace lifeline::app::demo {
namespace {

ClientOptions observer_options(const std::string& server) {
  ClientOptions o;
  o.servers = {server};
  o.observer = true;
  // Back quickly after the server restarts; the agents' backoff is what the story measures.
  o.backoff.base = std::chrono::milliseconds(100);
  o.backoff.cap = std::chrono::milliseconds(500);
  o.connect_timeout = std::chrono::milliseconds(1000);
  return o;
}

// Waits are woken by the handlers; the slice only bounds how late Ctrl-C is seen.
constexpr std::chrono::milliseconds kInterruptCheck{50};

}  // namespace

const proto::ListEntry* OnlineList::find(std::string_view id) const {
  const auto it = std::find_if(entries.begin(), entries.end(), [&](const auto& e) { return e.id == id; });
  return it == entries.end() ? nullptr : &*it;
}

Observer::Observer(const std::string& server, EventPrinter on_event, StatePrinter on_state)
    : print_event_(std::move(on_event)), print_state_(std::move(on_state)), client_(observer_options(server)) {
  client_.on_event([this](const proto::Event& e) { this->on_event(e); });
  client_.on_list([this](const proto::ListReply& r) { this->on_list(r); });
  client_.on_state([this](const StateChange& c) { this->on_state(c); });
  client_.subscribe();
  client_.start();
}

void Observer::on_event(const proto::Event& e) {
  print_event_(e);  // first, so the live line comes before the story's verdict on it
  const std::lock_guard lock(mu_);
  events_.push_back(e);
  cv_.notify_all();
}

void Observer::on_list(const proto::ListReply& r) {
  const std::lock_guard lock(mu_);
  if (r.request_id != list_request_) {
    return;  // the answer to a LIST that was given up on
  }
  partial_.insert(partial_.end(), r.entries.begin(), r.entries.end());
  if (r.last) {
    std::sort(partial_.begin(), partial_.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    list_ = OnlineList{std::move(partial_), unix_ms_now()};
    partial_.clear();
    cv_.notify_all();
  }
}

void Observer::on_state(const StateChange& c) {
  print_state_(c);
  const std::lock_guard lock(mu_);
  state_ = c.to;
  connections_ += c.to == ClientState::online ? 1 : 0;
  cv_.notify_all();
}

bool Observer::wait_until(std::unique_lock<std::mutex>& lock, Clock::time_point deadline,
                          const std::function<bool()>& done) {
  return wait_loop(
      deadline, done, [&](Clock::time_point until) { cv_.wait_until(lock, until); }, kInterruptCheck);
}

std::size_t Observer::mark() const {
  const std::lock_guard lock(mu_);
  return events_.size();
}

std::optional<proto::Event> Observer::wait_event(std::size_t from,
                                                 const std::function<bool(const proto::Event&)>& match,
                                                 Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  std::optional<proto::Event> found;
  wait_until(lock, deadline, [&] {
    for (; from < events_.size() && !found; ++from) {
      if (match(events_[from])) {
        found = events_[from];
      }
    }
    return found.has_value();
  });
  return found;
}

bool Observer::wait_state(ClientState s, Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return wait_until(lock, deadline, [&] { return state_ == s; });
}

std::optional<OnlineList> Observer::fetch_list(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  const auto request = ++list_request_;
  partial_.clear();
  list_.reset();
  // A LIST is refused while offline and its reply is lost with the connection:
  // ask on every connection that comes up until the whole reply is in.
  std::uint64_t asked_on = 0;
  const bool ok = wait_until(lock, deadline, [&] {
    if (state_ == ClientState::online && asked_on != connections_) {
      partial_.clear();
      if (client_.list(request)) {
        asked_on = connections_;
      }
    }
    return list_.has_value();
  });
  return ok ? std::move(list_) : std::nullopt;
}

}  // namespace lifeline::app::demo
