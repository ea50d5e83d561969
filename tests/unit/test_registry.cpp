// Presence registry: claims, takeovers, releases and snapshots, and the event
// log it writes (numbering, the replay ring, gaps, resume points, wake-ups,
// readers racing writers).

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

#include "event_log.hpp"
#include "registry.hpp"

namespace lifeline::detail {
namespace {

constexpr std::uint64_t kInstance = 0xC0FFEE;

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

// A reader of the registry's log from its first event: events() pulls what is new.
class Recorder {
 public:
  explicit Recorder(const Registry& r) : log_(r.log()) {}
  const std::vector<PresenceEvent>& events() {
    cursor_ = log_.read_after(cursor_, 1U << 20U, events_);
    return events_;
  }

 private:
  const EventLog& log_;
  std::uint64_t cursor_ = 0;
  std::vector<PresenceEvent> events_;
};

TEST(Registry, ClaimPutsOnlineWithSeqOne) {
  Registry r(kInstance, 1024);
  Recorder rec(r);
  const auto res = r.claim(reg("a1", 10, 2), DuplicatePolicy::takeover);
  EXPECT_TRUE(res.accepted);
  EXPECT_FALSE(res.displaced);
  ASSERT_EQ(rec.events().size(), 1U);
  const PresenceEvent& ev = rec.events()[0];
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
  const auto addrs = r.addresses_of("a1");
  ASSERT_EQ(addrs.size(), 1U);
  EXPECT_EQ(addrs[0].shard, 2U);
  EXPECT_EQ(addrs[0].session, 10U);
  EXPECT_FALSE(r.find("b"));
  EXPECT_TRUE(r.addresses_of("b").empty());
}

TEST(Registry, TakeoverDisplacesTheOldSessionWithoutGoingOffline) {
  Registry r(kInstance, 1024);
  Recorder rec(r);
  ASSERT_TRUE(r.claim(reg("a1", 10, 1), DuplicatePolicy::takeover).accepted);
  const auto since = r.find("a1")->since;
  const auto res = r.claim(reg("a1", 11, 3), DuplicatePolicy::takeover);
  EXPECT_TRUE(res.accepted);
  ASSERT_TRUE(res.displaced);
  EXPECT_EQ(res.displaced->shard, 1U);
  EXPECT_EQ(res.displaced->session, 10U);
  EXPECT_EQ(r.count(), 1U);
  ASSERT_EQ(rec.events().size(), 2U);
  EXPECT_EQ(rec.events()[1].kind, EventKind::takeover);
  EXPECT_EQ(rec.events()[1].seq, 2U);
  EXPECT_EQ(rec.events()[1].session, 11U);
  EXPECT_EQ(rec.events()[1].remote, "10.0.0.1:11");
  const auto found = r.find("a1");
  EXPECT_EQ(found->session, 11U);
  EXPECT_EQ(found->since, since) << "the id stayed online: its 'since' is kept";

  // The displaced session closes later: it no longer holds the id.
  EXPECT_FALSE(r.release("a1", 10, Reason::replaced));
  EXPECT_EQ(rec.events().size(), 2U);
  EXPECT_EQ(r.count(), 1U);

  EXPECT_TRUE(r.release("a1", 11, Reason::timeout));
  ASSERT_EQ(rec.events().size(), 3U);
  EXPECT_EQ(rec.events()[2].kind, EventKind::offline);
  EXPECT_EQ(rec.events()[2].reason, Reason::timeout);
  EXPECT_EQ(rec.events()[2].seq, 3U);
  EXPECT_EQ(rec.events()[2].session, 11U);
  EXPECT_EQ(r.count(), 0U);
  EXPECT_FALSE(r.find("a1"));
  EXPECT_FALSE(r.release("a1", 11, Reason::bye));
  EXPECT_EQ(rec.events().size(), 3U);
}

TEST(Registry, RejectPolicyKeepsTheFirstSession) {
  Registry r(kInstance, 1024);
  Recorder rec(r);
  ASSERT_TRUE(r.claim(reg("a1", 10), DuplicatePolicy::reject).accepted);
  const auto res = r.claim(reg("a1", 11), DuplicatePolicy::reject);
  EXPECT_FALSE(res.accepted);
  EXPECT_FALSE(res.displaced);
  EXPECT_EQ(rec.events().size(), 1U);
  EXPECT_EQ(r.find("a1")->session, 10U);
  EXPECT_EQ(r.count(), 1U);
  EXPECT_FALSE(r.release("a1", 11, Reason::closed));
  EXPECT_EQ(rec.events().size(), 1U);
}

// `multi`: one id, several sessions. The id goes online with its first
// session and offline with its last; the ones between join and leave.
TEST(Registry, MultiPolicyKeepsSeveralSessionsOfOneId) {
  Registry r(kInstance, 1024);
  Recorder rec(r);
  auto tab = [](std::uint64_t session, Transport t) {
    auto x = reg("ann", session, static_cast<std::uint32_t>(session % 2));
    x.transport = t;
    return x;
  };
  ASSERT_TRUE(r.claim(tab(10, Transport::ws), DuplicatePolicy::multi, 3).accepted);
  const auto second = r.claim(tab(11, Transport::tcp), DuplicatePolicy::multi, 3);
  ASSERT_TRUE(second.accepted);
  EXPECT_FALSE(second.displaced) << "multi displaces no one";
  ASSERT_TRUE(r.claim(tab(12, Transport::wss), DuplicatePolicy::multi, 3).accepted);
  const auto fourth = r.claim(tab(13, Transport::ws), DuplicatePolicy::multi, 3);
  EXPECT_FALSE(fourth.accepted) << "past max_sessions";
  EXPECT_EQ(fourth.sessions, 3U);
  EXPECT_EQ(r.count(), 1U) << "count() counts ids";
  EXPECT_EQ(r.session_count(), 3U);
  const auto list = r.snapshot();
  ASSERT_EQ(list.size(), 3U) << "one row per session";
  EXPECT_EQ(list[0].session, 10U);
  EXPECT_EQ(list[0].transport, Transport::ws);
  EXPECT_EQ(list[2].transport, Transport::wss);
  EXPECT_EQ(r.addresses_of("ann").size(), 3U);

  EXPECT_TRUE(r.release("ann", 10, Reason::closed));  // the first one leaves: the next becomes first
  EXPECT_EQ(r.find("ann")->session, 11U);
  EXPECT_FALSE(r.release("ann", 10, Reason::closed)) << "released twice";
  EXPECT_TRUE(r.release("ann", 12, Reason::timeout));
  EXPECT_EQ(r.count(), 1U);
  EXPECT_TRUE(r.release("ann", 11, Reason::bye));
  EXPECT_EQ(r.count(), 0U);
  EXPECT_EQ(r.session_count(), 0U);

  const auto& ev = rec.events();
  ASSERT_EQ(ev.size(), 6U);
  const std::vector<std::pair<EventKind, std::uint64_t>> want = {{EventKind::online, 10}, {EventKind::join, 11},
                                                                 {EventKind::join, 12},   {EventKind::leave, 10},
                                                                 {EventKind::leave, 12},  {EventKind::offline, 11}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(ev[i].kind, want[i].first) << i;
    EXPECT_EQ(ev[i].session, want[i].second) << i;
  }
  EXPECT_EQ(ev[0].transport, Transport::ws);
  EXPECT_EQ(ev[4].reason, Reason::timeout);
  EXPECT_EQ(ev[5].reason, Reason::bye) << "offline carries the last session's reason";
}

TEST(Registry, SeqIsStrictlyIncreasingAcrossAllKinds) {
  Registry r(kInstance, 1024);
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
  ASSERT_FALSE(rec.events().empty());
  for (std::size_t i = 0; i < rec.events().size(); ++i) EXPECT_EQ(rec.events()[i].seq, i + 1);
}

TEST(Registry, SnapshotIsSortedAndDerivesLastSeenFromStats) {
  Registry r(kInstance, 1024);
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

TEST(Registry, StampedSnapshotReflectsExactlyTheEventsUpToItsSeq) {
  Registry r(kInstance, 1024);
  r.claim(reg("a", 1), DuplicatePolicy::takeover);
  r.claim(reg("b", 2), DuplicatePolicy::takeover);
  r.release("a", 1, Reason::bye);
  const auto snap = r.stamped_snapshot();
  EXPECT_EQ(snap.instance, kInstance);
  EXPECT_EQ(snap.seq, 3U);
  ASSERT_EQ(snap.clients.size(), 1U);
  EXPECT_EQ(snap.clients[0].id, "b");
}

// Under churn from several threads, a snapshot plus the events after its seq
// always rebuild exactly the registry's final list: nothing missed or doubled.
TEST(Registry, SnapshotThenEventsStitchUnderChurn) {
  Registry r(kInstance, 1U << 20U);
  std::atomic<bool> go{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < 2000; ++i) {
        const std::string id = "w" + std::to_string(t) + "-" + std::to_string(i % 37);
        const auto session = static_cast<std::uint64_t>(t * 100000 + i + 1);
        if (const auto found = r.find(id); found && i % 2 == 0) {
          r.release(id, found->session, Reason::closed);
        } else {
          r.claim(reg(id, session), DuplicatePolicy::takeover);
        }
      }
    });
  }
  go.store(true);
  std::vector<PresenceSnapshot> snaps;
  for (int i = 0; i < 20; ++i) {
    snaps.push_back(r.stamped_snapshot());
    std::this_thread::yield();
  }
  for (auto& th : writers) th.join();
  const auto final_list = r.snapshot();
  for (const auto& snap : snaps) {
    std::map<std::string, bool> online;
    for (const auto& c : snap.clients) online[c.id] = true;
    std::vector<PresenceEvent> after;
    r.log().read_after(snap.seq, 1U << 20U, after);
    std::uint64_t expect_seq = snap.seq + 1;
    for (const auto& ev : after) {
      ASSERT_EQ(ev.seq, expect_seq++);
      if (ev.kind == EventKind::online) {
        EXPECT_FALSE(online[ev.id]) << "online twice: " << ev.id << " seq " << ev.seq;
        online[ev.id] = true;
      } else if (ev.kind == EventKind::offline) {
        EXPECT_TRUE(online[ev.id]) << "offline while not online: " << ev.id << " seq " << ev.seq;
        online[ev.id] = false;
      }
    }
    std::vector<std::string> rebuilt;
    for (const auto& [id, on] : online) {
      if (on) rebuilt.push_back(id);
    }
    std::vector<std::string> want;
    for (const auto& c : final_list) want.push_back(c.id);
    EXPECT_EQ(rebuilt, want) << "from the snapshot at seq " << snap.seq;
  }
}

