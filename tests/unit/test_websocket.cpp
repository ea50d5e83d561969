// The WebSocket layer's pure parts (src/ws): the upgrade request and the
// frame reader, fed every way a socket could cut them. No sockets.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ws/frame_reader.hpp"
#include "ws/stream.hpp"
#include "ws/upgrade.hpp"

namespace lifeline::ws {
namespace {

using Bytes = std::vector<std::uint8_t>;

// A client frame, masked with `key`.
Bytes client_frame(Opcode op, const std::string& payload, bool fin = true, std::uint32_t key = 0x11223344) {
  Bytes out{static_cast<std::uint8_t>((fin ? 0x80U : 0U) | static_cast<std::uint8_t>(op))};
  const auto n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<std::uint8_t>(0x80U | n));
  } else if (n <= 0xFFFF) {
    out.insert(out.end(), {0x80U | 126U, static_cast<std::uint8_t>(n >> 8U), static_cast<std::uint8_t>(n & 0xFFU)});
  } else {
    out.push_back(0x80U | 127U);
    for (int i = 7; i >= 0; --i) {
      out.push_back(static_cast<std::uint8_t>((std::uint64_t{n} >> (8U * static_cast<unsigned>(i))) & 0xFFU));
    }
  }
  const std::uint8_t k[4] = {static_cast<std::uint8_t>(key >> 24U), static_cast<std::uint8_t>(key >> 16U),
                             static_cast<std::uint8_t>(key >> 8U), static_cast<std::uint8_t>(key)};
  out.insert(out.end(), k, k + 4);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(static_cast<std::uint8_t>(payload[i]) ^ k[i % 4]);
  }
  return out;
}

struct Record {
  std::string data;      // payload of binary messages, "|" at each message end
  std::string controls;  // "ping:xyz;" per control frame
  bool payload(std::span<const std::uint8_t> p) {
    data.append(p.begin(), p.end());
    return true;
  }
  bool message_end() {
    data += "|";
    return true;
  }
  bool control(Opcode op, std::span<const std::uint8_t> p) {
    controls += (op == Opcode::ping ? "ping:" : op == Opcode::pong ? "pong:" : "close:");
    controls.append(p.begin(), p.end());
    controls += ";";
    return true;
  }
};

// Feeds `wire` cut at `cut` (two reads), returns what the reader handed on.
Record read_split(const Bytes& wire, std::size_t cut, std::optional<FrameError>* err = nullptr) {
  FrameReader reader(1U << 20U);
  Record rec;
  Bytes a(wire.begin(), wire.begin() + static_cast<long>(cut));
  Bytes b(wire.begin() + static_cast<long>(cut), wire.end());
  auto e = reader.feed(a, rec);
  if (!e) {
    e = reader.feed(b, rec);
  }
  if (err != nullptr) {
    *err = e;
  }
  return rec;
}

TEST(WsFrames, FragmentedMessagesAndControlFramesAtEverySplitPoint) {
  Bytes wire;
  for (const auto& f : {client_frame(Opcode::binary, "hello", false), client_frame(Opcode::ping, "xyz"),
                        client_frame(Opcode::continuation, " world"), client_frame(Opcode::binary, ""),
                        client_frame(Opcode::binary, std::string(300, 'a')), client_frame(Opcode::pong, "")}) {
    wire.insert(wire.end(), f.begin(), f.end());
  }
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    std::optional<FrameError> err;
    const auto rec = read_split(wire, cut, &err);
    ASSERT_FALSE(err) << "cut " << cut << ": " << err->message;
    EXPECT_EQ(rec.data, "hello world||" + std::string(300, 'a') + "|") << "cut " << cut;
    EXPECT_EQ(rec.controls, "ping:xyz;pong:;") << "cut " << cut;
  }
}

TEST(WsFrames, LongLengthsAndByteByByte) {
  const std::string big(70000, 'z');
  const auto wire = client_frame(Opcode::binary, big);
  FrameReader reader(1U << 20U);
  Record rec;
  for (auto b : wire) {
    Bytes one{b};
    ASSERT_FALSE(reader.feed(one, rec));
  }
  EXPECT_EQ(rec.data, big + "|");
  EXPECT_FALSE(reader.mid_message());
}

