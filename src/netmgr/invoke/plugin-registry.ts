// The registry the plugin worker threads serve: the resident daemon's (resident/registry.ts), with
// host-local's store on synchronous node:fs. A worker thread serves no API, so a blocking call
// there stalls nothing but the plugin call itself, and host-local's store scan (it reads every
// reservation on each ADD, as Go's does) costs one syscall per file instead of several thread-pool
// round trips.
import { syncFs } from "../../plugins/ipam/host-local/sync-fs.js";
import { defaultRegistry, type ResidentEntry } from "../../resident/registry.js";

export function workerRegistry(log: (m: string) => void = () => {}): Map<string, ResidentEntry> {
  return defaultRegistry(log, { hostLocalFs: syncFs });
}
