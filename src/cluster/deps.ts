// The side effects the cluster code takes as values. The daemon's Logger (netmgr/core/log.ts) fits
// ClusterLogger as it is.

export type LogFields = Readonly<Record<string, unknown>>;

export interface ClusterLogger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export const silentLogger: ClusterLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Time: the wall clock (ms since the epoch), a monotonic clock (ms) and timers. */
export interface Clock {
  now(): number;
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** A promise that resolves after `ms` on the clock, or early (resolving) when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clock.clearTimeout(h);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const h = clock.setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
