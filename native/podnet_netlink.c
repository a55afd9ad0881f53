// podnet_netlink: the small native part of podnet's kernel layer (plain node_api.h, no C++).
//
// Everything here is synchronous and does one system-call-level job; all message encoding and
// decoding is TypeScript (src/kernel/rtnl-codec.ts). The one thing JavaScript cannot do safely is
// to work inside another network namespace: setns(2) switches only the calling OS thread, and no
// JavaScript may run while the thread is switched (any socket it opened would land in the wrong
// netns). So every netns-switching function saves the thread's netns, switches, does its work,
// switches back and closes the fds inside ONE native call. If switching back fails we abort():
// continuing in the wrong netns would silently corrupt the host's network.
//
// Exports:
//   nlOpen(netnsPath: string|null, protocol: number): number      netlink socket fd, bound
//   nlSend(fd: number, buf: Buffer): number                        bytes sent
//   nlRecv(fd: number, timeoutMs: number): Buffer|null            one datagram; null on timeout
//   close(fd: number): void
//   sysctlRead(netnsPath: string|null, key: string): string       /proc/sys/KEY
//   sysctlWrite(netnsPath: string|null, key: string, value: string): void
//   flock(fd: number, op: number): boolean                        false: LOCK_NB and held elsewhere
//   peerCred(fd: number): {pid, uid, gid, groups: number[]}       SO_PEERCRED (+ SO_PEERGROUPS) of a unix socket
//   peerHungUp(fd: number): boolean                               the peer closed its end (POLLHUP), without reading
//   inotifyInit(): number                                          inotify fd, non-blocking, CLOEXEC (read it with fs.readSync)
//   inotifyAddWatch(fd: number, path: string, mask: number): number  watch descriptor (the same one again for the same inode)
//   inotifyRmWatch(fd: number, wd: number): void
//   spawn(path: string, argv: string[], envp: string[], cwd: string|null): {pid, stdin, stdout, stderr}
//                                                                 posix_spawn with three pipes (parent ends CLOEXEC)
//   waitPid(pid: number, timeoutMs?: number): null | {code: number|null, signal: number|null}
//                                                                 WNOHANG, after waiting up to timeoutMs (≤ 1000) for the exit; null while it runs
//   LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN: numbers
// Errors are JS Errors with .code = errno name ("ENOENT"), .errno = number, .syscall.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <node_api.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

#define MAX_PATH 4096
#define MAX_SYSCTL_VALUE 4096

// ---------------------------------------------------------------------------------------------
// errors

static const char *errno_name(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *n = strerrorname_np(err);
  if (n) return n;
#else
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOBUFS: return "ENOBUFS";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    default: break;
  }
#endif
  return "EUNKNOWN";
}

// Throws `Error("<syscall> <what>: <strerror> (<CODE>)")` with .code, .errno, .syscall [, .path].
static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *what) {
  char msg[MAX_PATH + 256];
  const char *name = errno_name(err);
  if (what && *what)
    snprintf(msg, sizeof msg, "%s %s: %s (%s)", syscall, what, strerror(err), name);
  else
    snprintf(msg, sizeof msg, "%s: %s (%s)", syscall, strerror(err), name);
  napi_value jmsg, jerr, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_error(env, NULL, jmsg, &jerr);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, jerr, "code", v);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, jerr, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, jerr, "syscall", v);
  if (what && *what) {
    napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, jerr, "path", v);
  }
  napi_throw(env, jerr);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// ---------------------------------------------------------------------------------------------
// argument helpers

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return -1;
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  return 0;
}

static int get_int(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

// Reads a string argument into buf. Returns 1 if null/undefined (no path), 0 if a string, -1 on error.
static int get_opt_string(napi_env env, napi_value v, char *buf, size_t size) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_null || t == napi_undefined) return 1;
  if (t != napi_string) return -1;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len + 1 > size) return -1;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) return -1;
  if (strlen(buf) != len) return -1;  // embedded NUL
  return 0;
}

// ---------------------------------------------------------------------------------------------
// netns switching: enter_netns / leave_netns bracket a section of C code (never JavaScript).

typedef struct {
  int saved;   // the thread's own netns, or -1 when no switch happened
  int target;
} netns_guard;