TEST(WsFrames, EachViolationHasItsCodeAndSentence) {
  struct Case {
    Bytes wire;
    CloseCode code;
    std::string says;
  };
  auto unmasked = client_frame(Opcode::binary, "x");
  unmasked[1] &= 0x7FU;
  auto rsv = client_frame(Opcode::binary, "x");
  rsv[0] |= 0x40U;
  Bytes not_shortest{0x82, 0x80U | 126U, 0x00, 0x05, 0, 0, 0, 0};
  Bytes top_bit{0x82, 0x80U | 127U, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
  auto bin_then_bin = client_frame(Opcode::binary, "a", false);
  const auto second = client_frame(Opcode::binary, "b");
  bin_then_bin.insert(bin_then_bin.end(), second.begin(), second.end());
  const std::vector<Case> cases = {
      {unmasked, CloseCode::protocol_error, "not masked"},
      {rsv, CloseCode::protocol_error, "RSV bits"},
      {client_frame(static_cast<Opcode>(3), ""), CloseCode::protocol_error, "reserved opcode 3"},
      {client_frame(Opcode::ping, "p", false), CloseCode::protocol_error, "fragmented control frame"},
      {client_frame(Opcode::ping, std::string(126, 'p')), CloseCode::protocol_error, "126 bytes (at most 125)"},
      {client_frame(Opcode::text, "hi"), CloseCode::unsupported_data, "text message"},
      {client_frame(Opcode::continuation, "x"), CloseCode::protocol_error, "no fragmented message"},
      {bin_then_bin, CloseCode::protocol_error, "new message began"},
      {not_shortest, CloseCode::protocol_error, "shortest form"},
      {top_bit, CloseCode::protocol_error, "most significant bit"},
  };
  for (const auto& c : cases) {
    std::optional<FrameError> err;
    read_split(c.wire, c.wire.size(), &err);
    ASSERT_TRUE(err) << c.says;
    EXPECT_EQ(err->code, c.code) << c.says;
    EXPECT_NE(err->message.find(c.says), std::string::npos) << err->message;
  }
  FrameReader small(100);
  Record rec;
  auto big = client_frame(Opcode::binary, std::string(101, 'x'));
  const auto err = small.feed(big, rec);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, CloseCode::too_big);
  EXPECT_TRUE(rec.data.empty()) << "nothing of a refused message is handed on";
}

