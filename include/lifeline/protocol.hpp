#pragma once
/// Wire protocol versions 1 to 4 (docs/protocol.md): frame types, payload
/// structs, encoders and payload parsers. Pure functions and value types: thread-safe to call
/// concurrently on distinct objects.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline::proto {

/// The newest version this code speaks, and the oldest it still accepts.
/// Version 2 adds the server's instance id (WELCOME, EVENT, LIST_REPLY), the
/// sequence number a LIST_REPLY reflects, gap events, and SUBSCRIBE with a
/// snapshot or a resume point; version 3 adds each entry's and event's
/// session number and transport, and the per-session `join` and `leave`
/// events of the `multi` duplicate policy; version 4 adds the cluster node
/// of each entry and event, the `moved` and `resumed` events of a grace period
/// and the reason `node_lost` (docs/protocol.md section 9).
inline constexpr std::uint8_t kVersion = 4;
inline constexpr std::uint8_t kMinVersion = 1;
inline constexpr std::size_t kHeaderSize = 5;
inline constexpr std::size_t kMaxIdLength = 128;
inline constexpr std::size_t kMaxLabels = 32;
inline constexpr std::size_t kMaxLabelKey = 64;
inline constexpr std::size_t kMaxLabelValue = 256;
inline constexpr std::size_t kMaxTokenLength = 2048;
inline constexpr std::uint32_t kDefaultMaxData = 65536;

/// HELLO/WELCOME flag bits.
inline constexpr std::uint8_t kFlagServerPings = 0x01;
inline constexpr std::uint8_t kFlagObserver = 0x02;
inline constexpr std::uint8_t kKnownFlags = kFlagServerPings | kFlagObserver;

enum class FrameType : std::uint8_t {
  hello = 0x01,
  welcome = 0x02,
  ping = 0x03,
  pong = 0x04,
  data = 0x05,
  bye = 0x06,
  error = 0x07,
  list = 0x08,
  list_reply = 0x09,
  subscribe = 0x0A,
  event = 0x0B,
};

/// Why a session ended (BYE reason, offline event reason).
enum class Reason : std::uint8_t {
  none = 0,
  bye = 1,
  closed = 2,
  reset = 3,
  timeout = 4,
  replaced = 5,
  kicked = 6,
  shutdown = 7,
  rejected = 8,
  protocol = 9,
  /// Version 4: the session's cluster node died or lost its lease (docs/cluster.md).
  /// Older readers are sent `timeout` instead.
  node_lost = 10,
};

enum class ErrorCode : std::uint16_t {
  malformed = 1,
  too_large = 2,
  unknown_type = 3,
  handshake_required = 4,
  handshake_timeout = 5,
  unsupported_version = 6,
  rejected = 7,
  flood = 8,
  slow_consumer = 9,
  shutting_down = 10,
  too_many_connections = 11,
  unauthorized = 12,
};

/// `gap` (version 2): the subscriber missed every event up to and including
/// this one's `seq`; the stream goes on with `seq + 1`. `join` and `leave`
/// (version 3, duplicate policy `multi`): a further session of an id that is
/// online already started, or one of several ended while the id stays online.
/// `moved` and `resumed` (version 4, a cluster's grace period): the id's
/// session ended and a new one began within the grace period, on another node
/// or on the same one, so the id never went offline.
enum class EventKind : std::uint8_t {
  online = 1,
  offline = 2,
  takeover = 3,
  gap = 4,
  join = 5,
  leave = 6,
  moved = 7,
  resumed = 8,
};

/// How a session reaches the server (version 3 list entries and events).
enum class TransportCode : std::uint8_t { tcp = 0, tls = 1, ws = 2, wss = 3 };

/// SUBSCRIBE flag bits (version 2).
inline constexpr std::uint8_t kSubscribeSnapshot = 0x01;  ///< the online list first, then events after it
inline constexpr std::uint8_t kSubscribeResume = 0x02;    ///< events after `after_seq` of `instance`
inline constexpr std::uint8_t kKnownSubscribeFlags = kSubscribeSnapshot | kSubscribeResume;

std::string_view to_string(FrameType t);
std::string_view to_string(Reason r);
std::string_view to_string(ErrorCode e);
std::string_view to_string(EventKind k);
std::optional<Reason> reason_from_string(std::string_view s);
std::optional<ErrorCode> error_code_from_string(std::string_view s);

/// The protocol's largest HELLO and BYE payloads.
inline constexpr std::uint32_t kMaxHelloLength = 4096;
inline constexpr std::uint32_t kMaxByeLength = 1024;

/// What a receiver accepts where the protocol leaves it a choice: the DATA
/// limit, and caps at or below the protocol's HELLO and BYE limits.
struct FrameLimits {
  std::uint32_t max_data = kDefaultMaxData;
  std::uint32_t max_hello = kMaxHelloLength;
  std::uint32_t max_bye = kMaxByeLength;
};

/// Allowed payload length of a frame type, inclusive. `nullopt` for an unknown type.
struct LengthRange {
  std::uint32_t min;
  std::uint32_t max;
};
std::optional<LengthRange> length_range(std::uint8_t type, const FrameLimits& limits);