// Returns 0, or an errno with *failed_call set ("open"/"setns").
static int enter_netns(const char *path, netns_guard *g, const char **failed_call) {
  g->saved = -1;
  g->target = -1;
  if (!path) return 0;
  g->saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (g->saved < 0) {
    *failed_call = "open /proc/thread-self/ns/net";
    return errno;
  }
  g->target = open(path, O_RDONLY | O_CLOEXEC);
  if (g->target < 0) {
    int e = errno;
    close(g->saved);
    g->saved = -1;
    *failed_call = "open netns";
    return e;
  }
  if (setns(g->target, CLONE_NEWNET) < 0) {
    int e = errno;
    close(g->saved);
    close(g->target);
    g->saved = g->target = -1;
    *failed_call = "setns";
    return e;
  }
  return 0;
}

static void leave_netns(netns_guard *g) {
  if (g->saved < 0) return;
  if (setns(g->saved, CLONE_NEWNET) < 0) {
    // The thread is stuck in the wrong netns: anything it did next would hit the wrong network.
    fprintf(stderr, "podnet_netlink: cannot restore the thread's netns: %s; aborting\n", strerror(errno));
    abort();
  }
  close(g->saved);
  close(g->target);
  g->saved = g->target = -1;
}

// ---------------------------------------------------------------------------------------------
// netlink

static napi_value NlOpen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[MAX_PATH];
  int32_t proto;
  if (get_args(env, info, 2, argv)) return NULL;
  int np = get_opt_string(env, argv[0], path, sizeof path);
  if (np < 0) return throw_type(env, "nlOpen: netnsPath must be a string or null");
  if (get_int(env, argv[1], &proto)) return throw_type(env, "nlOpen: protocol must be a number");

  netns_guard g;
  const char *failed = NULL;
  int err = enter_netns(np == 0 ? path : NULL, &g, &failed);
  if (err) return throw_errno(env, err, failed, path);
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);
  int serr = errno;
  leave_netns(&g);
  if (fd < 0) return throw_errno(env, serr, "socket", "AF_NETLINK");

  int one = 1;
  // Extended ack (error text from the kernel) and capped acks (the kernel does not echo our
  // request back in errors). Both are optional: older kernels just lack them.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  int rcvbuf = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);

  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "bind", "AF_NETLINK");
  }
  napi_value r;
  napi_create_int32(env, fd, &r);
  return r;
}

static napi_value NlSend(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  void *data;
  size_t len;
  if (get_args(env, info, 2, argv)) return NULL;
  if (get_int(env, argv[0], &fd)) return throw_type(env, "nlSend: fd must be a number");
  bool isbuf = false;
  napi_is_buffer(env, argv[1], &isbuf);
  if (!isbuf || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok)
    return throw_type(env, "nlSend: data must be a Buffer");
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  ssize_t n;
  do n = sendto(fd, data, len, 0, (struct sockaddr *)&sa, sizeof sa);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "sendto", "netlink");
  napi_value r;
  napi_create_int64(env, n, &r);
  return r;
}

