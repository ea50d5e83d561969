// Wire codec: FrameDecoder against every vector of tests/vectors/frames.txt at
// every split point, payload parsers, encoders (byte-for-byte re-encoding).

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "bytes.hpp"
#include "lifeline/frame_decoder.hpp"
#include "lifeline/protocol.hpp"

namespace lifeline::proto {
namespace {

using ByteVec = std::vector<std::uint8_t>;

struct Vector {
  std::string name;
  std::string kind;  // frame type name ("PING"), or "!error_name" for an invalid frame
  ByteVec bytes;
  std::uint8_t version = 1;  // the layout of LIST_REPLY, EVENT and SUBSCRIBE ("EVENT/2")
  bool invalid() const { return !kind.empty() && kind[0] == '!'; }
};

ByteVec from_hex(std::string_view hex) {
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  ByteVec out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      ADD_FAILURE() << "bad hex digit in " << hex;
      return {};
    }
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  if (hex.size() % 2 != 0) ADD_FAILURE() << "odd hex length: " << hex;
  return out;
}

const std::vector<Vector>& vectors() {
  static const std::vector<Vector> all = [] {
    std::vector<Vector> v;
    std::ifstream in(LIFELINE_VECTORS_FILE);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      Vector vec;
      std::string hex;
      fields >> vec.name >> vec.kind >> hex;
      vec.bytes = from_hex(hex);
      if (const auto slash = vec.kind.find('/'); slash != std::string::npos) {
        vec.version = static_cast<std::uint8_t>(std::stoi(vec.kind.substr(slash + 1)));
        vec.kind.resize(slash);
      }
      v.push_back(std::move(vec));
    }
    return v;
  }();
  return all;
}

std::optional<FrameType> type_from_name(std::string_view name) {
  for (int t = 0x01; t <= 0x0B; ++t) {
    if (to_string(static_cast<FrameType>(t)) == name) return static_cast<FrameType>(t);
  }
  return std::nullopt;
}

struct Decoded {
  FrameType type;
  ByteVec payload;
};

// Feeds `pieces` in order, collecting every frame; stops at the first error.
struct FeedResult {
  std::vector<Decoded> frames;
  std::optional<ParseError> error;
};

FeedResult feed_pieces(FrameDecoder& d, const std::vector<Bytes>& pieces) {
  FeedResult r;
  for (const auto piece : pieces) {
    r.error = d.feed(piece, [&](const Frame& f) {
      r.frames.push_back({f.type, ByteVec(f.payload.begin(), f.payload.end())});
      return true;
    });
    if (r.error) break;
  }
  return r;
}

std::string as_string(const ByteVec& b) { return {b.begin(), b.end()}; }

// Parses the payload with the parser matching `type` and encodes the result again.
std::string reencode(FrameType type, std::uint8_t version, const ByteVec& payload) {
  ParseError err;
  std::string out;
  const Bytes p(payload);
  const auto check = [&](const auto& parsed) {
    EXPECT_TRUE(parsed.has_value()) << to_string(type) << ": " << err.message;
    if (parsed) encode(*parsed, out);
  };
  switch (type) {
    case FrameType::hello: check(parse_hello(p, err)); break;
    case FrameType::welcome: check(parse_welcome(p, err)); break;
    case FrameType::bye: check(parse_bye(p, err)); break;
    case FrameType::error: check(parse_error(p, err)); break;
    case FrameType::list_reply: {
      const auto parsed = parse_list_reply(p, version, err);
      EXPECT_TRUE(parsed.has_value()) << err.message;
      if (parsed) encode(*parsed, version, out);
      break;
    }
    case FrameType::event: {
      const auto parsed = parse_event(p, version, err);
      EXPECT_TRUE(parsed.has_value()) << err.message;
      if (parsed) encode(*parsed, version, out);
      break;
    }
    case FrameType::ping:
    case FrameType::pong: {
      const auto f = encode_timestamp(type, read_u64(p));
      out.assign(f.begin(), f.end());
      break;
    }
    case FrameType::data: encode_data(as_string(payload), out); break;
    case FrameType::list: encode_list(read_u32(p), out); break;
    case FrameType::subscribe: {
      const auto parsed = parse_subscribe(p, err);
      EXPECT_TRUE(parsed.has_value()) << err.message;
      if (parsed && version >= 2) encode(*parsed, out);
      if (parsed && version < 2) encode_subscribe(out);
      break;
    }
  }
  return out;
}

TEST(Vectors, FileHasValidAndInvalidFrames) {
  std::size_t valid = 0;
  std::size_t invalid = 0;
  for (const auto& v : vectors()) {
    ASSERT_GE(v.bytes.size(), kHeaderSize) << v.name;
    if (v.invalid()) {
      ++invalid;
      EXPECT_TRUE(error_code_from_string(v.kind.substr(1))) << v.name << ": unknown error " << v.kind;
    } else {
      ++valid;
      EXPECT_TRUE(type_from_name(v.kind)) << v.name << ": unknown type " << v.kind;
    }
  }
  EXPECT_GE(valid, 17U);
  EXPECT_GE(invalid, 9U);
}

