/* floor-relay: the simplest single-threaded epoll TCP relay, the lower bound ("floor") the
 * end-to-end harness compares every proxy with. Usage: floor-relay LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT
 * (listens on 127.0.0.1). No features: blocking connect to the one upstream, TCP_NODELAY, one
 * shared 16 KiB read buffer; bytes a peer cannot take at once are parked in a per-direction
 * heap buffer and the source stops being read until they are written (so an idle connection
 * holds no user-space memory). EOF is passed on as a half-close; an error closes the pair. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 65536
struct side { int live, peer; char *pending; size_t len, off; int eof; };  /* pending: bytes read from this fd, for peer */
static struct side sides[MAX_FDS];
static char buf[16384];
static int ep;

static void arm(int fd) {  /* read fd unless its parked bytes wait; want EPOLLOUT while the peer's bytes wait */
  struct epoll_event ev = {.events = 0, .data.fd = fd};
  if (!sides[fd].pending && !sides[fd].eof) ev.events |= EPOLLIN;
  if (sides[sides[fd].peer].pending) ev.events |= EPOLLOUT;
  epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}
static void close_pair(int fd) {
  int peer = sides[fd].peer;
  free(sides[fd].pending); free(sides[peer].pending);
  memset(&sides[fd], 0, sizeof sides[fd]); memset(&sides[peer], 0, sizeof sides[peer]);
  close(fd); close(peer);
}
static int flush(int from) {  /* write `from`'s parked bytes to its peer; -1 on error */
  struct side *s = &sides[from];
  while (s->off < s->len) {
    ssize_t n = send(s->peer, s->pending + s->off, s->len - s->off, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    s->off += (size_t)n;
  }
  free(s->pending); s->pending = NULL; s->len = s->off = 0;
  return 0;
}
static void on_readable(int fd) {
  struct side *s = &sides[fd];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n < 0) { if (errno != EAGAIN) close_pair(fd); return; }
  if (n == 0) {
    s->eof = 1;
    shutdown(s->peer, SHUT_WR);
    if (sides[s->peer].eof) { close_pair(fd); return; }
    arm(fd);
    return;
  }
  ssize_t w = send(s->peer, buf, (size_t)n, MSG_NOSIGNAL);
  if (w < 0 && errno != EAGAIN) { close_pair(fd); return; }
  if (w < 0) w = 0;
  if (w < n) {  /* park the rest; stop reading fd, wait for the peer to be writable */
    s->len = (size_t)(n - w); s->off = 0;
    s->pending = malloc(s->len);
    memcpy(s->pending, buf + w, s->len);
    arm(fd); arm(s->peer);
  }
}
static void add(int fd, int peer) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  sides[fd].peer = peer;
  sides[fd].live = 1;
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char **argv) {
  if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    printf("usage: %s LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT\n", argv[0]);
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "--version")) { printf("floor-relay %s\n", PGHA_VERSION_STRING); return 0; }
  if (argc != 4) { fprintf(stderr, "usage: %s LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT\n", argv[0]); return 2; }
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))}, ua = la;
  inet_pton(AF_INET, "127.0.0.1", &la.sin_addr);
  ua.sin_port = htons(atoi(argv[3]));
  if (inet_pton(AF_INET, argv[2], &ua.sin_addr) != 1) { fprintf(stderr, "bad upstream host\n"); return 2; }
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&la, sizeof la) || listen(lfd, 4096)) { perror("listen"); return 1; }
  ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, evs[256];
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) continue;
        int u = socket(AF_INET, SOCK_STREAM, 0);
        if (u < 0 || c >= MAX_FDS || u >= MAX_FDS || connect(u, (struct sockaddr *)&ua, sizeof ua) != 0) {
          close(c); if (u >= 0) close(u);
          continue;
        }
        add(c, u); add(u, c);
        continue;
      }
      if (!sides[fd].live) continue;  /* closed earlier in this batch */
      if ((evs[i].events & (EPOLLHUP | EPOLLERR)) && sides[fd].eof) { close_pair(fd); continue; }
      if (evs[i].events & EPOLLOUT) {  /* the peer's parked bytes can move */
        int peer = sides[fd].peer;
        if (flush(peer) < 0) { close_pair(fd); continue; }
        arm(fd); arm(peer);
      }
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR) && sides[fd].live && !sides[fd].pending) on_readable(fd);
    }
  }
}
