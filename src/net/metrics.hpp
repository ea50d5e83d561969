#pragma once
// A shard's counters: written by the shard's own thread only, read by any
// thread (Server::metrics). One writer, so an increment is a relaxed load and
// store of a line the shard owns: no locked instruction on the heartbeat path.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "lifeline/metrics.hpp"
#include "lifeline/protocol.hpp"

namespace lifeline::detail {

class Counter {
 public:
  void add(std::uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

/// Bucket upper bounds in microseconds, for FixedHistogram.
template <std::size_t N>
using Bounds = std::array<std::int64_t, N>;

inline constexpr Bounds<14> kRttBoundsUs{100,   250,   500,    1000,   2500,   5000,    10000,
                                         25000, 50000, 100000, 250000, 500000, 1000000, 2500000};
inline constexpr Bounds<12> kDetectionBoundsUs{100000,   250000,   500000,   1000000,   2500000,   5000000,
                                               10000000, 30000000, 60000000, 120000000, 300000000, 900000000};
inline constexpr Bounds<10> kTickLagBoundsUs{500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};

template <std::size_t N>
class FixedHistogram {
 public:
  explicit constexpr FixedHistogram(const Bounds<N>& bounds) : bounds_(bounds) {}
  void observe(std::chrono::microseconds v) {
    std::size_t i = 0;
    while (i < N && v.count() > bounds_[i]) {
      ++i;
    }
    counts_[i].add();
    sum_us_.add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, v.count())));
  }
  /// Adds this histogram's counts into `out` (bounds set on first use).
  void add_to(Histogram& out) const {
    if (out.bounds.empty()) {
      for (const auto b : bounds_) {
        out.bounds.push_back(static_cast<double>(b) / 1e6);
      }
      out.counts.assign(N + 1, 0);
    }
    for (std::size_t i = 0; i <= N; ++i) {
      out.counts[i] += counts_[i].get();
    }
    out.sum += static_cast<double>(sum_us_.get()) / 1e6;
  }

 private:
  const Bounds<N>& bounds_;
  std::array<Counter, N + 1> counts_{};
  Counter sum_us_;
};

inline constexpr std::size_t kReasons = 10;     // proto::Reason none..protocol
inline constexpr std::size_t kErrorCodes = 13;  // proto::ErrorCode 0..unauthorized

struct alignas(64) ShardMetrics {
  Counter accepted;
  Counter refused_limit;
  Counter refused_shutdown;
  Counter opened;  // connections adopted by this shard
  Counter closed;  // and closed
  std::array<Counter, kReasons> disconnections{};
  std::array<Counter, kErrorCodes> errors{};
  Counter frames_in;
  Counter frames_out;
  Counter bytes_in;
  Counter bytes_out;
  Counter tls_handshakes;
  Counter tls_resumed;
  FixedHistogram<kRttBoundsUs.size()> rtt{kRttBoundsUs};
  FixedHistogram<kDetectionBoundsUs.size()> detection{kDetectionBoundsUs};
  FixedHistogram<kTickLagBoundsUs.size()> tick_lag{kTickLagBoundsUs};

  void disconnected(proto::Reason r) { disconnections.at(static_cast<std::size_t>(r) % kReasons).add(); }
  void error_sent(proto::ErrorCode c) { errors.at(static_cast<std::size_t>(c) % kErrorCodes).add(); }

  /// Adds this shard's counts into `m`.
  void add_to(ServerMetrics& m) const;
};

}  // namespace lifeline::detail
