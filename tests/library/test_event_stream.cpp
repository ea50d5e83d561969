// The presence event stream over real sockets: stop() from a handler with
// watchers connected, shutdown events before each subscriber's BYE, order
// under a join/leave storm, a subscriber that stops reading, the snapshot-then-
// events stitch under churn, and resuming after a seq (or getting a gap).

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "helpers.hpp"
#include "stream_peer.hpp"

namespace lifeline::test {
namespace {

using proto::EventKind;
using proto::FrameType;

// Every event the server's own log had, as its library handler saw them.
// Declared before the server, so it outlives every delivery.
struct ServerLog {
  Recorder<PresenceEvent> rec;
  void attach(Server& s) {
    s.subscribe([this](const PresenceEvent& e) { rec.push(e); });
  }
  bool wait_seq(std::uint64_t seq, std::chrono::milliseconds deadline = 5000ms) {
    return rec.wait_count([seq](const PresenceEvent& e) { return e.seq >= seq; }, 1, deadline);
  }
};

// Reads a peer's events until one has `seq` (or the stream ends); every one in order.
std::vector<proto::Event> read_until_seq(StreamPeer& peer, std::uint64_t seq) {
  std::vector<proto::Event> got;
  while (got.empty() || got.back().seq < seq) {
    auto e = peer.next_event();
    if (!e) {
      ADD_FAILURE() << "stream ended at seq " << (got.empty() ? 0 : got.back().seq) << ", waiting for " << seq;
      break;
    }
    got.push_back(std::move(*e));
  }
  return got;
}

// Connects a client peer with `id` and closes it: two events (online, offline
// closed), with an id not used before (a reused one could be taken over before
// its EOF is read, which makes one takeover event instead of two).
void blip(std::uint16_t port, const std::string& id) { StreamPeer(port, proto::kVersion, id); }

class ShardCount : public ::testing::TestWithParam<unsigned> {};
INSTANTIATE_TEST_SUITE_P(Shards, ShardCount, ::testing::Values(1U, 4U));

// Defect: stop() from a presence-event handler hung whenever a watch was
// connected (the handler ran under the registry's delivery lock, which the
// watcher's unsubscribe then took again).
TEST_P(ShardCount, StopFromAnEventHandlerReturnsWithWatchersConnected) {
  std::atomic<bool> returned{false};
  auto server = std::make_unique<Server>(fast_server_options(GetParam()));
  server->subscribe([&](const PresenceEvent& e) {
    if (e.kind == EventKind::online && e.id == "trigger") {
      server->stop();
      returned = true;
    }
  });
  server->start();
  const auto port = server->ports()[0];
  std::vector<std::unique_ptr<StreamPeer>> watchers;
  for (unsigned i = 0; i < GetParam() + 1; ++i) {
    watchers.push_back(std::make_unique<StreamPeer>(port, i % 2 == 0 ? proto::kVersion : proto::kMinVersion));
    watchers.back()->subscribe();
  }
  ClientOptions watch_opts = fast_client_options(port, "");
  watch_opts.observer = true;
  Client watch(watch_opts);
  ClientProbe watch_probe;
  ASSERT_TRUE(watch_probe.start_online(watch));
  watch.subscribe();
  StreamPeer trigger(port, proto::kVersion, "trigger");
  const bool ok = eventually([&] { return returned.load(); }, 5000ms);
  EXPECT_TRUE(ok) << "Server::stop() called from an event handler has not returned after 5 s";
  if (!ok) {
    (void)server.release();  // deliberately leaked: a thread is stuck inside stop()
    return;
  }
  EXPECT_FALSE(server->running());
  for (auto& w : watchers) {
    std::optional<StreamPeer::Frame> f;
    while ((f = w->next()) && f->type == FrameType::event) {
    }
    ASSERT_TRUE(f) << "a watcher got no BYE";
    EXPECT_EQ(f->type, FrameType::bye);
  }
  EXPECT_TRUE(watch_probe.wait_state(ClientState::reconnecting));
}

// Defect: subscribers lost some `offline shutdown` events because their own
// BYE came first. Now each gets every client's before its BYE, on every shard.
TEST_P(ShardCount, ShutdownSendsEveryOfflineToEverySubscriberBeforeItsBye) {
  constexpr int kClients = 10;
  ServerLog server_log;
  Server server(fast_server_options(GetParam()));
  server_log.attach(server);
  server.start();
  const auto port = server.ports()[0];
  std::vector<std::unique_ptr<StreamPeer>> subscribers;  // round-robin: at least one per shard
  for (unsigned i = 0; i < 2 * GetParam(); ++i) {
    subscribers.push_back(std::make_unique<StreamPeer>(port, i % 2 == 0 ? proto::kVersion : proto::kMinVersion));
    subscribers.back()->subscribe();
  }
  std::vector<std::unique_ptr<StreamPeer>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<StreamPeer>(port, proto::kVersion, "c" + std::to_string(i)));
  }
  ASSERT_TRUE(server_log.wait_seq(kClients));
  server.stop();

