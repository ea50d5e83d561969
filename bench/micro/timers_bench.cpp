// Timer micro-benchmarks: the timing wheel against an indexed heap, a
// std::priority_queue with lazy deletion and a scan of all timestamps
// (timer_structures.hpp), for 10k, 100k and 1M sessions.
//
//   touch/<structure>/sessions:N      the cost of one heartbeat alone, for a
//                                     random session (ids precomputed with a
//                                     fixed seed: no RNG in the timed loop).
//                                     Counter time_per_touch.
//   heartbeat/<structure>/sessions:N  the whole job: simulated time advances
//                                     tick by tick, every session heartbeats
//                                     once per interval, and each tick runs the
//                                     structure's maintenance (wheel advance
//                                     with re-insertion, heap pops, stale queue
//                                     pops, a full scan). One iteration is one
//                                     tick; counter time_per_hb is the
//                                     tick's time over its heartbeats, i.e.
//                                     amortized, maintenance included.
//
// Heartbeats come in a random order of sessions (in the heartbeat benchmarks
// a fixed random permutation, once per interval), so the stores are scattered
// as they are in a server; wheel and scan share the same touch (a store).
//
// Parameters are the server's defaults: interval 10 s, timeout 30 s, tick
// 50 ms, 1024 wheel slots. A fixture (sessions, structure, id sequence) is
// built once per benchmark and kept across Google Benchmark's repeated runs of
// the same benchmark; simulated time just goes on.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "timer_structures.hpp"

namespace {

using lifeline::bench::HeapTimers;
using lifeline::bench::LazyPqTimers;
using lifeline::bench::Ns;
using lifeline::bench::ScanTimers;
using lifeline::bench::WheelTimers;

constexpr Ns kMs = 1'000'000;
constexpr Ns kInterval = 10'000 * kMs;
constexpr Ns kTimeout = 3 * kInterval;
constexpr Ns kTick = 50 * kMs;
constexpr std::size_t kTicksPerInterval = kInterval / kTick;  // 200
constexpr std::uint64_t kSeed = 0x11fe11e;

constexpr std::size_t kSessionCounts[] = {10'000, 100'000, 1'000'000};

/// Keeps one fixture per structure type, rebuilt when the session count
/// changes: a 1M-session setup is built once per benchmark, not per run.
template <class Fixture>
Fixture& cached(std::size_t n) {
  static std::unique_ptr<Fixture> fixture;
  if (!fixture || fixture->n != n) {
    fixture.reset();  // free the previous one first
    fixture = std::make_unique<Fixture>(n);
  }
  return *fixture;
}

// ---------------------------------------------------------------- touch ----

constexpr std::size_t kSequence = std::size_t{1} << 20;  // precomputed ids, cycled
constexpr std::size_t kBatch = 256;                      // touches per iteration

template <class Timers>
struct TouchFixture {
  explicit TouchFixture(std::size_t sessions)
      : n(sessions), timers(n, kTimeout, kTick, 0), ids(kSequence), step(kInterval / static_cast<Ns>(n)) {
    std::mt19937_64 rng(kSeed);
    // Every session heard from at some point in the last interval...
    std::uniform_int_distribution<Ns> phase(0, kInterval - 1);
    for (std::uint32_t id = 0; id < n; ++id) {
      timers.add(id, now - phase(rng));
    }
    std::uniform_int_distribution<std::uint32_t> pick(0, static_cast<std::uint32_t>(n - 1));
    for (auto& id : ids) {
      id = pick(rng);
    }
    // ...then one pass of the sequence, so the heap's shape is the one random
    // heartbeats make, not the initial one.
    for (std::size_t i = 0; i < kSequence; i += kBatch) {
      run_batch();
      if (timers.bloated()) {
        timers.compact();
      }
    }
  }

  /// kBatch heartbeats, one per `step` on average per session: each session
  /// is touched once per interval on average.
  void run_batch() {
    const std::uint32_t* batch = ids.data() + cursor;
    for (std::size_t k = 0; k < kBatch; ++k) {
      now += step;
      timers.touch(batch[k], now);
    }
    cursor = (cursor + kBatch) & (kSequence - 1);
  }

