// The process edge of every plugin: real env, stdin, stdout, exit code. Plugins' main.ts call
// runPlugin(); nothing else in a plugin touches `process`.
import { writeSync } from "node:fs";
import { MAX_JSON_BYTES } from "../cni/json.js";
import { isOwnNetns } from "../kernel/netns.js";
import { readFdUpTo } from "../kernel/read-bounded.js";
import { dispatch } from "./dispatch.js";
import type { PluginAbout, PluginFuncs, PluginIo } from "./types.js";

/**
 * At most MAX_JSON_BYTES + 1 bytes of stdin: whatever the caller sends, memory stays bounded, and
 * the JSON reader answers "larger than 64 MiB" (code 6) when the limit was passed.
 */
function readStdin(): Promise<Buffer> {
  const max = MAX_JSON_BYTES;
  let first: { bytes: Buffer; blocked: boolean };
  try {
    first = readFdUpTo(0, max);
  } catch (e) {
    return Promise.reject(e);
  }
  if (!first.blocked) return Promise.resolve(first.bytes);
  // A non-blocking stdin (a terminal, some pipes) cannot be read synchronously to its end.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [first.bytes];
    let total = first.bytes.length;
    const done = () => {
      process.stdin.pause();
      resolve(Buffer.concat(chunks, Math.min(total, max + 1)));
    };
    process.stdin.on("data", (c: Buffer) => {
      chunks.push(c);
      total += c.length;
      if (total > max) done();
    });
    process.stdin.once("end", done);
    process.stdin.once("error", reject);
  });
}

/**
 * Writes with fs.writeSync: touching process.stdout builds a stream (tty/pipe/file) and costs
 * ~8 ms of start-up, a third of a plugin's budget.
 */
function writeAll(fd: number, text: string): void {
  let buf = Buffer.from(text);
  while (buf.length > 0) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
    }
  }
}

export function nodeIo(): PluginIo {
  return {
    env: process.env,
    readStdin,
    writeStdout: (t) => writeAll(1, t),
    writeStderr: (t) => writeAll(2, t),
    isOwnNetns,
    // process.uptime(), not performance.now(): the global `performance` loads perf_hooks (11
    // modules) on first touch, for every command. Both count from the process's start.
    now: () => process.uptime() * 1000,
  };
}

/** Runs a plugin as this process: reads env + stdin, prints the answer, sets the exit code. */
export function runPlugin(funcs: PluginFuncs, about: PluginAbout): void {
  dispatch(nodeIo(), funcs, about).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      writeAll(2, `${String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