  const auto is_shutdown = [](const PresenceEvent& e) {
    return e.kind == EventKind::offline && e.reason == Reason::shutdown;
  };
  EXPECT_EQ(server_log.rec.count(is_shutdown), static_cast<std::size_t>(kClients))
      << "a library handler must have every event by the time stop() returns";
  for (std::size_t i = 0; i < subscribers.size(); ++i) {
    std::set<std::string> offline;
    std::optional<StreamPeer::Frame> f;
    while ((f = subscribers[i]->next()) && f->type == FrameType::event) {
      const auto e = subscribers[i]->as_event(*f);
      if (e && e->kind == EventKind::offline && e->reason == Reason::shutdown) {
        offline.insert(e->id);
      }
    }
    ASSERT_TRUE(f) << "subscriber " << i << " got no BYE";
    EXPECT_EQ(f->type, FrameType::bye);
    EXPECT_EQ(offline.size(), static_cast<std::size_t>(kClients)) << "subscriber " << i << " (before its BYE)";
  }
}

TEST(EventStream, SubscribersSeeAJoinLeaveStormInOrderWithNoGapOrDouble) {
  ServerLog server_log;
  Server server(fast_server_options(2));
  server_log.attach(server);
  server.start();
  const auto port = server.ports()[0];
  std::vector<std::unique_ptr<StreamPeer>> subscribers;
  for (int i = 0; i < 3; ++i) {
    subscribers.push_back(std::make_unique<StreamPeer>(port, proto::kVersion));
    subscribers.back()->subscribe();
  }
  std::vector<std::thread> stormers;
  for (int t = 0; t < 4; ++t) {
    stormers.emplace_back([port, t] {
      for (int i = 0; i < 50; ++i) blip(port, "s" + std::to_string(t) + "-" + std::to_string(i));
    });
  }
  for (auto& th : stormers) th.join();
  constexpr std::uint64_t kEvents = 4 * 50 * 2;
  ASSERT_TRUE(server_log.wait_seq(kEvents));
  const auto truth = server_log.rec.items();
  ASSERT_EQ(truth.size(), kEvents);
  for (auto& s : subscribers) {
    const auto got = read_until_seq(*s, kEvents);
    ASSERT_EQ(got.size(), truth.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].seq, truth[i].seq);
      EXPECT_EQ(got[i].kind, truth[i].kind);
      EXPECT_EQ(got[i].reason, truth[i].reason);
      EXPECT_EQ(got[i].id, truth[i].id);
      EXPECT_EQ(got[i].instance, server.instance());
    }
  }
}

