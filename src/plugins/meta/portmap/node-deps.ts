// The real dependencies of portmap as an executable (or inside the node daemon): processes through
// nodeExec; route lookups, sysctl, conntrack and nftables through the kernel layer; state files
// through node:fs; flock(2).
import { readFileSync, statSync } from "node:fs";
import { loadAddon } from "../../../kernel/addon.js";
import { openConntrack, ownConntrack } from "../../../kernel/conntrack.js";
import { nodeNftables } from "../../../kernel/nft.js";
import { openRouteGet } from "../../../kernel/route-get.js";
import { nodeExec } from "../../../kernel/exec.js";
import { createKernel } from "../../../kernel/kernel.js";
import { createLocker } from "../../../kernel/lock.js";
import type { PortmapDeps } from "./portmap.js";
import { nodeStateFs } from "../attachment-state.js";

export { nodeStateFs };


/** "<boot_id>:<inode of the netns>": what a state file is only valid within. */
export function hostScope(netnsPath: string | null = null): string {
  let boot = "";
  try {
    boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    // not Linux /proc: no boot identity
  }
  let ino = "";
  try {
    ino = String(statSync(netnsPath ?? "/proc/self/ns/net").ino);
  } catch {
    // no netns file
  }
  return `${boot}:${ino}`;
}

export function nodePortmapDeps(o: { log?: (msg: string) => void; hostNetns?: string | null; dataDir?: string } = {}): PortmapDeps {
  const lock = createLocker(loadAddon);
  return {
    exec: nodeExec,
    // In this process's own netns: one socket of each for the life of the process (closing one
    // right after nf_tables deletions waits for their RCU grace period, ≈16 ms).
    conntrack: (netns) => (netns === null ? ownConntrack() : openConntrack(netns)),
    nftables: (netns) => nodeNftables(netns),
    routeGet: (netns) => openRouteGet(netns),
    kernel: createKernel(),
    fs: nodeStateFs,
    lock: (p) => lock(p),
    scope: async () => hostScope(o.hostNetns ?? null),
    ...(o.hostNetns !== undefined ? { hostNetns: o.hostNetns } : {}),
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    ...(o.log ? { log: o.log } : {}),
  };
}
