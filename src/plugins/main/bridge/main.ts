// The bridge executable: real kernel, processes, files.
import { readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import { loadAddon } from "../../../kernel/addon.js";
import { nodeExec, nodeRawExec } from "../../../kernel/exec.js";
import { createKernel } from "../../../kernel/kernel.js";
import { createLocker } from "../../../kernel/lock.js";
import { runPlugin } from "../../../sdk/main.js";
import { about, createBridge } from "./bridge.js";
import { createIpamDelegate } from "./ipam.js";

const hostLocal = { fs, lock: createLocker(loadAddon), log: (m: string) => void process.stderr.write(`${m}\n`) };
const readHead = (p: string) => {
  try {
    return readFileSync(p);
  } catch {
    return undefined;
  }
};
runPlugin(
  createBridge({
    kernel: createKernel(),
    exec: nodeExec,
    ipam: createIpamDelegate({ exec: nodeRawExec, hostLocal, readHead }),
    log: (m) => void process.stderr.write(m),
  }),
  about,
);
