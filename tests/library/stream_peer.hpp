#pragma once
// A hand-written protocol peer for the event-stream tests: a blocking socket
// that says HELLO (in version 1 or 2) as an observer or as a client with an id,
// sends SUBSCRIBE with any payload, and reads frames with a deadline, answering
// the server's PINGs as it goes. It reads only when asked, so a test can make
// it a slow subscriber; a client peer is a cheap way to cause presence events.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "lifeline/protocol.hpp"

namespace lifeline::test {

class StreamPeer {
 public:
  struct Frame {
    proto::FrameType type;
    std::string payload;
  };

  /// Connects to 127.0.0.1:`port` and completes the handshake (throws
  /// std::runtime_error naming what failed); an observer when `client_id` is
  /// empty. `rcvbuf` > 0 shrinks the socket's receive buffer, so that a peer
  /// that stops reading backs up quickly. Closing it (the destructor) is an
  /// EOF without BYE: offline `closed`.
  StreamPeer(std::uint16_t port, std::uint8_t version, const std::string& client_id = {}, int rcvbuf = 0);
  ~StreamPeer();
  StreamPeer(const StreamPeer&) = delete;
  StreamPeer& operator=(const StreamPeer&) = delete;

  const proto::Welcome& welcome() const { return welcome_; }
  /// SUBSCRIBE without a payload (live events), then sync().
  void subscribe();
  /// SUBSCRIBE with `s` (version 2); what it answers first (a gap, a snapshot) is for the test to read.
  void subscribe(const proto::Subscribe& s);
  /// A LIST round trip: once answered, the server has processed everything sent before it.
  void sync();
  void send(const std::string& frame);

  /// The next frame but PING (answered) and PONG, or nullopt at EOF or the deadline.
  std::optional<Frame> next(std::chrono::milliseconds deadline = std::chrono::milliseconds(3000));
  /// The next frame, which must be an EVENT (else nullopt, with a test failure).
  std::optional<proto::Event> next_event(std::chrono::milliseconds deadline = std::chrono::milliseconds(3000));
  /// Parses a frame of this connection's version.
  std::optional<proto::Event> as_event(const Frame& f) const;
  std::optional<proto::ListReply> as_list(const Frame& f) const;

 private:
  bool fill(std::chrono::steady_clock::time_point until);  // false at EOF or deadline
  void answer_buffered_pings();                            // PINGs already read, at the front

  int fd_ = -1;
  std::uint8_t version_;
  proto::Welcome welcome_;
  std::string buf_;
  std::deque<Frame> pending_;  // read while waiting for sync()'s reply
};

}  // namespace lifeline::test
