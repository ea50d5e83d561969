// Waiting on lifeline::Client without hand-made plumbing: list(timeout) and
// wait_online() as callbacks, futures (asio::use_future) and coroutines
// (asio::use_awaitable), each with its own deadline; and a client stopped
// right after it came online still says BYE.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <future>

#include "helpers.hpp"

namespace lifeline::test {
namespace {

namespace asio = boost::asio;

// The error a future from asio::use_future holds ("" if it holds a value).
template <class T>
boost::system::error_code error_of(std::future<T> f) {
  try {
    f.get();
  } catch (const boost::system::system_error& e) {
    return e.code();
  }
  return {};
}

TEST(ClientWaits, ListAsAFutureHasTheWholeList) {
  Server server(fast_server_options());
  server.start();
  Client a(fast_client_options(server.ports()[0], "a"));
  Client b(fast_client_options(server.ports()[0], "b"));
  a.start();
  b.start();
  ASSERT_FALSE(error_of(a.async_wait_online(2000ms, asio::use_future)));
  ASSERT_FALSE(error_of(b.async_wait_online(2000ms, asio::use_future)));
  ASSERT_TRUE(eventually([&] { return server.online_count() == 2; }));
  Recorder<proto::ListReply> app_replies;
  a.on_list([&](const proto::ListReply& r) { app_replies.push(r); });

  const OnlineList list = a.async_list(2000ms, asio::use_future).get();
  EXPECT_EQ(list.online, 2U);
  std::vector<std::string> ids;
  for (const auto& e : list.entries) {
    ids.push_back(e.id);
  }
  EXPECT_THAT(ids, ::testing::UnorderedElementsAre("a", "b"));
  EXPECT_EQ(list.instance, server.instance());
  EXPECT_EQ(app_replies.size(), 0U) << "a list(timeout) reply reached on_list()";
}

TEST(ClientWaits, ListInACoroutine) {
  Server server(fast_server_options());
  server.start();
  asio::io_context io;
  Client c(io.get_executor(), fast_client_options(server.ports()[0], "coro"));
  std::optional<OnlineList> got;
  std::string error;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          co_await c.async_wait_online(2000ms, asio::use_awaitable);
          got = co_await c.async_list(2000ms, asio::use_awaitable);
        } catch (const boost::system::system_error& e) {
          error = e.what();
        }
        c.stop();
      },
      asio::detached);
  c.start();
  io.run_for(5s);
  ASSERT_TRUE(got) << error;
  ASSERT_EQ(got->entries.size(), 1U);
  EXPECT_EQ(got->entries[0].id, "coro");
}

TEST(ClientWaits, ListTimesOutAgainstAServerThatNeverAnswers) {
  // WELCOME with a long timeout, then silence: the connection stays up, no
  // LIST_REPLY ever comes. Before list(timeout), a caller waited forever.
  RawServer raw(RawServer::Mode::welcome_then_silent, 0, RawWelcome{1000ms, 10000ms});
  auto opts = fast_client_options(raw.port(), "asker");
  opts.interval = 1000ms;
  opts.timeout = 10000ms;
  Client c(opts);
  c.start();
  ASSERT_FALSE(error_of(c.async_wait_online(2000ms, asio::use_future)));
  const auto t0 = Clock::now();
  auto reply = c.async_list(200ms, asio::use_future);
  EXPECT_EQ(error_of(std::move(reply)), asio::error::timed_out);
  const auto took = Clock::now() - t0;
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 200ms + kLoadSlack);
}

TEST(ClientWaits, ListWhenNotOnlineFailsAtOnce) {
  Client c(fast_client_options(closed_port(), "nobody"));
  auto reply = c.async_list(5000ms, asio::use_future);
  EXPECT_EQ(error_of(std::move(reply)), asio::error::not_connected);
}

TEST(ClientWaits, WaitOnlineTimesOutAndEndsWithStop) {
  Client c(fast_client_options(closed_port(), "unreachable"));
  c.start();
  const auto t0 = Clock::now();
  EXPECT_EQ(error_of(c.async_wait_online(200ms, asio::use_future)), asio::error::timed_out);
  EXPECT_GE(Clock::now() - t0, 200ms);
  auto pending = c.async_wait_online(60s, asio::use_future);
  c.stop();
  ASSERT_EQ(pending.wait_for(kLoadSlack), std::future_status::ready) << "stop() left a wait pending";
  EXPECT_EQ(error_of(std::move(pending)), asio::error::operation_aborted);
  // And once stopped, a new wait fails at once.
  EXPECT_EQ(error_of(c.async_wait_online(60s, asio::use_future)), asio::error::operation_aborted);
}

TEST(ClientWaits, AStopRightAfterOnlineSaysBye) {
  Recorder<PresenceEvent> events;  // declared before the server: handlers run until it stops
  Server server(fast_server_options());
  server.subscribe([&](const PresenceEvent& e) { events.push(e); });
  server.start();
  for (int round = 0; round < 5; ++round) {
    const std::string id = "quick-" + std::to_string(round);
    Client c(fast_client_options(server.ports()[0], id));
    std::promise<void> stopped;
    // Stop from the online completion itself: the earliest moment a caller can.
    c.wait_online(2000ms, [&](boost::system::error_code ec) {
      EXPECT_FALSE(ec);
      c.stop([&] { stopped.set_value(); });
    });
    c.start();
    ASSERT_EQ(stopped.get_future().wait_for(kLoadSlack), std::future_status::ready);
    ASSERT_TRUE(events.wait_count(
        [&](const PresenceEvent& e) { return e.id == id && e.kind == proto::EventKind::offline; }, 1, kLoadSlack));
    for (const auto& e : events.items()) {
      if (e.id == id && e.kind == proto::EventKind::offline) {
        EXPECT_EQ(e.reason, Reason::bye) << id << ": offline " << proto::to_string(e.reason) << ", not a goodbye";
      }
    }
  }
}

}  // namespace
}  // namespace lifeline::test