  std::size_t n;
  Timers timers;
  std::vector<std::uint32_t> ids;
  Ns step;
  Ns now = 0;
  std::size_t cursor = 0;
};

template <class Timers>
void touch_bench(benchmark::State& state) {
  auto& f = cached<TouchFixture<Timers>>(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    f.run_batch();
    benchmark::ClobberMemory();  // the stores must happen
    if (f.timers.bloated()) {
      // Only the lazy queue gets here, once per 3N touches: its stale entries
      // must go or memory grows without bound, but dropping them is the
      // heartbeat benchmarks' business (as pops), so it is not timed here.
      state.PauseTiming();
      f.timers.compact();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
  // Touches per second, inverted: CPU time per touch (printed as e.g. 1.2ns).
  state.counters["time_per_touch"] = benchmark::Counter(
      static_cast<double>(kBatch), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// ------------------------------------------------------------ heartbeat ----

template <class Timers>
struct SimFixture {
  explicit SimFixture(std::size_t sessions)
      : n(sessions),
        timers(n, kTimeout, kTick, 0),
        order(n),
        step(kInterval / static_cast<Ns>(n)),
        per_tick(n / kTicksPerInterval) {
    // Sessions heartbeat in a fixed random order, evenly spread over the
    // interval: session order[k] at k * step into each interval.
    std::iota(order.begin(), order.end(), 0U);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(kSeed));
    for (std::size_t k = 0; k < n; ++k) {
      timers.add(order[k], static_cast<Ns>(k) * step - kInterval);  // heard from in the previous interval
    }
    // Four intervals: the queue holds its steady three intervals of entries,
    // the wheel's slots their steady spread.
    for (std::size_t t = 0; t < 4 * kTicksPerInterval; ++t) {
      run_tick();
    }
    ops = 0;
    heartbeats = 0;
  }

  /// One tick: its share of the heartbeats, each at its own time, then the
  /// maintenance due at the end of the tick.
  void run_tick() {
    const std::size_t first = tick_in_interval * per_tick;
    Ns t = interval_start + static_cast<Ns>(first) * step;
    for (std::size_t k = first; k < first + per_tick; ++k, t += step) {
      timers.touch(order[k], t);
    }
    heartbeats += per_tick;
    ++tick_in_interval;
    const Ns now = interval_start + static_cast<Ns>(tick_in_interval) * kTick;
    if (tick_in_interval == kTicksPerInterval) {
      tick_in_interval = 0;
      interval_start += kInterval;
    }
    ops += timers.maintain(now);
  }

  std::size_t n;
  Timers timers;
  std::vector<std::uint32_t> order;
  Ns step;
  std::size_t per_tick;
  Ns interval_start = 0;
  std::size_t tick_in_interval = 0;
  std::size_t ops = 0;         // maintenance operations since the last reset
  std::size_t heartbeats = 0;  // heartbeats since the last reset
};

template <class Timers>
void heartbeat_bench(benchmark::State& state) {
  auto& f = cached<SimFixture<Timers>>(static_cast<std::size_t>(state.range(0)));
  f.ops = 0;
  f.heartbeats = 0;
  for (auto _ : state) {
    f.run_tick();
    benchmark::ClobberMemory();
  }
  const auto per_tick = static_cast<std::int64_t>(f.per_tick);
  state.SetItemsProcessed(state.iterations() * per_tick);
  // Heartbeats per second, inverted: CPU time per heartbeat, maintenance included.
  state.counters["time_per_hb"] = benchmark::Counter(
      static_cast<double>(per_tick), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  // Wheel visits, heap or queue pops, or timestamps scanned, per heartbeat.
  state.counters["maint_ops_per_hb"] =
      f.heartbeats == 0 ? 0.0 : static_cast<double>(f.ops) / static_cast<double>(f.heartbeats);
  // Every session heartbeats: anything but 0 is a bug in the structure.
  state.counters["expired"] = static_cast<double>(f.timers.expired());
}

template <class Timers>
void register_timers() {
  for (const std::size_t n : kSessionCounts) {
    benchmark::RegisterBenchmark((std::string("touch/") + Timers::kName).c_str(), touch_bench<Timers>)
        ->ArgName("sessions")
        ->Arg(static_cast<std::int64_t>(n));
  }
}

template <class Timers>
void register_heartbeat() {
  for (const std::size_t n : kSessionCounts) {
    benchmark::RegisterBenchmark((std::string("heartbeat/") + Timers::kName).c_str(), heartbeat_bench<Timers>)
        ->ArgName("sessions")
        ->Arg(static_cast<std::int64_t>(n))
        ->Unit(benchmark::kMicrosecond);
  }
}

const bool registered = [] {
  register_timers<WheelTimers>();
  register_timers<HeapTimers>();
  register_timers<LazyPqTimers>();
  register_timers<ScanTimers>();
  register_heartbeat<WheelTimers>();
  register_heartbeat<HeapTimers>();
  register_heartbeat<LazyPqTimers>();
  register_heartbeat<ScanTimers>();
  return true;
}();

}  // namespace
