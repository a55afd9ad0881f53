/*
 * podnet resident-mode launcher: the CNI plugin executable when a podnet daemon is running.
 *
 * A runtime execs this once per CNI operation. It starts in about a millisecond (Node needs
 * 25-40 ms), hands its working directory, environment and stdin to the daemon over a unix socket,
 * prints the daemon's answer and exits with its code. When no daemon answers (socket missing or
 * refusing), it execs the Node bundle of the same plugin instead, so the plugin always works.
 *
 * Plugin name: basename(argv[0]). Socket: $PODNET_CNI_SOCKET or PODNET_DEFAULT_SOCKET.
 * Fallback: <dir of the real executable>/podnet-<name>.cjs, exec'd itself: its `#!` line names the
 * Node that runs it (the build's, or the one `podnet install` stamped in), so no Node path is
 * compiled into the launcher.
 *
 * Trust and limits (docs/security.md):
 * - It talks only to a daemon running as PODNET_SOCKET_UID (root unless built otherwise): the
 *   socket must be a socket owned by that uid, and the process that listens on it must run as that
 *   uid (SO_PEERCRED). Otherwise it says so on stderr and runs the Node plugin; nothing is sent.
 * - Connecting is bounded (CONNECT_TIMEOUT_MS, for a daemon whose backlog is full): then the Node
 *   plugin runs. The answer must arrive within $PODNET_CNI_TIMEOUT seconds (default 60), or the
 *   launcher prints a CNI error (code 999) and exits 1.
 * - stdin and every part of the answer are bounded (MAX_PART); a malformed answer is a CNI error
 *   (code 999) naming the socket. Errors are printed as JSON with every string escaped.
 *
 * Wire format (all integers little-endian u32):
 *   request:  "PNC2" name_len name cwd_len cwd env_count (len "K=V")* stdin_len stdin
 *   response: exit_code stdout_len stdout stderr_len stderr
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef PODNET_DEFAULT_SOCKET
#define PODNET_DEFAULT_SOCKET "/run/podnet/cni.sock"
#endif
/* The only user the daemon may run as (and own the socket). */
#ifndef PODNET_SOCKET_UID
#define PODNET_SOCKET_UID 0
#endif

#define MAX_PART (64u << 20)        /* the whole request; each of stdout and stderr of an answer */
#define MAX_NAME 255u
#define CONNECT_TIMEOUT_MS 1000
#define DEFAULT_TIMEOUT_S 60
#define MAX_TIMEOUT_S 86400

/* CNI error codes */
#define CNI_BAD_ENV 4
#define CNI_DECODING 6
#define CNI_INTERNAL 999

extern char **environ;

static const char *sock = PODNET_DEFAULT_SOCKET;

/* ---- JSON errors (no allocation: usable when memory ran out and from the SIGALRM handler) ---- */

