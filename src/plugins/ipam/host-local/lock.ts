// An in-process lock keyed by path: for unit tests and for callers that never share the data
// directory with another process. Plugin processes use the flock lock (main.ts), which Go's
// host-local honours too.
import { KeyedMutex } from "../../../util/keyed-mutex.js";
import type { LockFn } from "./store.js";

export function inProcessLock(): LockFn {
  const m = new KeyedMutex();
  return async (path) => ({ release: await m.acquire(path) });
}
