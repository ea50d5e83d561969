// Presence registry: claims, takeovers, releases, snapshots and event delivery
// (order, exactly once, one sink call at a time, re-entrant sinks).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "registry.hpp"

namespace lifeline::detail {
namespace {

Registration reg(std::string id, std::uint64_t session, std::uint32_t shard = 0) {
  Registration r;
  r.id = std::move(id);
  r.remote = "10.0.0.1:" + std::to_string(session);
  r.session = session;
  r.shard = shard;
  r.heartbeat = {std::chrono::milliseconds(1000), std::chrono::milliseconds(3000)};
  r.labels = {{"room", "lab"}};
  return r;
}

// Records every event; not thread-safe by itself: relies on the registry's
// one-sink-call-at-a-time guarantee, which the concurrent test checks.
struct Recorder {
  std::vector<PresenceEvent> events;
  std::uint64_t token = 0;
  explicit Recorder(Registry& r) {
    token = r.subscribe([this](const PresenceEvent& ev) { events.push_back(ev); });
  }
};

TEST(Registry, ClaimPutsOnlineWithSeqOne) {
  Registry r;
  Recorder rec(r);
  const auto res = r.claim(reg("a1", 10, 2), DuplicatePolicy::takeover);
  EXPECT_TRUE(res.accepted);
  EXPECT_FALSE(res.displaced);
  ASSERT_EQ(rec.events.size(), 1U);
  const PresenceEvent& ev = rec.events[0];
  EXPECT_EQ(ev.seq, 1U);
  EXPECT_EQ(ev.kind, EventKind::online);
  EXPECT_EQ(ev.reason, Reason::none);
  EXPECT_EQ(ev.id, "a1");
  EXPECT_EQ(ev.remote, "10.0.0.1:10");
  EXPECT_EQ(ev.session, 10U);
  EXPECT_EQ(r.count(), 1U);
  const auto found = r.find("a1");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, "a1");
  EXPECT_EQ(found->session, 10U);
  EXPECT_EQ(found->remote, "10.0.0.1:10");
  EXPECT_EQ(found->heartbeat, (Heartbeat{std::chrono::milliseconds(1000), std::chrono::milliseconds(3000)}));
  EXPECT_EQ(found->labels, (std::vector<Label>{{"room", "lab"}}));
  const auto addr = r.address_of("a1");
  ASSERT_TRUE(addr);
  EXPECT_EQ(addr->shard, 2U);
  EXPECT_EQ(addr->session, 10U);
  EXPECT_FALSE(r.find("b"));
  EXPECT_FALSE(r.address_of("b"));
}

TEST(Registry, TakeoverDisplacesTheOldSessionWithoutGoingOffline) {
  Registry r;
  Recorder rec(r);
  ASSERT_TRUE(r.claim(reg("a1", 10, 1), DuplicatePolicy::takeover).accepted);
  const auto since = r.find("a1")->since;
  const auto res = r.claim(reg("a1", 11, 3), DuplicatePolicy::takeover);
  EXPECT_TRUE(res.accepted);
  ASSERT_TRUE(res.displaced);
  EXPECT_EQ(res.displaced->shard, 1U);
  EXPECT_EQ(res.displaced->session, 10U);
  EXPECT_EQ(r.count(), 1U);
  ASSERT_EQ(rec.events.size(), 2U);
  EXPECT_EQ(rec.events[1].kind, EventKind::takeover);
  EXPECT_EQ(rec.events[1].seq, 2U);
  EXPECT_EQ(rec.events[1].session, 11U);
  EXPECT_EQ(rec.events[1].remote, "10.0.0.1:11");
  const auto found = r.find("a1");
  EXPECT_EQ(found->session, 11U);
  EXPECT_EQ(found->since, since) << "the id stayed online: its 'since' is kept";

  // The displaced session closes later: it no longer holds the id.
  EXPECT_FALSE(r.release("a1", 10, Reason::replaced));
  EXPECT_EQ(rec.events.size(), 2U);
  EXPECT_EQ(r.count(), 1U);

  EXPECT_TRUE(r.release("a1", 11, Reason::timeout));
  ASSERT_EQ(rec.events.size(), 3U);
  EXPECT_EQ(rec.events[2].kind, EventKind::offline);
  EXPECT_EQ(rec.events[2].reason, Reason::timeout);
  EXPECT_EQ(rec.events[2].seq, 3U);
  EXPECT_EQ(rec.events[2].session, 11U);
  EXPECT_EQ(r.count(), 0U);
  EXPECT_FALSE(r.find("a1"));
  EXPECT_FALSE(r.release("a1", 11, Reason::bye));
  EXPECT_EQ(rec.events.size(), 3U);
}

TEST(Registry, RejectPolicyKeepsTheFirstSession) {
  Registry r;
  Recorder rec(r);
  ASSERT_TRUE(r.claim(reg("a1", 10), DuplicatePolicy::reject).accepted);
  const auto res = r.claim(reg("a1", 11), DuplicatePolicy::reject);
  EXPECT_FALSE(res.accepted);
  EXPECT_FALSE(res.displaced);
  EXPECT_EQ(rec.events.size(), 1U);
  EXPECT_EQ(r.find("a1")->session, 10U);
  EXPECT_EQ(r.count(), 1U);
  EXPECT_FALSE(r.release("a1", 11, Reason::closed));
  EXPECT_EQ(rec.events.size(), 1U);
}

TEST(Registry, SeqIsStrictlyIncreasingAcrossAllKinds) {
  Registry r;
  Recorder rec(r);
  std::uint64_t session = 0;
  for (int i = 0; i < 50; ++i) {
    const std::string id = "id" + std::to_string(i % 7);
    if (r.find(id) && i % 3 == 0) {
      r.release(id, r.find(id)->session, Reason::bye);
    } else {
      r.claim(reg(id, ++session), DuplicatePolicy::takeover);
    }
  }
  ASSERT_FALSE(rec.events.empty());
  for (std::size_t i = 0; i < rec.events.size(); ++i) EXPECT_EQ(rec.events[i].seq, i + 1);
}

TEST(Registry, SnapshotIsSortedAndDerivesLastSeenFromStats) {
  Registry r;
  const auto steady_now = std::chrono::steady_clock::now();
  std::deque<SessionStats> stats;  // outlives the registrations, as a session does
  const auto make_stats = [&](std::chrono::seconds ago, std::uint32_t rtt_us) {
    auto& s = stats.emplace_back();
    s.last_rx_ns = std::chrono::duration_cast<std::chrono::nanoseconds>((steady_now - ago).time_since_epoch()).count();
    s.rtt_us = rtt_us;
    return &s;
  };
  for (const auto& [id, ago] : std::vector<std::pair<std::string, int>>{{"charlie", 5}, {"alpha", 60}, {"bravo", 0}}) {
    Registration x = reg(id, static_cast<std::uint64_t>(id.size()));
    x.stats = make_stats(std::chrono::seconds(ago), static_cast<std::uint32_t>(ago * 100));
    r.claim(std::move(x), DuplicatePolicy::takeover);
  }
  r.claim(reg("delta-no-stats", 99), DuplicatePolicy::takeover);
  const auto system_now = std::chrono::system_clock::now();
  const auto snap = r.snapshot();
  ASSERT_EQ(snap.size(), 4U);
  EXPECT_EQ(snap[0].id, "alpha");
  EXPECT_EQ(snap[1].id, "bravo");
  EXPECT_EQ(snap[2].id, "charlie");
  EXPECT_EQ(snap[3].id, "delta-no-stats");
  const auto near = [&](const OnlineClient& c, int ago_s) {
    const auto expected = system_now - std::chrono::seconds(ago_s);
    const auto error = c.last_seen > expected ? c.last_seen - expected : expected - c.last_seen;
    EXPECT_LT(error, std::chrono::seconds(2)) << c.id;
  };
  near(snap[0], 60);
  near(snap[1], 0);
  near(snap[2], 5);
  EXPECT_EQ(snap[0].rtt, std::chrono::microseconds(6000));
  EXPECT_EQ(snap[2].rtt, std::chrono::microseconds(500));
  EXPECT_EQ(snap[3].rtt, std::chrono::microseconds(0));
  EXPECT_LE(snap[0].since, system_now);
}

TEST(Registry, SinkMayReadAndCauseEventsWithoutReentry) {
  Registry r;
  std::vector<std::uint64_t> seqs;
  std::vector<std::string> log;
  int depth = 0;
  int max_depth = 0;
  r.subscribe([&](const PresenceEvent& ev) {
    max_depth = std::max(max_depth, ++depth);
    seqs.push_back(ev.seq);
    log.push_back(std::string(to_string(ev.kind)) + " " + ev.id);
    const auto snap = r.snapshot();  // must not deadlock
    if (ev.id == "first" && ev.kind == EventKind::online) {
      EXPECT_EQ(snap.size(), 1U);
      r.claim(reg("second", 2), DuplicatePolicy::takeover);
      r.claim(reg("third", 3), DuplicatePolicy::takeover);
    }
    if (ev.id == "second" && ev.kind == EventKind::online) r.release("first", 1, Reason::kicked);
    --depth;
  });
  r.claim(reg("first", 1), DuplicatePolicy::takeover);
  // Everything caused from inside the sink is delivered before claim returns.
  EXPECT_EQ(log, (std::vector<std::string>{"online first", "online second", "online third", "offline first"}));
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(max_depth, 1) << "a sink was re-entered";
  EXPECT_EQ(r.count(), 2U);
}

TEST(Registry, UnsubscribedSinkGetsNothingAndEverySinkSeesEveryEvent) {
  Registry r;
  Recorder a(r);
  Recorder b(r);
  r.claim(reg("x", 1), DuplicatePolicy::takeover);
  r.unsubscribe(a.token);
  r.release("x", 1, Reason::bye);
  EXPECT_EQ(a.events.size(), 1U);
  ASSERT_EQ(b.events.size(), 2U);
  EXPECT_EQ(b.events[1].kind, EventKind::offline);
}

TEST(Registry, ConcurrentClaimsAndReleasesDeliverEachEventOnceInOrder) {
  constexpr int kThreads = 4;
  constexpr int kIds = 1000;
  Registry r;
  std::vector<PresenceEvent> events;
  std::atomic<int> in_sink{0};
  std::atomic<int> overlaps{0};
  r.subscribe([&](const PresenceEvent& ev) {
    if (in_sink.fetch_add(1) != 0) overlaps.fetch_add(1);
    events.push_back(ev);
    in_sink.fetch_sub(1);
  });
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kIds; ++i) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        const auto session = static_cast<std::uint64_t>(t * 10 * kIds + 2 * i + 1);
        EXPECT_TRUE(r.claim(reg(id, session, static_cast<std::uint32_t>(t)), DuplicatePolicy::takeover).accepted);
        std::uint64_t holder = session;
        if (i % 3 == 0) {  // a reconnect takes the id over
          EXPECT_TRUE(r.claim(reg(id, session + 1), DuplicatePolicy::takeover).displaced);
          EXPECT_FALSE(r.release(id, session, Reason::replaced));
          holder = session + 1;
        }
        EXPECT_TRUE(r.release(id, holder, Reason::closed));
      }
    });
  }
  go.store(true);
  for (auto& th : threads) th.join();

  const std::size_t takeovers = kThreads * ((kIds + 2) / 3);
  ASSERT_EQ(events.size(), 2U * kThreads * kIds + takeovers);
  EXPECT_EQ(overlaps.load(), 0) << "two sink calls ran at once";
  std::map<std::string, std::vector<EventKind>> per_id;
  for (std::size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].seq, i + 1) << "events delivered out of order or not exactly once";
    per_id[events[i].id].push_back(events[i].kind);
  }
  ASSERT_EQ(per_id.size(), static_cast<std::size_t>(kThreads * kIds));
  for (const auto& [id, kinds] : per_id) {
    const bool taken_over = std::stoi(id.substr(id.find('-') + 1)) % 3 == 0;
    const std::vector<EventKind> want =
        taken_over ? std::vector<EventKind>{EventKind::online, EventKind::takeover, EventKind::offline}
                   : std::vector<EventKind>{EventKind::online, EventKind::offline};
    EXPECT_EQ(kinds, want) << id;
  }
  EXPECT_EQ(r.count(), 0U);
  EXPECT_TRUE(r.snapshot().empty());
}

