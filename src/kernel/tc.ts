// Traffic control, the port: token-bucket shaping in one network namespace (what the bandwidth
// plugin adds to and removes from a veth and an ifb), with one error type, TcError. The port picks
// the mechanism: rtnetlink when it has a socket (tc-netlink.ts: one round trip per operation,
// built as iproute2 builds it), else the `tc` tool (one `tc -batch -` for a list of operations,
// `tc -json` for reads); the tbf numbers as tc prints them (rate, burst, latency) are always read
// through `tc -json`, which computes them. Here too, as pure functions: the operations as tc lines,
// the token-bucket arithmetic of Go's bandwidth plugin, and the psched clock of /proc/net/psched.
import { readFileSync } from "node:fs";
import { isKernelError } from "./errors.js";
import { ExecError, type Exec } from "./exec.js";
import { PodnetError } from "../util/errors.js";

export type TcErrno = "EEXIST" | "ENOENT" | "ENODEV" | "EINVAL" | "UNKNOWN";

export class TcError extends PodnetError {
  override name = "TcError";
  readonly code = "PODNET_TC";
  readonly errno: TcErrno;
  /** tc's stderr ("" when the operation went over netlink). */
  readonly stderr: string;
  constructor(message: string, errno: TcErrno, stderr: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.errno = errno;
    this.stderr = stderr;
  }
}

/** The thing being added exists already (a second root qdisc, say). */
export const isTcExists = (e: unknown): e is TcError => e instanceof TcError && e.errno === "EEXIST";

export function classifyTcError(stderr: string): TcErrno {
  if (/File exists|Exclusivity flag on/.test(stderr)) return "EEXIST";
  if (/Cannot find device|No such device/.test(stderr)) return "ENODEV";
  if (/No such file or directory|Cannot delete qdisc with handle of zero|Invalid handle/.test(stderr)) return "ENOENT";
  if (/Invalid argument|Illegal|invalid/i.test(stderr)) return "EINVAL";
  return "UNKNOWN";
}

const TC_ERRNOS: readonly string[] = ["EEXIST", "ENOENT", "ENODEV", "EINVAL"];

/** A netlink operation's KernelError as the port's TcError (same message, the kernel's errno). */
function fromNetlink(e: unknown): unknown {
  if (!isKernelError(e)) return e;
  return new TcError(e.message, (TC_ERRNOS.includes(e.errno) ? e.errno : "UNKNOWN") as TcErrno, "", e);
}

/** A qdisc as `tc -json qdisc show` prints it. tbf options: rate (bytes/s), burst (bytes), lat (µs). */
export interface Qdisc {
  readonly kind: string;
  readonly handle: string;
  readonly root?: boolean;
  readonly parent?: string;
  readonly options?: {
    readonly rate?: number;
    readonly burst?: number;
    readonly lat?: number;
    readonly [k: string]: unknown;
  };
}

// ---- the psched clock -------------------------------------------------------------------------

/** What iproute2 reads from /proc/net/psched: µs per psched tick, and the clock's HZ for buffers. */
export interface Psched {
  readonly tickInUsec: number;
  readonly hz: number;
}

/** What every kernel since 2.6.31 reports ("000003e8 00000040 000f4240 3b9aca00"): used when the file cannot be read. */
export const DEFAULT_PSCHED: Psched = { tickInUsec: 15.625, hz: 1_000_000_000 };

/** tc_core_init() and get_hz() over the text of /proc/net/psched ("t2us us2t clockres hz", hex). */
export function parsePsched(text: string): Psched {
  const w = text
    .trim()
    .split(/\s+/)
    .map((x) => parseInt(x, 16));
  let [t2us, us2t, clockRes, hzField] = w as [number, number, number, number | undefined];
  if (w.length < 3 || w.slice(0, 3).some((x) => !Number.isFinite(x)) || us2t === 0) return DEFAULT_PSCHED;
  if (clockRes === 1_000_000_000) t2us = us2t;
  const tickInUsec = (t2us / us2t) * (clockRes / 1e6);
  const hz = clockRes === 1_000_000 && hzField ? hzField : 100;
  return { tickInUsec, hz };
}

