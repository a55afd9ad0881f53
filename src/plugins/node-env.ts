// What a plugin needs of the node — the kernel, processes, files, locks — as one value: a plugin
// executable's own (its main.ts builds the parts its plugin uses), or one call's inside a daemon
// (resident/registry.ts: every path the caller gives resolved against its working directory, see
// resident/call-context.ts). Each plugin's node-deps.ts maps it to the plugin's dependencies: one
// wiring per plugin, for its main.ts, the resident daemon and the node manager's plugin workers.
import type { Exec, RawExec } from "../kernel/exec.js";
import type { PodnetPluginCheck } from "../sdk/bundle.js";
import type { FileLock, Kernel } from "../kernel/types.js";
import type { HostLocalFs } from "./ipam/host-local/host-local.js";
import type { StoreCache } from "./ipam/host-local/store-cache.js";
import type { StateFs } from "./meta/attachment-state.js";

export interface NodeEnv {
  readonly kernel: Kernel;
  /** Commands (iptables, nft, tc, bridge, conntrack). */
  readonly exec: Exec;
  /** Delegated plugins (IPAM). */
  readonly rawExec: RawExec;
  /** portmap's and bandwidth's attachment state files. */
  readonly stateFs: StateFs;
  /** host-local's store, resolvConf and rangeFromFile. */
  readonly storeFs: HostLocalFs;
  /** host-local's stores kept in memory between calls (a daemon's; absent in a plugin process). */
  readonly hostLocalCache?: StoreCache;
  /** flock(2) on a file. */
  readonly lock: (path: string) => Promise<FileLock>;
  /** Whether a file is podnet's own plugin of a name (sdk/bundle.ts podnetPluginCheck). */
  readonly isPodnetPlugin: PodnetPluginCheck;
  /** A path the caller gave, as this process must open it (absent: as given). */
  readonly at?: (path: string) => string;
  /** Diagnostics, one message per call (stderr in a plugin process). */
  readonly log?: (msg: string) => void;
}

/** env.at, or the identity. */
export const pathsOf = (env: Pick<NodeEnv, "at">): ((path: string) => string) => env.at ?? ((p) => p);

/** A netns path the caller gave, as this process must open it (null: the process's own). */
export const netnsOf = (env: Pick<NodeEnv, "at">, netns: string | null): string | null =>
  netns === null ? null : pathsOf(env)(netns);