TEST(Decoder, EveryValidVectorAtEverySplitPoint) {
  for (const auto& v : vectors()) {
    if (v.invalid()) continue;
    SCOPED_TRACE(v.name);
    const Bytes all(v.bytes);
    const ByteVec payload(v.bytes.begin() + kHeaderSize, v.bytes.end());
    for (std::size_t split = 0; split <= all.size(); ++split) {
      SCOPED_TRACE("split at " + std::to_string(split));
      FrameDecoder d;
      std::vector<Decoded> frames;
      const auto collect = [&](const Frame& f) {
        frames.push_back({f.type, ByteVec(f.payload.begin(), f.payload.end())});
        return true;
      };
      ASSERT_FALSE(d.feed(all.first(split), collect));
      if (split < all.size()) {
        EXPECT_TRUE(frames.empty());
        EXPECT_EQ(d.buffered(), split);
        const std::size_t want_missing = split == 0            ? 0
                                         : split < kHeaderSize ? kHeaderSize - split
                                                               : all.size() - split;
        EXPECT_EQ(d.missing(), want_missing);
      }
      ASSERT_FALSE(d.feed(all.subspan(split), collect));
      ASSERT_EQ(frames.size(), 1U);
      EXPECT_EQ(frames[0].type, *type_from_name(v.kind));
      EXPECT_EQ(frames[0].payload, payload);
      EXPECT_EQ(d.buffered(), 0U);
      EXPECT_EQ(d.missing(), 0U);
      EXPECT_EQ(d.heap_bytes(), 0U);
    }
  }
}

TEST(Decoder, EveryValidVectorByteByByteAndAllAtOnce) {
  for (const auto& v : vectors()) {
    if (v.invalid()) continue;
    SCOPED_TRACE(v.name);
    const Bytes all(v.bytes);
    std::vector<Bytes> bytewise;
    for (std::size_t i = 0; i < all.size(); ++i) bytewise.push_back(all.subspan(i, 1));
    for (const auto& pieces : {bytewise, std::vector<Bytes>{all}}) {
      FrameDecoder d;
      const auto r = feed_pieces(d, pieces);
      ASSERT_FALSE(r.error) << r.error->message;
      ASSERT_EQ(r.frames.size(), 1U);
      EXPECT_EQ(r.frames[0].type, *type_from_name(v.kind));
      EXPECT_EQ(r.frames[0].payload, ByteVec(v.bytes.begin() + kHeaderSize, v.bytes.end()));
      EXPECT_EQ(d.buffered(), 0U);
      EXPECT_EQ(d.heap_bytes(), 0U);
    }
  }
}

TEST(Codec, EveryValidVectorReencodesByteForByte) {
  for (const auto& v : vectors()) {
    if (v.invalid()) continue;
    SCOPED_TRACE(v.name);
    const ByteVec payload(v.bytes.begin() + kHeaderSize, v.bytes.end());
    EXPECT_EQ(reencode(*type_from_name(v.kind), v.version, payload), as_string(v.bytes));
  }
}

TEST(Decoder, ConcatenatedFramesInAnyChunking) {
  ByteVec stream;
  std::vector<const Vector*> expected;
  for (const auto& v : vectors()) {
    if (v.invalid()) continue;
    stream.insert(stream.end(), v.bytes.begin(), v.bytes.end());
    expected.push_back(&v);
  }
  const Bytes all(stream);
  for (std::size_t chunk = 1; chunk <= 64; ++chunk) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    std::vector<Bytes> pieces;
    for (std::size_t pos = 0; pos < all.size(); pos += chunk) {
      pieces.push_back(all.subspan(pos, std::min(chunk, all.size() - pos)));
    }
    FrameDecoder d;
    const auto r = feed_pieces(d, pieces);
    ASSERT_FALSE(r.error) << r.error->message;
    ASSERT_EQ(r.frames.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(r.frames[i].type, *type_from_name(expected[i]->kind)) << expected[i]->name;
      EXPECT_EQ(r.frames[i].payload, ByteVec(expected[i]->bytes.begin() + kHeaderSize, expected[i]->bytes.end()))
          << expected[i]->name;
    }
    EXPECT_EQ(d.buffered(), 0U);
    EXPECT_EQ(d.heap_bytes(), 0U);
  }
}

TEST(Decoder, EveryInvalidVectorYieldsItsError) {
  for (const auto& v : vectors()) {
    if (!v.invalid()) continue;
    SCOPED_TRACE(v.name);
    const ErrorCode want = *error_code_from_string(v.kind.substr(1));
    FrameDecoder d;
    const auto r = feed_pieces(d, {Bytes(v.bytes)});
    if (v.name == "bad_welcome_from_client") {
      // Valid at the codec level: the server session rejects a WELCOME it receives.
      ASSERT_FALSE(r.error);
      ASSERT_EQ(r.frames.size(), 1U);
      EXPECT_EQ(r.frames[0].type, FrameType::welcome);
      continue;
    }
    if (r.error) {
      // A header error: detected from the 5 header bytes alone, whatever the chunking.
      EXPECT_EQ(r.error->code, want) << r.error->message;
      EXPECT_FALSE(r.error->message.empty());
      EXPECT_TRUE(r.frames.empty());
      FrameDecoder header_only;
      const auto h = feed_pieces(header_only, {Bytes(v.bytes).first(kHeaderSize)});
      ASSERT_TRUE(h.error);
      EXPECT_EQ(h.error->code, want);
      EXPECT_EQ(header_only.heap_bytes(), 0U);
      FrameDecoder bytewise;
      std::vector<Bytes> pieces;
      for (std::size_t i = 0; i < v.bytes.size(); ++i) pieces.push_back(Bytes(v.bytes).subspan(i, 1));
      const auto b = feed_pieces(bytewise, pieces);
      ASSERT_TRUE(b.error);
      EXPECT_EQ(b.error->code, want);
      continue;
    }
    // A payload error: the frame decodes, HELLO parsing rejects it.
    ASSERT_EQ(r.frames.size(), 1U);
    ASSERT_EQ(r.frames[0].type, FrameType::hello);
    ParseError err;
    EXPECT_FALSE(parse_hello(Bytes(r.frames[0].payload), err));
    EXPECT_EQ(err.code, want) << err.message;
    EXPECT_FALSE(err.message.empty());
  }
}

}  // namespace
}  // namespace lifeline::proto
