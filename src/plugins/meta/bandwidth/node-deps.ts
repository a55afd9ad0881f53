// bandwidth's dependencies from the node: links through the kernel layer, qdiscs and filters through
// the tc port (over netlink; `tc` only for CHECK's numbers), state files.
import { createTc } from "../../../kernel/tc.js";
import { openTcNetlink } from "../../../kernel/tc-netlink.js";
import { netnsOf, type NodeEnv } from "../../node-env.js";
import type { BandwidthDeps } from "./bandwidth.js";

export type BandwidthEnv = Pick<NodeEnv, "kernel" | "exec" | "stateFs" | "at" | "log">;

export function nodeBandwidthDeps(
  env: BandwidthEnv,
  o: { hostNetns?: string | null; dataDir?: string } = {},
): BandwidthDeps {
  return {
    tc: (netns) => createTc({ exec: env.exec, netlink: () => openTcNetlink(netnsOf(env, netns)) }),
    kernel: env.kernel,
    fs: env.stateFs,
    ...(o.hostNetns !== undefined ? { hostNetns: o.hostNetns } : {}),
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    ...(env.log ? { log: env.log } : {}),
  };
}
