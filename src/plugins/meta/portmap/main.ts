import { loadAddon } from "../../../kernel/addon.js";
import { nodeExec } from "../../../kernel/exec.js";
import { createKernel } from "../../../kernel/kernel.js";
import { createLocker } from "../../../kernel/lock.js";
import { runPlugin } from "../../../sdk/main.js";
import { nodeStateFs } from "../attachment-state.js";
import { nodePortmapDeps } from "./node-deps.js";
import { PORTMAP_ABOUT, createPortmap } from "./portmap.js";
runPlugin(
  createPortmap(
    nodePortmapDeps({
      kernel: createKernel(),
      exec: nodeExec,
      stateFs: nodeStateFs,
      lock: createLocker(loadAddon),
      log: (m) => process.stderr.write(`${m}\n`),
    }),
  ),
  PORTMAP_ABOUT,
);
