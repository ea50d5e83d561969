// The cluster's view (src/cluster/view.cpp) and its Redis records
// (codec.cpp): what a node shows readers from the cluster's stream. No Redis
// here: stream entries are built as the Lua functions write them.

#include <gtest/gtest.h>

#include "codec.hpp"
#include "registry.hpp"
#include "view.hpp"

namespace lifeline::cluster {
namespace {

OnlineClient entry(const std::string& id, const std::string& node, std::uint64_t session) {
  OnlineClient c;
  c.id = id;
  c.node = node;
  c.session = session;
  c.remote = "127.0.0.1:4000";
  return c;
}

StreamEvent ev(const std::string& kind, const OnlineClient& c, Reason reason = Reason::none) {
  StreamEvent e;
  e.kind = kind;
  e.entry = c;
  e.reason = reason;
  return e;
}

struct ViewTest : ::testing::Test {
  detail::Registry local{1, 64};
  ClusterView view{"a", local, 7, 64};
  std::vector<PresenceEvent> events() {
    std::vector<PresenceEvent> out;
    view.view_log().read_after(0, 100, out);
    return out;
  }
  std::vector<std::string> kinds() {
    std::vector<std::string> out;
    for (const auto& e : events()) {
      out.push_back(std::string(proto::to_string(e.kind)) + ":" + e.id + "@" + e.node);
    }
    return out;
  }
};

TEST_F(ViewTest, ReplaysAndUnknownEndsEmitNothing) {
  view.load({}, std::nullopt);
  view.apply(ev("online", entry("x", "b", 1)));
  view.apply(ev("online", entry("x", "b", 1)));                // a replay after an outage
  view.apply(ev("offline", entry("x", "b", 2), Reason::bye));  // a session the view never listed
  EXPECT_EQ(kinds(), (std::vector<std::string>{"online:x@b"}));
  view.apply(ev("offline", entry("x", "b", 1), Reason::bye));
  view.apply(ev("offline", entry("x", "b", 1), Reason::bye));
  EXPECT_EQ(kinds(), (std::vector<std::string>{"online:x@b", "offline:x@b"}));
  EXPECT_EQ(events().back().reason, Reason::bye);
  EXPECT_EQ(view.count(), 0U);
}

TEST_F(ViewTest, SameSessionNumberOnTwoNodesIsTwoSessions) {
  view.load({}, std::nullopt);
  view.apply(ev("online", entry("x", "b", 1)));
  view.apply(ev("join", entry("x", "c", 1)));
  view.apply(ev("leave", entry("x", "b", 1), Reason::closed));
  EXPECT_EQ(kinds(), (std::vector<std::string>{"online:x@b", "join:x@c", "leave:x@b"}));
  const auto snap = view.view_snapshot();
  ASSERT_EQ(snap.clients.size(), 1U);
  EXPECT_EQ(snap.clients[0].node, "c");
}

TEST_F(ViewTest, TakeoverReplacesEverySessionOfTheId) {
  view.load({entry("x", "b", 1)}, std::nullopt);  // the first load is silent
  EXPECT_TRUE(events().empty());
  view.apply(ev("takeover", entry("x", "c", 9)));
  EXPECT_EQ(kinds(), (std::vector<std::string>{"takeover:x@c"}));
  const auto snap = view.view_snapshot();
  ASSERT_EQ(snap.clients.size(), 1U);
  EXPECT_EQ(snap.clients[0].session, 9U);
  EXPECT_EQ(snap.seq, 1U);
}

TEST_F(ViewTest, MovedTakesThePlaceOfTheSessionInItsGracePeriod) {
  view.load({entry("x", "b", 1)}, std::nullopt);
  auto moved = ev("moved", entry("x", "c", 4));
  moved.prev_node = "b";
  moved.prev_session = 1;
  view.apply(moved);
  EXPECT_EQ(kinds(), (std::vector<std::string>{"moved:x@c"}));
  ASSERT_EQ(view.view_snapshot().clients.size(), 1U);
}

TEST_F(ViewTest, ReloadsEmitTheDifferenceAndSettleWaitsForTheWriteBack) {
  view.load({entry("x", "b", 1), entry("y", "b", 2)}, std::nullopt);
  // A gap in the stream: y ended unseen, z started unseen.
  view.load({entry("x", "b", 1), entry("z", "c", 3)}, std::nullopt);
  EXPECT_EQ(kinds(), (std::vector<std::string>{"online:z@c", "offline:y@b"}));
  EXPECT_EQ(events().back().reason, Reason::closed);
  // Redis restarted empty: nothing is ended before its settle time.
  view.load({}, std::chrono::hours(1));
  EXPECT_EQ(events().size(), 2U);
  view.apply(ev("online", entry("x", "b", 1)));  // written back: no event, no longer settling
  view.expire_settling();
  EXPECT_EQ(events().size(), 2U);
  view.load({entry("x", "b", 1)}, std::chrono::milliseconds(0));  // z's time is up at once
  view.expire_settling();
  EXPECT_EQ(kinds().back(), "offline:z@c");
  EXPECT_EQ(events().back().reason, Reason::node_lost);
  EXPECT_EQ(view.count(), 1U);
}

TEST_F(ViewTest, LocalChangesWhileDegraded) {
  view.load({}, std::nullopt);
  PresenceEvent on;
  on.kind = EventKind::online;
  on.id = "me";
  on.session = 5;
  view.apply_local(on, entry("me", "", 5));
  PresenceEvent off = on;
  off.kind = EventKind::offline;
  off.reason = Reason::bye;
  view.apply_local(off, std::nullopt);
  EXPECT_EQ(kinds(), (std::vector<std::string>{"online:me@a", "offline:me@a"}));
}

TEST(ClusterCodec, EntriesRoundTripWithSixtyFourBitSessions) {
  auto c = entry("sensor-7", "b", 0xFEDCBA9876543210ULL);
  c.labels = {{"room", "lab"}, {"k", "v \"quoted\""}};
  c.heartbeat.interval = std::chrono::milliseconds(1000);
  c.heartbeat.timeout = std::chrono::milliseconds(3000);
  c.since = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796386604665));
  const auto back = parse_entry(entry_json(c, "b"));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->session, c.session);
  EXPECT_EQ(back->labels.size(), 2U);
  EXPECT_EQ(back->labels[1].value, "v \"quoted\"");
  EXPECT_EQ(back->since, c.since);
  EXPECT_EQ(back->heartbeat.timeout.count(), 3000);
  // cjson writes an empty array as {}, and big numbers in %.14g.
  const auto lua = parse_entry(R"({"id":"x","node":"b","s":"12","since":1.796386604665e+12,"lab":{}})");
  ASSERT_TRUE(lua);
  EXPECT_TRUE(lua->labels.empty());
  EXPECT_EQ(unix_ms(lua->since), 1796386604665);
  EXPECT_FALSE(parse_entry(R"({"id":"x","node":"b"})")) << "no session";
  EXPECT_FALSE(parse_entry("not json"));
}

TEST(ClusterCodec, StreamEventsNeedAKindAnIdAndANode) {
  Reply fields;
  fields.kind = Reply::Kind::array;
  for (const char* s : {"k", "offline", "id", "x", "node", "b", "s", "77", "r", "node_lost", "at", "1000"}) {
    Reply r;
    r.kind = Reply::Kind::string;
    r.str = s;
    fields.items.push_back(r);
  }
  const auto e = parse_stream_event(fields);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->entry.session, 77U);
  EXPECT_EQ(e->reason, Reason::node_lost);
  EXPECT_EQ(unix_ms(e->at), 1000);
  fields.items.resize(2);  // kind only
  EXPECT_FALSE(parse_stream_event(fields));
}

}  // namespace
}  // namespace lifeline::cluster