// A subscriber that stops reading holds no more than the replay ring and a
// bounded output: once it reads again it gets a gap (version 2) for what the
// ring no longer has, then every later event in order; in version 1 it is
// closed with ERROR slow_consumer. A client on the server is unaffected.
TEST(EventStream, ASubscriberThatStopsReadingGetsAGapOrIsClosed) {
  ServerOptions opts = fast_server_options(2);
  opts.event_buffer = 16;
  opts.max_outbound = 65536;
  ServerLog server_log;
  Server server(opts);
  server_log.attach(server);
  server.start();
  const auto port = server.ports()[0];
  Client bystander(fast_client_options(port, "bystander"));
  ClientProbe probe;
  ASSERT_TRUE(probe.start_online(bystander));
  StreamPeer v2(port, proto::kVersion, {}, 4096);
  StreamPeer v1(port, proto::kMinVersion, {}, 4096);
  v2.subscribe();
  v1.subscribe();
  // The kernel buffers a lot for a socket on loopback (its send buffer grows
  // to megabytes) before the server sees any backlog of its own: long ids make
  // each event about 180 bytes, so 24,000 of them are more than it will hold.
  constexpr int kBlips = 12000;
  const std::string padding(110, 'x');
  for (int i = 0; i < kBlips; ++i) blip(port, padding + std::to_string(i));
  const std::uint64_t last = 1 + 2 * kBlips;
  ASSERT_TRUE(server_log.wait_seq(last));

  std::uint64_t expect = 2;  // seq 1 was the bystander, before the subscriptions
  int gaps = 0;
  while (expect <= last) {
    auto e = v2.next_event();
    ASSERT_TRUE(e) << "v2 stream ended before seq " << last;
    ASSERT_EQ(e->seq >= expect, true) << "seq went back";
    if (e->kind == EventKind::gap) {
      ++gaps;
    } else {
      ASSERT_EQ(e->seq, expect) << "a seq was skipped without a gap";
    }
    expect = e->seq + 1;
  }
  EXPECT_GE(gaps, 1) << "the slow reader should have fallen behind a 16-event ring";

  std::optional<StreamPeer::Frame> f;
  while ((f = v1.next()) && f->type == FrameType::event) {
  }
  ASSERT_TRUE(f) << "the version 1 subscriber was neither sent everything nor told why";
  ASSERT_EQ(f->type, FrameType::error);
  proto::ParseError err;
  const auto error = proto::parse_error(
      proto::Bytes(reinterpret_cast<const std::uint8_t*>(f->payload.data()), f->payload.size()), err);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, proto::ErrorCode::slow_consumer) << error->message;
  EXPECT_EQ(probe.count_state(ClientState::reconnecting), 0U) << "the bystander was disturbed";
}

TEST(EventStream, SnapshotThenEventsStitchUnderChurn) {
  Server server(fast_server_options(2));
  server.start();
  const auto port = server.ports()[0];
  std::atomic<bool> stop_churn{false};
  std::vector<std::unique_ptr<StreamPeer>> held;  // outlive the churn: the list at the end is theirs
  std::thread churn([&] {
    for (int i = 0; !stop_churn; ++i) {
      if (i % 3 != 2) {
        held.push_back(std::make_unique<StreamPeer>(port, proto::kVersion, "h" + std::to_string(i)));
      } else if (!held.empty()) {
        held.erase(held.begin() + (i % static_cast<int>(held.size())));
      }
    }
  });
  ASSERT_TRUE(eventually([&] { return server.online_count() >= 10; }, 5000ms));
  StreamPeer reader(port, proto::kVersion);
  reader.subscribe(proto::Subscribe{77, proto::kSubscribeSnapshot, 0, 0});
  std::set<std::string> online;
  std::uint64_t seq = 0;
  for (;;) {
    const auto f = reader.next();
    ASSERT_TRUE(f);
    const auto list = reader.as_list(*f);
    ASSERT_TRUE(list) << "expected the snapshot first, got " << proto::to_string(f->type);
    EXPECT_EQ(list->request_id, 77U);
    EXPECT_EQ(list->instance, server.instance());
    for (const auto& e : list->entries) online.insert(e.id);
    seq = list->seq;
    if (list->last) break;
  }
  stop_churn = true;
  churn.join();
  StreamPeer marker(port, proto::kVersion, "zz-marker");
  for (;;) {
    const auto e = reader.next_event();
    ASSERT_TRUE(e);
    ASSERT_EQ(e->seq, seq + 1) << "events after the snapshot must follow its seq with none skipped";
    seq = e->seq;
    if (e->kind == EventKind::online) {
      EXPECT_TRUE(online.insert(e->id).second) << "online twice: " << e->id;
    } else if (e->kind == EventKind::offline) {
      EXPECT_EQ(online.erase(e->id), 1U) << "offline while not online: " << e->id;
    }
    if (e->id == "zz-marker") break;
  }
  std::set<std::string> truth;
  for (const auto& c : server.online()) truth.insert(c.id);
  EXPECT_EQ(online, truth);
}

