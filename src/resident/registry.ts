// The plugins a resident daemon serves, each built per request with the daemon's dependencies
// (seen from the caller's working directory: call-context.ts): a fresh Kernel per call (closed
// afterwards, so no netns stays pinned by an open socket) and asynchronous fs and flock, so that one waiting call never blocks the others.
import * as fs from "node:fs/promises";
import { readFileSync, statSync } from "node:fs";
import { loadAddon } from "../kernel/addon.js";
import { nodeExec, nodeRawExec } from "../kernel/exec.js";
import { findInPath } from "../libcni/find.js";
import { nodeStateFs } from "../plugins/meta/attachment-state.js";
import { atCwd, execAt, kernelAt, rawExecAt, stateFsAt, storeFsAt, type At, type CallContext } from "./call-context.js";
import { createKernel } from "../kernel/kernel.js";
import { createLocker } from "../kernel/lock.js";
import { createDirWatcher } from "../kernel/dir-watch.js";
import { StoreCache } from "../plugins/ipam/host-local/store-cache.js";
import { readFileBoundedAsync } from "../kernel/read-bounded.js";
import type { PluginAbout, PluginFuncs } from "../sdk/types.js";
import { about as bridgeAbout, createBridge } from "../plugins/main/bridge/bridge.js";
import { createIpamDelegate } from "../plugins/main/bridge/ipam.js";
import { about as loopbackAbout, createLoopback } from "../plugins/main/loopback/loopback.js";
import { createHostLocal, HOST_LOCAL_ABOUT, type HostLocalDeps } from "../plugins/ipam/host-local/host-local.js";
import { nodeBridgeNetlinkDeps } from "../plugins/main/bridge/node-deps.js";
import { nodePortmapDeps } from "../plugins/meta/portmap/node-deps.js";
import { createPortmap, PORTMAP_ABOUT } from "../plugins/meta/portmap/portmap.js";
import { BANDWIDTH_ABOUT, createBandwidth } from "../plugins/meta/bandwidth/bandwidth.js";
import { nodeBandwidthDeps } from "../plugins/meta/bandwidth/node-deps.js";

/** A plugin instance for one call, and what to release after it. */
export interface PluginInstance {
  readonly funcs: PluginFuncs;
  close(): void;
}

export interface ResidentEntry {
  readonly about: PluginAbout;
  /** A fresh instance for one call; `ctx.cwd` is the caller's working directory. */
  make(ctx?: CallContext): PluginInstance;
}

/** readHead for the IPAM delegate, cached per (path, inode, size, mtime): bundles are ~100 KB. */
export function cachedReadHead(): (path: string) => Buffer | undefined {
  const cache = new Map<string, { id: string; bytes: Buffer }>();
  return (path) => {
    try {
      const st = statSync(path);
      const id = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
      const hit = cache.get(path);
      if (hit?.id === id) return hit.bytes;
      const bytes = readFileSync(path);
      cache.set(path, { id, bytes });
      return bytes;
    } catch {
      return undefined;
    }
  };
}

/** node:fs/promises with the synchronous scan fast path (see RegistryOptions.hostLocalFs). */
export const residentStoreFs: HostLocalDeps["fs"] = {
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
   * read, which made each ADD O(pods) at ≈ 90 µs a reservation); a worker thread (netmgr's plugin
   * workers) passes the sync `syncFs`.
   */
  readonly hostLocalFs?: HostLocalDeps["fs"];
}

export function defaultRegistry(log: (m: string) => void = () => {}, opts: RegistryOptions = {}): Map<string, ResidentEntry> {
  const lock = createLocker(loadAddon);
  // host-local's stores stay in memory, kept exact from inotify's list of changed files: an ADD
  // reads what changed since the previous call, not every reservation (store-cache.ts).
  const watcher = createDirWatcher();
  const storeFs = opts.hostLocalFs ?? residentStoreFs;
  const hostLocalDeps: HostLocalDeps = { fs: { ...storeFs, changes: (p) => watcher.changes(p) }, lock, log, cache: new StoreCache() };
  const readHead = cachedReadHead();
  // nf_tables over netlink on one socket for the life of the daemon (bridge DEL checks its nft table).
  const bridgeNetlink = nodeBridgeNetlinkDeps();
  const hostLocalAt = (at: At | undefined): HostLocalDeps =>
    at ? { ...hostLocalDeps, fs: storeFsAt(hostLocalDeps.fs, at), lock: (p) => hostLocalDeps.lock(at(p)) } : hostLocalDeps;
  /** One call's dependencies: its relative paths resolve against the caller's cwd (call-context.ts). */
  const scoped = (ctx: CallContext) => {
    const kernel = createKernel();
    const at = atCwd(ctx.cwd);
    const cwd = ctx.cwd ?? "";
    return {
      kernel: at ? kernelAt(kernel, at) : kernel,
      at: at ?? ((p: string) => p),
      exec: at ? execAt(nodeExec, cwd) : nodeExec,
      rawExec: at ? rawExecAt(nodeRawExec, at, cwd) : nodeRawExec,
      hostLocal: hostLocalAt(at),
      stateFs: at ? stateFsAt(nodeStateFs, at) : nodeStateFs,
      lock: (p: string) => lock(at ? at(p) : p),
    };
  };
  const withKernel = (about: PluginAbout, build: (c: ReturnType<typeof scoped>) => PluginFuncs): ResidentEntry => ({
    about,
    make(ctx = {}) {
      const c = scoped(ctx);
      return { funcs: build(c), close: () => c.kernel.close() };
    },
  });
  return new Map<string, ResidentEntry>([
    ["loopback", withKernel(loopbackAbout, ({ kernel }) => createLoopback({ kernel }))],
    [
      "bridge",
      withKernel(bridgeAbout, (c) =>
        createBridge({
          kernel: c.kernel,
          exec: c.exec,
          ipam: createIpamDelegate({ exec: c.rawExec, hostLocal: c.hostLocal, readHead, find: (name, dirs) => findInPath(name, dirs.map(c.at)) }),
          log,
          ...bridgeNetlink,
        }),
      ),
    ],
    [
      "host-local",
      {
        about: HOST_LOCAL_ABOUT,
        make: (ctx = {}) => ({ funcs: createHostLocal(hostLocalAt(atCwd(ctx.cwd))), close: () => {} }),
      },
    ],
    [
      "portmap",
      withKernel(PORTMAP_ABOUT, (c) => createPortmap({ ...nodePortmapDeps({ log }), kernel: c.kernel, exec: c.exec, fs: c.stateFs, lock: c.lock })),
    ],
    [
      "bandwidth",
      withKernel(BANDWIDTH_ABOUT, (c) => {
        const d = nodeBandwidthDeps({ log });
        const shaping = d.shaping;
        return createBandwidth({
          ...d,
          kernel: c.kernel,
          exec: c.exec,
          fs: c.stateFs,
          ...(shaping ? { shaping: (ns: string | null) => shaping(ns === null ? null : c.at(ns)) } : {}),
        });
      }),
    ],
  ]);
}
