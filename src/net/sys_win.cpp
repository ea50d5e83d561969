// Winsock behind src/net/sys.hpp: errno from WSAGetLastError(), non-blocking
// sockets without SOCK_NONBLOCK, and WSAStartup once per process.
#include <mutex>
#include <system_error>

#include "sys.hpp"

namespace lifeline::detail::sys {
namespace {

int errno_of(int wsa) {
  switch (wsa) {
    case WSAEWOULDBLOCK: return EAGAIN;
    case WSAEINTR: return EINTR;
    case WSAECONNRESET: return ECONNRESET;
    case WSAECONNABORTED: return ECONNABORTED;
    case WSAENOTCONN: return ENOTCONN;
    case WSAETIMEDOUT: return ETIMEDOUT;
    case WSAEMFILE: return EMFILE;
    case WSAENOBUFS: return ENOBUFS;
    case WSAEADDRINUSE: return EADDRINUSE;
    case WSAEADDRNOTAVAIL: return EADDRNOTAVAIL;
    case WSAEACCES: return EACCES;
    case WSAEAFNOSUPPORT: return EAFNOSUPPORT;
    case WSAEINVAL: return EINVAL;
    case WSAENOTSOCK: return EBADF;
    default: return EIO;
  }
}

bool set_nonblocking(SOCKET s) {
  u_long on = 1;
  return ::ioctlsocket(s, FIONBIO, &on) == 0;
}

}  // namespace

int last_socket_error() { return errno_of(::WSAGetLastError()); }

int fail_with_wsa_error() {
  errno = last_socket_error();
  return -1;
}

void start_winsock() {
  static std::once_flag once;
  static int result = 0;
  std::call_once(once, [] {
    WSADATA data{};
    result = ::WSAStartup(MAKEWORD(2, 2), &data);
  });
  if (result != 0) {
    throw std::system_error(result, std::system_category(), "WSAStartup");
  }
}

int accept_nonblocking(int listener, sockaddr* addr, socklen* len) {
  const SOCKET s = ::accept(static_cast<SOCKET>(listener), addr, len);
  if (s == INVALID_SOCKET) {
    return fail_with_wsa_error();
  }
  if (!set_nonblocking(s)) {
    const int err = last_socket_error();
    ::closesocket(s);
    errno = err;
    return -1;
  }
  return static_cast<int>(s);  // socket handles are small integers in practice
}

int socket_nonblocking(int family) {
  start_winsock();
  const SOCKET s = ::socket(family, SOCK_STREAM, IPPROTO_TCP);
  if (s == INVALID_SOCKET) {
    return fail_with_wsa_error();
  }
  if (!set_nonblocking(s)) {
    ::closesocket(s);
    return fail_with_wsa_error();
  }
  return static_cast<int>(s);
}

}  // namespace lifeline::detail::sys