TEST(WsFrames, CloseCodesAndUtf8) {
  for (const std::uint16_t ok : {1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999}) {
    EXPECT_TRUE(valid_close_code(ok)) << ok;
  }
  for (const std::uint16_t bad : {0, 999, 1004, 1005, 1006, 1015, 2999, 5000}) {
    EXPECT_FALSE(valid_close_code(bad)) << bad;
  }
  const auto u = [](const std::string& s) {
    return valid_utf8(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
  };
  EXPECT_TRUE(u("plain"));
  EXPECT_TRUE(u("gr\xC3\xBC\xC3\x9F"));
  EXPECT_TRUE(u("\xF0\x9F\x98\x80"));
  EXPECT_FALSE(u("\xC3\x28"));          // bad continuation
  EXPECT_FALSE(u("\xC0\xAF"));          // overlong
  EXPECT_FALSE(u("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(u("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(u("\xE2\x82"));          // cut short
  const auto payload = close_payload(1000, std::string(120, 'a') + "\xE2\x82\xAC\xE2\x82\xAC");
  EXPECT_LE(payload.size(), 125U);
  EXPECT_TRUE(u(payload.substr(2))) << "cut at a character boundary";
}

TEST(WsFrames, ServerFrameHeaders) {
  std::array<std::uint8_t, kMaxServerHeader> h{};
  EXPECT_EQ(frame_header(Opcode::binary, 13, h), 2U);
  EXPECT_EQ(h[0], 0x82);
  EXPECT_EQ(h[1], 13);
  EXPECT_EQ(frame_header(Opcode::binary, 300, h), 4U);
  EXPECT_EQ(h[1], 126);
  EXPECT_EQ(frame_header(Opcode::close, 70000, h), 10U);
  EXPECT_EQ(h[0], 0x88);
  EXPECT_EQ(h[1], 127);
}

const UpgradeRules kRules{"/lifeline", {"https://app.example"}, 1024};

std::string request(const std::string& extra = "Origin: https://app.example\r\n") {
  return "GET /lifeline?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra + "\r\n";
}

TEST(WsUpgrade, AcceptKeyIsRfc6455sExample) {
  EXPECT_EQ(Upgrade::accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsUpgrade, AcceptedAtEverySplitPointWithTheFirstFrameBehindIt) {
  const auto req = request();
  const auto frame = client_frame(Opcode::binary, "abc");
  Bytes wire(req.begin(), req.end());
  wire.insert(wire.end(), frame.begin(), frame.end());
  for (std::size_t cut = 1; cut < wire.size(); ++cut) {
    Upgrade up(kRules);
    std::size_t used = 0;
    const auto first = std::span(wire).first(cut);
    auto status = up.feed(first, used);
    std::size_t rest_at = cut;
    if (status == Upgrade::Status::need_more) {
      ASSERT_EQ(used, cut);
      status = up.feed(std::span(wire).subspan(cut), used);
      rest_at = cut + used;
    } else {
      rest_at = used;
    }
    ASSERT_EQ(status, Upgrade::Status::accepted) << "cut " << cut << ": " << up.problem();
    EXPECT_EQ(rest_at, req.size()) << "cut " << cut << ": the frame after the request is left for the reader";
    EXPECT_NE(up.response().find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
  }
}

TEST(WsUpgrade, RefusalsSayWhy) {
  struct Case {
    std::string req;
    std::string status;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"GET /lifeline HTTP/1.1\r\nHost: h\r\n\r\n", "426", "send Upgrade: websocket"},
      {request("Origin: https://evil.example\r\n"), "403", "origin https://evil.example is not allowed"},
      {request(std::string("X: ") + std::string(2000, 'a') + "\r\n"), "431", "larger than 1024 bytes"},
      {"BREW /lifeline HTTP/1.1\r\nHost: h\r\n\r\n", "405", "not BREW"},
      {"GET /elsewhere HTTP/1.1\r\nHost: h\r\n\r\n", "404", "no WebSocket endpoint at /elsewhere"},
      {"\x16\x03\x01 not http\r\n\r\n", "400", "malformed HTTP request"},
  };
  for (const auto& c : cases) {
    Upgrade up(kRules);
    std::size_t used = 0;
    const Bytes wire(c.req.begin(), c.req.end());
    ASSERT_EQ(up.feed(wire, used), Upgrade::Status::refused) << c.says;
    EXPECT_EQ(up.response().substr(9, 3), c.status) << up.response();
    EXPECT_NE(up.problem().find(c.says), std::string::npos) << up.problem();
    EXPECT_NE(up.response().find(up.problem()), std::string::npos) << "the body says it too";
  }
  // No Origin: not a browser, accepted.
  Upgrade up(kRules);
  std::size_t used = 0;
  const auto req = request("");
  EXPECT_EQ(up.feed(Bytes(req.begin(), req.end()), used), Upgrade::Status::accepted);
}

TEST(WsUpgrade, ATrickleIsBoundedByTheLimit) {
  Upgrade up(kRules);
  std::size_t used = 0;
  const std::string start = "GET /lifeline HTTP/1.1\r\nHost: h\r\n";
  ASSERT_EQ(up.feed(Bytes(start.begin(), start.end()), used), Upgrade::Status::need_more);
  const Bytes line{'X', ':', ' ', 'y', '\r', '\n'};
  auto status = Upgrade::Status::need_more;
  std::size_t sent = start.size();
  while (status == Upgrade::Status::need_more && sent < 10000) {
    status = up.feed(line, used);
    sent += line.size();
  }
  EXPECT_EQ(status, Upgrade::Status::refused);
  EXPECT_LE(sent, 1024U + line.size()) << "refused as soon as the request passed the limit";
  EXPECT_EQ(up.response().substr(9, 3), "431");
}

}  // namespace
}  // namespace lifeline::ws