static napi_value NlRecv(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, timeout;
  if (get_args(env, info, 2, argv)) return NULL;
  if (get_int(env, argv[0], &fd)) return throw_type(env, "nlRecv: fd must be a number");
  if (get_int(env, argv[1], &timeout)) return throw_type(env, "nlRecv: timeoutMs must be a number");

  struct pollfd p = {.fd = fd, .events = POLLIN};
  int pr;
  do pr = poll(&p, 1, timeout);
  while (pr < 0 && errno == EINTR);
  if (pr < 0) return throw_errno(env, errno, "poll", "netlink");
  if (pr == 0) {
    napi_value nul;
    napi_get_null(env, &nul);
    return nul;
  }
  // Peek with MSG_TRUNC to learn the datagram's real size, then receive it whole into a buffer of
  // exactly that size: large dumps never get truncated and nothing is copied twice.
  char probe;
  ssize_t size;
  do size = recv(fd, &probe, 1, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
  while (size < 0 && errno == EINTR);
  if (size < 0) return throw_errno(env, errno, "recv", "netlink");
  void *data;
  napi_value buf;
  if (napi_create_buffer(env, size > 0 ? (size_t)size : 1, &data, &buf) != napi_ok) return NULL;
  ssize_t n;
  do n = recv(fd, data, size > 0 ? (size_t)size : 1, MSG_TRUNC | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "recv", "netlink");
  if (n > size) return throw_errno(env, EMSGSIZE, "recv", "netlink (truncated)");
  if (n < size) {
    // Cannot happen for one datagram; return the prefix that arrived.
    napi_value sub;
    napi_create_buffer_copy(env, (size_t)n, data, NULL, &sub);
    return sub;
  }
  return buf;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (get_args(env, info, 1, argv)) return NULL;
  if (get_int(env, argv[0], &fd)) return throw_type(env, "close: fd must be a number");
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close", NULL);
  return undefined(env);
}

// ---------------------------------------------------------------------------------------------
// sysctl

// Builds /proc/sys/KEY; KEY must be relative, without "." / ".." components.
static int sysctl_path(const char *key, char *out, size_t size) {
  if (!*key || key[0] == '/') return -1;
  const char *p = key;
  while (*p) {
    const char *slash = strchr(p, '/');
    size_t seg = slash ? (size_t)(slash - p) : strlen(p);
    if (seg == 0 || (seg == 1 && p[0] == '.') || (seg == 2 && p[0] == '.' && p[1] == '.')) return -1;
    p += seg;
    if (*p == '/') p++;
  }
  int n = snprintf(out, size, "/proc/sys/%s", key);
  return n > 0 && (size_t)n < size ? 0 : -1;
}

static napi_value SysctlRead(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char ns[MAX_PATH], key[MAX_PATH], file[MAX_PATH + 16];
  if (get_args(env, info, 2, argv)) return NULL;
  int np = get_opt_string(env, argv[0], ns, sizeof ns);
  if (np < 0) return throw_type(env, "sysctlRead: netnsPath must be a string or null");
  if (get_opt_string(env, argv[1], key, sizeof key) != 0 || sysctl_path(key, file, sizeof file))
    return throw_type(env, "sysctlRead: key must be a relative path under /proc/sys");

  char value[MAX_SYSCTL_VALUE + 1];
  netns_guard g;
  const char *failed = NULL;
  int err = enter_netns(np == 0 ? ns : NULL, &g, &failed);
  if (err) return throw_errno(env, err, failed, ns);
  ssize_t total = 0;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  err = fd < 0 ? errno : 0;
  if (fd >= 0) {
    while (total < MAX_SYSCTL_VALUE) {
      ssize_t n = read(fd, value + total, MAX_SYSCTL_VALUE - total);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) { err = errno; break; }
      if (n == 0) break;
      total += n;
    }
    close(fd);
  }
  leave_netns(&g);
  if (err) return throw_errno(env, err, fd < 0 ? "open" : "read", file);
  value[total] = 0;
  napi_value r;
  napi_create_string_utf8(env, value, (size_t)total, &r);
  return r;
}

static napi_value SysctlWrite(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char ns[MAX_PATH], key[MAX_PATH], file[MAX_PATH + 16], value[MAX_SYSCTL_VALUE];
  if (get_args(env, info, 3, argv)) return NULL;
  int np = get_opt_string(env, argv[0], ns, sizeof ns);
  if (np < 0) return throw_type(env, "sysctlWrite: netnsPath must be a string or null");
  if (get_opt_string(env, argv[1], key, sizeof key) != 0 || sysctl_path(key, file, sizeof file))
    return throw_type(env, "sysctlWrite: key must be a relative path under /proc/sys");
  if (get_opt_string(env, argv[2], value, sizeof value) != 0)
    return throw_type(env, "sysctlWrite: value must be a string");

  netns_guard g;
  const char *failed = NULL;
  int err = enter_netns(np == 0 ? ns : NULL, &g, &failed);
  if (err) return throw_errno(env, err, failed, ns);
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  err = fd < 0 ? errno : 0;
  if (fd >= 0) {
    size_t len = strlen(value);
    ssize_t n;
    do n = write(fd, value, len);
    while (n < 0 && errno == EINTR);
    if (n < 0) err = errno;
    else if ((size_t)n != len) err = EIO;
    if (close(fd) < 0 && !err && errno != EINTR) err = errno;
  }
  leave_netns(&g);
  if (err) return throw_errno(env, err, fd < 0 ? "open" : "write", file);
  return undefined(env);
}

// ---------------------------------------------------------------------------------------------
// flock

