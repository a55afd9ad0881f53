// The bridge executable: real kernel, processes, files. host-local runs in-process over
// synchronous fs (a plugin process has nothing to overlap with a few tiny files, and each
// fs/promises call is a thread-pool round trip; the module alone costs ~2 ms to load).
import { syncFs } from "../../ipam/host-local/sync-fs.js";
import { loadAddon } from "../../../kernel/addon.js";
import { nodeExec, nodeRawExec } from "../../../kernel/exec.js";
import { createKernel } from "../../../kernel/kernel.js";
import { createLocker } from "../../../kernel/lock.js";
import { podnetPluginCheck } from "../../../sdk/bundle.js";
import { runPlugin } from "../../../sdk/main.js";
import { BRIDGE_ABOUT, createBridge } from "./bridge.js";
import { nodeBridgeDeps } from "./node-deps.js";

runPlugin(
  createBridge(
    nodeBridgeDeps({
      kernel: createKernel(),
      exec: nodeExec,
      rawExec: nodeRawExec,
      storeFs: syncFs,
      lock: createLocker(loadAddon),
      isPodnetPlugin: podnetPluginCheck(),
      log: (m) => void process.stderr.write(`${m}\n`),
    }),
  ),
  BRIDGE_ABOUT,
);
