// flock(2)-based file locks, compatible with Go's host-local (`<dataDir>/<net>/lock`, flock LOCK_EX).
// Waiting polls LOCK_NB with a short back-off instead of blocking the thread: two holders inside one
// process (the node manager running plugins in-process) then queue instead of deadlocking, and the
// event loop keeps running. The back-off stays short (≤ 2 ms): a daemon runs many pods' calls at
// once on worker threads, and a waiter polling every 10 ms added up to 10 ms to every contended
// ADD — a poll is one cheap system call.
import { closeSync, constants, openSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Addon } from "./addon.js";
import { KernelError, fromSystemError } from "./errors.js";
import type { FileLock, LockOptions } from "./types.js";

const MAX_BACKOFF_MS = 2;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Go's disk.NewFileLock: a directory is locked through its "lock" file. */
export function lockFilePath(path: string): string {
  try {
    if (statSync(path).isDirectory()) return join(path, "lock");
  } catch {
    // not there yet: lock the path itself (it is created)
  }
  return path;
}

export function createLocker(addon: () => Addon) {
  /** `flock PATH` */
  return async function lock(path: string, opts: LockOptions = {}): Promise<FileLock> {
    const file = lockFilePath(path);
    const a = addon();
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600);
    } catch (e) {
      throw fromSystemError(`lock ${JSON.stringify(file)}: open`, e);
    }
    const op = (opts.shared ? a.LOCK_SH : a.LOCK_EX) | a.LOCK_NB;
    const started = Date.now();
    try {
      for (let wait = 1; ; wait = Math.min(wait * 2, MAX_BACKOFF_MS)) {
        if (a.flock(fd, op)) break;
        if (opts.nonBlocking) throw new KernelError(`lock ${JSON.stringify(file)}: held elsewhere`, "EAGAIN");
        if (opts.timeoutMs !== undefined && Date.now() - started >= opts.timeoutMs) {
          throw new KernelError(`lock ${JSON.stringify(file)}: still held after ${opts.timeoutMs} ms`, "ETIMEDOUT");
        }
        await sleep(wait);
      }
    } catch (e) {
      closeSync(fd);
      throw e instanceof KernelError ? e : fromSystemError(`lock ${JSON.stringify(file)}`, e);
    }
    let held = true;
    return {
      path: file,
      async release() {
        if (!held) return;
        held = false;
        try {
          a.flock(fd, a.LOCK_UN);
        } finally {
          closeSync(fd);
        }
      },
    };
  };
}