/* Length of the valid UTF-8 sequence at p (2-4), or 0. */
static size_t utf8_len(const unsigned char *p) {
  size_t n;
  uint32_t cp;
  if (p[0] >= 0xc2 && p[0] <= 0xdf) { n = 2; cp = p[0] & 0x1f; }
  else if (p[0] >= 0xe0 && p[0] <= 0xef) { n = 3; cp = p[0] & 0x0f; }
  else if (p[0] >= 0xf0 && p[0] <= 0xf4) { n = 4; cp = p[0] & 0x07; }
  else return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0; /* also stops at the NUL */
    cp = cp << 6 | (p[i] & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

/* Appends s to out[*len..cap) as a JSON string body; stops (whole units only) when full. */
static void json_escape(char *out, size_t cap, size_t *len, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    char unit[8];
    size_t n = 0, adv = 1;
    if (*p == '"' || *p == '\\') { unit[0] = '\\'; unit[1] = (char)*p; n = 2; }
    else if (*p < 0x20 || *p == 0x7f) n = (size_t)snprintf(unit, sizeof unit, "\\u%04x", *p);
    else if (*p < 0x80) { unit[0] = (char)*p; n = 1; }
    else if ((adv = utf8_len(p)) != 0) { memcpy(unit, p, adv); n = adv; }
    else { memcpy(unit, "\\ufffd", 6); n = 6; adv = 1; }
    if (*len + n >= cap) return;
    memcpy(out + *len, unit, n);
    *len += n;
    p += adv;
  }
}

static void append(char *out, size_t cap, size_t *len, const char *s) {
  size_t n = strlen(s);
  if (*len + n >= cap) n = cap - 1 - *len;
  memcpy(out + *len, s, n);
  *len += n;
}

/* {"code":N,"msg":"..."} */
static size_t cni_error_json(char *out, size_t cap, int code, const char *msg) {
  size_t len = 0;
  char head[32];
  snprintf(head, sizeof head, "{\"code\":%d,\"msg\":\"", code);
  append(out, cap, &len, head);
  json_escape(out, cap - 2, &len, msg);
  append(out, cap, &len, "\"}");
  return len;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* Prints a CNI error on stdout (and the message on stderr) and exits 1. */
static void fail(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fail(int code, const char *fmt, ...) {
  char msg[2048], json[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t n = cni_error_json(json, sizeof json, code, msg);
  write_all(1, json, n);
  fprintf(stderr, "%s\n", msg);
  exit(1);
}

static void malformed(const char *why) __attribute__((noreturn));
static void malformed(const char *why) {
  fail(CNI_INTERNAL, "podnet launcher: malformed answer from the podnet daemon on %s: %s", sock, why);
}

/* ---- the answer's deadline ---- */

static char timeout_json[8192];
static size_t timeout_json_len;

static void on_alarm(int sig) {
  static const char text[] = "podnet launcher: timed out waiting for the podnet daemon (PODNET_CNI_TIMEOUT)\n";
  (void)sig;
  write_all(1, timeout_json, timeout_json_len);
  write_all(2, text, sizeof text - 1);
  _exit(1);
}

static unsigned parse_timeout(void) {
  const char *t = getenv("PODNET_CNI_TIMEOUT");
  if (!t || !*t) return DEFAULT_TIMEOUT_S;
  unsigned long v = 0;
  for (const char *p = t; *p; p++) {
    if (*p < '0' || *p > '9' || v > MAX_TIMEOUT_S) { v = 0; break; }
    v = v * 10 + (unsigned long)(*p - '0');
  }
  if (v < 1 || v > MAX_TIMEOUT_S)
    fail(CNI_BAD_ENV, "podnet launcher: PODNET_CNI_TIMEOUT=%s: must be a whole number of seconds from 1 to %d", t, MAX_TIMEOUT_S);
  return (unsigned)v;
}

/* ---- falling back to the Node plugin ---- */

static void fallback(const char *name) __attribute__((noreturn));
static void fallback(const char *name) {
  char self[PATH_MAX], path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0) fail(CNI_INTERNAL, "podnet launcher: readlink /proc/self/exe: %s", strerror(errno));
  self[n] = 0;
  snprintf(path, sizeof path, "%s/podnet-%s.cjs", dirname(self), name);
  char *args[] = { path, NULL };
  execve(path, args, environ);
  fail(CNI_INTERNAL, "podnet launcher: exec %s: %s", path, strerror(errno));
}

/* Why the daemon is not used, on stderr; then the Node plugin runs. */
static void refuse(const char *name, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void refuse(const char *name, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "podnet launcher: %s; running the Node plugin instead\n", msg);
  fallback(name);
}

/* A connected socket to a daemon we trust; falls back (never returns) otherwise. */
static int connect_daemon(const char *name) {
  struct stat st;
  if (stat(sock, &st) < 0) {
    if (errno == ENOENT || errno == ENOTDIR) fallback(name); /* no daemon: the ordinary case */
    refuse(name, "cannot use %s: %s", sock, strerror(errno));
  }
  if (!S_ISSOCK(st.st_mode)) refuse(name, "refusing %s: not a socket", sock);
  if (st.st_uid != PODNET_SOCKET_UID) refuse(name, "refusing %s: owned by uid %u, not uid %u", sock, (unsigned)st.st_uid, (unsigned)PODNET_SOCKET_UID);

  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(sock) >= sizeof sa.sun_path) refuse(name, "socket path %s is too long", sock);
  strcpy(sa.sun_path, sock);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) refuse(name, "socket: %s", strerror(errno));
  for (int waited = 0;;) {
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN && waited < CONNECT_TIMEOUT_MS) { /* backlog full: the daemon is busy */
      struct timespec ts = { 0, 5 * 1000 * 1000 };
      nanosleep(&ts, NULL);
      waited += 5;
      continue;
    }
    int e = errno;
    close(fd);
    if (e == ECONNREFUSED || e == ENOENT) fallback(name); /* a stale socket: no daemon */
    if (e == EAGAIN) refuse(name, "the daemon on %s accepts no connection within %d ms", sock, CONNECT_TIMEOUT_MS);
    refuse(name, "cannot connect to %s: %s", sock, strerror(e));
  }
  struct ucred cr;
  socklen_t crl = sizeof cr;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0) {
    close(fd);
    refuse(name, "cannot identify the daemon on %s: %s", sock, strerror(errno));
  }
  if (cr.uid != PODNET_SOCKET_UID) {
    close(fd);
    refuse(name, "refusing the daemon on %s: it runs as uid %u (pid %d), not uid %u", sock, (unsigned)cr.uid, (int)cr.pid, (unsigned)PODNET_SOCKET_UID);
  }
  if (fcntl(fd, F_SETFL, 0) < 0) fail(CNI_INTERNAL, "podnet launcher: fcntl: %s", strerror(errno)); /* blocking again */
  return fd;
}

