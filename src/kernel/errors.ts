// KernelError: the error of every kernel operation (netlink, sysctl, flock, netns files). Classified
// once, here, from the kernel's errno (netlink NLMSG_ERROR, or the addon's system call), so callers
// branch on `isExist(e)` / `isNotFound(e)` and never on message text. The tools the kernel layer
// runs have their own: ExecError (exec.ts), IptablesError (iptables.ts); the nftables and tc ports report
// one error each, whichever way they went: NftError (nft.ts), TcError (tc.ts).
import { PodnetError } from "../util/errors.js";

/** errno numbers (Linux, all architectures we build for) → names. */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  28: "ENOSPC",
  30: "EROFS",
  34: "ERANGE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  61: "ENODATA",
  62: "ETIME",
  71: "EPROTO",
  74: "EBADMSG",
  75: "EOVERFLOW",
  90: "EMSGSIZE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  110: "ETIMEDOUT",
  113: "EHOSTUNREACH",
  114: "EALREADY",
  115: "EINPROGRESS",
  125: "ECANCELED",
};

/** strerror(3) text for the errnos netlink commonly returns. */
const ERRNO_TEXT: Record<string, string> = {
  EPERM: "Operation not permitted",
  ENOENT: "No such file or directory",
  ESRCH: "No such process",
  EINTR: "Interrupted system call",
  EIO: "Input/output error",
  EBADF: "Bad file descriptor",
  EAGAIN: "Resource temporarily unavailable",
  ENOMEM: "Cannot allocate memory",
  EACCES: "Permission denied",
  EBUSY: "Device or resource busy",
  EEXIST: "File exists",
  ENODEV: "No such device",
  ENOTDIR: "Not a directory",
  EINVAL: "Invalid argument",
  ENOSPC: "No space left on device",
  EROFS: "Read-only file system",
  ERANGE: "Numerical result out of range",
  ENAMETOOLONG: "File name too long",
  ENOSYS: "Function not implemented",
  ENODATA: "No data available",
  EPROTO: "Protocol error",
  EMSGSIZE: "Message too long",
  ENOPROTOOPT: "Protocol not available",
  EPROTONOSUPPORT: "Protocol not supported",
  EOPNOTSUPP: "Operation not supported",
  EAFNOSUPPORT: "Address family not supported by protocol",
  EADDRINUSE: "Address already in use",
  EADDRNOTAVAIL: "Cannot assign requested address",
  ENETDOWN: "Network is down",
  ENETUNREACH: "Network is unreachable",
  ENOBUFS: "No buffer space available",
  ETIMEDOUT: "Connection timed out",
  EHOSTUNREACH: "No route to host",
  ECANCELED: "Operation canceled",
};

export function errnoName(n: number): string {
  return ERRNO_NAMES[Math.abs(n)] ?? `E${Math.abs(n)}`;
}

export function errnoNumber(name: string): number {
  for (const [k, v] of Object.entries(ERRNO_NAMES)) if (v === name) return Number(k);
  return 0;
}

export function errnoText(name: string): string {
  return ERRNO_TEXT[name] ?? name;
}

export interface KernelErrorOptions {
  /** Extended-ack message from the kernel (NLMSGERR_ATTR_MSG), if any. */
  readonly extack?: string;
  readonly cause?: unknown;
}

/**
 * A failed kernel operation. `errno` is the errno NAME ("EEXIST"), `errnum` its number (17),
 * `op` what was attempted (`netlink RTM_NEWLINK veth "eth0"`), `extack` the kernel's own text.
 * Message: `netlink RTM_NEWLINK veth "eth0": File exists (EEXIST)` (+ `: <extack>` when present).
 */
export class KernelError extends PodnetError {
  override name = "KernelError";
  readonly code = "PODNET_KERNEL";
  readonly errno: string;
  /** The errno's number (17). */
  readonly errnum: number;
  readonly op: string;
  readonly extack: string;
  constructor(op: string, errno: string | number, opts: KernelErrorOptions = {}) {
    const name = typeof errno === "number" ? errnoName(errno) : errno;
    const extack = opts.extack ?? "";
    super(`${op}: ${errnoText(name)} (${name})${extack ? `: ${extack}` : ""}`, { cause: opts.cause });
    this.errno = name;
    this.errnum = typeof errno === "number" ? Math.abs(errno) : errnoNumber(name);
    this.op = op;
    this.extack = extack;
  }
}

/** Converts an error thrown by the addon (Node-style: `.code` name, `.errno` number) or by node:fs. */
export function fromSystemError(op: string, e: unknown): KernelError {
  if (e instanceof KernelError) return e;
  const err = e as { code?: unknown; errno?: unknown; message?: unknown };
  const name =
    typeof err?.code === "string" && /^E[A-Z0-9]+$/.test(err.code)
      ? err.code
      : typeof err?.errno === "number"
        ? errnoName(err.errno)
        : "EIO";
  return new KernelError(op, name, { cause: e });
}

export function isKernelError(e: unknown, ...errnos: string[]): e is KernelError {
  return e instanceof KernelError && (errnos.length === 0 || errnos.includes(e.errno));
}

/** The thing being created already exists (EEXIST). */
export function isExist(e: unknown): e is KernelError {
  return isKernelError(e, "EEXIST");
}

/**
 * The thing operated on is not there: no such link (ENODEV), file/route/netns (ENOENT, ESRCH),
 * or address (EADDRNOTAVAIL, what `ip addr del` of a missing address returns).
 */
export function isNotFound(e: unknown): e is KernelError {
  return isKernelError(e, "ENODEV", "ENOENT", "ESRCH", "EADDRNOTAVAIL");
}
