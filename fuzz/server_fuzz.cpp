// Fuzz target: the server's handshake and session state machine, through a
// real server on loopback. Each input is one connection's bytes, sent in
// pieces cut at every 0xFF byte (the separator is dropped) so that frame
// boundaries and reads do not line up; the server must answer or close, and
// stay able to take the next connection. One server serves every input.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "lifeline/log.hpp"
#include "lifeline/server.hpp"

namespace {
using namespace std::chrono_literals;

lifeline::Server& server() {
  static const std::unique_ptr<lifeline::Server> s = [] {
    lifeline::configure_logging(lifeline::LogFormat::text, "off");
    lifeline::ServerOptions o;
    o.listen = {"127.0.0.1:0"};
    o.threads = 1;
    o.handshake_timeout = 200ms;
    o.heartbeat.min_interval = 20ms;
    o.heartbeat.min_timeout = 60ms;
    o.heartbeat.default_interval = 100ms;
    o.heartbeat.default_timeout = 300ms;
    o.tick = 10ms;
    auto p = std::make_unique<lifeline::Server>(o);
    p->start();
    return p;
  }();
  return *s;
}

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    std::abort();  // the server stopped accepting
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Reads until the server closes or `wait` passes with nothing to read.
void drain(int fd, std::chrono::milliseconds wait) {
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, static_cast<int>(wait.count())) > 0) {
    if (::recv(fd, buf, sizeof buf, 0) <= 0) {
      return;
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = connect_to(server().ports().at(0));
  std::size_t start = 0;
  for (std::size_t i = 0; i <= size; ++i) {
    if (i == size || data[i] == 0xFF) {
      if (i > start && ::send(fd, data + start, i - start, MSG_NOSIGNAL) < 0) {
        break;  // the server closed: what it thought of the input is its answer
      }
      start = i + 1;
      drain(fd, 0ms);
    }
  }
  drain(fd, 5ms);
  ::close(fd);
  return 0;
}
