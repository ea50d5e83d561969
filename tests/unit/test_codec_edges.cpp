// Codec edge cases: header limits checked before any payload is buffered,
// stopping from the callback, poisoning, and parse_hello's validation.

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bytes.hpp"
#include "lifeline/frame_decoder.hpp"
#include "lifeline/protocol.hpp"

namespace lifeline::proto {
namespace {

using ByteVec = std::vector<std::uint8_t>;

ByteVec header(std::uint32_t length, std::uint8_t type) {
  return {static_cast<std::uint8_t>(length >> 24U), static_cast<std::uint8_t>(length >> 16U),
          static_cast<std::uint8_t>(length >> 8U), static_cast<std::uint8_t>(length), type};
}

// Feeds `bytes` and returns the error, counting frames into `frames`.
std::optional<ParseError> feed(FrameDecoder& d, const ByteVec& bytes, int* frames = nullptr) {
  return d.feed(Bytes(bytes), [&](const Frame&) {
    if (frames != nullptr) ++*frames;
    return true;
  });
}

std::optional<ErrorCode> header_error(std::uint32_t length, std::uint8_t type,
                                      std::uint32_t max_data = kDefaultMaxData) {
  FrameDecoder d(FrameLimits{max_data});
  const auto err = feed(d, header(length, type));
  if (err) {
    EXPECT_EQ(d.heap_bytes(), 0U) << "payload memory reserved for a rejected header";
  } else {
    EXPECT_LE(d.heap_bytes(), length) << "more than one frame's length reserved";
  }
  return err ? std::optional<ErrorCode>(err->code) : std::nullopt;
}

TEST(DecoderLimits, CheckedFromTheHeaderAlone) {
  EXPECT_EQ(header_error(9, 0x03), ErrorCode::too_large);
  EXPECT_EQ(header_error(7, 0x03), ErrorCode::malformed);
  EXPECT_EQ(header_error(8, 0x03), std::nullopt);
  EXPECT_EQ(header_error(13, 0x01), ErrorCode::malformed);
  EXPECT_EQ(header_error(4097, 0x01), ErrorCode::too_large);
  EXPECT_EQ(header_error(22, 0x0A), ErrorCode::too_large);
  EXPECT_EQ(header_error(21, 0x0A), std::nullopt);
  EXPECT_EQ(header_error(0xFFFFFFFF, 0x05), ErrorCode::too_large);
  EXPECT_EQ(header_error((1U << 20U) + 1, 0x09), ErrorCode::too_large);
  EXPECT_EQ(header_error(101, 0x05, 100), ErrorCode::too_large);
  EXPECT_EQ(header_error(100, 0x05, 100), std::nullopt);
  for (const int type : {0x00, 0x0C, 0x7F, 0xFF}) {
    EXPECT_EQ(header_error(0, static_cast<std::uint8_t>(type)), ErrorCode::unknown_type) << type;
  }
}

TEST(DecoderLimits, LengthRangesMatchTheSpec) {
  const auto range = [](int type) { return length_range(static_cast<std::uint8_t>(type), FrameLimits{777}); };
  const std::vector<std::pair<std::uint32_t, std::uint32_t>> want = {{14, 4096},      {20, 1024}, {8, 8},    {8, 8},
                                                                     {0, 777},        {3, 1024},  {4, 1024}, {4, 4},
                                                                     {11, 1U << 20U}, {0, 21},    {22, 4096}};
  for (int type = 1; type <= 11; ++type) {
    ASSERT_TRUE(range(type)) << type;
    EXPECT_EQ(range(type)->min, want[type - 1].first) << type;
    EXPECT_EQ(range(type)->max, want[type - 1].second) << type;
  }
  EXPECT_FALSE(range(0));
  EXPECT_FALSE(range(12));
}

TEST(DecoderLimits, ReceiverCapsApplyBelowTheProtocolLimitsOnly) {
  const FrameLimits tight{777, 100, 20};
  EXPECT_EQ(length_range(static_cast<std::uint8_t>(FrameType::hello), tight)->max, 100U);
  EXPECT_EQ(length_range(static_cast<std::uint8_t>(FrameType::bye), tight)->max, 20U);
  const FrameLimits loose{777, 1U << 20U, 1U << 20U};  // never above the protocol's own
  EXPECT_EQ(length_range(static_cast<std::uint8_t>(FrameType::hello), loose)->max, kMaxHelloLength);
  EXPECT_EQ(length_range(static_cast<std::uint8_t>(FrameType::bye), loose)->max, kMaxByeLength);
  FrameDecoder d(tight);
  const std::uint8_t header[] = {0, 0, 0, 101, static_cast<std::uint8_t>(FrameType::hello)};
  const auto err = d.feed(Bytes(header), [](const Frame&) { return true; });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, ErrorCode::too_large);
  EXPECT_EQ(d.heap_bytes(), 0U);
}

TEST(DecoderLimits, TooLargeRejectedBeforePayloadArrives) {
  FrameDecoder d;
  const ByteVec h = header(9, 0x03);
  // Header bytes one at a time: the error comes with the 5th, nothing is reserved.
  for (std::size_t i = 0; i + 1 < h.size(); ++i) {
    EXPECT_FALSE(feed(d, {h[i]}));
  }
  const auto err = feed(d, {h.back()});
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, ErrorCode::too_large);
  EXPECT_NE(err->message.find("PING"), std::string::npos) << err->message;
  EXPECT_EQ(d.heap_bytes(), 0U);
}

