// host-local's dependencies from the node: its store's files and flock(2), and in a daemon the
// stores it keeps in memory. Used by its executable, by bridge (which runs podnet's host-local
// in-process) and by the resident daemon.
import type { NodeEnv } from "../../node-env.js";
import type { HostLocalDeps } from "./host-local.js";

export function nodeHostLocalDeps(env: Pick<NodeEnv, "storeFs" | "lock" | "log" | "hostLocalCache">): HostLocalDeps {
  return {
    fs: env.storeFs,
    lock: env.lock,
    ...(env.log ? { log: env.log } : {}),
    ...(env.hostLocalCache ? { cache: env.hostLocalCache } : {}),
  };
}
