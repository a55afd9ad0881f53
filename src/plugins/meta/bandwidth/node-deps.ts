// The real dependencies of bandwidth as an executable: tc through nodeExec, links through the
// kernel layer (netlink), state files through node:fs.
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { nodeExec } from "../../../kernel/exec.js";
import { createKernel } from "../../../kernel/kernel.js";
import type { BandwidthDeps, BwFs } from "./bandwidth.js";

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
    fs: nodeBwFs,
    ...(o.hostNetns !== undefined ? { hostNetns: o.hostNetns } : {}),
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    ...(o.log ? { log: o.log } : {}),
  };
}
