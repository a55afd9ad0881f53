// The real dependencies of bandwidth as an executable: links, qdiscs and filters through the
// kernel layer (netlink; `tc` only for CHECK), state files through node:fs.
import { readFileSync } from "node:fs";
import { nodeExec } from "../../../kernel/exec.js";
import { createKernel } from "../../../kernel/kernel.js";
import { parsePsched } from "../../../kernel/tc.js";
import { openTcShaping } from "../../../kernel/tc-shaping.js";
import type { BandwidthDeps } from "./bandwidth.js";
import { nodeStateFs } from "../attachment-state.js";

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


export function nodeBandwidthDeps(o: { log?: (msg: string) => void; hostNetns?: string | null; dataDir?: string } = {}): BandwidthDeps {
  return {
    exec: nodeExec,
    kernel: createKernel(),
    shaping: (netns) => openTcShaping(netns, tickInUsec),
    fs: nodeStateFs,
    ...(o.hostNetns !== undefined ? { hostNetns: o.hostNetns } : {}),
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    ...(o.log ? { log: o.log } : {}),
  };
}
