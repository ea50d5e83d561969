#include "stream_peer.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace lifeline::test {
namespace {
std::uint32_t be32(const std::string& s) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    v = (v << 8U) | static_cast<std::uint8_t>(s[i]);
  }
  return v;
}

proto::Bytes bytes(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
}  // namespace

StreamPeer::StreamPeer(std::uint16_t port, std::uint8_t version, const std::string& client_id, int rcvbuf)
    : version_(version) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  // Without it Nagle holds a small frame sent right after another (a PONG,
  // then SUBSCRIBE) until the first is acknowledged: up to 40 ms.
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (rcvbuf > 0) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  }
  // An observer that lets the server drive the heartbeat: it only has to
  // answer PINGs, which next() does whenever the test reads.
  proto::Hello hello;
  hello.version = version;
  hello.flags = static_cast<std::uint8_t>(proto::kFlagServerPings | (client_id.empty() ? proto::kFlagObserver : 0));
  hello.id = client_id;
  hello.interval = std::chrono::milliseconds(1000);
  hello.timeout = std::chrono::milliseconds(30'000);
  std::string frame;
  proto::encode(hello, frame);
  send(frame);
  const auto w = next();
  proto::ParseError err;
  if (!w || w->type != proto::FrameType::welcome) {
    throw std::runtime_error("no WELCOME");
  }
  auto parsed = proto::parse_welcome(bytes(w->payload), err);
  if (!parsed) {
    throw std::runtime_error("bad WELCOME: " + err.message);
  }
  welcome_ = *parsed;
  // WELCOME comes with the server's first PING in one segment: answer it now,
  // not at the next read, which may come after the server has closed (a late
  // PONG would draw a reset that destroys whatever the test still has to read).
  answer_buffered_pings();
}

void StreamPeer::answer_buffered_pings() {
  while (buf_.size() >= proto::kHeaderSize && buf_.size() >= proto::kHeaderSize + be32(buf_) &&
         static_cast<proto::FrameType>(buf_[4]) == proto::FrameType::ping) {
    buf_.erase(0, proto::kHeaderSize + be32(buf_));
    const auto pong = proto::encode_timestamp(proto::FrameType::pong, 0);
    send(std::string(pong.begin(), pong.end()));
  }
}

StreamPeer::~StreamPeer() { ::close(fd_); }

void StreamPeer::send(const std::string& frame) {
  std::size_t done = 0;
  while (done < frame.size()) {
    const auto n = ::send(fd_, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (n <= 0) {
      return;  // the server closed: the next read says so
    }
    done += static_cast<std::size_t>(n);
  }
}

void StreamPeer::subscribe() {
  std::string frame;
  proto::encode_subscribe(frame);
  send(frame);
  sync();
}

void StreamPeer::subscribe(const proto::Subscribe& s) {
  std::string frame;
  proto::encode(s, frame);
  send(frame);
}

void StreamPeer::sync() {
  constexpr std::uint32_t kSyncRequest = 0xFFFF'FFF0;
  std::string frame;
  proto::encode_list(kSyncRequest, frame);
  send(frame);
  // Frames are answered in order: once the LIST_REPLY is here, what was sent before it has been processed.
  for (;;) {
    auto f = next();
    if (!f) {
      throw std::runtime_error("no LIST_REPLY to the sync LIST");
    }
    if (const auto r = as_list(*f); r && r->request_id == kSyncRequest) {
      if (r->last) {
        return;
      }
      continue;
    }
    pending_.push_back(std::move(*f));  // an event that came first: the test reads it next
  }
}

bool StreamPeer::fill(std::chrono::steady_clock::time_point until) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
  pollfd p{fd_, POLLIN, 0};
  if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
    return false;
  }
  char chunk[65536];
  const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) {
    return false;
  }
  buf_.append(chunk, static_cast<std::size_t>(n));
  return true;
}

std::optional<StreamPeer::Frame> StreamPeer::next(std::chrono::milliseconds deadline) {
  if (!pending_.empty()) {
    auto f = std::move(pending_.front());
    pending_.pop_front();
    return f;
  }
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    while (buf_.size() >= proto::kHeaderSize && buf_.size() >= proto::kHeaderSize + be32(buf_)) {
      const auto len = be32(buf_);
      Frame f{static_cast<proto::FrameType>(buf_[4]), buf_.substr(proto::kHeaderSize, len)};
      buf_.erase(0, proto::kHeaderSize + len);
      if (f.type == proto::FrameType::ping) {
        const auto pong = proto::encode_timestamp(proto::FrameType::pong, 0);
        send(std::string(pong.begin(), pong.end()));
        continue;
      }
      if (f.type != proto::FrameType::pong) {
        return f;
      }
    }
    if (!fill(until)) {
      return std::nullopt;
    }
  }
}

std::optional<proto::Event> StreamPeer::as_event(const Frame& f) const {
  proto::ParseError err;
  if (f.type != proto::FrameType::event) {
    return std::nullopt;
  }
  auto e = proto::parse_event(bytes(f.payload), version_, err);
  EXPECT_TRUE(e) << err.message;
  return e;
}

std::optional<proto::ListReply> StreamPeer::as_list(const Frame& f) const {
  proto::ParseError err;
  if (f.type != proto::FrameType::list_reply) {
    return std::nullopt;
  }
  auto r = proto::parse_list_reply(bytes(f.payload), version_, err);
  EXPECT_TRUE(r) << err.message;
  return r;
}

std::optional<proto::Event> StreamPeer::next_event(std::chrono::milliseconds deadline) {
  const auto f = next(deadline);
  if (!f) {
    return std::nullopt;
  }
  auto e = as_event(*f);
  EXPECT_TRUE(e) << "expected an EVENT, got " << proto::to_string(f->type);
  return e;
}

}  // namespace lifeline::test
