/*
 * podnet resident-mode launcher: the CNI plugin executable when a podnet daemon is running.
 *
 * A runtime execs this once per CNI operation. It starts in about a millisecond (Node needs
 * 25-40 ms), hands its environment and stdin to the daemon over a unix socket, prints the
 * daemon's answer and exits with its code. When no daemon answers (socket missing or refusing),
 * it execs the Node bundle of the same plugin instead, so the plugin always works.
 *
 * Plugin name: basename(argv[0]). Socket: $PODNET_CNI_SOCKET or PODNET_DEFAULT_SOCKET.
 * Fallback: PODNET_NODE <dir of the real executable>/podnet-<name>.cjs
 *
 * Wire format (all integers little-endian u32):
 *   request:  "PNC1" name_len name env_count (len "K=V")* stdin_len stdin
 *   response: exit_code stdout_len stdout stderr_len stderr
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef PODNET_DEFAULT_SOCKET
#define PODNET_DEFAULT_SOCKET "/run/podnet/cni.sock"
#endif
#ifndef PODNET_NODE
#define PODNET_NODE "/usr/bin/node"
#endif

extern char **environ;

struct buf { char *p; size_t len, cap; };

static void die(const char *what) {
  fprintf(stderr, "podnet launcher: %s: %s\n", what, strerror(errno));
  /* A CNI error on stdout so the runtime has something to show. */
  printf("{\"code\":999,\"msg\":\"podnet launcher: %s: %s\"}", what, strerror(errno));
  exit(1);
}

static void put(struct buf *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t c = b->cap ? b->cap : 4096;
    while (c < b->len + n) c *= 2;
    b->p = realloc(b->p, c);
    if (!b->p) die("out of memory");
    b->cap = c;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static void put32(struct buf *b, uint32_t v) {
  unsigned char x[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff };
  put(b, x, 4);
}

static void fallback(const char *name, char **argv) {
  char self[PATH_MAX], path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0) die("readlink /proc/self/exe");
  self[n] = 0;
  snprintf(path, sizeof path, "%s/podnet-%s.cjs", dirname(self), name);
  char *args[] = { (char *)PODNET_NODE, path, NULL };
  (void)argv;
  execve(PODNET_NODE, args, environ);
  die("exec " PODNET_NODE);
}

static int read_full(int fd, void *p, size_t n) {
  char *c = p;
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

static void write_full(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

static uint32_t get32(const unsigned char *x) {
  return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

int main(int argc, char **argv) {
  (void)argc;
  char *name = basename(argv[0]);
  const char *sock = getenv("PODNET_CNI_SOCKET");
  if (!sock || !*sock) sock = PODNET_DEFAULT_SOCKET;

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(sock) >= sizeof sa.sun_path) { errno = ENAMETOOLONG; die("socket path"); }
  strcpy(sa.sun_path, sock);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    close(fd);
    fallback(name, argv); /* no daemon: run the Node plugin; stdin is still unread */
  }

  struct buf b = { 0 };
  put(&b, "PNC1", 4);
  put32(&b, (uint32_t)strlen(name));
  put(&b, name, strlen(name));
  uint32_t count = 0;
  for (char **e = environ; *e; e++) count++;
  put32(&b, count);
  for (char **e = environ; *e; e++) {
    put32(&b, (uint32_t)strlen(*e));
    put(&b, *e, strlen(*e));
  }
  struct buf in = { 0 };
  char chunk[65536];
  for (;;) {
    ssize_t r = read(0, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("read stdin");
    if (r == 0) break;
    put(&in, chunk, (size_t)r);
  }
  put32(&b, (uint32_t)in.len);
  if (in.len) put(&b, in.p, in.len);
  write_full(fd, b.p, b.len);
  shutdown(fd, SHUT_WR);

  unsigned char hdr[8];
  if (read_full(fd, hdr, 8) < 0) { errno = EPROTO; die("daemon closed the connection"); }
  uint32_t code = get32(hdr), outlen = get32(hdr + 4);
  char *out = malloc(outlen + 1);
  if (!out || read_full(fd, out, outlen) < 0) { errno = EPROTO; die("short answer"); }
  unsigned char h2[4];
  if (read_full(fd, h2, 4) < 0) { errno = EPROTO; die("short answer"); }
  uint32_t errlen = get32(h2);
  char *err = malloc(errlen + 1);
  if (!err || read_full(fd, err, errlen) < 0) { errno = EPROTO; die("short answer"); }
  write_full(1, out, outlen);
  write_full(2, err, errlen);
  return (int)code;
}