static napi_value Flock(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, op;
  if (get_args(env, info, 2, argv)) return NULL;
  if (get_int(env, argv[0], &fd) || get_int(env, argv[1], &op))
    return throw_type(env, "flock: fd and op must be numbers");
  int r;
  do r = flock(fd, op);
  while (r < 0 && errno == EINTR);
  napi_value res;
  if (r < 0) {
    if (errno == EWOULDBLOCK && (op & LOCK_NB)) {
      napi_get_boolean(env, false, &res);
      return res;
    }
    return throw_errno(env, errno, "flock", NULL);
  }
  napi_get_boolean(env, true, &res);
  return res;
}

// ---------------------------------------------------------------------------------------------
// unix socket peers (the daemons check who connected before they read a byte)

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif
#define MAX_PEER_GROUPS 1024

static napi_value PeerCred(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (get_args(env, info, 1, argv)) return NULL;
  if (get_int(env, argv[0], &fd)) return throw_type(env, "peerCred: fd must be a number");
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return throw_errno(env, errno, "getsockopt", "SO_PEERCRED");
  if (len != sizeof cred) return throw_errno(env, EPROTO, "getsockopt", "SO_PEERCRED");
  // The peer's supplementary groups as they were at connect(); none on kernels before 4.13.
  gid_t groups[MAX_PEER_GROUPS];
  socklen_t glen = sizeof groups;
  size_t ngroups = 0;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) ngroups = glen / sizeof(gid_t);
  napi_value r, v, arr;
  napi_create_object(env, &r);
  napi_create_int64(env, cred.pid, &v);
  napi_set_named_property(env, r, "pid", v);
  napi_create_int64(env, cred.uid, &v);
  napi_set_named_property(env, r, "uid", v);
  napi_create_int64(env, cred.gid, &v);
  napi_set_named_property(env, r, "gid", v);
  napi_create_array_with_length(env, ngroups, &arr);
  for (size_t i = 0; i < ngroups; i++) {
    napi_create_int64(env, groups[i], &v);
    napi_set_element(env, arr, (uint32_t)i, v);
  }
  napi_set_named_property(env, r, "groups", arr);
  return r;
}

static napi_value PeerHungUp(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (get_args(env, info, 1, argv)) return NULL;
  if (get_int(env, argv[0], &fd)) return throw_type(env, "peerHungUp: fd must be a number");
  // No events asked for: poll reports POLLHUP/POLLERR/POLLNVAL regardless and consumes nothing.
  // A unix stream socket reports POLLHUP once the peer has closed (not merely shut down writing).
  struct pollfd p = {.fd = fd, .events = 0};
  int pr;
  do pr = poll(&p, 1, 0);
  while (pr < 0 && errno == EINTR);
  if (pr < 0) return throw_errno(env, errno, "poll", NULL);
  napi_value res;
  napi_get_boolean(env, pr > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0, &res);
  return res;
}

// ---------------------------------------------------------------------------------------------
// inotify (a long-lived daemon learns exactly which files of a directory changed since it last looked)

static napi_value InotifyInit(napi_env env, napi_callback_info info) {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "inotify_init1", NULL);
  napi_value res;
  napi_create_int32(env, fd, &res);
  return res;
}

static napi_value InotifyAddWatch(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd, mask;
  char path[MAX_PATH];
  if (get_args(env, info, 3, argv)) return NULL;
  if (get_int(env, argv[0], &fd) || get_opt_string(env, argv[1], path, sizeof path) != 0 || get_int(env, argv[2], &mask))
    return throw_type(env, "inotifyAddWatch: fd must be a number, path a string (no NUL), mask a number");
  int wd = inotify_add_watch(fd, path, (uint32_t)mask);
  if (wd < 0) return throw_errno(env, errno, "inotify_add_watch", path);
  napi_value res;
  napi_create_int32(env, wd, &res);
  return res;
}

static napi_value InotifyRmWatch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, wd;
  if (get_args(env, info, 2, argv)) return NULL;
  if (get_int(env, argv[0], &fd) || get_int(env, argv[1], &wd)) return throw_type(env, "inotifyRmWatch: fd and wd must be numbers");
  if (inotify_rm_watch(fd, wd) < 0) return throw_errno(env, errno, "inotify_rm_watch", NULL);
  return undefined(env);
}

