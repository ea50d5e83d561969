// Frame codec micro-benchmarks (include/lifeline/protocol.hpp,
// frame_decoder.hpp): the heartbeat path (PING encode, decode whole, split,
// batched) and the larger frames (HELLO with labels, LIST_REPLY of 100).

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lifeline/frame_decoder.hpp"
#include "lifeline/protocol.hpp"

namespace {

namespace proto = lifeline::proto;

proto::Bytes as_bytes(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

/// A FrameDecoder callback that counts frames and keeps their payload alive
/// for the optimizer.
struct CountFrames {
  std::size_t* frames;
  bool operator()(const proto::Frame& f) const {
    benchmark::DoNotOptimize(f.payload.data());
    ++*frames;
    return true;
  }
};

void encode_ping(benchmark::State& state) {
  std::uint64_t t_us = 1'700'000'000'000'000;
  for (auto _ : state) {
    auto frame = proto::encode_timestamp(proto::FrameType::ping, t_us++);
    benchmark::DoNotOptimize(frame);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(encode_ping)->Name("codec/encode_ping");

void decode_ping_whole(benchmark::State& state) {
  const auto frame = proto::encode_timestamp(proto::FrameType::ping, 1'700'000'000'000'000);
  proto::FrameDecoder decoder;
  std::size_t frames = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(frame.data());
    if (decoder.feed(proto::Bytes(frame), CountFrames{&frames})) {
      state.SkipWithError("decode error");
      break;
    }
  }
  benchmark::DoNotOptimize(frames);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(frame.size()));
}
BENCHMARK(decode_ping_whole)->Name("codec/decode_ping_whole");

/// A PING arriving in two reads, split `state.range(0)` bytes in: 3 is inside
/// the 5-byte header, 9 inside the payload. The decoder buffers the frame.
void decode_ping_split(benchmark::State& state) {
  const auto frame = proto::encode_timestamp(proto::FrameType::ping, 1'700'000'000'000'000);
  const auto split = static_cast<std::size_t>(state.range(0));
  const proto::Bytes head = proto::Bytes(frame).first(split);
  const proto::Bytes tail = proto::Bytes(frame).subspan(split);
  proto::FrameDecoder decoder;
  std::size_t frames = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(frame.data());
    if (decoder.feed(head, CountFrames{&frames}) || decoder.feed(tail, CountFrames{&frames})) {
      state.SkipWithError("decode error");
      break;
    }
  }
  if (frames != static_cast<std::size_t>(state.iterations())) {
    state.SkipWithError("lost a frame");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(frame.size()));
}
BENCHMARK(decode_ping_split)->Name("codec/decode_ping_split")->ArgName("at")->Arg(3)->Arg(9);

/// 100 PINGs in one buffer (one read): items are frames.
void decode_ping_batch(benchmark::State& state) {
  constexpr std::size_t kFrames = 100;
  std::vector<std::uint8_t> buffer;
  for (std::size_t i = 0; i < kFrames; ++i) {
    const auto frame = proto::encode_timestamp(proto::FrameType::ping, 1'700'000'000'000'000 + i);
    buffer.insert(buffer.end(), frame.begin(), frame.end());
  }
  proto::FrameDecoder decoder;
  std::size_t frames = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(buffer.data());
    if (decoder.feed(proto::Bytes(buffer), CountFrames{&frames})) {
      state.SkipWithError("decode error");
      break;
    }
  }
  if (frames != kFrames * static_cast<std::size_t>(state.iterations())) {
    state.SkipWithError("lost a frame");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kFrames));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(buffer.size()));
}
BENCHMARK(decode_ping_batch)->Name("codec/decode_ping_batch100");

proto::Hello sample_hello() {
  proto::Hello h;
  h.flags = proto::kFlagServerPings;
  h.interval = std::chrono::milliseconds(10'000);
  h.timeout = std::chrono::milliseconds(30'000);
  h.id = "sensor-0042.plant-7";
  h.labels = {{"region", "eu-west-1"}, {"version", "1.4.2"}};
  return h;
}

/// Into a reused output buffer, as a session's write buffer is.
void encode_hello(benchmark::State& state) {
  const proto::Hello hello = sample_hello();
  std::string out;
  for (auto _ : state) {
    out.clear();
    proto::encode(hello, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK(encode_hello)->Name("codec/encode_hello_2labels");

void parse_hello(benchmark::State& state) {
  std::string frame;
  proto::encode(sample_hello(), frame);
  const proto::Bytes payload = as_bytes(frame).subspan(proto::kHeaderSize);
  proto::ParseError err;
  for (auto _ : state) {
    benchmark::DoNotOptimize(payload.data());
    auto hello = proto::parse_hello(payload, err);
    if (!hello) {
      state.SkipWithError(err.message.c_str());
      break;
    }
    benchmark::DoNotOptimize(hello);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(frame.size()));
}
BENCHMARK(parse_hello)->Name("codec/parse_hello_2labels");

/// A LIST_REPLY of 100 entries, each with an id, an address and one label;
/// items are entries.
void encode_list_reply(benchmark::State& state) {
  constexpr std::uint32_t kEntries = 100;
  proto::ListReply reply;
  reply.request_id = 7;
  reply.online = kEntries;
  for (std::uint32_t i = 0; i < kEntries; ++i) {
    proto::ListEntry e;
    e.id = "client-" + std::to_string(100'000 + i);
    e.remote = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":" + std::to_string(40'000 + i);
    e.since_ms = 1'700'000'000'000 + i;
    e.last_seen_ms = 1'700'000'100'000 + i;
    e.rtt_us = 250 + i;
    e.interval_ms = 10'000;
    e.timeout_ms = 30'000;
    e.labels = {{"region", "eu-west-1"}};
    reply.entries.push_back(std::move(e));
  }
  std::string out;
  for (auto _ : state) {
    out.clear();
    proto::encode(reply, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kEntries);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK(encode_list_reply)->Name("codec/encode_list_reply100");

}  // namespace
