// The shard's event loop on Windows: WSAPoll over the registered sockets.
//
// Why WSAPoll: it is the one readiness API Windows has for plain sockets (IOCP
// completes operations instead, which would turn the session code inside
// out), and wine implements it. It is level-triggered and O(sockets) per
// call, so two things the Linux loop gets from epoll's edge triggering are
// done here by hand: POLLOUT is asked for only after want_write() (a send that
// found the socket full) and only until it is reported once, and a closed
// socket is forgotten by closing() before the session closes it. Fine for the
// hundreds of clients a Windows server holds; Linux (event_loop.cpp) is the
// platform for tens of thousands.
#include <algorithm>
#include <array>
#include <system_error>

#include "event_loop.hpp"
#include "sys.hpp"

namespace lifeline::detail {
namespace {

std::system_error socket_error(const char* what) { return {sys::last_socket_error(), std::generic_category(), what}; }

std::uint32_t to_epoll(short revents) {
  std::uint32_t ev = 0;
  if ((revents & (POLLRDNORM | POLLRDBAND)) != 0) {
    ev |= EPOLLIN;
  }
  if ((revents & POLLWRNORM) != 0) {
    ev |= EPOLLOUT;
  }
  if ((revents & POLLHUP) != 0) {
    ev |= EPOLLHUP | EPOLLIN;  // read the rest, then EOF
  }
  if ((revents & POLLERR) != 0) {
    ev |= EPOLLERR;
  }
  return ev;
}

}  // namespace

void Fd::reset(int fd) {
  if (fd_ >= 0) {
    sys::close(fd_);
  }
  fd_ = fd;
}

EventLoop::EventLoop() {
  sys::start_winsock();
  // A UDP socket bound to loopback, and a second one connected to it: a
  // datagram to wake_in_ makes WSAPoll return.
  wake_in_.reset(static_cast<int>(::socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP)));
  wake_out_.reset(static_cast<int>(::socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int len = sizeof addr;
  u_long on = 1;
  if (!wake_in_ || !wake_out_ ||
      ::bind(static_cast<SOCKET>(wake_in_.get()), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(static_cast<SOCKET>(wake_in_.get()), reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::connect(static_cast<SOCKET>(wake_out_.get()), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::ioctlsocket(static_cast<SOCKET>(wake_in_.get()), FIONBIO, &on) != 0) {
    throw socket_error("the event loop's wake-up socket");
  }
}

EventLoop::~EventLoop() = default;

std::error_code EventLoop::add(int fd, std::uint32_t events, std::uint64_t tag) {
  // Like epoll's: "input that arrived before this call is reported at once",
  // which level-triggered polling does by itself; output is asked for when
  // a send finds the socket full (want_write).
  watches_.push_back({fd, events, tag, false});
  return {};
}

void EventLoop::remove(int fd) {
  std::erase_if(watches_, [fd](const Watch& w) { return w.fd == fd; });
}

void EventLoop::want_write(int fd) {
  for (auto& w : watches_) {
    if (w.fd == fd) {
      w.want_out = true;
    }
  }
}

void EventLoop::wake() {
  const char byte = 1;
  ::send(static_cast<SOCKET>(wake_out_.get()), &byte, 1, 0);
}

void EventLoop::run(const ReadyFn& on_ready, Clock::time_point first_deadline, const DeadlineFn& on_deadline) {
  std::vector<WSAPOLLFD> fds;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> ready;
  auto deadline = first_deadline;
  for (;;) {
    fds.clear();
    fds.push_back({static_cast<SOCKET>(wake_in_.get()), POLLRDNORM, 0});
    for (const auto& w : watches_) {
      short ev = (w.events & EPOLLIN) != 0 ? POLLRDNORM : 0;
      if ((w.events & EPOLLOUT) != 0 && w.want_out) {
        ev |= POLLWRNORM;
      }
      fds.push_back({static_cast<SOCKET>(w.fd), ev, 0});
    }
    const int n = ::WSAPoll(fds.data(), static_cast<ULONG>(fds.size()), wait_ms(Clock::now(), deadline));
    if (n == SOCKET_ERROR && ::WSAGetLastError() != WSAEINTR) {
      throw socket_error("WSAPoll");
    }
    // Collected first: a handler may add or remove watches.
    ready.clear();
    bool invalid = false;
    for (std::size_t i = 1; n > 0 && i < fds.size(); ++i) {
      auto& w = watches_[i - 1];
      if ((fds[i].revents & POLLNVAL) != 0) {
        w.fd = -1;  // closed without closing(): forget it, or WSAPoll would return at once for ever
        invalid = true;
        continue;
      }
      if (const auto ev = to_epoll(fds[i].revents); ev != 0) {
        if ((ev & EPOLLOUT) != 0) {
          w.want_out = false;  // reported once, as an edge would be
        }
        ready.emplace_back(w.tag, ev);
      }
    }
    if (invalid) {
      remove(-1);
    }
    for (const auto& [tag, ev] : ready) {
      on_ready(tag, ev);
    }
    if (n > 0 && fds[0].revents != 0) {
      std::array<char, 64> sink{};
      while (::recv(static_cast<SOCKET>(wake_in_.get()), sink.data(), static_cast<int>(sink.size()), 0) > 0) {
      }
      if (run_posted()) {
        return;  // quit()
      }
    }
    if (const auto now = Clock::now(); now >= deadline) {
      deadline = on_deadline(now);
    }
  }
}

}  // namespace lifeline::detail