PresenceEvent event_for(const std::string& id) {
  PresenceEvent ev;
  ev.id = id;
  return ev;
}

TEST(EventLog, NumbersFromOneAndStampsTheInstance) {
  EventLog log(kInstance, 4);
  EXPECT_EQ(log.last_seq(), 0U);
  EXPECT_EQ(log.append(event_for("a")), 1U);
  EXPECT_EQ(log.append(event_for("b")), 2U);
  std::vector<PresenceEvent> out;
  EXPECT_EQ(log.read_after(0, 10, out), 2U);
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].seq, 1U);
  EXPECT_EQ(out[1].id, "b");
  EXPECT_EQ(out[1].instance, kInstance);
  out.clear();
  EXPECT_EQ(log.read_after(2, 10, out), 2U);
  EXPECT_TRUE(out.empty());
}

TEST(EventLog, ReadsAtMostMaxAndResumesFromTheCursor) {
  EventLog log(kInstance, 100);
  for (int i = 0; i < 10; ++i) log.append(event_for(std::to_string(i)));
  std::vector<PresenceEvent> out;
  std::uint64_t cursor = 0;
  while ((cursor = log.read_after(cursor, 3, out)) < 10) {
  }
  ASSERT_EQ(out.size(), 10U);
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].seq, i + 1);
}

