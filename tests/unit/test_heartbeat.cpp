// Heartbeat policy: negotiation, limit validation, when to ping, PING budget.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "lifeline/heartbeat.hpp"
#include "ping_policy.hpp"

namespace lifeline {
namespace {

using std::chrono::milliseconds;
using TimePoint = std::chrono::steady_clock::time_point;

Heartbeat hb(std::int64_t interval_ms, std::int64_t timeout_ms) {
  return {milliseconds(interval_ms), milliseconds(timeout_ms)};
}

Heartbeat negotiate_ms(std::int64_t interval_ms, std::int64_t timeout_ms, const HeartbeatLimits& limits = {}) {
  return negotiate(limits, milliseconds(interval_ms), milliseconds(timeout_ms));
}

TEST(Negotiate, BothZeroMeansServerDefaults) {
  EXPECT_EQ(negotiate_ms(0, 0), hb(10'000, 30'000));
  HeartbeatLimits limits;
  limits.default_interval = milliseconds(2000);
  limits.default_timeout = milliseconds(7000);
  EXPECT_EQ(negotiate_ms(0, 0, limits), hb(2000, 7000));
}

TEST(Negotiate, MissingTimeoutIsThreeIntervals) {
  EXPECT_EQ(negotiate_ms(1000, 0), hb(1000, 3000));
  EXPECT_EQ(negotiate_ms(2500, 0), hb(2500, 7500));
}

TEST(Negotiate, MissingIntervalIsATimeoutThird) {
  EXPECT_EQ(negotiate_ms(0, 9000), hb(3000, 9000));
  EXPECT_EQ(negotiate_ms(0, 1000), hb(333, 1000));
}

TEST(Negotiate, ClampsIntoTheConfiguredRanges) {
  EXPECT_EQ(negotiate_ms(50, 0), hb(100, 300));                 // both below their minimum
  EXPECT_EQ(negotiate_ms(1'000'000, 0), hb(300'000, 900'000));  // both above their maximum
  EXPECT_EQ(negotiate_ms(1000, 5'000'000), hb(1000, 900'000));
  EXPECT_EQ(negotiate_ms(200, 250), hb(200, 400));  // 250 -> min 300 -> 2 x 200
  EXPECT_EQ(negotiate_ms(0xFFFFFFFF, 0xFFFFFFFF), hb(300'000, 900'000));
}

TEST(Negotiate, TimeoutRaisedToTwiceTheInterval) {
  EXPECT_EQ(negotiate_ms(1000, 1500), hb(1000, 2000));
  EXPECT_EQ(negotiate_ms(1000, 2000), hb(1000, 2000));
  EXPECT_EQ(negotiate_ms(1000, 2001), hb(1000, 2001));
  EXPECT_EQ(negotiate_ms(300'000, 300'000), hb(300'000, 600'000));
}

TEST(Negotiate, ResultAlwaysWithinLimitsForRandomProposals) {
  HeartbeatLimits limits;
  limits.min_interval = milliseconds(250);
  limits.max_interval = milliseconds(60'000);
  limits.min_timeout = milliseconds(1000);
  limits.max_timeout = milliseconds(120'000);
  limits.default_interval = milliseconds(5000);
  limits.default_timeout = milliseconds(15'000);
  ASSERT_EQ(limits.validate(), "");
  std::mt19937_64 rng(1234);
  std::uniform_int_distribution<std::int64_t> any(0, 0xFFFFFFFF);
  std::uniform_int_distribution<std::int64_t> small(0, 200'000);
  for (int i = 0; i < 20'000; ++i) {
    const std::int64_t interval = i % 2 == 0 ? any(rng) : small(rng) * (i % 3 == 0 ? 0 : 1);
    const std::int64_t timeout = i % 5 == 0 ? 0 : small(rng);
    const Heartbeat h = negotiate_ms(interval, timeout, limits);
    ASSERT_GE(h.interval, limits.min_interval) << interval << "/" << timeout;
    ASSERT_LE(h.interval, limits.max_interval) << interval << "/" << timeout;
    ASSERT_GE(h.timeout, limits.min_timeout) << interval << "/" << timeout;
    ASSERT_LE(h.timeout, limits.max_timeout) << interval << "/" << timeout;
    ASSERT_GE(h.timeout, 2 * h.interval) << interval << "/" << timeout;
  }
}

TEST(HeartbeatLimits, DefaultsAreValid) { EXPECT_EQ(HeartbeatLimits{}.validate(), ""); }

TEST(HeartbeatLimits, InconsistentSettingsAreNamed) {
  struct Case {
    const char* what;
    void (*change)(HeartbeatLimits&);
    const char* mentions;
  };
  const std::vector<Case> cases = {
      {"zero min interval", [](HeartbeatLimits& l) { l.min_interval = milliseconds(0); }, "min-interval"},
      {"negative min timeout", [](HeartbeatLimits& l) { l.min_timeout = milliseconds(-1); }, "min-timeout"},
      {"min above max interval", [](HeartbeatLimits& l) { l.min_interval = milliseconds(400'000); }, "max-interval"},
      {"min above max timeout", [](HeartbeatLimits& l) { l.min_timeout = milliseconds(1'000'000); }, "max-timeout"},
      {"default interval below min", [](HeartbeatLimits& l) { l.default_interval = milliseconds(50); }, "interval"},
      {"default interval above max", [](HeartbeatLimits& l) { l.default_interval = milliseconds(400'000); },
       "interval"},
      {"default timeout above max", [](HeartbeatLimits& l) { l.default_timeout = milliseconds(1'000'000); }, "timeout"},
      {"default timeout below twice interval", [](HeartbeatLimits& l) { l.default_timeout = milliseconds(15'000); },
       "twice"},
      {"max timeout below twice max interval", [](HeartbeatLimits& l) { l.max_timeout = milliseconds(500'000); },
       "max-timeout"},
      {"max timeout above 2^31", [](HeartbeatLimits& l) { l.max_timeout = milliseconds(3'000'000'000); }, "2^31"},
  };
  for (const auto& c : cases) {
    HeartbeatLimits l;
    c.change(l);
    const std::string msg = l.validate();
    EXPECT_NE(msg, "") << c.what;
    EXPECT_NE(msg.find(c.mentions), std::string::npos) << c.what << ": " << msg;
  }
}

const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);

TEST(NextPingDue, AfterAnIntervalWithNothingSent) {
  const milliseconds interval(1000);
  const TimePoint long_ago = kT0 - std::chrono::hours(1);
  // Received recently, sent nothing since kT0.
  EXPECT_EQ(next_ping_due(kT0, kT0 + milliseconds(900), long_ago, interval), kT0 + interval);
}

TEST(NextPingDue, AfterAnIntervalWithNothingReceived) {
  const milliseconds interval(1000);
  const TimePoint long_ago = kT0 - std::chrono::hours(1);
  // Sent recently (DATA), received nothing since kT0.
  EXPECT_EQ(next_ping_due(kT0 + milliseconds(900), kT0, long_ago, interval), kT0 + interval);
}

// Simulates a client checking every 10 ms whether a ping is due, with a peer that
// never answers while the client keeps sending (or not sending) other traffic.
std::vector<TimePoint> pings_to_silent_peer(bool sends_data, milliseconds interval, milliseconds run_for) {
  TimePoint last_tx = kT0;
  const TimePoint last_rx = kT0;
  TimePoint last_ping = kT0 - std::chrono::hours(1);
  std::vector<TimePoint> pings;
  for (TimePoint now = kT0; now <= kT0 + run_for; now += milliseconds(10)) {
    if (sends_data && (now - kT0) % milliseconds(100) == milliseconds(0)) last_tx = now;
    if (now >= next_ping_due(last_tx, last_rx, last_ping, interval)) {
      pings.push_back(now);
      last_tx = now;
      last_ping = now;
    }
  }
  return pings;
}

TEST(NextPingDue, SilentPeerIsPingedOncePerInterval) {
  const milliseconds interval(1000);
  for (const bool sends_data : {false, true}) {
    SCOPED_TRACE(sends_data ? "sending data" : "idle");
    const auto pings = pings_to_silent_peer(sends_data, interval, milliseconds(10'000));
    ASSERT_EQ(pings.size(), 10U);
    EXPECT_EQ(pings.front(), kT0 + interval);
    for (std::size_t i = 1; i < pings.size(); ++i) EXPECT_EQ(pings[i] - pings[i - 1], interval);
  }
}

TEST(NextPingDue, NeverSoonerThanAnIntervalAfterThePreviousPing) {
  const milliseconds interval(500);
  // Both directions quiet for ages, but a ping went out 100 ms ago.
  const TimePoint old = kT0 - std::chrono::seconds(30);
  EXPECT_EQ(next_ping_due(old, old, kT0 - milliseconds(100), interval), kT0 + milliseconds(400));
}

TEST(PingBudget, RateAndBurstFollowTheInterval) {
  EXPECT_EQ(PingBudget(milliseconds(1000)).per_second(), 20U);
  EXPECT_EQ(PingBudget(milliseconds(200)).per_second(), 20U);
  EXPECT_EQ(PingBudget(milliseconds(100)).per_second(), 40U);
  EXPECT_EQ(PingBudget(milliseconds(50)).per_second(), 80U);
  EXPECT_EQ(PingBudget(milliseconds(0)).per_second(), 4000U);
  EXPECT_EQ(PingBudget().burst(), 40U);
  EXPECT_EQ(PingBudget(milliseconds(100)).burst(), 80U);
}

TEST(PingBudget, AllowsABurstThenTheSustainedRate) {
  constexpr std::int64_t kSecond = 1'000'000'000;
  for (const std::int64_t start : {std::int64_t{0}, std::int64_t{5} * kSecond + 123}) {
    SCOPED_TRACE(start);
    PingBudget budget(milliseconds(100));
    const std::uint32_t burst = budget.burst();
    for (std::uint32_t i = 0; i < burst; ++i) {
      ASSERT_TRUE(budget.allow(start)) << "ping " << i;
    }
    EXPECT_FALSE(budget.allow(start));
    // Afterwards one PING per 1/rate is allowed, and no more.
    const std::int64_t spacing = kSecond / budget.per_second();
    for (int i = 1; i <= 100; ++i) {
      ASSERT_TRUE(budget.allow(start + i * spacing)) << "paced ping " << i;
      ASSERT_FALSE(budget.allow(start + i * spacing)) << "extra ping " << i;
    }
  }
}

TEST(PingBudget, AHeartbeatAtTheIntervalIsNeverLimited) {
  constexpr std::int64_t kMs = 1'000'000;
  PingBudget budget(milliseconds(100));
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(budget.allow(i * 100 * kMs));
}

// Whatever the timing, no one-second span admits more than burst + rate PINGs:
// the fixed-window flaw (a full window just before and just after a boundary) is gone.
TEST(PingBudget, AnyOneSecondSpanIsBounded) {
  constexpr std::int64_t kMs = 1'000'000;
  PingBudget budget(milliseconds(1000));
  const std::uint32_t n = budget.burst();
  ASSERT_TRUE(budget.allow(0));
  std::uint32_t allowed_in_span = 0;  // PINGs allowed in [999 ms, 1001 ms]
  for (std::uint32_t i = 1; i < n; ++i) allowed_in_span += budget.allow(999 * kMs) ? 1 : 0;
  for (std::uint32_t i = 0; i < n; ++i) allowed_in_span += budget.allow(1001 * kMs) ? 1 : 0;
  EXPECT_LE(allowed_in_span, n + budget.per_second());
  EXPECT_LT(allowed_in_span, 2 * n - 1);
}

}  // namespace
}  // namespace lifeline
