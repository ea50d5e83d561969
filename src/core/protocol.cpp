#include "lifeline/protocol.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "bytes.hpp"

namespace lifeline::proto {
namespace {

// Version 2's SUBSCRIBE: request_id, flags, instance, after_seq.
constexpr std::uint32_t kSubscribeLength = 4 + 1 + 8 + 8;

constexpr std::array<std::string_view, 11> kReasonNames = {
    "none", "bye", "closed", "reset", "timeout", "replaced", "kicked", "shutdown", "rejected", "protocol", "node_lost"};
constexpr std::array<std::string_view, 13> kErrorNames = {"",
                                                          "malformed",
                                                          "too_large",
                                                          "unknown_type",
                                                          "handshake_required",
                                                          "handshake_timeout",
                                                          "unsupported_version",
                                                          "rejected",
                                                          "flood",
                                                          "slow_consumer",
                                                          "shutting_down",
                                                          "too_many_connections",
                                                          "unauthorized"};

// Appends big-endian integers and str16 strings to a frame under construction.
class Writer {
 public:
  Writer(std::string& out, FrameType type) : out_(out), start_(out.size()) {
    out_.append(kHeaderSize, '\0');
    out_[start_ + 4] = static_cast<char>(type);
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer() {
    const auto len = static_cast<std::uint32_t>(out_.size() - start_ - kHeaderSize);
    for (int i = 0; i < 4; ++i) {
      out_[start_ + i] = static_cast<char>((len >> (8 * (3 - i))) & 0xFF);
    }
  }
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) { put(v, 2); }
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void str16(std::string_view s) {
    u16(static_cast<std::uint16_t>(s.size()));
    out_.append(s);
  }
  void labels(const std::vector<Label>& ls) {
    u16(static_cast<std::uint16_t>(ls.size()));
    for (const auto& l : ls) {
      str16(l.key);
      str16(l.value);
    }
  }
  void raw(std::string_view s) { out_.append(s); }