TEST(EventLog, AReaderBehindTheRingGetsAGapThenWhatIsKept) {
  EventLog log(kInstance, 4);
  for (int i = 0; i < 10; ++i) log.append(event_for(std::to_string(i)));
  std::vector<PresenceEvent> out;
  EXPECT_EQ(log.read_after(2, 100, out), 10U);
  ASSERT_EQ(out.size(), 5U);
  EXPECT_EQ(out[0].kind, EventKind::gap);
  EXPECT_EQ(out[0].seq, 6U) << "the gap covers everything up to the oldest kept, exclusive";
  EXPECT_TRUE(out[0].id.empty());
  EXPECT_EQ(out[1].seq, 7U);
  EXPECT_EQ(out[4].seq, 10U);
  out.clear();
  EXPECT_EQ(log.read_after(6, 100, out), 10U) << "exactly at the edge: no gap";
  ASSERT_EQ(out.size(), 4U);
  EXPECT_EQ(out[0].seq, 7U);
}

TEST(EventLog, ResumePointSaysWhetherTheReaderMissedAnything) {
  EventLog log(kInstance, 4);
  for (int i = 0; i < 10; ++i) log.append(event_for(std::to_string(i)));
  EXPECT_FALSE(log.resume_point(kInstance, 6).gap);
  EXPECT_EQ(log.resume_point(kInstance, 6).cursor, 6U);
  EXPECT_FALSE(log.resume_point(kInstance, 10).gap);
  const auto too_old = log.resume_point(kInstance, 5);
  EXPECT_TRUE(too_old.gap);
  EXPECT_EQ(too_old.cursor, 6U);
  const auto other_run = log.resume_point(kInstance + 1, 8);
  EXPECT_TRUE(other_run.gap);
  EXPECT_EQ(other_run.cursor, 10U) << "another run's seqs mean nothing here: start from now";
  EXPECT_TRUE(log.resume_point(kInstance, 11).gap) << "a seq this run never reached";
}

