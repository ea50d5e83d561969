/* The floor: the least a server can do per keepalive on Linux, to measure
 * lifeline and mosquitto against (bench/compare.sh builds and runs it).
 *
 * A stateless, edge-triggered epoll loop speaking just enough MQTT 3.1.1 for
 * lifeline-bench --protocol mqtt: CONNECT gets CONNACK, PINGREQ gets PINGRESP.
 * One recv and one send per PINGREQ; no timers, no buffers, no per-client
 * state. A read shorter than the buffer is taken to have drained the socket
 * (the generator writes whole packets), which saves the recv that would
 * return EAGAIN. Not a server: it trusts its peer completely.
 *
 * usage: floor PORT   (listens on 127.0.0.1) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
  static const unsigned char connack[] = {0x20, 0x02, 0x00, 0x00}, pingresp[] = {0xD0, 0x00};
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(argc > 1 ? atoi(argv[1]) : 1883)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), ep = epoll_create1(0);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(lfd, 4096) != 0) {
    perror("floor: bind/listen");
    return 1;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, events[256];
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  unsigned char buf[4096];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t got = recv(fd, buf, sizeof buf, 0);
      if (got <= 0 || (events[i].events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))) {
        close(fd); /* also leaves the epoll set */
        continue;
      }
      /* Whole packets, each answered in place: CONNECT (0x10) or PINGREQ (0xC0). */
      for (ssize_t at = 0; at + 1 < got; at += 2 + buf[at + 1]) {
        if (buf[at] == 0x10) {
          send(fd, connack, sizeof connack, MSG_NOSIGNAL);
        } else if (buf[at] == 0xC0) {
          send(fd, pingresp, sizeof pingresp, MSG_NOSIGNAL);
        }
      }
    }
  }
}
