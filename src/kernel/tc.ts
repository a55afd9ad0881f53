// Traffic control through the `tc` tool: a list of commands applied with one `tc -batch -`
// (one process for a whole shaping setup), and reads with `tc -json`. Also the token-bucket
// arithmetic the Go bandwidth plugin does (psched ticks, buffer, limit), as pure functions.
import { ExecError, type Exec } from "./exec.js";

export type TcErrno = "EEXIST" | "ENOENT" | "ENODEV" | "EINVAL" | "UNKNOWN";

export class TcError extends Error {
  override name = "TcError";
  readonly errno: TcErrno;
  readonly stderr: string;
  constructor(message: string, errno: TcErrno, stderr: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.errno = errno;
    this.stderr = stderr;
  }
}

export function classifyTcError(stderr: string): TcErrno {
  if (/File exists|Exclusivity flag on/.test(stderr)) return "EEXIST";
  if (/Cannot find device|No such device/.test(stderr)) return "ENODEV";
  if (/No such file or directory|Cannot delete qdisc with handle of zero|Invalid handle/.test(stderr)) return "ENOENT";
  if (/Invalid argument|Illegal|invalid/i.test(stderr)) return "EINVAL";
  return "UNKNOWN";
}

/** A qdisc as `tc -json qdisc show` prints it. tbf options: rate (bytes/s), burst (bytes), lat (µs). */
export interface Qdisc {
  readonly kind: string;
  readonly handle: string;
  readonly root?: boolean;
  readonly parent?: string;
  readonly options?: { readonly rate?: number; readonly burst?: number; readonly lat?: number; readonly [k: string]: unknown };
}

export interface Filter {
  readonly protocol?: string;
  readonly pref?: number;
  readonly kind?: string;
  readonly options?: { readonly actions?: ReadonlyArray<{ readonly kind?: string; readonly to_dev?: string }>; readonly [k: string]: unknown };
}

export interface Tc {
  /** `tc [-force] -batch -`: the commands in order; stops at the first failure unless `force`. */
  batch(commands: readonly string[], opts?: { force?: boolean }): Promise<void>;
  /** `tc -json qdisc show dev DEV` */
  qdiscs(dev: string): Promise<Qdisc[]>;
  /** `tc -json filter show dev DEV parent PARENT` */
  filters(dev: string, parent: string): Promise<Filter[]>;
}

export function createTc(exec: Exec, opts: { binary?: string } = {}): Tc {
  const bin = opts.binary ?? "tc";
  const fail = (what: string, e: unknown): Error => {
    if (e instanceof ExecError) {
      const lines = e.stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !/^Command failed/.test(l));
      return new TcError(`${what}: ${lines.join("; ") || e.message}`, classifyTcError(e.stderr), e.stderr, e);
    }
    return e instanceof Error ? e : new Error(String(e));
  };
  const json = async <T>(args: string[]): Promise<T[]> => {
    let out: string;
    try {
      out = await exec.run([bin, "-json", ...args]);
    } catch (e) {
      throw fail(`tc ${args.join(" ")}`, e);
    }
    return out.trim() === "" ? [] : (JSON.parse(out) as T[]);
  };
  return {
    async batch(commands, o = {}) {
      if (commands.length === 0) return;
      try {
        await exec.run([bin, ...(o.force ? ["-force"] : []), "-batch", "-"], { stdin: commands.join("\n") + "\n" });
      } catch (e) {
        throw fail("tc batch failed", e);
      }
    },
    qdiscs: (dev) => json<Qdisc>(["qdisc", "show", "dev", dev]),
    filters: (dev, parent) => json<Filter>(["filter", "show", "dev", dev, "parent", parent]),
  };
}

// ---- token bucket arithmetic ------------------------------------------------------------------

/** `/proc/net/psched`: "t2us us2t clockres hz" in hex → microseconds per psched tick (15.625 today). */
export function parsePsched(text: string): number {
  const w = text.trim().split(/\s+/).map((x) => parseInt(x, 16));
  if (w.length < 3 || w.some((x) => !Number.isFinite(x)) || w[1] === 0) return 15.625;
  let [t2us, us2t, clockRes] = w as [number, number, number];
  if (clockRes === 1e9) t2us = us2t;
  return (t2us / us2t) * (clockRes / 1e6);
}

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
export function tbfParams(rateBits: number, burstBits: number, tickInUsec = 15.625): TbfParams {
  const rateBytes = Math.floor(rateBits / 8);
  let burstBytes = Math.floor(burstBits / 8);
  if (rateBytes <= 0) throw new RangeError(`rate ${rateBits} bit/s is less than one byte per second`);
  const maxBurst = Math.floor(((U32_MAX / tickInUsec) * rateBytes) / 1e6);
  if (burstBytes > maxBurst) burstBytes = maxBurst;
  const bufferTicks = Math.min(U32_MAX, Math.floor(Math.floor((burstBytes * 1e6) / rateBytes) * tickInUsec));
  const limitBytes = Math.min(U32_MAX, Math.floor((rateBytes * TBF_LATENCY_US) / 1e6) + burstBytes);
  return { rateBytes, burstBytes, limitBytes, bufferTicks };
}

/** `qdisc <op> dev DEV root handle 1: tbf rate …bps burst … limit …` */
export function tbfCommand(op: "add" | "replace", dev: string, p: TbfParams): string {
  return `qdisc ${op} dev ${dev} root handle 1: tbf rate ${p.rateBytes}bps burst ${p.burstBytes} limit ${p.limitBytes}`;
}
