// The plugins a resident daemon serves, by name — the one list, which the node manager's plugin
// workers serve too — each built per call from one wiring (its node-deps.ts) over the call's
// environment: a fresh Kernel per call (closed afterwards, so no netns stays pinned by an open
// socket), asynchronous fs and flock, so that one waiting call never blocks the others, and every
// path the caller gives seen from its working directory (call-context.ts).
import * as fs from "node:fs/promises";
import { readFileSync } from "node:fs";
import { loadAddon } from "../kernel/addon.js";
import { nodeExec, nodeRawExec } from "../kernel/exec.js";
import { nodeStateFs } from "../plugins/meta/attachment-state.js";
import { atCwd, execAt, kernelAt, rawExecAt, stateFsAt, storeFsAt, type CallContext } from "./call-context.js";
import { createKernel } from "../kernel/kernel.js";
import { createLocker } from "../kernel/lock.js";
import { createDirWatcher } from "../kernel/dir-watch.js";
import { StoreCache } from "../plugins/ipam/host-local/store-cache.js";
import { readFileBoundedAsync } from "../kernel/read-bounded.js";
import { podnetPluginCheck } from "../sdk/bundle.js";
import type { PluginAbout, PluginFuncs } from "../sdk/types.js";
import type { NodeEnv } from "../plugins/node-env.js";
import { BRIDGE_ABOUT, createBridge } from "../plugins/main/bridge/bridge.js";
import { nodeBridgeDeps } from "../plugins/main/bridge/node-deps.js";
import { LOOPBACK_ABOUT, createLoopback } from "../plugins/main/loopback/loopback.js";
import { createHostLocal, HOST_LOCAL_ABOUT, type HostLocalFs } from "../plugins/ipam/host-local/host-local.js";
import { nodeHostLocalDeps } from "../plugins/ipam/host-local/node-deps.js";
import { syncFs } from "../plugins/ipam/host-local/sync-fs.js";
import { nodePortmapDeps } from "../plugins/meta/portmap/node-deps.js";
import { createPortmap, PORTMAP_ABOUT } from "../plugins/meta/portmap/portmap.js";
import { BANDWIDTH_ABOUT, createBandwidth } from "../plugins/meta/bandwidth/bandwidth.js";
import { nodeBandwidthDeps } from "../plugins/meta/bandwidth/node-deps.js";
import type { ClosableRegistry, Registry } from "./host.js";

/** Each plugin: its about, and its functions over one call's environment. */
const PLUGINS = {
  loopback: { about: LOOPBACK_ABOUT, funcs: (env: NodeEnv) => createLoopback({ kernel: env.kernel }) },
  bridge: { about: BRIDGE_ABOUT, funcs: (env: NodeEnv) => createBridge(nodeBridgeDeps(env)) },
  "host-local": { about: HOST_LOCAL_ABOUT, funcs: (env: NodeEnv) => createHostLocal(nodeHostLocalDeps(env)) },
  portmap: { about: PORTMAP_ABOUT, funcs: (env: NodeEnv) => createPortmap(nodePortmapDeps(env)) },
  bandwidth: { about: BANDWIDTH_ABOUT, funcs: (env: NodeEnv) => createBandwidth(nodeBandwidthDeps(env)) },
} satisfies Record<string, { readonly about: PluginAbout; readonly funcs: (env: NodeEnv) => PluginFuncs }>;

/** The names of the plugins the registry serves. */
export const RESIDENT_PLUGINS: readonly string[] = Object.keys(PLUGINS);

/** node:fs/promises with the synchronous scan fast path (see RegistryOptions.hostLocalFs). */
export const residentStoreFs: HostLocalFs = {
  mkdir: (p, o) => fs.mkdir(p, o),
  readdir: (p, o) => fs.readdir(p, o),
  readFile: (p, e) => fs.readFile(p, e),
  writeFile: (p, d, o) => fs.writeFile(p, d, o),
  link: (a, b) => fs.link(a, b),
  unlink: (p) => fs.unlink(p),
  readFileSync: (p, e) => readFileSync(p, e),
  readFileLimited: async (p, max) => (await readFileBoundedAsync(p, max)).toString("utf8"),
};

export interface RegistryOptions {
  /**
   * host-local's file access. Default node:fs/promises, so that a daemon serving many calls on
   * one thread never blocks, plus a synchronous readFileSync for scanning the store (one file at a
   * time, yielding every few dozen: ≈ 4× cheaper than one thread-pool round trip per step of every
   * read, which made each ADD O(pods) at ≈ 90 µs a reservation); a worker thread (workerRegistry)
   * uses the synchronous `syncFs`.
   */
  readonly hostLocalFs?: HostLocalFs;
}

export function defaultRegistry(log: (m: string) => void = () => {}, opts: RegistryOptions = {}): ClosableRegistry {
  const lock = createLocker(loadAddon);
  // host-local's stores stay in memory, kept exact from inotify's list of changed files: an ADD
  // reads what changed since the previous call, not every reservation (store-cache.ts).
  const watcher = createDirWatcher();
  const storeFs: HostLocalFs = { ...(opts.hostLocalFs ?? residentStoreFs), changes: (p) => watcher.changes(p) };
  const hostLocalCache = new StoreCache();
  const isPodnetPlugin = podnetPluginCheck();
  /** One call's environment: its relative paths resolve against the caller's cwd (call-context.ts). */
  const callEnv = (ctx: CallContext): NodeEnv => {
    const kernel = createKernel();
    const at = atCwd(ctx.cwd);
    const cwd = ctx.cwd ?? "";
    return {
      kernel: at ? kernelAt(kernel, at) : kernel,
      exec: at ? execAt(nodeExec, cwd) : nodeExec,
      rawExec: at ? rawExecAt(nodeRawExec, at, cwd) : nodeRawExec,
      stateFs: at ? stateFsAt(nodeStateFs, at) : nodeStateFs,
      storeFs: at ? storeFsAt(storeFs, at) : storeFs,
      lock: (p) => lock(at ? at(p) : p),
      isPodnetPlugin,
      hostLocalCache,
      ...(at ? { at } : {}),
      log,
    };
  };
  const plugins: Registry = new Map(
    Object.entries(PLUGINS).map(([name, p]) => [
      name,
      {
        about: p.about,
        make(ctx: CallContext = {}) {
          const env = callEnv(ctx);
          return { funcs: p.funcs(env), close: () => env.kernel.close() };
        },
      },
    ]),
  );
  // The watcher's inotify instance is the process's: a worker thread that ends closes it.
  return Object.assign(plugins, { close: () => watcher.close() });
}

/**
 * The registry the node manager's plugin worker threads serve: the same, with host-local's store on
 * synchronous node:fs. A worker thread serves no API, so a blocking call there stalls nothing but
 * the plugin call itself, and host-local's store scan (it reads every reservation on each ADD, as
 * Go's does) costs one syscall per file instead of several thread-pool round trips.
 */
export function workerRegistry(log: (m: string) => void = () => {}): ClosableRegistry {
  return defaultRegistry(log, { hostLocalFs: syncFs });
}
