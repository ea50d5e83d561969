// TimingWheel on a fake clock: the wheel takes `now` as a parameter, so time is
// whatever the test says it is.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <vector>

#include "timing_wheel.hpp"

namespace lifeline {
namespace {

using std::chrono::nanoseconds;

// A clock nobody reads: only its types are used.
struct FakeClock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = nanoseconds;
  using time_point = std::chrono::time_point<FakeClock, duration>;
  static constexpr bool is_steady = true;
  static time_point now() { return time_point{}; }
};

using Wheel = TimingWheel<FakeClock>;
using TimePoint = FakeClock::time_point;

constexpr nanoseconds kTick = std::chrono::milliseconds(10);
constexpr std::size_t kSlots = 64;
constexpr nanoseconds kHorizon = kTick * kSlots;
const TimePoint kStart = TimePoint{} + std::chrono::hours(1);

// Owns the deadlines, as a session table would: a visit before the deadline
// re-inserts the key, a visit at or after it records the expiry.
struct Owner {
  std::map<std::uint64_t, TimePoint> deadline;
  std::map<std::uint64_t, TimePoint> fired;
  int rechecks = 0;

  void add(Wheel& w, std::uint64_t key, TimePoint d) {
    deadline[key] = d;
    w.schedule(key, d);
  }
  auto visitor() {
    return [this](std::uint64_t key, TimePoint now) -> std::optional<TimePoint> {
      EXPECT_FALSE(fired.contains(key)) << "key " << key << " visited after it expired";
      if (now < deadline.at(key)) {
        ++rechecks;
        return deadline.at(key);
      }
      fired[key] = now;
      return std::nullopt;
    };
  }
  // Every key fired at the first tick at or after its deadline.
  void expect_all_within_one_tick() const {
    ASSERT_EQ(fired.size(), deadline.size());
    for (const auto& [key, d] : deadline) {
      const TimePoint t = fired.at(key);
      EXPECT_GE(t, d) << "key " << key << " fired early";
      EXPECT_LT(t, d + kTick) << "key " << key << " fired late";
    }
  }
};

// Calls advance at every tick from `from` (exclusive) through `to`.
void run_ticks(Wheel& w, Owner& o, TimePoint from, TimePoint to) {
  for (TimePoint t = from + kTick; t <= to; t += kTick) w.advance(t, o.visitor());
}

TEST(TimingWheel, ExpiresWithinOneTickNeverBefore) {
  Wheel w(kTick, kSlots, kStart);
  Owner o;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> offset(1, kHorizon.count());
  std::uint64_t key = 0;
  // Keys scheduled at start and after every tick, deadlines anywhere within the horizon.
  for (int i = 0; i < 500; ++i) o.add(w, key++, kStart + nanoseconds(offset(rng)));
  for (int k = 1; k <= 3 * static_cast<int>(kSlots); ++k) {
    const TimePoint now = kStart + k * kTick;
    w.advance(now, o.visitor());
    for (int i = 0; i < 10; ++i) o.add(w, key++, now + nanoseconds(offset(rng)));
    o.add(w, key++, now + kTick * (1 + k % static_cast<int>(kSlots)));  // exactly on a tick
  }
  run_ticks(w, o, kStart + 3 * static_cast<int>(kSlots) * kTick, kStart + 5 * kHorizon);
  o.expect_all_within_one_tick();
  EXPECT_EQ(o.rechecks, 0) << "deadlines within the horizon need no re-check";
  EXPECT_EQ(w.size(), 0U);
}

TEST(TimingWheel, ReinsertedKeyIsVisitedAgainAtItsNewDeadline) {
  Wheel w(kTick, kSlots, kStart);
  std::vector<TimePoint> visits;
  w.schedule(7, kStart + 3 * kTick);
  const auto visit = [&](std::uint64_t key, TimePoint now) -> std::optional<TimePoint> {
    EXPECT_EQ(key, 7U);
    visits.push_back(now);
    if (visits.size() == 1) return now + kTick * 5 + kTick / 2;  // 5.5 ticks later
    return std::nullopt;
  };
  for (int k = 1; k <= 20; ++k) w.advance(kStart + k * kTick, visit);
  ASSERT_EQ(visits.size(), 2U);
  EXPECT_EQ(visits[0], kStart + 3 * kTick);
  EXPECT_EQ(visits[1], kStart + 9 * kTick);
  EXPECT_EQ(w.size(), 0U);
}

TEST(TimingWheel, DeadlinesBeyondTheHorizonAreRecheckedAndFireOnTime) {
  Wheel w(kTick, kSlots, kStart);
  Owner o;
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::int64_t> offset(kHorizon.count() + 1, 10 * kHorizon.count());
  for (std::uint64_t key = 0; key < 300; ++key) o.add(w, key, kStart + nanoseconds(offset(rng)));
  o.add(w, 1000, kStart + kHorizon + kTick);  // just past the horizon
  run_ticks(w, o, kStart, kStart + 11 * kHorizon);
  o.expect_all_within_one_tick();
  EXPECT_GT(o.rechecks, 0);
  EXPECT_EQ(w.size(), 0U);
}

TEST(TimingWheel, StalledCallerVisitsEverythingDue) {
  Wheel w(kTick, kSlots, kStart);
  Owner o;
  std::mt19937_64 rng(99);
  std::uniform_int_distribution<std::int64_t> offset(1, 4 * kHorizon.count());
  for (std::uint64_t key = 0; key < 1000; ++key) o.add(w, key, kStart + nanoseconds(offset(rng)));

  // One call after two horizons: exactly the keys due by then expire.
  const TimePoint late = kStart + 2 * kHorizon;
  w.advance(late, o.visitor());
  std::size_t due = 0;
  for (const auto& [key, d] : o.deadline) {
    if (d <= late) {
      ++due;
      ASSERT_TRUE(o.fired.contains(key)) << "key " << key << " is due but was not visited";
      EXPECT_EQ(o.fired.at(key), late);
    } else {
      EXPECT_FALSE(o.fired.contains(key)) << "key " << key << " fired early";
    }
  }
  EXPECT_GT(due, 0U);
  EXPECT_EQ(w.size(), o.deadline.size() - due);
  EXPECT_GT(w.next_due(), late);
  EXPECT_LE(w.next_due(), late + kTick);

  // The rest, one more stall later.
  w.advance(kStart + 5 * kHorizon, o.visitor());
  EXPECT_EQ(o.fired.size(), o.deadline.size());
  EXPECT_EQ(w.size(), 0U);
}

TEST(TimingWheel, SizeAndNextDueBookkeeping) {
  Wheel w(kTick, kSlots, kStart);
  EXPECT_EQ(w.size(), 0U);
  EXPECT_EQ(w.tick(), kTick);
  EXPECT_EQ(w.slot_count(), kSlots);
  EXPECT_EQ(w.next_due(), kStart + kTick);
  for (std::uint64_t key = 0; key < 10; ++key) w.schedule(key, kStart + static_cast<int>(key + 1) * kTick);
  EXPECT_EQ(w.size(), 10U);
  // Nothing due yet: no visit, nothing moves.
  EXPECT_EQ(
      w.advance(kStart + kTick - nanoseconds(1), [](std::uint64_t, TimePoint) { return std::optional<TimePoint>(); }),
      0U);
  EXPECT_EQ(w.next_due(), kStart + kTick);
  // Keys 0..2 due: key 0 is re-inserted far away, keys 1 and 2 dropped.
  const auto visited = w.advance(kStart + 3 * kTick, [](std::uint64_t key, TimePoint now) -> std::optional<TimePoint> {
    if (key == 0) return now + 20 * kTick;
    return std::nullopt;
  });
  EXPECT_EQ(visited, 3U);
  EXPECT_EQ(w.size(), 8U);
  EXPECT_EQ(w.next_due(), kStart + 4 * kTick);
}

TEST(TimingWheel, VisitorMayScheduleNewKeysDuringAdvance) {
  Wheel w(kTick, kSlots, kStart);
  std::map<std::uint64_t, std::vector<TimePoint>> visits;
  const auto visit = [&](std::uint64_t key, TimePoint now) -> std::optional<TimePoint> {
    visits[key].push_back(now);
    if (key == 1) {
      w.schedule(2, now);                 // due already: the very next slot
      w.schedule(3, now + 4 * kTick);     // later, within the horizon
      w.schedule(4, now + 2 * kHorizon);  // beyond the horizon: parked, visited early
    }
    return std::nullopt;
  };
  w.schedule(1, kStart + 2 * kTick);
  for (int k = 1; k <= 3 * static_cast<int>(kSlots); ++k) w.advance(kStart + k * kTick, visit);
  ASSERT_EQ(visits[1].size(), 1U);
  EXPECT_EQ(visits[1][0], kStart + 2 * kTick);
  EXPECT_EQ(visits[2], std::vector<TimePoint>{kStart + 3 * kTick});
  EXPECT_EQ(visits[3], std::vector<TimePoint>{kStart + 6 * kTick});
  ASSERT_EQ(visits[4].size(), 1U);
  EXPECT_LE(visits[4][0], kStart + 2 * kTick + kHorizon);
  EXPECT_EQ(w.size(), 0U);

  // During a stall, a key scheduled in the past from a visit is still seen in the same call.
  Wheel s(kTick, kSlots, kStart);
  int late_visits = 0;
  s.schedule(10, kStart + kTick);
  s.advance(kStart + 10 * kTick, [&](std::uint64_t key, TimePoint now) -> std::optional<TimePoint> {
    if (key == 10) s.schedule(11, now - 5 * kTick);
    if (key == 11) ++late_visits;
    return std::nullopt;
  });
  EXPECT_EQ(late_visits, 1);
  EXPECT_EQ(s.size(), 0U);
}

TEST(TimingWheel, MemoryFollowsLiveKeysNotTheBusiestSlot) {
  // 10,000 keys with a timeout a few slots long, re-armed at every visit, as
  // sessions that heartbeat: at any moment they crowd a few slots. After three
  // turns, the slots must not each keep room for such a crowd.
  constexpr std::size_t kKeys = 10'000;
  constexpr auto kTimeout = kTick * 4;
  Wheel w(kTick, kSlots, kStart);
  for (std::uint64_t k = 0; k < kKeys; ++k) {
    w.schedule(k, kStart + kTimeout);
  }
  TimePoint now = kStart;
  for (std::size_t i = 0; i < 3 * kSlots; ++i) {
    now += kTick;
    w.advance(now, [&](std::uint64_t, TimePoint t) { return std::optional<TimePoint>(t + kTimeout); });
  }
  ASSERT_EQ(w.size(), kKeys);
  // Live keys take 80 KB; vector growth may double that. A slot holding on to
  // its crowd's buffer would make it 64 x 10,000 x 8 B = 5 MB.
  EXPECT_LE(w.heap_bytes(), 2 * kKeys * sizeof(std::uint64_t) + kSlots * 64);
}

}  // namespace
}  // namespace lifeline