TEST(DecoderLimits, PartialFrameBufferNeverExceedsItsLength) {
  FrameDecoder d;
  ByteVec bytes = header(1000, 0x05);
  bytes.push_back(0xAB);
  int frames = 0;
  EXPECT_FALSE(feed(d, bytes, &frames));
  EXPECT_EQ(frames, 0);
  EXPECT_EQ(d.buffered(), kHeaderSize + 1);
  EXPECT_EQ(d.missing(), 999U);
  EXPECT_LE(d.heap_bytes(), 1000U);
  EXPECT_FALSE(feed(d, ByteVec(999, 0xCD), &frames));
  EXPECT_EQ(frames, 1);
  EXPECT_EQ(d.buffered(), 0U);
  EXPECT_EQ(d.heap_bytes(), 0U);
}

TEST(DecoderLimits, HeaderHookRefusesBeforeAnyPayloadIsKept) {
  // A hook that accepts only HELLO, as a server session does before the
  // handshake: a DATA header is refused on arrival, whole or split, and the
  // decoder keeps nothing of its payload.
  const auto only_hello = [](FrameType t, std::uint32_t) -> std::optional<ParseError> {
    if (t == FrameType::hello) return std::nullopt;
    return ParseError{ErrorCode::handshake_required, "not HELLO"};
  };
  auto input = header(65536, static_cast<std::uint8_t>(FrameType::data));
  input.resize(input.size() + 100, 0x41);
  for (std::size_t split = 0; split <= input.size(); ++split) {
    FrameDecoder d(FrameLimits{65536});
    int frames = 0;
    const auto count = [&](const Frame&) {
      ++frames;
      return true;
    };
    auto err = d.feed(Bytes(input.data(), split), count, only_hello);
    if (!err) err = d.feed(Bytes(input.data() + split, input.size() - split), count, only_hello);
    ASSERT_TRUE(err.has_value()) << "split " << split;
    EXPECT_EQ(err->code, ErrorCode::handshake_required);
    EXPECT_EQ(d.heap_bytes(), 0U) << "split " << split;
    EXPECT_EQ(frames, 0);
  }
  // The hook sees the length as well, and lets accepted headers through.
  FrameDecoder d;
  std::uint32_t seen = 0;
  const auto ping = encode_timestamp(FrameType::ping, 7);
  const auto err = d.feed(
      Bytes(ping.data(), ping.size()), [](const Frame&) { return true; },
      [&](FrameType, std::uint32_t len) {
        seen = len;
        return std::optional<ParseError>();
      });
  EXPECT_FALSE(err.has_value());
  EXPECT_EQ(seen, 8U);
}

