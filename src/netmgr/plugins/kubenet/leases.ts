// host-local's leases of the kubenet network, read from its data directory (one file per address,
// named by the address, holding the container ID and the interface name): what a restarted daemon
// knows of a pod's addresses, and what gc releases for containers that are gone.
import { join } from "node:path";
import { ipFamily } from "../../../ip/index.js";
import { DEFAULT_INTERFACE_NAME } from "../../core/plugin.js";
import { KUBENET_NETWORK_NAME } from "./config.js";

/** host-local's dataDir when the config has none. */
export const HOST_LOCAL_DEFAULT_DATA_DIR = "/var/lib/cni/networks";

/** The file-system reads of the lease directory. */
export interface LeaseFs {
  list(dir: string): string[];
  readFile(path: string): string;
}

export interface Lease {
  readonly ip: string;
  readonly containerID: string;
  readonly ifName: string;
}

/** Every lease of the kubenet network ([] when the directory cannot be read). */
export function readLeases(fs: LeaseFs, dataDir: string = HOST_LOCAL_DEFAULT_DATA_DIR): Lease[] {
  const dir = join(dataDir, KUBENET_NETWORK_NAME);
  let names: string[];
  try {
    names = fs.list(dir);
  } catch {
    return [];
  }
  const out: Lease[] = [];
  for (const n of names) {
    if (!/^[0-9a-fA-F:.]+$/.test(n) || !/[.:]/.test(n)) continue;
    try {
      const [cid, ifn] = fs.readFile(join(dir, n)).split(/\r?\n/);
      if (cid) out.push({ ip: n, containerID: cid.trim(), ifName: (ifn ?? "").trim() || DEFAULT_INTERFACE_NAME });
    } catch {
      // raced with a release
    }
  }
  return out;
}

/** The addresses leased to the sandbox's eth0, IPv4 first. */
export function leasedIPs(leases: readonly Lease[], sandboxID: string): string[] {
  const mine = leases
    .filter((l) => l.containerID === sandboxID && l.ifName === DEFAULT_INTERFACE_NAME)
    .map((l) => l.ip);
  return [...mine.filter((ip) => ipFamily(ip) !== 6), ...mine.filter((ip) => ipFamily(ip) === 6)];
}
