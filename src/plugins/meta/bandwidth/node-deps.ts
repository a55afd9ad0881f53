// The real dependencies of bandwidth as an executable: links through the kernel layer, qdiscs and
// filters through the tc port (over netlink; `tc` only for CHECK's numbers), state files through
// node:fs.
import { nodeExec } from "../../../kernel/exec.js";
import { createKernel } from "../../../kernel/kernel.js";
import { createTc } from "../../../kernel/tc.js";
import { openTcNetlink } from "../../../kernel/tc-netlink.js";
import type { BandwidthDeps } from "./bandwidth.js";
import { nodeStateFs } from "../attachment-state.js";

export function nodeBandwidthDeps(o: { log?: (msg: string) => void; hostNetns?: string | null; dataDir?: string } = {}): BandwidthDeps {
  return {
    tc: (netns) => createTc({ exec: nodeExec, netlink: () => openTcNetlink(netns) }),
    kernel: createKernel(),
    fs: nodeStateFs,
    ...(o.hostNetns !== undefined ? { hostNetns: o.hostNetns } : {}),
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    ...(o.log ? { log: o.log } : {}),
  };
}