/* ---- the request ---- */

struct buf { char *p; size_t len, cap; };

static void put(struct buf *b, const void *p, size_t n) {
  if (n > MAX_PART || b->len + n > MAX_PART)
    fail(CNI_DECODING, "podnet launcher: the request for the podnet daemon on %s is larger than %u bytes", sock, MAX_PART);
  if (b->len + n > b->cap) {
    size_t c = b->cap ? b->cap : 4096;
    while (c < b->len + n) c *= 2;
    char *q = realloc(b->p, c);
    if (!q) fail(CNI_INTERNAL, "podnet launcher: out of memory (%zu bytes)", c);
    b->p = q;
    b->cap = c;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static void put32(struct buf *b, uint32_t v) {
  unsigned char x[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff };
  put(b, x, 4);
}

static void put_str(struct buf *b, const char *s) {
  size_t n = strlen(s);
  if (n > MAX_PART) fail(CNI_DECODING, "podnet launcher: a string of %zu bytes is too large to send", n);
  put32(b, (uint32_t)n);
  put(b, s, n);
}

/* All of it, or -1 when the daemon stopped reading (it answered early, e.g. with an error). */
static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* ---- the answer ---- */

/* Reads until n bytes or the end of the stream; how many arrived. */
static size_t read_upto(int fd, char *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  return got;
}

static uint32_t get32(const unsigned char *x) {
  return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

/* A buffer for `len` bytes of a part plus `extra` after it, `len` checked first. */
static char *part_buffer(const char *what, uint32_t len, size_t extra) {
  char why[128];
  if (len > MAX_PART) {
    snprintf(why, sizeof why, "%s of %u bytes is over the limit of %u", what, len, MAX_PART);
    malformed(why);
  }
  char *p = malloc((size_t)len + extra);
  if (!p) fail(CNI_INTERNAL, "podnet launcher: out of memory for a %u-byte answer from %s", len, sock);
  return p;
}

/*
 * exit_code stdout_len | stdout stderr_len | stderr EOF — three reads for a whole answer, each
 * length checked before anything is allocated for it.
 */
static void read_answer(int fd, uint32_t *code, char **out, uint32_t *outlen, char **err, uint32_t *errlen) {
  unsigned char h[8];
  char why[128];
  size_t got = read_upto(fd, (char *)h, 8);
  if (got == 0) malformed("the daemon closed the connection without answering");
  if (got < 8) malformed("it ended inside the header");
  *code = get32(h);
  if (*code > 255) {
    snprintf(why, sizeof why, "exit code %u is not 0-255", *code);
    malformed(why);
  }
  *outlen = get32(h + 4);
  *out = part_buffer("stdout", *outlen, 4);
  got = read_upto(fd, *out, (size_t)*outlen + 4);
  if (got < *outlen) {
    snprintf(why, sizeof why, "it ended after %zu of %u stdout bytes", got, *outlen);
    malformed(why);
  }
  if (got < (size_t)*outlen + 4) malformed("it ended before the stderr length");
  *errlen = get32((unsigned char *)*out + *outlen);
  *err = part_buffer("stderr", *errlen, 1);
  got = read_upto(fd, *err, (size_t)*errlen + 1); /* one more: the end must follow */
  if (got < *errlen) {
    snprintf(why, sizeof why, "it ended after %zu of %u stderr bytes", got, *errlen);
    malformed(why);
  }
  if (got > *errlen) malformed("trailing bytes after the answer");
}

int main(int argc, char **argv) {
  (void)argc;
  char *name = basename(argv[0]);
  if (strlen(name) == 0 || strlen(name) > MAX_NAME) fail(CNI_INTERNAL, "podnet launcher: invalid plugin name");
  const char *s = getenv("PODNET_CNI_SOCKET");
  if (s && *s) sock = s;
  unsigned timeout = parse_timeout();

  int fd = connect_daemon(name);
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) {
    close(fd);
    refuse(name, "cannot tell the daemon the working directory (%s)", strerror(errno));
  }

  struct buf b = { 0 };
  put(&b, "PNC2", 4);
  put_str(&b, name);
  put_str(&b, cwd);
  uint32_t count = 0;
  for (char **e = environ; *e; e++) count++;
  put32(&b, count);
  for (char **e = environ; *e; e++) put_str(&b, *e);
  /* stdin after the header, counted in the same limit as the rest of the request */
  size_t head = b.len + 4;
  struct buf in = { 0 };
  char chunk[65536];
  for (;;) {
    ssize_t r = read(0, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(CNI_INTERNAL, "podnet launcher: read stdin: %s", strerror(errno));
    if (r == 0) break;
    if (head + in.len + (size_t)r > MAX_PART)
      fail(CNI_DECODING, "podnet launcher: the request (stdin and environment) is larger than %u bytes", MAX_PART);
    put(&in, chunk, (size_t)r);
  }
  put32(&b, (uint32_t)in.len);

  /* From here on the daemon has PODNET_CNI_TIMEOUT seconds to read the request and answer. */
  char msg[1024];
  snprintf(msg, sizeof msg, "podnet launcher: no answer from the podnet daemon on %s within %u s (PODNET_CNI_TIMEOUT)", sock, timeout);
  timeout_json_len = cni_error_json(timeout_json, sizeof timeout_json, CNI_INTERNAL, msg);
  struct sigaction sa = { .sa_handler = on_alarm };
  sigaction(SIGALRM, &sa, NULL);
  alarm(timeout);

  /* A failed send means the daemon stopped reading; its answer (an error) is still readable. */
  if (send_all(fd, b.p, b.len) == 0 && in.len) send_all(fd, in.p, in.len);
  shutdown(fd, SHUT_WR);

  uint32_t code, outlen, errlen;
  char *out, *err;
  read_answer(fd, &code, &out, &outlen, &err, &errlen);
  alarm(0);
  write_all(1, out, outlen);
  write_all(2, err, errlen);
  return (int)code;
}
