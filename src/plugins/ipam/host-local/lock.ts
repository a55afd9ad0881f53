// An in-process lock keyed by path: for unit tests and for callers that never share the data
// directory with another process. Plugin processes use the flock lock (main.ts), which Go's
// host-local honours too.
import type { Lock, LockFn } from "./store.js";

export function inProcessLock(): LockFn {
  const tails = new Map<string, Promise<void>>();
  return async (path) => {
    const before = tails.get(path) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = before.then(() => mine);
    tails.set(path, tail);
    await before;
    let held = true;
    const lock: Lock = {
      release() {
        if (!held) return;
        held = false;
        if (tails.get(path) === tail) tails.delete(path);
        release();
      },
    };
    return lock;
  };
}
