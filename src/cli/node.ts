// `podnet node [flags]` — the node network manager as a daemon: one network plugin chosen by
// --network-plugin, a JSON API on a unix socket (--socket) and Prometheus /metrics. SIGTERM/SIGINT
// stop it; pods stay set up and a restart re-attaches them.
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync, watch } from "node:fs";
import { hostname } from "node:os";
import { conntrackClearer, nodePortOpener } from "../netmgr/plugins/kubenet/port-opener.js";
import { createKernel } from "../kernel/kernel.js";
import { nodeExec, nodeRawExec } from "../kernel/exec.js";
import { createJsonLogger } from "../netmgr/core/log.js";
import { nodeUsage, parseNodeArgs, UsageError, type NodeOptions } from "../netmgr/daemon/options.js";
import { loadNodeOptions } from "../netmgr/daemon/node-config.js";
import { type RunningNode, startNode, StartupError } from "../netmgr/daemon/daemon.js";
import { exitCodes } from "./args.js";
import { networkRangeUsage } from "./ipam.js";
import { versionInfo } from "./version.js";
import { pluginEnv } from "./env.js";

const NODE_EXIT_CODES = exitCodes({
  failure: "the daemon could not start, or stopped on an error (the reason is on stderr and in the log)",
});

export const nodeFs = {
  readdir(dir: string) {
    return readdirSync(dir, { withFileTypes: true }).map((d) => {
      let isDirectory = d.isDirectory();
      if (d.isSymbolicLink()) {
        try {
          isDirectory = statSync(`${dir}/${d.name}`).isDirectory();
        } catch {
          isDirectory = false;
        }
      }
      return { name: d.name, isDirectory };
    });
  },
  mode(path: string) {
    try {
      const s = statSync(path);
      return s.isFile() ? s.mode : undefined;
    } catch {
      return undefined;
    }
  },
  readFile: (path: string) => readFileSync(path, "utf8"),
};

/** fs.watch on a directory, debounced; a directory that cannot be watched is simply polled. */
export function watchDir(dir: string, onChange: () => void): () => void {
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    const w = watch(dir, { persistent: false }, () => {
      if (t) clearTimeout(t);
      t = setTimeout(onChange, 100);
      t.unref();
    });
    w.on("error", () => w.close());
    return () => {
      if (t) clearTimeout(t);
      w.close();
    };
  } catch {
    return () => {};
  }
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("-h") || args.includes("--help")) {
    process.stdout.write(nodeUsage() + NODE_EXIT_CODES);
    return 0;
  }
  let o: NodeOptions;
  try {
    // the hostname: cluster networking's default --node-name
    o = loadNodeOptions(args, { parse: (a) => parseNodeArgs(a, { hostname: hostname() }) });
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`podnet node: ${e.message}\n${nodeUsage()}${NODE_EXIT_CODES}`);
      return 2;
    }
    throw e;
  }
  const log = createJsonLogger((line) => process.stderr.write(line), o.logLevel);
  const kernel = createKernel();
  let node: RunningNode;
  try {
    node = await startNode(o, {
      kernel,
      exec: nodeExec,
      rawExec: nodeRawExec,
      fs: {
        readdir: (d) => nodeFs.readdir(d),
        list: (d) => readdirSync(d),
        mode: (p) => nodeFs.mode(p),
        readFile: (p) => nodeFs.readFile(p),
      },
      pluginEnv: pluginEnv(process.env),
      log,
      openPort: nodePortOpener,
      clearConntrack: conntrackClearer(nodeExec),
      watchDir,
      newID: () => randomBytes(32).toString("hex"),
      buildInfo: versionInfo(),
      ipamUsage: networkRangeUsage,
    });
  } catch (e) {
    kernel.close();
    if (e instanceof StartupError) {
      log.error(e.message);
      process.stderr.write(`podnet node: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const running = node;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log.info("shutting down; pods stay set up", { signal: sig });
      running.close().then(
        () => resolve(0),
        (e: unknown) => {
          log.error("shutdown failed", { err: e });
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}