TEST(EventLog, WakesWatchersUntilUnwatched) {
  EventLog log(kInstance, 4);
  int a = 0;
  int b = 0;
  const auto ta = log.watch([&] { ++a; });
  log.watch([&] { ++b; });
  log.notify();
  log.unwatch(ta);
  log.notify();
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
}

// Writers on four threads, a reader pulling concurrently whenever woken: the
// reader sees every event exactly once, in seq order, with no gap (the ring is
// larger than the burst), and per id the kinds in the order they happened.
TEST(EventLog, ConcurrentWritersAndAPullingReaderSeeEveryEventOnceInOrder) {
  constexpr int kThreads = 4;
  constexpr int kIds = 1000;
  Registry r(kInstance, 1U << 20U);
  std::atomic<int> wakes{0};
  r.log().watch([&] { wakes.fetch_add(1); });
  std::vector<PresenceEvent> events;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    std::uint64_t cursor = 0;
    while (!done.load() || cursor < r.log().last_seq()) cursor = r.log().read_after(cursor, 64, events);
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
  done.store(true);
  reader.join();

  const std::size_t takeovers = kThreads * ((kIds + 2) / 3);
  ASSERT_EQ(events.size(), 2U * kThreads * kIds + takeovers);
  EXPECT_EQ(static_cast<std::size_t>(wakes.load()), events.size()) << "one wake-up per change";
  std::map<std::string, std::vector<EventKind>> per_id;
  for (std::size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].seq, i + 1) << "events read out of order or not exactly once";
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

// docs/protocol.md, EVENT: reason is "for offline: section 5; else 0".
TEST(Registry, TakeoverEventHasNoReason) {
  Registry r(kInstance, 1024);
  Recorder rec(r);
  r.claim(reg("a1", 10), DuplicatePolicy::takeover);
  r.claim(reg("a1", 11), DuplicatePolicy::takeover);
  ASSERT_EQ(rec.events().size(), 2U);
  EXPECT_EQ(rec.events()[1].reason, Reason::none);
}

}  // namespace
}  // namespace lifeline::detail
