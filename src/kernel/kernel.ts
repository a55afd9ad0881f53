// The real Kernel: netlink through the native addon, one socket per netns per Kernel (lazily opened,
// closed by close()), sysctl and flock through the addon, named netns through `ip netns`.
import { loadAddon, type Addon } from "./addon.js";
import type { Exec } from "./exec.js";
import { createLocker } from "./lock.js";
import { NetlinkSocket } from "./netlink-socket.js";
import { createNetOps } from "./net-ops.js";
import { isNetnsFile, netnsAdd, netnsDel } from "./netns.js";
import { createSysctl } from "./sysctl.js";
import type { Kernel, NetOps } from "./types.js";

export interface KernelDeps {
  /** Default: the addon found by loadAddon(), loaded on first use. */
  readonly addon?: Addon;
  /** Runs `ip netns add/del`; default nodeExec. */
  readonly exec?: Exec;
  /** Longest wait for one netlink reply; default 10 s. */
  readonly timeoutMs?: number;
}

/**
 * Note for long-running processes: an open socket pins its netns (the kernel keeps a netns alive
 * while a socket lives in it), so close the handle of a pod's netns when done with the pod
 * (`kernel.netns(p).close()`), or use one Kernel per operation and close() it.
 */
export function createKernel(deps: KernelDeps = {}): Kernel {
  const addon = () => deps.addon ?? loadAddon();
  // Loaded on first use: plugins never create namespaces, and node:child_process costs start-up time.
  const exec: Exec = deps.exec ?? { run: async (argv, opts) => (await import("./exec.js")).nodeExec.run(argv, opts) };
  const handles = new Map<string | null, NetOps>();
  return {
    netns(path) {
      let h = handles.get(path);
      if (!h) {
        const opts = deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {};
        h = createNetOps(new NetlinkSocket(addon, path, opts));
        handles.set(path, h);
      }
      return h;
    },
    sysctl: createSysctl(addon),
    lock: createLocker(addon),
    netnsExists: isNetnsFile,
    netnsAdd: (name) => netnsAdd(exec, name),
    netnsDel: (name) => netnsDel(exec, name),
    close() {
      for (const h of handles.values()) h.close();
      handles.clear();
    },
  };
}