 private:
  void put(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) {
      out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
  }
  std::string& out_;
  std::size_t start_;
};

// Reads fields from a payload; any overrun marks the reader failed instead of throwing.
class Reader {
 public:
  explicit Reader(Bytes p) : p_(p) {}
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == p_.size(); }
  std::size_t remaining() const { return p_.size() - pos_; }
  std::uint64_t uint(std::size_t n) {
    if (!need(n)) {
      return 0;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      v = (v << 8) | p_[pos_ + i];
    }
    pos_ += n;
    return v;
  }
  std::uint8_t u8() { return static_cast<std::uint8_t>(uint(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(uint(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(uint(4)); }
  std::uint64_t u64() { return uint(8); }
  std::string str16() {
    const std::size_t n = u16();
    if (!need(n)) {
      return {};
    }
    std::string s(reinterpret_cast<const char*>(p_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  bool labels(std::vector<Label>& out, std::size_t max_count) {
    const std::size_t n = u16();
    if (!ok_ || n > max_count) {
      return false;
    }
    out.reserve(n);
    for (std::size_t i = 0; i < n && ok_; ++i) {
      Label l{str16(), {}};
      l.value = str16();
      out.push_back(std::move(l));
    }
    return ok_;
  }

 private:
  bool need(std::size_t n) {
    if (!ok_ || remaining() < n) {
      ok_ = false;
    }
    return ok_;
  }
  Bytes p_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

template <class T>
std::optional<T> fail(ParseError& err, ErrorCode code, std::string message) {
  err.code = code;
  err.message = std::move(message);
  return std::nullopt;
}

// Common tail check: every field read, nothing left over.
template <class T>
std::optional<T> finish(Reader& r, T&& value, ParseError& err, std::string_view what) {
  if (!r.ok()) {
    return fail<T>(err, ErrorCode::malformed, std::string(what) + " payload is truncated");
  }
  if (!r.at_end()) {
    return fail<T>(err, ErrorCode::malformed,
                   std::string(what) + " payload has " + std::to_string(r.remaining()) + " trailing bytes");
  }
  return std::optional<T>(std::forward<T>(value));
}

}  // namespace

std::string_view to_string(FrameType t) {
  switch (t) {
    case FrameType::hello: return "HELLO";
    case FrameType::welcome: return "WELCOME";
    case FrameType::ping: return "PING";
    case FrameType::pong: return "PONG";
    case FrameType::data: return "DATA";
    case FrameType::bye: return "BYE";
    case FrameType::error: return "ERROR";
    case FrameType::list: return "LIST";
    case FrameType::list_reply: return "LIST_REPLY";
    case FrameType::subscribe: return "SUBSCRIBE";
    case FrameType::event: return "EVENT";
  }
  return "UNKNOWN";
}

std::string_view to_string(Reason r) {
  const auto i = static_cast<std::size_t>(r);
  return i < kReasonNames.size() ? kReasonNames[i] : std::string_view("unknown");
}

std::string_view to_string(ErrorCode e) {
  const auto i = static_cast<std::size_t>(e);
  return i > 0 && i < kErrorNames.size() ? kErrorNames[i] : std::string_view("unknown");
}

std::string_view to_string(EventKind k) {
  switch (k) {
    case EventKind::online: return "online";
    case EventKind::offline: return "offline";
    case EventKind::takeover: return "takeover";
    case EventKind::gap: return "gap";
    case EventKind::join: return "join";
    case EventKind::leave: return "leave";
    case EventKind::moved: return "moved";
    case EventKind::resumed: return "resumed";
  }
  return "unknown";
}

std::optional<Reason> reason_from_string(std::string_view s) {
  for (std::size_t i = 0; i < kReasonNames.size(); ++i) {
    if (kReasonNames[i] == s) {
      return static_cast<Reason>(i);
    }
  }
  return std::nullopt;
}

std::optional<ErrorCode> error_code_from_string(std::string_view s) {
  for (std::size_t i = 1; i < kErrorNames.size(); ++i) {
    if (kErrorNames[i] == s) {
      return static_cast<ErrorCode>(i);
    }
  }
  return std::nullopt;
}

std::optional<LengthRange> length_range(std::uint8_t type, const FrameLimits& limits) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::hello: return LengthRange{14, std::min(kMaxHelloLength, limits.max_hello)};
    case FrameType::welcome: return LengthRange{20, 1024};
    case FrameType::ping:
    case FrameType::pong: return LengthRange{8, 8};
    case FrameType::data: return LengthRange{0, limits.max_data};
    case FrameType::bye: return LengthRange{3, std::min(kMaxByeLength, limits.max_bye)};
    case FrameType::error: return LengthRange{4, 1024};
    case FrameType::list: return LengthRange{4, 4};
    case FrameType::list_reply: return LengthRange{11, 1U << 20U};
    case FrameType::subscribe: return LengthRange{0, kSubscribeLength};
    case FrameType::event: return LengthRange{22, 4096};
  }
  return std::nullopt;
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '@' || c == '-';
  });
}

void encode(const Hello& m, std::string& out) {
  Writer w(out, FrameType::hello);
  w.u8(m.version);
  w.u8(m.flags);
  w.u32(static_cast<std::uint32_t>(m.interval.count()));
  w.u32(static_cast<std::uint32_t>(m.timeout.count()));
  w.str16(m.id);
  w.labels(m.labels);
  if (!m.token.empty()) {
    w.str16(m.token);
  }
}

void encode(const Welcome& m, std::string& out) {
  Writer w(out, FrameType::welcome);
  w.u8(m.version);
  w.u8(m.flags);
  w.u32(static_cast<std::uint32_t>(m.interval.count()));
  w.u32(static_cast<std::uint32_t>(m.timeout.count()));
  w.u64(m.session);
  w.str16(m.id);
  if (m.version >= 2) {
    w.u64(m.instance);
  }
}

void encode(const Bye& m, std::string& out) {
  Writer w(out, FrameType::bye);
  w.u8(static_cast<std::uint8_t>(m.reason));
  w.str16(m.text.substr(0, 1000));
}

void encode(const Error& m, std::string& out) {
  Writer w(out, FrameType::error);
  w.u16(static_cast<std::uint16_t>(m.code));
  w.str16(m.message.substr(0, 1000));
}

std::size_t encoded_size(const ListEntry& e, std::uint8_t version) {
  std::size_t n = 2 + e.id.size() + 2 + e.remote.size() + 8 + 8 + 4 + 4 + 4 + 2 + (version >= 3 ? 9 : 0) +
                  (version >= 4 ? 2 + e.node.size() : 0);
  for (const auto& l : e.labels) {
    n += 4 + l.key.size() + l.value.size();
  }
  return n;
}

void encode(const ListReply& m, std::uint8_t version, std::string& out) {
  Writer w(out, FrameType::list_reply);
  w.u32(m.request_id);
  w.u8(m.last ? 1 : 0);
  w.u32(m.online);
  w.u16(static_cast<std::uint16_t>(m.entries.size()));
  for (const auto& e : m.entries) {
    w.str16(e.id);
    w.str16(e.remote);
    w.u64(static_cast<std::uint64_t>(e.since_ms));
    w.u64(static_cast<std::uint64_t>(e.last_seen_ms));
    w.u32(e.rtt_us);
    w.u32(e.interval_ms);
    w.u32(e.timeout_ms);
    w.labels(e.labels);
    if (version >= 3) {
      w.u64(e.session);
      w.u8(static_cast<std::uint8_t>(e.transport));
    }
    if (version >= 4) {
      w.str16(e.node);
    }
  }
  if (version >= 2) {
    w.u64(m.seq);
    w.u64(m.instance);
  }
  if (version >= 4) {
    w.str16(m.node);
    w.u8(m.degraded ? 1 : 0);
  }
}

void encode(const Event& m, std::uint8_t version, std::string& out) {
  Writer w(out, FrameType::event);
  w.u64(m.seq);
  w.u8(static_cast<std::uint8_t>(m.kind));
  w.u8(static_cast<std::uint8_t>(m.reason));
  w.u64(static_cast<std::uint64_t>(m.at_ms));
  w.str16(m.id);
  w.str16(m.remote);
  if (version >= 2) {
    w.u64(m.instance);
  }
  if (version >= 3) {
    w.u64(m.session);
    w.u8(static_cast<std::uint8_t>(m.transport));
  }
  if (version >= 4) {
    w.str16(m.node);
  }
}

void encode(const Subscribe& m, std::string& out) {
  Writer w(out, FrameType::subscribe);
  w.u32(m.request_id);
  w.u8(m.flags);
  w.u64(m.instance);
  w.u64(m.after_seq);
}

void encode_data(std::string_view payload, std::string& out) {
  Writer w(out, FrameType::data);
  w.raw(payload);
}

void encode_list(std::uint32_t request_id, std::string& out) {
  Writer w(out, FrameType::list);
  w.u32(request_id);
}

void encode_subscribe(std::string& out) { Writer w(out, FrameType::subscribe); }

TimestampFrame encode_timestamp(FrameType ping_or_pong, std::uint64_t t_us) {
  TimestampFrame f{0, 0, 0, 8, static_cast<std::uint8_t>(ping_or_pong)};
  for (int i = 0; i < 8; ++i) {
    f[kHeaderSize + i] = static_cast<std::uint8_t>((t_us >> (8 * (7 - i))) & 0xFF);
  }
  return f;
}

std::uint64_t read_u64(Bytes p) { return Reader(p).u64(); }
std::uint32_t read_u32(Bytes p) { return Reader(p).u32(); }

std::optional<Hello> parse_hello(Bytes p, ParseError& err) {
  Reader r(p);
  Hello h;
  h.version = r.u8();
  // The version decides how to read the rest, so it is checked first.
  if (r.ok() && (h.version < kMinVersion || h.version > kVersion)) {
    return fail<Hello>(err, ErrorCode::unsupported_version,
                       "protocol version " + std::to_string(h.version) + " is not supported (this server speaks " +
                           std::to_string(kMinVersion) + " to " + std::to_string(kVersion) + ")");
  }
  h.flags = r.u8();
  h.interval = std::chrono::milliseconds(r.u32());
  h.timeout = std::chrono::milliseconds(r.u32());
  h.id = r.str16();
  if (r.ok() && (h.flags & ~kKnownFlags) != 0) {
    return fail<Hello>(err, ErrorCode::malformed, "HELLO has unknown flag bits " + std::to_string(h.flags));
  }
  if (r.ok() && !h.id.empty() && !valid_id(h.id)) {
    return fail<Hello>(err, ErrorCode::malformed, "HELLO client id is invalid (1..128 of [A-Za-z0-9._:@-])");
  }
  if (r.ok() && !r.labels(h.labels, kMaxLabels)) {
    return fail<Hello>(err, ErrorCode::malformed, "HELLO labels are truncated or more than 32");
  }
  for (const auto& l : h.labels) {
    if (l.key.empty() || l.key.size() > kMaxLabelKey || l.value.size() > kMaxLabelValue) {
      return fail<Hello>(err, ErrorCode::malformed, "HELLO label key must be 1..64 bytes and value 0..256 bytes");
    }
  }
  // The token is an optional last field: a HELLO without it ends after the labels.
  if (r.ok() && r.remaining() == 1) {
    // Not "truncated": the labels ended cleanly and one byte follows them.
    return fail<Hello>(err, ErrorCode::malformed,
                       "HELLO has 1 stray byte after the labels (a token is a 2-byte length and 1..2048 bytes)");
  }
  if (r.ok() && !r.at_end()) {
    const auto left = r.remaining() - 2;
    h.token = r.str16();
    if (!r.ok()) {
      return fail<Hello>(err, ErrorCode::malformed,
                         "HELLO token length runs past the payload (" + std::to_string(left) + " bytes follow it)");
    }
    if (r.ok() && (h.token.empty() || h.token.size() > kMaxTokenLength)) {
      return fail<Hello>(err, ErrorCode::malformed, "HELLO token must be 1..2048 bytes when present");
    }
  }
  return finish(r, std::move(h), err, "HELLO");
}

std::optional<Welcome> parse_welcome(Bytes p, ParseError& err) {
  Reader r(p);
  Welcome w;
  w.version = r.u8();
  w.flags = r.u8();
  w.interval = std::chrono::milliseconds(r.u32());
  w.timeout = std::chrono::milliseconds(r.u32());
  w.session = r.u64();
  w.id = r.str16();
  if (w.version >= 2) {
    w.instance = r.u64();
  }
  return finish(r, std::move(w), err, "WELCOME");
}

std::optional<Bye> parse_bye(Bytes p, ParseError& err) {
  Reader r(p);
  Bye b;
  b.reason = static_cast<Reason>(r.u8());
  b.text = r.str16();
  return finish(r, std::move(b), err, "BYE");
}

std::optional<Error> parse_error(Bytes p, ParseError& err) {
  Reader r(p);
  Error e;
  e.code = static_cast<ErrorCode>(r.u16());
  e.message = r.str16();
  return finish(r, std::move(e), err, "ERROR");
}

std::optional<ListReply> parse_list_reply(Bytes p, std::uint8_t version, ParseError& err) {
  Reader r(p);
  ListReply m;
  m.request_id = r.u32();
  m.last = r.u8() != 0;
  m.online = r.u32();
  const std::size_t count = r.u16();
  for (std::size_t i = 0; i < count && r.ok(); ++i) {
    ListEntry e;
    e.id = r.str16();
    e.remote = r.str16();
    e.since_ms = static_cast<std::int64_t>(r.u64());
    e.last_seen_ms = static_cast<std::int64_t>(r.u64());
    e.rtt_us = r.u32();
    e.interval_ms = r.u32();
    e.timeout_ms = r.u32();
    r.labels(e.labels, kMaxLabels);
    if (version >= 3) {
      e.session = r.u64();
      e.transport = static_cast<TransportCode>(r.u8());
    }
    if (version >= 4) {
      e.node = r.str16();
    }
    m.entries.push_back(std::move(e));
  }
  if (version >= 2) {
    m.seq = r.u64();
    m.instance = r.u64();
  }
  if (version >= 4) {
    m.node = r.str16();
    m.degraded = (r.u8() & 1U) != 0;
  }
  return finish(r, std::move(m), err, "LIST_REPLY");
}

std::optional<Event> parse_event(Bytes p, std::uint8_t version, ParseError& err) {
  Reader r(p);
  Event e;
  e.seq = r.u64();
  e.kind = static_cast<EventKind>(r.u8());
  e.reason = static_cast<Reason>(r.u8());
  e.at_ms = static_cast<std::int64_t>(r.u64());
  e.id = r.str16();
  e.remote = r.str16();
  if (version >= 2) {
    e.instance = r.u64();
  }
  if (version >= 3) {
    e.session = r.u64();
    e.transport = static_cast<TransportCode>(r.u8());
  }
  if (version >= 4) {
    e.node = r.str16();
  }
  return finish(r, std::move(e), err, "EVENT");
}

std::optional<Subscribe> parse_subscribe(Bytes p, ParseError& err) {
  Subscribe s;
  if (p.empty()) {
    return s;
  }
  if (p.size() != kSubscribeLength) {
    return fail<Subscribe>(err, ErrorCode::malformed,
                           "SUBSCRIBE payload must be 0 or " + std::to_string(kSubscribeLength) + " bytes, not " +
                               std::to_string(p.size()));
  }
  Reader r(p);
  s.request_id = r.u32();
  s.flags = r.u8();
  s.instance = r.u64();
  s.after_seq = r.u64();
  if ((s.flags & ~kKnownSubscribeFlags) != 0) {
    return fail<Subscribe>(err, ErrorCode::malformed, "SUBSCRIBE has unknown flag bits " + std::to_string(s.flags));
  }
  return finish(r, Subscribe(s), err, "SUBSCRIBE");
}

}  // namespace lifeline::proto
