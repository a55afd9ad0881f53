import { nodeExec } from "../../../kernel/exec.js";
import { createKernel } from "../../../kernel/kernel.js";
import { runPlugin } from "../../../sdk/main.js";
import { nodeStateFs } from "../attachment-state.js";
import { BANDWIDTH_ABOUT, createBandwidth } from "./bandwidth.js";
import { nodeBandwidthDeps } from "./node-deps.js";
runPlugin(
  createBandwidth(
    nodeBandwidthDeps({
      kernel: createKernel(),
      exec: nodeExec,
      stateFs: nodeStateFs,
      log: (m) => process.stderr.write(`${m}\n`),
    }),
  ),
  BANDWIDTH_ABOUT,
);
