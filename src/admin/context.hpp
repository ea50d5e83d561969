#pragma once
// What the admin server's parts share: the Server it serves, its options,
// its memory of offline clients, the hooks set by the program, and counters.
// Runs on the admin thread, except what is marked otherwise.

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "lifeline/admin.hpp"
#include "recent_offline.hpp"

namespace lifeline::admin {

struct Context {
  Context(Server& s, AdminOptions o) : server(s), options(std::move(o)), offline(options.remember_offline) {}

  Server& server;
  AdminOptions options;
  RecentOffline offline;
  AdminServer::HistoryFn history;
  AdminServer::KnownFn known_one;
  AdminServer::KnownListFn known_all;
  std::vector<AdminServer::MetricsFn> metrics;

  std::atomic<std::size_t> connections{0};
  std::atomic<std::size_t> streams{0};
  std::atomic<std::uint64_t> requests{0};

  /// Any thread (SIGHUP reload): the token requests need from now on.
  void set_token(std::string t) {
    const std::lock_guard lock(token_mu);
    options.token = std::move(t);
  }
  /// True if `presented` is the token (constant time), or no token is required.
  bool token_ok(std::string_view presented) const;

 private:
  mutable std::mutex token_mu;
};

}  // namespace lifeline::admin