let pschedCache: Psched | undefined;
/** This machine's psched clock, read once. */
export function readPsched(): Psched {
  if (!pschedCache) {
    let text = "";
    try {
      text = readFileSync("/proc/net/psched", "utf8");
    } catch {
      // no procfs: the default
    }
    pschedCache = parsePsched(text);
  }
  return pschedCache;
}

/** tc_calc_xmittime(): psched ticks to send `size` bytes at `rate` bytes/s (C's double division and unsigned truncations kept). */
export function xmitTime(rate: number, size: number, ps: Psched): number {
  const us = Math.trunc(1e6 * (size / rate)) >>> 0; // the unsigned int parameter of tc_core_time2tick
  return Math.trunc(us * ps.tickInUsec) >>> 0;
}

// ---- token bucket arithmetic (Go's bandwidth plugin) -------------------------------------------

/** Go's fixed tbf latency: 25 ms. */
export const TBF_LATENCY_US = 25_000;
const U32_MAX = 0xffff_ffff;

export interface TbfParams {
  /** bytes/s */
  readonly rateBytes: number;
  /** bytes */
  readonly burstBytes: number;
  /** bytes: rate × latency + burst */
  readonly limitBytes: number;
  /** psched ticks to send the burst at the rate (what the kernel stores) */
  readonly bufferTicks: number;
}

/**
 * The tbf numbers for a rate (bits/s) and burst (bits), as the Go plugin computes them, but
 * without its uint32 overflow: a burst that would take longer than the kernel's 32-bit tick
 * buffer can hold at that rate is clamped to the largest that fits.
 */
export function tbfParams(rateBits: number, burstBits: number, tickInUsec = DEFAULT_PSCHED.tickInUsec): TbfParams {
  const rateBytes = Math.floor(rateBits / 8);
  let burstBytes = Math.floor(burstBits / 8);
  if (rateBytes <= 0) throw new RangeError(`rate ${rateBits} bit/s is less than one byte per second`);
  const maxBurst = Math.floor(((U32_MAX / tickInUsec) * rateBytes) / 1e6);
  if (burstBytes > maxBurst) burstBytes = maxBurst;
  const bufferTicks = Math.min(U32_MAX, Math.floor(Math.floor((burstBytes * 1e6) / rateBytes) * tickInUsec));
  const limitBytes = Math.min(U32_MAX, Math.floor((rateBytes * TBF_LATENCY_US) / 1e6) + burstBytes);
  return { rateBytes, burstBytes, limitBytes, bufferTicks };
}

// ---- the operations -----------------------------------------------------------------------------

/** One shaping change on a device: what the bandwidth plugin adds to, and removes from, a veth and an ifb. */
export type ShapingOp =
  /** `qdisc add|replace dev DEV root handle 1: tbf rate …bps burst … limit …` */
  | { readonly op: "tbf"; readonly mode: "add" | "replace"; readonly dev: string; readonly params: TbfParams }
  /** `qdisc add dev DEV handle ffff: ingress` */
  | { readonly op: "ingress"; readonly dev: string }
  /** `filter add dev DEV parent ffff: protocol all prio 1 u32 match u32 0 0 classid 1:1 action mirred egress redirect dev TO` */
  | { readonly op: "redirect"; readonly dev: string; readonly to: string }
  /** `filter del dev DEV parent ffff: protocol all prio 1 u32` */
  | { readonly op: "unredirect"; readonly dev: string }
  /** `qdisc del dev DEV root` */
  | { readonly op: "delRoot"; readonly dev: string }
  /** `qdisc del dev DEV ingress` */
  | { readonly op: "delIngress"; readonly dev: string };

