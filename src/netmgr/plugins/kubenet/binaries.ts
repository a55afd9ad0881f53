// Which bridge, host-local and loopback kubenet runs: the first directory of its search path that
// holds all three goes first in CNI_PATH (the kubelet's rule). Looked up on every use — a
// directory's contents can change under a running daemon — with one CNI invoker per resulting path.
import type { CniInvoker } from "../../invoke/cni-invoker.js";
import { REQUIRED_CNI_PLUGINS } from "./config.js";

/** The directory listings kubenet reads. */
export interface DirLister {
  /** Names in a directory. */
  list(dir: string): string[];
}

/** The first of `binDirs` that holds bridge, host-local and loopback; undefined when none does. */
export function findPluginDir(binDirs: readonly string[], fs: DirLister): string | undefined {
  for (const dir of binDirs) {
    let names: string[];
    try {
      names = fs.list(dir).map((n) => n.trim());
    } catch {
      continue;
    }
    if (REQUIRED_CNI_PLUGINS.every((p) => names.includes(p))) return dir;
  }
  return undefined;
}

/** Why kubenet cannot run pods for want of its plugins (the kubelet's message). */
export const missingPluginsMessage = (binDirs: readonly string[]): string =>
  `could not locate kubenet required CNI plugins [${REQUIRED_CNI_PLUGINS.join(" ")}] at [${binDirs.map((d) => JSON.stringify(d)).join(" ")}]`;

export interface KubenetPlugins {
  /** The directory whose bridge/host-local/loopback are used, if any has all three. */
  dir(): string | undefined;
  /** The invoker for the current search path (the chosen directory first). */
  invoker(): CniInvoker;
}

export function kubenetPlugins(
  binDirs: readonly string[],
  fs: DirLister,
  invokerFor: (path: readonly string[]) => CniInvoker,
): KubenetPlugins {
  const invokers = new Map<string, CniInvoker>();
  return {
    dir: () => findPluginDir(binDirs, fs),
    invoker() {
      const chosen = findPluginDir(binDirs, fs);
      const path = chosen ? [chosen, ...binDirs.filter((d) => d !== chosen)] : [...binDirs];
      const key = path.join("\0");
      let inv = invokers.get(key);
      if (!inv) {
        inv = invokerFor(path);
        invokers.set(key, inv);
      }
      return inv;
    },
  };
}