/// True if `id` is 1..128 bytes of [A-Za-z0-9._:@-].
bool valid_id(std::string_view id);

struct Label {
  std::string key;
  std::string value;
  bool operator==(const Label&) const = default;
};

struct Hello {
  std::uint8_t version = kVersion;
  std::uint8_t flags = 0;
  std::chrono::milliseconds interval{0};
  std::chrono::milliseconds timeout{0};
  std::string id;
  std::vector<Label> labels;
  /// Authentication token (lifeline token issue); optional, empty = none.
  std::string token;
};

struct Welcome {
  std::uint8_t version = kVersion;
  std::uint8_t flags = 0;
  std::chrono::milliseconds interval{0};
  std::chrono::milliseconds timeout{0};
  std::uint64_t session = 0;
  std::string id;
  std::uint64_t instance = 0;  ///< version 2: this server run's id (0 in version 1)
};

struct Bye {
  Reason reason = Reason::bye;
  std::string text;
};

struct Error {
  ErrorCode code = ErrorCode::malformed;
  std::string message;
};

struct ListEntry {
  std::string id;
  std::string remote;
  std::int64_t since_ms = 0;
  std::int64_t last_seen_ms = 0;
  std::uint32_t rtt_us = 0;
  std::uint32_t interval_ms = 0;
  std::uint32_t timeout_ms = 0;
  std::vector<Label> labels;
  std::uint64_t session = 0;                     ///< version 3
  TransportCode transport = TransportCode::tcp;  ///< version 3
  std::string node;                              ///< version 4: the cluster node holding the session ("" alone)
};

struct ListReply {
  std::uint32_t request_id = 0;
  bool last = true;
  std::uint32_t online = 0;
  std::vector<ListEntry> entries;
  std::uint64_t seq = 0;       ///< version 2: the last event this list reflects
  std::uint64_t instance = 0;  ///< version 2
  std::string node;            ///< version 4: the cluster node that answered ("" alone)
  bool degraded = false;       ///< version 4: that node cannot reach the cluster (others' entries as last seen)
};

/// Version 2 SUBSCRIBE payload; version 1's is empty (live events only).
struct Subscribe {
  std::uint32_t request_id = 0;  ///< echoed in the snapshot's LIST_REPLY frames
  std::uint8_t flags = 0;        ///< kSubscribeSnapshot | kSubscribeResume
  std::uint64_t instance = 0;    ///< with kSubscribeResume: the instance `after_seq` belongs to
  std::uint64_t after_seq = 0;
};

struct Event {
  std::uint64_t seq = 0;
  EventKind kind = EventKind::online;
  Reason reason = Reason::none;
  std::int64_t at_ms = 0;
  std::string id;
  std::string remote;
  std::uint64_t instance = 0;                    ///< version 2
  std::uint64_t session = 0;                     ///< version 3
  TransportCode transport = TransportCode::tcp;  ///< version 3
  std::string node;                              ///< version 4: the cluster node of the session ("" alone)
};

/// A payload that failed to parse, with the protocol error to answer and a
/// human-readable cause.
struct ParseError {
  ErrorCode code = ErrorCode::malformed;
  std::string message;
};

using Bytes = std::span<const std::uint8_t>;

// Encoders append one complete frame (header + payload) to `out`. WELCOME
// takes its layout from its own version field; LIST_REPLY, EVENT and
// SUBSCRIBE from the version the session negotiated.
void encode(const Hello& m, std::string& out);
void encode(const Welcome& m, std::string& out);
void encode(const Bye& m, std::string& out);
void encode(const Error& m, std::string& out);
void encode(const ListReply& m, std::uint8_t version, std::string& out);
void encode(const Event& m, std::uint8_t version, std::string& out);
void encode(const Subscribe& m, std::string& out);
void encode_data(std::string_view payload, std::string& out);
void encode_list(std::uint32_t request_id, std::string& out);
void encode_subscribe(std::string& out);
/// Size of one entry once encoded in `version`, to split a LIST_REPLY under a frame limit.
std::size_t encoded_size(const ListEntry& e, std::uint8_t version);

/// PING and PONG are fixed 13-byte frames built on the stack: no allocation on
/// the heartbeat path.
using TimestampFrame = std::array<std::uint8_t, kHeaderSize + 8>;
TimestampFrame encode_timestamp(FrameType ping_or_pong, std::uint64_t t_us);

// Parsers take a payload (header removed) whose length is already in range.
// They return nullopt and fill `err` when the payload is malformed.
std::optional<Hello> parse_hello(Bytes p, ParseError& err);
std::optional<Welcome> parse_welcome(Bytes p, ParseError& err);
std::optional<Bye> parse_bye(Bytes p, ParseError& err);
std::optional<Error> parse_error(Bytes p, ParseError& err);
std::optional<ListReply> parse_list_reply(Bytes p, std::uint8_t version, ParseError& err);
std::optional<Event> parse_event(Bytes p, std::uint8_t version, ParseError& err);
/// An empty payload is version 1's SUBSCRIBE (flags 0); a version 2 one has all four fields.
std::optional<Subscribe> parse_subscribe(Bytes p, ParseError& err);

}  // namespace lifeline::proto
