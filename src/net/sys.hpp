#pragma once
// The socket calls of the server, one spelling for Linux and Windows. On
// Linux each is the system call itself, inline (the heartbeat path's recv and
// send are unchanged); on Windows each maps Winsock's types and reports
// failure through errno, as the session code expects.
#ifdef _WIN32
#include <winsock2.h>
// winsock2.h first.
#include <ws2tcpip.h>
#else
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <cerrno>
#include <cstddef>

namespace lifeline::detail::sys {

#ifdef _WIN32
using socklen = int;

/// Sets errno from WSAGetLastError() (EAGAIN for WSAEWOULDBLOCK, ...); returns -1.
int fail_with_wsa_error();
/// Calls WSAStartup once per process; throws std::system_error if it fails.
void start_winsock();
/// The last socket call's failure as an errno value.
int last_socket_error();

inline long recv(int fd, void* buf, std::size_t n, int flags = 0) {
  const int r = ::recv(static_cast<SOCKET>(fd), static_cast<char*>(buf), static_cast<int>(n), flags);
  return r == SOCKET_ERROR ? fail_with_wsa_error() : r;
}
inline long send(int fd, const void* buf, std::size_t n) {
  const int r = ::send(static_cast<SOCKET>(fd), static_cast<const char*>(buf), static_cast<int>(n), 0);
  return r == SOCKET_ERROR ? fail_with_wsa_error() : r;
}
int accept_nonblocking(int listener, sockaddr* addr, socklen* len);
int socket_nonblocking(int family);
inline int close(int fd) { return ::closesocket(static_cast<SOCKET>(fd)); }
inline int shutdown_write(int fd) { return ::shutdown(static_cast<SOCKET>(fd), SD_SEND); }
template <class T>
int setsockopt(int fd, int level, int name, const T& value) {
  return ::setsockopt(static_cast<SOCKET>(fd), level, name, reinterpret_cast<const char*>(&value), sizeof value);
}
/// recv flags of a peek that must not block (sockets are non-blocking already).
constexpr int kPeekNow = MSG_PEEK;
#else
using socklen = socklen_t;

inline void start_winsock() {}
inline int last_socket_error() { return errno; }
inline long recv(int fd, void* buf, std::size_t n, int flags = 0) { return ::recv(fd, buf, n, flags); }
inline long send(int fd, const void* buf, std::size_t n) { return ::send(fd, buf, n, MSG_NOSIGNAL); }
inline int accept_nonblocking(int listener, sockaddr* addr, socklen* len) {
  return ::accept4(listener, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
inline int socket_nonblocking(int family) { return ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }
inline int close(int fd) { return ::close(fd); }
inline int shutdown_write(int fd) { return ::shutdown(fd, SHUT_WR); }
template <class T>
int setsockopt(int fd, int level, int name, const T& value) {
  return ::setsockopt(fd, level, name, &value, sizeof value);
}
constexpr int kPeekNow = MSG_PEEK | MSG_DONTWAIT;
#endif

}  // namespace lifeline::detail::sys
