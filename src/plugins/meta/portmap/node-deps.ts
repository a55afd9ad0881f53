// portmap's dependencies from the node: processes (iptables, the conntrack tool), route lookups,
// sysctl, conntrack and nftables through the kernel layer, state files, flock(2), and the identity
// of this boot and netns that its state is valid within.
import { readFileSync, statSync } from "node:fs";
import { openConntrack, ownConntrack } from "../../../kernel/conntrack.js";
import { nodeNftables } from "../../../kernel/nft.js";
import { openRouteGet } from "../../../kernel/route-get.js";
import { netnsOf, type NodeEnv } from "../../node-env.js";
import type { PortmapDeps } from "./portmap.js";

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

export type PortmapEnv = Pick<NodeEnv, "kernel" | "exec" | "stateFs" | "lock" | "at" | "log">;

export function nodePortmapDeps(env: PortmapEnv, o: { hostNetns?: string | null; dataDir?: string } = {}): PortmapDeps {
  return {
    exec: env.exec,
    // In this process's own netns: one socket of each for the life of the process (closing one
    // right after nf_tables deletions waits for their RCU grace period, ≈16 ms).
    conntrack: (netns) => (netns === null ? ownConntrack() : openConntrack(netnsOf(env, netns))),
    nftables: (netns) => nodeNftables(netnsOf(env, netns), env.exec),
    routeGet: (netns) => openRouteGet(netnsOf(env, netns)),
    kernel: env.kernel,
    fs: env.stateFs,
    lock: env.lock,
    scope: async () => hostScope(o.hostNetns ?? null),
    ...(o.hostNetns !== undefined ? { hostNetns: o.hostNetns } : {}),
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    ...(env.log ? { log: env.log } : {}),
  };
}