TEST(EventStream, ResumeAfterASeqOrGetAGap) {
  ServerOptions opts = fast_server_options(2);
  opts.event_buffer = 16;
  Recorder<PresenceEvent> resumed;  // before the server: they outlive every delivery
  Recorder<PresenceEvent> gapped;
  ServerLog server_log;
  Server server(opts);
  server_log.attach(server);
  server.start();
  const auto port = server.ports()[0];
  for (int i = 0; i < 5; ++i) blip(port, "r" + std::to_string(i));  // seqs 1..10
  ASSERT_TRUE(server_log.wait_seq(10));
  const auto inst = server.instance();

  StreamPeer exact(port, proto::kVersion);
  exact.subscribe(proto::Subscribe{0, proto::kSubscribeResume, inst, 4});
  const auto replayed = read_until_seq(exact, 10);
  ASSERT_EQ(replayed.size(), 6U);
  EXPECT_EQ(replayed.front().seq, 5U);

  StreamPeer other_run(port, proto::kVersion);
  other_run.subscribe(proto::Subscribe{0, proto::kSubscribeResume, inst + 1, 4});
  auto gap = other_run.next_event();
  ASSERT_TRUE(gap);
  EXPECT_EQ(gap->kind, EventKind::gap);
  EXPECT_EQ(gap->seq, 10U) << "another run's seq: everything up to now is lost to it";

  for (int i = 5; i < 15; ++i) blip(port, "r" + std::to_string(i));  // seqs 11..30; the ring keeps 15..30
  ASSERT_TRUE(server_log.wait_seq(30));
  StreamPeer too_old(port, proto::kVersion);
  too_old.subscribe(proto::Subscribe{5, proto::kSubscribeResume | proto::kSubscribeSnapshot, inst, 3});
  gap = too_old.next_event();
  ASSERT_TRUE(gap);
  EXPECT_EQ(gap->kind, EventKind::gap);
  EXPECT_EQ(gap->seq, 14U);
  const auto snap = too_old.next();
  ASSERT_TRUE(snap);
  const auto list = too_old.as_list(*snap);
  ASSERT_TRUE(list) << "after a failed resume, SNAPSHOT sends the list";
  EXPECT_EQ(list->seq, 30U);
  EXPECT_EQ(list->request_id, 5U);

  // The library's resume works the same way.
  server.subscribe([&](const PresenceEvent& e) { resumed.push(e); }, inst, 27);
  ASSERT_TRUE(resumed.wait_count([](const PresenceEvent& e) { return e.seq == 30; }, 1));
  const auto items = resumed.items();
  ASSERT_EQ(items.size(), 3U);
  EXPECT_EQ(items[0].seq, 28U);
  server.subscribe([&](const PresenceEvent& e) { gapped.push(e); }, inst, 2);
  const auto first = gapped.wait_for([](const PresenceEvent&) { return true; });
  ASSERT_TRUE(first);
  EXPECT_EQ(first->kind, EventKind::gap);
  EXPECT_EQ(first->seq, 14U);
}

// A server of protocol version 1 only (lifeline before version 2) refuses the
// client's version 4, 3 and 2 HELLOs; the fourth speaks version 1.
TEST(EventStream, AClientFallsBackToVersion1ForAnOlderServer) {
  RawServer old(RawServer::Mode::version1_only, 0, RawWelcome{50ms, 1000ms});
  ClientOptions opts = fast_client_options(old.port(), "modern");
  Client client(opts);
  ClientProbe probe;
  ASSERT_TRUE(probe.start_online(client, 5000ms)) << client.last_error();
  EXPECT_EQ(old.hellos(), 4) << "refused version 4, 3 and 2 HELLOs, then one in version 1";
  const auto online = probe.states.wait_for([](const StateChange& c) { return c.to == ClientState::online; });
  ASSERT_TRUE(online);
  EXPECT_EQ(online->attempts, 4U);
}

}  // namespace
}  // namespace lifeline::test