// ---------------------------------------------------------------------------------------------
// spawn: posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK)), so starting a process costs the same
// whatever the caller's size. libuv forks, and fork copies the page tables of the whole process:
// ~4 ms per 100 MB resident, during which the calling thread is blocked and every other thread
// that faults a page waits on the address space lock. The child gets default signal dispositions
// and an empty signal mask (as libuv gives its children); it is reaped with waitPid (libuv only
// reaps the children it started itself).

#define MAX_SPAWN_ARGS 4096
#define MAX_SPAWN_BYTES (4 * 1024 * 1024)

// A JS array of strings as a NULL-terminated vector in one allocation; NULL after throwing.
static char **string_vector(napi_env env, napi_value arr, const char *what) {
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, arr, &is_array) != napi_ok || !is_array || napi_get_array_length(env, arr, &n) != napi_ok || n > MAX_SPAWN_ARGS) {
    throw_type(env, what);
    return NULL;
  }
  size_t total = 0;
  size_t lens[MAX_SPAWN_ARGS];
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_valuetype t;
    if (napi_get_element(env, arr, i, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok || t != napi_string ||
        napi_get_value_string_utf8(env, v, NULL, 0, &lens[i]) != napi_ok) {
      throw_type(env, what);
      return NULL;
    }
    total += lens[i] + 1;
    if (total > MAX_SPAWN_BYTES) {
      throw_type(env, what);
      return NULL;
    }
  }
  char **vec = malloc((n + 1) * sizeof(char *) + total);
  if (!vec) {
    throw_errno(env, ENOMEM, "malloc", what);
    return NULL;
  }
  char *p = (char *)(vec + n + 1);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    size_t got = 0;
    napi_get_element(env, arr, i, &v);
    napi_get_value_string_utf8(env, v, p, lens[i] + 1, &got);
    if (strlen(p) != got) {  // embedded NUL
      free(vec);
      throw_type(env, what);
      return NULL;
    }
    vec[i] = p;
    p += lens[i] + 1;
  }
  vec[n] = NULL;
  return vec;
}

