// The real dependencies of bandwidth as an executable: links, qdiscs and filters through the
// kernel layer (netlink; `tc` only for CHECK), state files through node:fs.
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { nodeExec } from "../../../kernel/exec.js";
import { createKernel } from "../../../kernel/kernel.js";
import { parsePsched } from "../../../kernel/tc.js";
import { openTcShaping } from "../../../kernel/tc-shaping.js";
import type { BandwidthDeps, BwFs } from "./bandwidth.js";

let tick: number | undefined;
/** Microseconds per psched tick, as tc reads it from /proc/net/psched. */
function tickInUsec(): number {
  if (tick === undefined) {
    try {
      tick = parsePsched(readFileSync("/proc/net/psched", "utf8"));
    } catch {
      tick = 15.625;
    }
  }
  return tick;
}

/**
 * Synchronous calls behind the async interface: a plugin process has nothing else to do while a
 * ~100-byte state file is read or written, and each fs.promises call costs a thread-pool round trip.
 */
export const nodeBwFs: BwFs = {
  mkdir: async (p, o) => mkdirSync(p, o),
  readFile: async (p, e) => readFileSync(p, e),
  writeFile: async (p, d, o) => writeFileSync(p, d, o),
  rename: async (a, b) => renameSync(a, b),
  unlink: async (p) => unlinkSync(p),
  readdir: async (p) => readdirSync(p),
};

export function nodeBandwidthDeps(o: { log?: (msg: string) => void; hostNetns?: string | null; dataDir?: string } = {}): BandwidthDeps {
  return {
    exec: nodeExec,
    kernel: createKernel(),
    shaping: (netns) => openTcShaping(netns, tickInUsec),
    fs: nodeBwFs,
    ...(o.hostNetns !== undefined ? { hostNetns: o.hostNetns } : {}),
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    ...(o.log ? { log: o.log } : {}),
  };
}