TEST(DecoderLimits, PoisonedDecoderIgnoresFurtherInput) {
  FrameDecoder d;
  ASSERT_TRUE(feed(d, header(0, 0x7F)));
  const auto ping = encode_timestamp(FrameType::ping, 1);
  int frames = 0;
  EXPECT_FALSE(feed(d, ByteVec(ping.begin(), ping.end()), &frames));
  EXPECT_EQ(frames, 0);
}

TEST(DecoderStop, CallbackReturningFalseStopsDecoding) {
  ByteVec stream;
  for (std::uint64_t t = 1; t <= 3; ++t) {
    const auto f = encode_timestamp(FrameType::ping, t);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  // Fast path (whole frames in one feed) and slow path (first frame split).
  for (const std::size_t split : {std::size_t{0}, std::size_t{3}, std::size_t{9}}) {
    SCOPED_TRACE(split);
    FrameDecoder d;
    std::vector<std::uint64_t> seen;
    const auto stop_after_first = [&](const Frame& f) {
      seen.push_back(read_u64(f.payload));
      return false;
    };
    EXPECT_FALSE(d.feed(Bytes(stream).first(split), stop_after_first));
    EXPECT_FALSE(d.feed(Bytes(stream).subspan(split), stop_after_first));
    EXPECT_EQ(seen, std::vector<std::uint64_t>{1});
    EXPECT_EQ(d.buffered(), 0U);
    EXPECT_EQ(d.heap_bytes(), 0U);
  }
}

// A valid HELLO payload (header removed) built with the encoder.
ByteVec hello_payload(const Hello& h) {
  std::string frame;
  encode(h, frame);
  return {frame.begin() + kHeaderSize, frame.end()};
}

std::optional<ErrorCode> hello_error(const ByteVec& payload) {
  ParseError err;
  const auto h = parse_hello(Bytes(payload), err);
  if (h) return std::nullopt;
  EXPECT_FALSE(err.message.empty());
  return err.code;
}

TEST(ParseHello, RoundTripsAllFields) {
  Hello h;
  h.flags = kFlagServerPings | kFlagObserver;
  h.interval = std::chrono::milliseconds(1500);
  h.timeout = std::chrono::milliseconds(4500);
  h.id = "Az09._:@-";
  for (int i = 0; i < 32; ++i)
    h.labels.push_back({"k" + std::to_string(i), std::string(static_cast<std::size_t>(i), 'v')});
  ParseError err;
  const ByteVec p = hello_payload(h);
  const auto parsed = parse_hello(Bytes(p), err);
  ASSERT_TRUE(parsed) << err.message;
  EXPECT_EQ(parsed->version, kVersion);
  EXPECT_EQ(parsed->flags, h.flags);
  EXPECT_EQ(parsed->interval, h.interval);
  EXPECT_EQ(parsed->timeout, h.timeout);
  EXPECT_EQ(parsed->id, h.id);
  EXPECT_EQ(parsed->labels, h.labels);
}

TEST(ParseHello, RejectsInvalidIdCharactersAndLengths) {
  for (const std::string& id :
       std::vector<std::string>{"a b", "a/b", "caf\xc3\xa9", "a\nb", "a#", std::string(129, 'x')}) {
    Hello h;
    h.id = id;
    EXPECT_EQ(hello_error(hello_payload(h)), ErrorCode::malformed) << id;
    EXPECT_FALSE(valid_id(id)) << id;
  }
  for (const std::string& id : std::vector<std::string>{"", std::string(128, 'x'), "x"}) {
    Hello h;
    h.id = id;
    EXPECT_EQ(hello_error(hello_payload(h)), std::nullopt) << id;
  }
}

TEST(ParseHello, RejectsMoreThan32LabelsAndBadLabelSizes) {
  Hello h;
  for (int i = 0; i < 33; ++i) h.labels.push_back({"k" + std::to_string(i), "v"});
  EXPECT_EQ(hello_error(hello_payload(h)), ErrorCode::malformed);
  const std::vector<std::pair<Label, bool>> cases = {{{"", "v"}, false},
                                                     {{std::string(65, 'k'), "v"}, false},
                                                     {{"k", std::string(257, 'v')}, false},
                                                     {{std::string(64, 'k'), std::string(256, 'v')}, true},
                                                     {{"k", ""}, true}};
  for (const auto& [label, ok] : cases) {
    Hello one;
    one.labels = {label};
    EXPECT_EQ(hello_error(hello_payload(one)).has_value(), !ok) << label.key.size() << "/" << label.value.size();
  }
}

TEST(ParseHello, RejectsTrailingBytesAndEveryTruncation) {
  Hello h;
  h.id = "a1";
  h.labels = {{"room", "lab"}};
  ByteVec p = hello_payload(h);
  ASSERT_EQ(hello_error(p), std::nullopt);
  for (std::size_t n = 0; n < p.size(); ++n) {
    EXPECT_EQ(hello_error(ByteVec(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(n))), ErrorCode::malformed)
        << "truncated to " << n;
  }
  // After the labels only the optional token may follow: one stray byte is
  // named as such (not "truncated": nothing before it is), a token length
  // past the end says so, and anything after a token is trailing.
  ParseError err;
  p.push_back(0);
  EXPECT_FALSE(parse_hello(Bytes(p), err));
  EXPECT_EQ(err.code, ErrorCode::malformed);
  EXPECT_NE(err.message.find("1 stray byte after the labels"), std::string::npos) << err.message;
  p.push_back(9);  // a token length of 9 with no bytes after it
  EXPECT_FALSE(parse_hello(Bytes(p), err));
  EXPECT_NE(err.message.find("token length runs past the payload (0 bytes follow it)"), std::string::npos)
      << err.message;
  h.token = "t";
  p = hello_payload(h);
  ASSERT_EQ(hello_error(p), std::nullopt);
  p.push_back(0);
  EXPECT_FALSE(parse_hello(Bytes(p), err));
  EXPECT_EQ(err.code, ErrorCode::malformed);
  EXPECT_NE(err.message.find("trailing"), std::string::npos) << err.message;
}

TEST(ParseHello, RejectsUnknownFlagsAndVersions) {
  for (const std::uint8_t flags : {0x04, 0x80, 0xFF}) {
    Hello h;
    h.flags = flags;
    EXPECT_EQ(hello_error(hello_payload(h)), ErrorCode::malformed) << int{flags};
  }
  for (const std::uint8_t version : {0, 5, 255}) {
    Hello h;
    h.version = version;
    EXPECT_EQ(hello_error(hello_payload(h)), ErrorCode::unsupported_version) << int{version};
  }
}

TEST(Names, ErrorCodesAndReasonsRoundTrip) {
  for (int c = 1; c <= 10; ++c) {
    const auto code = static_cast<ErrorCode>(c);
    EXPECT_EQ(error_code_from_string(to_string(code)), code);
  }
  for (int r = 0; r <= 9; ++r) {
    const auto reason = static_cast<Reason>(r);
    EXPECT_EQ(reason_from_string(to_string(reason)), reason);
  }
  EXPECT_FALSE(error_code_from_string(""));
  EXPECT_FALSE(error_code_from_string("nope"));
  EXPECT_FALSE(reason_from_string("nope"));
}

TEST(Codec, ListReplySizeMatchesEncodedSize) {
  ListReply m;
  m.request_id = 9;
  m.online = 2;
  m.entries = {{"a", "127.0.0.1:1", 1, 2, 3, 4, 5, {{"room", "lab"}}, 0, TransportCode::tcp, ""},
               {"bb", "[::1]:2", 6, 7, 8, 9, 10, {}, 0, TransportCode::tcp, ""}};
  std::string frame;
  encode(m, 1, frame);
  EXPECT_EQ(frame.size(), kHeaderSize + 11 + encoded_size(m.entries[0], 1) + encoded_size(m.entries[1], 1));
  ParseError err;
  const ByteVec p(frame.begin() + kHeaderSize, frame.end());
  const auto parsed = parse_list_reply(Bytes(p), 1, err);
  ASSERT_TRUE(parsed) << err.message;
  ASSERT_EQ(parsed->entries.size(), 2U);
  EXPECT_EQ(parsed->entries[0].labels, m.entries[0].labels);
  EXPECT_EQ(parsed->entries[1].remote, "[::1]:2");
  EXPECT_EQ(parsed->entries[1].timeout_ms, 10U);
}

// Version 3: each entry and event also carries its session number and transport.
TEST(Version3, EntriesAndEventsCarrySessionAndTransport) {
  ListReply m;
  m.entries = {{"a", "127.0.0.1:1", 1, 2, 3, 4, 5, {}, 0x0102030405060708ULL, TransportCode::wss, ""}};
  m.seq = 7;
  m.instance = 8;
  std::string frame;
  encode(m, 3, frame);
  EXPECT_EQ(frame.size(), kHeaderSize + 11 + encoded_size(m.entries[0], 3) + 16);
  ParseError err;
  const ByteVec p(frame.begin() + kHeaderSize, frame.end());
  const auto parsed = parse_list_reply(Bytes(p), 3, err);
  ASSERT_TRUE(parsed) << err.message;
  EXPECT_EQ(parsed->entries[0].session, 0x0102030405060708ULL);
  EXPECT_EQ(parsed->entries[0].transport, TransportCode::wss);
  EXPECT_FALSE(parse_list_reply(Bytes(p), 2, err)) << "a version 2 reader must see the extra bytes";

  Event e;
  e.kind = EventKind::join;
  e.id = "ann";
  e.session = 42;
  e.transport = TransportCode::ws;
  std::string ef;
  encode(e, 3, ef);
  const ByteVec ep(ef.begin() + kHeaderSize, ef.end());
  const auto pe = parse_event(Bytes(ep), 3, err);
  ASSERT_TRUE(pe) << err.message;
  EXPECT_EQ(pe->kind, EventKind::join);
  EXPECT_EQ(pe->session, 42U);
  EXPECT_EQ(pe->transport, TransportCode::ws);
  EXPECT_EQ(to_string(EventKind::leave), "leave");
}

TEST(Version2, BothVersionsOfHelloAreAccepted) {
  for (const std::uint8_t version : {kMinVersion, kVersion}) {
    Hello h;
    h.version = version;
    ParseError err;
    const auto parsed = parse_hello(Bytes(hello_payload(h)), err);
    ASSERT_TRUE(parsed) << err.message;
    EXPECT_EQ(parsed->version, version);
  }
}

TEST(Version2, WelcomeCarriesTheInstanceOnlyFromVersion2) {
  Welcome w;
  w.session = 7;
  w.id = "a";
  w.instance = 0xFEEDULL;
  for (const std::uint8_t version : {std::uint8_t{1}, std::uint8_t{2}}) {
    w.version = version;
    std::string frame;
    encode(w, frame);
    ParseError err;
    const ByteVec p(frame.begin() + kHeaderSize, frame.end());
    const auto parsed = parse_welcome(Bytes(p), err);
    ASSERT_TRUE(parsed) << err.message;
    EXPECT_EQ(parsed->instance, version == 2 ? 0xFEEDULL : 0U);
    EXPECT_EQ(p.size(), version == 2 ? 29U : 21U);
  }
}

TEST(Version2, EventAndListReplyLayoutsDependOnTheVersion) {
  Event e{9, EventKind::gap, Reason::none, 1, "", "", 42, 0, TransportCode::tcp, ""};
  std::string v1;
  std::string v2;
  encode(e, 1, v1);
  encode(e, 2, v2);
  EXPECT_EQ(v2.size(), v1.size() + 8);
  ParseError err;
  const ByteVec p2(v2.begin() + kHeaderSize, v2.end());
  EXPECT_FALSE(parse_event(Bytes(p2), 1, err)) << "a version 1 reader must see the trailing bytes";
  const auto parsed = parse_event(Bytes(p2), 2, err);
  ASSERT_TRUE(parsed) << err.message;
  EXPECT_EQ(parsed->kind, EventKind::gap);
  EXPECT_EQ(parsed->instance, 42U);
  const ByteVec p1(v1.begin() + kHeaderSize, v1.end());
  EXPECT_FALSE(parse_event(Bytes(p1), 2, err)) << "a version 2 reader must see the missing instance";
}

TEST(Version2, SubscribeIsEmptyOrComplete) {
  ParseError err;
  const auto empty = parse_subscribe(Bytes(), err);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->flags, 0);
  Subscribe s{5, kSubscribeSnapshot | kSubscribeResume, 77, 1000};
  std::string frame;
  encode(s, frame);
  const ByteVec p(frame.begin() + kHeaderSize, frame.end());
  const auto parsed = parse_subscribe(Bytes(p), err);
  ASSERT_TRUE(parsed) << err.message;
  EXPECT_EQ(parsed->request_id, 5U);
  EXPECT_EQ(parsed->instance, 77U);
  EXPECT_EQ(parsed->after_seq, 1000U);
  EXPECT_FALSE(parse_subscribe(Bytes(p).first(p.size() - 1), err));
  EXPECT_EQ(err.code, ErrorCode::malformed);
  ByteVec bad_flags = p;
  bad_flags[4] = 0x80;
  EXPECT_FALSE(parse_subscribe(Bytes(bad_flags), err));
  EXPECT_NE(err.message.find("flag"), std::string::npos) << err.message;
}

