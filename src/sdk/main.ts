// The process edge of every plugin: real env, stdin, stdout, exit code. Plugins' main.ts call
// runPlugin(); nothing else in a plugin touches `process`.
import { readFileSync, writeSync } from "node:fs";
import { isOwnNetns } from "../kernel/netns.js";
import { dispatch } from "./dispatch.js";
import type { PluginAbout, PluginFuncs, PluginIo } from "./types.js";

function readStdin(): Promise<Buffer> {
  try {
    return Promise.resolve(readFileSync(0));
  } catch (e) {
    // A non-blocking stdin (a terminal, some pipes) cannot be read synchronously.
    if ((e as NodeJS.ErrnoException).code !== "EAGAIN") return Promise.reject(e);
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      process.stdin.on("data", (c: Buffer) => chunks.push(c));
      process.stdin.once("end", () => resolve(Buffer.concat(chunks)));
      process.stdin.once("error", reject);
    });
  }
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