// Known bugs, disabled until fixed (see the report of the unit-test change).

// registry.cpp: the re-entry guard `t_delivering` is a thread_local shared by
// every Registry, so an event caused on registry B from inside a sink of
// registry A is queued on B and not delivered until B's next event.
TEST(Registry, SinkOfOneRegistryMayCauseEventsOnAnother) {
  Registry a;
  Registry b;
  Recorder rec_b(b);
  a.subscribe([&](const PresenceEvent& ev) { b.claim(reg(ev.id, ev.session), DuplicatePolicy::takeover); });
  a.claim(reg("x", 1), DuplicatePolicy::takeover);
  ASSERT_EQ(rec_b.events.size(), 1U) << "b's online event was left pending";
}

// docs/protocol.md, EVENT: reason is "for offline: section 5; else 0", and
// PresenceEvent::reason is documented "for offline events"; registry.cpp emits
// takeover events with Reason::replaced, which Session copies onto the wire.
TEST(Registry, TakeoverEventHasNoReason) {
  Registry r;
  Recorder rec(r);
  r.claim(reg("a1", 10), DuplicatePolicy::takeover);
  r.claim(reg("a1", 11), DuplicatePolicy::takeover);
  ASSERT_EQ(rec.events.size(), 2U);
  EXPECT_EQ(rec.events[1].reason, Reason::none);
}

}  // namespace
}  // namespace lifeline::detail
