// Human durations: parse_duration and format_duration.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lifeline/duration.hpp"

namespace lifeline {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, AcceptsEveryUnit) {
  const std::vector<std::pair<std::string, std::int64_t>> cases = {
      {"250ms", 250},      {"1s", 1000},       {"1.5s", 1500},        {"2m", 120'000},       {"1h", 3'600'000},
      {"0ms", 0},          {"0s", 0},          {"2000us", 2},         {"10s", 10'000},       {"0.25s", 250},
      {"1.5h", 5'400'000}, {"90m", 5'400'000}, {"100000ms", 100'000}, {"30d", 2'592'000'000}};
  for (const auto& [text, ms] : cases) {
    const auto d = parse_duration(text);
    ASSERT_TRUE(d) << text;
    EXPECT_EQ(*d, milliseconds(ms)) << text;
  }
}

TEST(ParseDuration, MicrosecondsRoundToTheNearestMillisecond) {
  // The result is in whole milliseconds, rounded up: a non-zero duration never becomes 0.
  EXPECT_EQ(parse_duration("500us"), milliseconds(1));
  EXPECT_EQ(parse_duration("1500us"), milliseconds(2));
  EXPECT_EQ(parse_duration("1000us"), milliseconds(1));
}

TEST(ParseDuration, Rejects) {
  for (const std::string text : {"", "10", "ms", "-1s", "1x", "1.2.3s", " 1s", "1s ", "1 s", "1S", "1sec", "1ms1", ".",
                                 ".s", "+1s", "1e3ms", "s1", "1mss", "99999999999999h"}) {
    EXPECT_EQ(parse_duration(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(FormatDuration, ShortestExactForm) {
  EXPECT_EQ(format_duration(milliseconds(0)), "0ms");
  EXPECT_EQ(format_duration(milliseconds(300)), "300ms");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(format_duration(milliseconds(10'000)), "10s");
  EXPECT_EQ(format_duration(milliseconds(90'000)), "90s");
  EXPECT_EQ(format_duration(milliseconds(120'000)), "2m");
  EXPECT_EQ(format_duration(milliseconds(5'400'000)), "90m");
  EXPECT_EQ(format_duration(milliseconds(3'600'000)), "1h");
  EXPECT_EQ(format_duration(milliseconds(86'400'000)), "24h");
}

TEST(FormatDuration, RoundTripsThroughParse) {
  std::vector<std::int64_t> values = {0,      1,      999,       1000,      1001,      59'999,
                                      60'000, 61'000, 3'599'999, 3'600'000, 7'200'000, 900'000'000};
  for (std::int64_t v = 1; v < 100'000'000; v = v * 7 + 3) values.push_back(v);
  for (const auto v : values) {
    const std::string text = format_duration(milliseconds(v));
    const auto back = parse_duration(text);
    ASSERT_TRUE(back) << v << " -> " << text;
    EXPECT_EQ(*back, milliseconds(v)) << v << " -> " << text;
  }
  // Canonical texts survive the opposite trip.
  for (const std::string text : {"250ms", "1s", "2m", "1h", "0ms", "45s", "7m"}) {
    EXPECT_EQ(format_duration(*parse_duration(text)), text);
  }
}

}  // namespace
}  // namespace lifeline

TEST(TimeText, FormatsUtcWithMilliseconds) {
  using namespace std::chrono;
  const system_clock::time_point t{milliseconds(1'764'782'401'123)};
  EXPECT_EQ(lifeline::format_time(t), "2025-12-03T17:20:01.123Z");
  EXPECT_EQ(lifeline::format_time(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
}

TEST(TimeText, ParsesWhatItFormatsAndOffsets) {
  using namespace std::chrono;
  const system_clock::time_point t{milliseconds(1'764'782'401'123)};
  EXPECT_EQ(lifeline::parse_time("2025-12-03T17:20:01.123Z"), t);
  EXPECT_EQ(lifeline::parse_time("2025-12-03 18:20:01.123+01:00"), t);
  EXPECT_EQ(lifeline::parse_time("2025-12-03T12:50:01.123-04:30"), t);
  EXPECT_EQ(lifeline::parse_time("2025-12-03T17:20:01Z"), t - milliseconds(123));
}

TEST(TimeText, RefusesWhatIsNotRfc3339) {
  for (const auto* bad :
       {"", "2025-12-03", "2025-12-03T17:20:01", "2025-13-03T17:20:01Z", "2025-02-30T00:00:00Z", "2025-12-03T24:00:00Z",
        "2025-12-03T17:20:01.Z", "2025-12-03T17:20:01+1:00", "2025-12-03T17:20:01Zjunk", "yesterday"}) {
    EXPECT_FALSE(lifeline::parse_time(bad).has_value()) << bad;
  }
}