TEST(Version4, EntriesEventsAndListsNameTheirClusterNode) {
  ListReply m;
  m.entries = {{"a", "127.0.0.1:1", 1, 2, 3, 4, 5, {}, 7, TransportCode::tcp, "node-b"}};
  m.seq = 3;
  m.instance = 4;
  m.node = "node-a";
  m.degraded = true;
  std::string v3;
  std::string v4;
  encode(m, 3, v3);
  encode(m, 4, v4);
  EXPECT_EQ(v4.size(), v3.size() + (2 + 6) + (2 + 6) + 1);
  ParseError err;
  const ByteVec p4(v4.begin() + kHeaderSize, v4.end());
  const auto parsed = parse_list_reply(Bytes(p4), 4, err);
  ASSERT_TRUE(parsed) << err.message;
  EXPECT_EQ(parsed->entries.at(0).node, "node-b");
  EXPECT_EQ(parsed->node, "node-a");
  EXPECT_TRUE(parsed->degraded);
  EXPECT_FALSE(parse_list_reply(Bytes(p4), 3, err)) << "a version 3 reader must see the trailing bytes";

  Event e{9, EventKind::moved, Reason::none, 1, "a", "127.0.0.1:2", 42, 8, TransportCode::tcp, "node-c"};
  std::string ev;
  encode(e, 4, ev);
  const ByteVec pe(ev.begin() + kHeaderSize, ev.end());
  const auto pev = parse_event(Bytes(pe), 4, err);
  ASSERT_TRUE(pev) << err.message;
  EXPECT_EQ(pev->node, "node-c");
  EXPECT_EQ(to_string(EventKind::moved), "moved");
  EXPECT_EQ(to_string(EventKind::resumed), "resumed");
  EXPECT_EQ(to_string(Reason::node_lost), "node_lost");
  EXPECT_EQ(reason_from_string("node_lost"), Reason::node_lost);
}

}  // namespace
}  // namespace lifeline::proto