static napi_value Spawn(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char path[MAX_PATH], cwd[MAX_PATH];
  if (get_args(env, info, 4, argv)) return NULL;
  if (get_opt_string(env, argv[0], path, sizeof path) != 0) return throw_type(env, "spawn: path must be a string (no NUL)");
  int has_cwd = get_opt_string(env, argv[3], cwd, sizeof cwd);
  if (has_cwd < 0) return throw_type(env, "spawn: cwd must be a string (no NUL) or null");
  char **args = string_vector(env, argv[1], "spawn: argv must be an array of strings (no NUL)");
  if (!args) return NULL;
  char **envp = string_vector(env, argv[2], "spawn: envp must be an array of strings (no NUL)");
  if (!envp) {
    free(args);
    return NULL;
  }

  int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
  int err = 0;
  const char *failed = "pipe2";
  for (int i = 0; i < 3 && !err; i++)
    if (pipe2(pipes[i], O_CLOEXEC) < 0) err = errno;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  int fa_ok = 0, attr_ok = 0;
  pid_t pid = -1;
  if (!err) {
    failed = "posix_spawn";
    err = posix_spawn_file_actions_init(&fa);
    fa_ok = !err;
    // The child's ends become its 0, 1, 2 (dup2 clears CLOEXEC on the copies); all else closes on exec.
    if (!err) err = posix_spawn_file_actions_adddup2(&fa, pipes[0][0], 0);
    if (!err) err = posix_spawn_file_actions_adddup2(&fa, pipes[1][1], 1);
    if (!err) err = posix_spawn_file_actions_adddup2(&fa, pipes[2][1], 2);
    if (!err && has_cwd == 0) err = posix_spawn_file_actions_addchdir_np(&fa, cwd);
    if (!err) {
      err = posix_spawnattr_init(&attr);
      attr_ok = !err;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if (!err) err = posix_spawnattr_setsigmask(&attr, &none);
    if (!err) err = posix_spawnattr_setsigdefault(&attr, &all);
    if (!err) err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (!err) err = posix_spawn(&pid, path, &fa, &attr, args, envp);
  }
  if (fa_ok) posix_spawn_file_actions_destroy(&fa);
  if (attr_ok) posix_spawnattr_destroy(&attr);
  free(args);
  free(envp);
  // The child's ends are closed here in any case; the parent's on failure.
  if (pipes[0][0] >= 0) close(pipes[0][0]);
  if (pipes[1][1] >= 0) close(pipes[1][1]);
  if (pipes[2][1] >= 0) close(pipes[2][1]);
  if (err) {
    if (pipes[0][1] >= 0) close(pipes[0][1]);
    if (pipes[1][0] >= 0) close(pipes[1][0]);
    if (pipes[2][0] >= 0) close(pipes[2][0]);
    return throw_errno(env, err, failed, path);
  }
  napi_value res, v;
  napi_create_object(env, &res);
  napi_create_int32(env, pid, &v);
  napi_set_named_property(env, res, "pid", v);
  napi_create_int32(env, pipes[0][1], &v);
  napi_set_named_property(env, res, "stdin", v);
  napi_create_int32(env, pipes[1][0], &v);
  napi_set_named_property(env, res, "stdout", v);
  napi_create_int32(env, pipes[2][0], &v);
  napi_set_named_property(env, res, "stderr", v);
  return res;
}

static napi_value WaitPid(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t pid, timeout = 0;
  if (get_args(env, info, 2, argv)) return NULL;
  if (get_int(env, argv[0], &pid) || pid <= 0) return throw_type(env, "waitPid: pid must be a positive number");
  napi_valuetype t;
  if (napi_typeof(env, argv[1], &t) == napi_ok && t != napi_undefined && (get_int(env, argv[1], &timeout) || timeout < 0 || timeout > 1000))
    return throw_type(env, "waitPid: timeoutMs must be 0..1000");
#ifdef SYS_pidfd_open
  // Up to timeoutMs for the child to finish exiting (a pidfd turns readable when it has), on kernels with pidfds.
  if (timeout > 0) {
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd >= 0) {
      struct pollfd p = {.fd = pfd, .events = POLLIN};
      int pr;
      do pr = poll(&p, 1, timeout);
      while (pr < 0 && errno == EINTR);
      close(pfd);
    }
  }
#endif
  int status = 0;
  pid_t r;
  do r = waitpid(pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r < 0) return throw_errno(env, errno, "waitpid", NULL);
  napi_value res, code, sig;
  if (r == 0) {
    napi_get_null(env, &res);
    return res;
  }
  napi_create_object(env, &res);
  napi_get_null(env, &code);
  napi_get_null(env, &sig);
  if (WIFEXITED(status)) napi_create_int32(env, WEXITSTATUS(status), &code);
  if (WIFSIGNALED(status)) napi_create_int32(env, WTERMSIG(status), &sig);
  napi_set_named_property(env, res, "code", code);
  napi_set_named_property(env, res, "signal", sig);
  return res;
}

// ---------------------------------------------------------------------------------------------

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

static void export_int(napi_env env, napi_value exports, const char *name, int v) {
  napi_value n;
  napi_create_int32(env, v, &n);
  napi_set_named_property(env, exports, name, n);
}

NAPI_MODULE_INIT() {
  export_fn(env, exports, "nlOpen", NlOpen);
  export_fn(env, exports, "nlSend", NlSend);
  export_fn(env, exports, "nlRecv", NlRecv);
  export_fn(env, exports, "close", Close);
  export_fn(env, exports, "sysctlRead", SysctlRead);
  export_fn(env, exports, "sysctlWrite", SysctlWrite);
  export_fn(env, exports, "flock", Flock);
  export_fn(env, exports, "peerCred", PeerCred);
  export_fn(env, exports, "peerHungUp", PeerHungUp);
  export_fn(env, exports, "inotifyInit", InotifyInit);
  export_fn(env, exports, "inotifyAddWatch", InotifyAddWatch);
  export_fn(env, exports, "inotifyRmWatch", InotifyRmWatch);
  export_fn(env, exports, "spawn", Spawn);
  export_fn(env, exports, "waitPid", WaitPid);
  export_int(env, exports, "LOCK_SH", LOCK_SH);
  export_int(env, exports, "LOCK_EX", LOCK_EX);
  export_int(env, exports, "LOCK_NB", LOCK_NB);
  export_int(env, exports, "LOCK_UN", LOCK_UN);
  return exports;
}