/** The `tc -batch` line of an operation. */
export function tcLine(o: ShapingOp): string {
  switch (o.op) {
    case "tbf": {
      const p = o.params;
      return `qdisc ${o.mode} dev ${o.dev} root handle 1: tbf rate ${p.rateBytes}bps burst ${p.burstBytes} limit ${p.limitBytes}`;
    }
    case "ingress":
      return `qdisc add dev ${o.dev} handle ffff: ingress`;
    case "redirect":
      return `filter add dev ${o.dev} parent ffff: protocol all prio 1 u32 match u32 0 0 classid 1:1 action mirred egress redirect dev ${o.to}`;
    case "unredirect":
      return `filter del dev ${o.dev} parent ffff: protocol all prio 1 u32`;
    case "delRoot":
      return `qdisc del dev ${o.dev} root`;
    case "delIngress":
      return `qdisc del dev ${o.dev} ingress`;
  }
}

// ---- the port -----------------------------------------------------------------------------------

/** Traffic control in one network namespace. */
export interface Tc {
  /**
   * The qdiscs of `dev`: over netlink its root and ingress qdiscs (a built-in noqueue root too),
   * through `tc` all of them. `options`: with the numbers tc prints (tbf: rate, burst, latency),
   * which only `tc -json` computes.
   */
  qdiscs(dev: string, opts?: { options?: boolean }): Promise<Qdisc[]>;
  /** The operations in order; the first failure is thrown, unless `force`: then each is tried and the first error is thrown at the end. */
  apply(ops: readonly ShapingOp[], opts?: { force?: boolean }): Promise<void>;
  /** The psched clock the kernel's tick buffers are counted in. */
  psched(): Psched;
  close(): void;
}

/** What the port needs of a netlink socket (tc-netlink.ts's TcNetlink has it). Synchronous, KernelErrors. */
export interface TcShapingNetlink {
  /** Root and ingress qdiscs of `dev`, as `tc qdisc show dev DEV` lists them. */
  shapingQdiscs(dev: string): Qdisc[];
  shape(ops: readonly ShapingOp[], opts?: { force?: boolean }): void;
  close(): void;
}

export interface TcOptions {
  /** Runs `tc` in the network namespace. */
  readonly exec: Exec;
  /** A netlink socket in the same namespace, opened on first use: then no `tc` process runs but for `options` reads. */
  readonly netlink?: () => TcShapingNetlink;
  /** Default: this machine's (readPsched). */
  readonly psched?: Psched;
  /** Default "tc" (found in PATH). */
  readonly binary?: string;
}

export function createTc(o: TcOptions): Tc {
  const bin = o.binary ?? "tc";
  const fail = (what: string, e: unknown): Error => {
    if (e instanceof ExecError) {
      const lines = e.stderr
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !/^Command failed/.test(l));
      return new TcError(`${what}: ${lines.join("; ") || e.message}`, classifyTcError(e.stderr), e.stderr, e);
    }
    return e instanceof Error ? e : new Error(String(e));
  };
  const json = async <T>(args: string[]): Promise<T[]> => {
    let out: string;
    try {
      out = await o.exec.run([bin, "-json", ...args]);
    } catch (e) {
      throw fail(`tc ${args.join(" ")}`, e);
    }
    return out.trim() === "" ? [] : (JSON.parse(out) as T[]);
  };
  let nl: TcShapingNetlink | undefined;
  const netlink = o.netlink ? () => (nl ??= o.netlink!()) : undefined;
  const viaNetlink = <T>(fn: (n: TcShapingNetlink) => T): T => {
    try {
      return fn(netlink!());
    } catch (e) {
      throw fromNetlink(e);
    }
  };
  return {
    async qdiscs(dev, q = {}) {
      if (netlink && !q.options) return viaNetlink((n) => n.shapingQdiscs(dev));
      return json<Qdisc>(["qdisc", "show", "dev", dev]);
    },
    async apply(ops, a = {}) {
      if (ops.length === 0) return;
      if (netlink) return viaNetlink((n) => n.shape(ops, a));
      try {
        await o.exec.run([bin, ...(a.force ? ["-force"] : []), "-batch", "-"], {
          stdin: `${ops.map(tcLine).join("\n")}\n`,
        });
      } catch (e) {
        throw fail("tc batch failed", e);
      }
    },
    psched: () => o.psched ?? readPsched(),
    close: () => nl?.close(),
  };
}
