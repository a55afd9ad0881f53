// Test helpers for real-kernel (netns tier) tests: throwaway namespaces named podnet-t-<random>,
// always deleted, and `ip -json` as the oracle. Import from tests only.
import { randomBytes } from "node:crypto";
import { nodeExec } from "./exec.js";
import { createKernel } from "./kernel.js";
import type { Kernel, NetOps } from "./types.js";

export const TEST_NETNS_PREFIX = "podnet-t-";

/** Why netns tests cannot run here, or false when they can (root). Use as `{ skip: netnsSkip() }`. */
export function netnsSkip(): string | false {
  return process.getuid?.() === 0 ? false : "needs root (creates network namespaces)";
}

export interface TempNetns {
  readonly name: string;
  /** /run/netns/NAME */
  readonly path: string;
  /** NetOps bound to this netns (closed on delete). */
  readonly ops: NetOps;
  readonly kernel: Kernel;
  /** `ip -n NAME -json ARGS…`, parsed ([] when ip prints nothing). */
  ipJson(...args: string[]): Promise<any[]>;
  /** `ip -n NAME ARGS…` → stdout. */
  ip(...args: string[]): Promise<string>;
  /** `ip netns exec NAME ARGV…` → stdout. */
  exec(...argv: string[]): Promise<string>;
  /** Deletes the netns (idempotent). */
  delete(): Promise<void>;
}

let shared: Kernel | undefined;
function testKernel(): Kernel {
  return (shared ??= createKernel());
}

export function randomNetnsName(prefix = TEST_NETNS_PREFIX): string {
  return `${prefix}${randomBytes(4).toString("hex")}`;
}

/** Creates a fresh named netns. The caller must `delete()` it (prefer withTempNetns). */
export async function makeNetns(prefix = TEST_NETNS_PREFIX, kernel: Kernel = testKernel()): Promise<TempNetns> {
  const name = randomNetnsName(prefix);
  const path = await kernel.netnsAdd(name);
  const ops = kernel.netns(path);
  const ip = (...args: string[]) => nodeExec.run(["ip", "-n", name, ...args]);
  return {
    name,
    path,
    ops,
    kernel,
    ip,
    async ipJson(...args) {
      const out = (await ip("-json", ...args)).trim();
      return out === "" ? [] : (JSON.parse(out) as any[]);
    },
    exec: (...argv) => nodeExec.run(["ip", "netns", "exec", name, ...argv]),
    async delete() {
      ops.close(); // an open socket would keep the netns (and its veths) alive
      await kernel.netnsDel(name);
    },
  };
}

/** Runs fn with `count` fresh namespaces (default 1) and deletes them afterwards, even on failure. */
export async function withTempNetns<T>(fn: (...ns: TempNetns[]) => Promise<T>, count = 1): Promise<T> {
  const made: TempNetns[] = [];
  try {
    for (let i = 0; i < count; i++) made.push(await makeNetns());
    return await fn(...made);
  } finally {
    for (const ns of made.reverse()) await ns.delete().catch(() => {});
  }
}
