// Reconnect backoff: exponential windows with full jitter, fixed seeds.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "lifeline/backoff.hpp"

namespace lifeline {
namespace {

using std::chrono::milliseconds;

BackoffPolicy policy(std::int64_t base_ms, std::int64_t cap_ms, double factor) {
  return {milliseconds(base_ms), milliseconds(cap_ms), factor};
}

TEST(Backoff, EveryDelayWithinTheGrowingWindow) {
  for (const auto& p : {policy(500, 30'000, 2.0), policy(100, 10'000, 1.5), policy(1, 1000, 3.0), policy(250, 250, 2.0),
                        policy(10, 100'000, 1.0)}) {
    SCOPED_TRACE(std::to_string(p.base.count()) + "/" + std::to_string(p.cap.count()) + "/" + std::to_string(p.factor));
    ASSERT_EQ(p.validate(), "");
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
      Backoff b(p, seed);
      for (unsigned n = 0; n < 60; ++n) {
        const double window =
            std::min(static_cast<double>(p.cap.count()), static_cast<double>(p.base.count()) * std::pow(p.factor, n));
        const milliseconds d = b.next();
        ASSERT_GE(d.count(), 0) << "attempt " << n;
        ASSERT_LE(static_cast<double>(d.count()), window) << "attempt " << n;
      }
    }
  }
}

TEST(Backoff, CeilingGrowsThenStaysAtTheCap) {
  Backoff b(policy(500, 30'000, 2.0), 1);
  const std::vector<std::int64_t> want = {500, 1000, 2000, 4000, 8000, 16'000, 30'000, 30'000, 30'000};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(b.ceiling(), milliseconds(want[i])) << "attempt " << i;
    b.next();
  }
  for (int i = 0; i < 10'000; ++i) b.next();  // a long outage: still finite, still the cap
  EXPECT_EQ(b.ceiling(), milliseconds(30'000));
  EXPECT_LE(b.next(), milliseconds(30'000));
}

TEST(Backoff, ResetReturnsToTheFirstWindow) {
  Backoff b(policy(500, 30'000, 2.0), 3);
  for (int i = 0; i < 5; ++i) b.next();
  EXPECT_EQ(b.attempt(), 5U);
  EXPECT_EQ(b.ceiling(), milliseconds(16'000));
  b.reset();
  EXPECT_EQ(b.attempt(), 0U);
  EXPECT_EQ(b.ceiling(), milliseconds(500));
  EXPECT_LE(b.next(), milliseconds(500));
  EXPECT_EQ(b.ceiling(), milliseconds(1000));
}

TEST(Backoff, FirstWindowIsSpreadUniformly) {
  constexpr int kDraws = 10'000;
  const BackoffPolicy p = policy(1000, 30'000, 2.0);
  std::vector<std::int64_t> draws;
  // One draw per fresh client (a crowd reconnecting at once), each with its own seed.
  for (int i = 0; i < kDraws; ++i) draws.push_back(Backoff(p, 1000 + static_cast<std::uint64_t>(i)).next().count());
  // And one client reset after every attempt.
  Backoff one(p, 77);
  for (int i = 0; i < kDraws; ++i) {
    draws.push_back(one.next().count());
    one.reset();
  }
  for (const auto& range : {std::vector<std::int64_t>(draws.begin(), draws.begin() + kDraws),
                            std::vector<std::int64_t>(draws.begin() + kDraws, draws.end())}) {
    double sum = 0;
    for (const auto d : range) sum += static_cast<double>(d);
    const double mean = sum / static_cast<double>(range.size());
    EXPECT_NEAR(mean, 500.0, 50.0);
    EXPECT_LT(*std::min_element(range.begin(), range.end()), 50);
    EXPECT_GT(*std::max_element(range.begin(), range.end()), 950);
    // Each tenth of the window gets roughly a tenth of the draws.
    std::vector<int> deciles(10, 0);
    for (const auto d : range) ++deciles[static_cast<std::size_t>(std::min<std::int64_t>(d / 100, 9))];
    for (const int count : deciles) {
      EXPECT_GT(count, kDraws / 10 * 8 / 10);
      EXPECT_LT(count, kDraws / 10 * 12 / 10);
    }
  }
}

TEST(Backoff, SameSeedSameDelaysDifferentSeedsDiffer) {
  const BackoffPolicy p = policy(500, 30'000, 2.0);
  const auto run = [&](std::uint64_t seed) {
    Backoff b(p, seed);
    std::vector<std::int64_t> out;
    for (int i = 0; i < 20; ++i) out.push_back(b.next().count());
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
  EXPECT_NE(run(1), run(2));
}

TEST(BackoffPolicy, DefaultIsValid) { EXPECT_EQ(BackoffPolicy{}.validate(), ""); }

TEST(BackoffPolicy, InvalidSettingsAreNamed) {
  EXPECT_NE(policy(0, 1000, 2.0).validate().find("base"), std::string::npos);
  EXPECT_NE(policy(-5, 1000, 2.0).validate().find("base"), std::string::npos);
  EXPECT_NE(policy(1000, 500, 2.0).validate().find("cap"), std::string::npos);
  EXPECT_NE(policy(500, 1000, 0.5).validate().find("factor"), std::string::npos);
  EXPECT_NE(policy(500, 1000, 101.0).validate().find("factor"), std::string::npos);
  EXPECT_NE(policy(500, 1000, std::nan("")).validate().find("factor"), std::string::npos);
  EXPECT_EQ(policy(500, 500, 1.0).validate(), "");
  EXPECT_EQ(policy(500, 1000, 100.0).validate(), "");
}

}  // namespace
}  // namespace lifeline
