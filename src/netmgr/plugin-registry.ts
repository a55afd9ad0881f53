// The registry the plugin worker threads serve: the resident daemon's (resident/registry.ts), with
// bridge's and host-local's store on synchronous node:fs. A worker thread serves no API, so a
// blocking call there stalls nothing but the plugin call itself, and host-local's store scan (it
// reads every reservation on each ADD, as Go's does) costs one syscall per file instead of several
// thread-pool round trips. Which host-local is podnet's own is checked once per file version.
import { readFileSync, statSync } from "node:fs";
import { loadAddon } from "../kernel/addon.js";
import { nodeExec, nodeRawExec } from "../kernel/exec.js";
import { createKernel } from "../kernel/kernel.js";
import { createLocker } from "../kernel/lock.js";
import { about as bridgeAbout, createBridge } from "../plugins/main/bridge/bridge.js";
import { createIpamDelegate } from "../plugins/main/bridge/ipam.js";
import { createHostLocal, HOST_LOCAL_ABOUT } from "../plugins/ipam/host-local/host-local.js";
import { syncFs } from "../plugins/ipam/host-local/sync-fs.js";
import { defaultRegistry, type ResidentEntry } from "../resident/registry.js";

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

export function workerRegistry(log: (m: string) => void = () => {}): Map<string, ResidentEntry> {
  const registry = defaultRegistry(log);
  const hostLocalDeps = { fs: syncFs, lock: createLocker(loadAddon), log };
  const readHead = cachedReadHead();
  registry.set("host-local", { about: HOST_LOCAL_ABOUT, make: () => ({ funcs: createHostLocal(hostLocalDeps), close: () => {} }) });
  registry.set("bridge", {
    about: bridgeAbout,
    make() {
      const kernel = createKernel();
      const funcs = createBridge({ kernel, exec: nodeExec, ipam: createIpamDelegate({ exec: nodeRawExec, hostLocal: hostLocalDeps, readHead }), log });
      return { funcs, close: () => kernel.close() };
    },
  });
  return registry;
}
