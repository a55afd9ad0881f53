// `podnet ipam list|release`: host-local's leases on this node (src/plugins/ipam/host-local/store.ts).
//
// The store holds only leases (<data-dir>/<network>/<ip> = "<containerID>\r\n<ifname>"); the
// ranges they come from are in the network configs. For each network, the first config in
// --cni-conf-dir (in libcni's order) whose host-local IPAM uses this data dir gives the range sets,
// and so used/free per range set; without one (a kubenet node: its config lives in `podnet node`)
// the leases are listed alone. `release` removes leases under the store's own flock, the lock
// host-local (podnet's and Go's) holds for every operation.
import { lstatSync, readdirSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  isObject,
  type NetworkConfigList,
  validateContainerID,
  validateNetworkName,
  type JsonObject,
} from "../cni/index.js";
import { formatIP, tryParseIPExact } from "../ip/index.js";
import { loadAddon } from "../kernel/addon.js";
import { createLocker } from "../kernel/lock.js";
import { confFiles, DEFAULT_CONF_DIR, loadConfFile } from "../libcni/confdir.js";
import { DEFAULT_DATA_DIR, loadIPAMConfig } from "../plugins/ipam/host-local/config.js";
import type { RangeSet } from "../plugins/ipam/host-local/range-set.js";
import type { Reservation } from "../plugins/ipam/host-local/reservation.js";
import { Store } from "../plugins/ipam/host-local/store.js";
import { syncFs } from "../plugins/ipam/host-local/sync-fs.js";
import { rangeSetIndexOf, rangeSetUsage, sortReservations } from "../plugins/ipam/host-local/usage.js";
import { EXIT_FAILURE, EXIT_OK, exitCodes, parseCommandArgs, usageError } from "./args.js";
import { renderTable } from "./table.js";
import type { IpamRangeUsage } from "../netmgr/daemon/node-metrics.js";

const USAGE = `usage: podnet ipam list [--data-dir DIR] [--cni-conf-dir DIR] [--json]
       podnet ipam release NETWORK IP|CONTAINERID [--ifname IF] [--data-dir DIR]
  host-local's leases on this node.
  list     per network: each range set's used/free addresses (when a config in --cni-conf-dir
           uses host-local with this data dir) and each lease with its container ID and ifname
  release  removes one lease (IP) or every lease of a container (CONTAINERID, --ifname to pick
           one interface), under the lock host-local itself takes. The address may then be handed
           out again: release only what no running pod uses.

  --data-dir DIR      host-local's dataDir (default ${DEFAULT_DATA_DIR})
  --cni-conf-dir DIR  where the network configs are, for the ranges (default ${DEFAULT_CONF_DIR})
  --ifname IF         release: only this interface's leases
  --json              list: as JSON (counts beyond 2^53 as strings)
${exitCodes({ failure: "failure (release: no such lease)" })}`;

const OPTIONS = {
  "data-dir": { type: "string" },
  "cni-conf-dir": { type: "string" },
  ifname: { type: "string" },
  json: { type: "boolean" },
} as const;

export interface LeaseView {
  readonly ip: string;
  readonly containerID: string;
  /** null for leases written before CNI plugins v0.8.0 (the file holds only the container ID). */
  readonly ifname: string | null;
  /** The range set it belongs to ("" when no known set holds it). */
  readonly rangeSet: string;
}

export interface RangeView {
  readonly rangeSet: string;
  readonly subnets: readonly string[];
  readonly used: number | string;
  readonly free: number | string;
  readonly total: number | string;
}

export interface NetworkView {
  readonly name: string;
  /** The config file the ranges come from; absent when none uses host-local with this data dir. */
  readonly config?: string;
  readonly ranges: readonly RangeView[];
  readonly leases: readonly LeaseView[];
}

/** A count as JSON: a number while exact, else its decimal text. */
const count = (n: bigint): number | string => (n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString());

interface ConfiguredNetwork {
  readonly file: string;
  readonly sets: readonly RangeSet[];
}

/** host-local IPAM sections of a plugin object: its `ipam` (delegated) or itself (host-local run directly). */
export function hostLocalSections(raw: JsonObject): JsonObject[] {
  const ipam = raw["ipam"];
  if (isObject(ipam) && ipam["type"] === "host-local") return [raw];
  if (raw["type"] === "host-local") return [{ ...raw, ipam: { ...raw } }];
  return [];
}

/**
 * Networks whose host-local stores live in `dataDir`, from the configs in `confDir` (the first
 * config per network name wins, in libcni's order: .conflist files first). Unreadable configs are skipped.
 */
export async function configuredNetworks(confDir: string, dataDir: string): Promise<Map<string, ConfiguredNetwork>> {
  const out = new Map<string, ConfiguredNetwork>();
  const files = [...confFiles(confDir, [".conflist"]), ...confFiles(confDir, [".conf", ".json"])];
  for (const file of files) {
    let list: NetworkConfigList;
    try {
      list = loadConfFile(file);
    } catch {
      continue;
    }
    if (out.has(list.name)) continue;
    for (const h of await hostLocalIpam(list))
      if (h.dataDir === resolve(dataDir) && !out.has(list.name)) out.set(list.name, { file, sets: h.sets });
  }
  return out;
}

/** Each usable host-local IPAM section of a network's plugins: its store's data dir (absolute) and its range sets. */
export async function hostLocalIpam(
  list: NetworkConfigList,
): Promise<Array<{ dataDir: string; sets: readonly RangeSet[] }>> {
  const out: Array<{ dataDir: string; sets: readonly RangeSet[] }> = [];
  for (const p of list.plugins) {
    for (const section of hostLocalSections(p.raw)) {
      try {
        const { ipam } = await loadIPAMConfig({ ...section, name: list.name, cniVersion: list.cniVersion }, "", {
          readFileLimited: syncFs.readFileLimited,
        });
        // A relative dataDir is relative to the runtime's working directory: "/" for containerd and CRI-O.
        out.push({ dataDir: resolve("/", ipam.dataDir), sets: ipam.ranges });
      } catch {
        // not a usable host-local config: no ranges from it
      }
    }
  }
  return out;
}

/**
 * How full each range set of a network's host-local IPAM is, counted from the names in its store
 * directory (nothing inside the files is read, nothing locked): `podnet node`'s /metrics.
 */
export async function networkRangeUsage(list: NetworkConfigList): Promise<IpamRangeUsage[]> {
  const out: IpamRangeUsage[] = [];
  for (const h of await hostLocalIpam(list)) {
    let names: string[] = [];
    try {
      names = await readdir(join(h.dataDir, list.name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e; // no store yet: nothing leased
    }
    const leased = names.flatMap((n) => {
      const ip = tryParseIPExact(n);
      return ip ? [{ ip }] : [];
    });
    for (const set of h.sets) {
      const u = rangeSetUsage(set, leased);
      out.push({
        network: list.name,
        rangeSet: u.rangeSet,
        subnets: u.subnets,
        used: Number(u.used),
        capacity: Number(u.capacity),
      });
    }
  }
  return out;
}

const isDir = (p: string) => {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** The leases of a network whose store directory exists (nothing is locked or created). */
export async function readLeases(dataDir: string, network: string): Promise<Reservation[]> {
  const store = await Store.open(syncFs, () => Promise.reject(new Error("no lock needed to list")), dataDir, network);
  return store.list();
}

/** Every network with a store in `dataDir` or a config using it, with its ranges and leases. */
export async function ipamView(dataDir: string, confDir: string): Promise<NetworkView[]> {
  const configured = await configuredNetworks(confDir, dataDir);
  let stores: string[] = [];
  try {
    stores = readdirSync(dataDir).filter((n) => !n.startsWith(".") && isDir(join(dataDir, n)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const names = [...new Set([...stores, ...configured.keys()])].sort();
  const out: NetworkView[] = [];
  for (const name of names) {
    const leases = stores.includes(name) ? sortReservations(await readLeases(dataDir, name)) : [];
    const conf = configured.get(name);
    const sets = conf?.sets ?? [];
    const ranges = sets.map((s) => {
      const u = rangeSetUsage(s, leases);
      return {
        rangeSet: u.rangeSet,
        subnets: u.subnets,
        used: count(u.used),
        free: count(u.capacity - u.used),
        total: count(u.capacity),
      };
    });
    out.push({
      name,
      ...(conf ? { config: conf.file } : {}),
      ranges,
      leases: leases.map((r) => {
        const i = rangeSetIndexOf(sets, r);
        return {
          ip: formatIP(r.ip),
          containerID: r.containerID,
          ifname: r.ifname ?? null,
          rangeSet: i === undefined ? "" : ranges[i]!.rangeSet,
        };
      }),
    });
  }
  return out;
}

export function formatIpamView(dataDir: string, confDir: string, nets: readonly NetworkView[]): string {
  if (nets.length === 0) return `no host-local leases in ${dataDir} and no network in ${confDir} uses it\n`;
  return nets
    .map((n) => {
      const head = `network ${n.name}: ${n.leases.length} lease${n.leases.length === 1 ? "" : "s"} in ${join(dataDir, n.name)}\n`;
      const ranges =
        n.config !== undefined
          ? `  ranges from ${n.config}:\n` +
            renderTable(
              ["RANGE SET", "SUBNETS", "USED", "FREE", "TOTAL"],
              n.ranges.map((r) => [r.rangeSet, r.subnets.join(","), String(r.used), String(r.free), String(r.total)]),
              { indent: "  ", align: ["l", "l", "r", "r", "r"] },
            )
          : `  ranges: unknown (no config in ${confDir} uses host-local with this data dir)\n`;
      const leases = n.leases.length
        ? renderTable(
            ["IP", "CONTAINER", "IFNAME"],
            n.leases.map((l) => [l.ip, l.containerID, l.ifname ?? "-"]),
            { indent: "  " },
          )
        : "";
      return head + ranges + leases;
    })
    .join("\n");
}

/** Removes the lease of an IP, or the leases of a container, in one network; returns those removed. */
export async function releaseLeases(
  dataDir: string,
  network: string,
  what: string,
  ifname: string | undefined,
): Promise<Reservation[]> {
  const dir = join(dataDir, network);
  if (!isDir(dir)) throw new Error(`no host-local store for network ${JSON.stringify(network)} in ${dataDir}`);
  const store = await Store.open(syncFs, createLocker(loadAddon), dataDir, network);
  const lock = await store.lock();
  try {
    const all = await store.list();
    const ip = tryParseIPExact(what);
    const mine = ip
      ? all.filter((r) => r.name === formatIP(ip))
      : all.filter(
          (r) => r.containerID === what && (ifname === undefined || r.ifname === undefined || r.ifname === ifname),
        );
    if (mine.length === 0) {
      const whose = ip ? `of ${formatIP(ip)}` : `held by container ${what}${ifname ? ` on ${ifname}` : ""}`;
      throw new Error(`no lease ${whose} in network ${JSON.stringify(network)} (${dir})`);
    }
    for (const r of mine) await store.remove(r.name);
    return mine;
  } finally {
    await lock.release();
  }
}

export async function run(args: string[]): Promise<number> {
  const p = parseCommandArgs("ipam", USAGE, args, OPTIONS, { positionals: true });
  if (typeof p === "number") return p;
  const [verb, ...rest] = p.positionals;
  const v = p.values;
  const dataDir = resolve(v["data-dir"] ?? DEFAULT_DATA_DIR);
  if (verb === "list") {
    if (rest.length) return usageError("ipam list", `unexpected argument ${JSON.stringify(rest[0])}`, USAGE);
    if (v.ifname !== undefined) return usageError("ipam list", "--ifname is for release", USAGE);
    const confDir = resolve(v["cni-conf-dir"] ?? DEFAULT_CONF_DIR);
    try {
      const nets = await ipamView(dataDir, confDir);
      process.stdout.write(
        v.json
          ? `${JSON.stringify({ dataDir, confDir, networks: nets }, null, 2)}\n`
          : formatIpamView(dataDir, confDir, nets),
      );
      return EXIT_OK;
    } catch (e) {
      process.stderr.write(`podnet ipam list: ${(e as Error).message}\n`);
      return EXIT_FAILURE;
    }
  }
  if (verb === "release") {
    const [network, what, ...more] = rest;
    if (network === undefined || what === undefined)
      return usageError("ipam release", "want NETWORK and an IP or a container ID", USAGE);
    if (more.length) return usageError("ipam release", `unexpected argument ${JSON.stringify(more[0])}`, USAGE);
    if (v.json || v["cni-conf-dir"] !== undefined)
      return usageError("ipam release", `--${v.json ? "json" : "cni-conf-dir"} is for list`, USAGE);
    try {
      validateNetworkName(network);
    } catch {
      return usageError("ipam release", `${JSON.stringify(network)} is not a network name`, USAGE);
    }
    if (!tryParseIPExact(what)) {
      try {
        validateContainerID(what);
      } catch {
        return usageError("ipam release", `${JSON.stringify(what)} is neither an IP address nor a container ID`, USAGE);
      }
    }
    try {
      for (const r of await releaseLeases(dataDir, network, what, v.ifname)) {
        process.stdout.write(
          `released ${formatIP(r.ip)} (container ${r.containerID}${r.ifname ? `, ${r.ifname}` : ""}) in network ${network}\n`,
        );
      }
      return EXIT_OK;
    } catch (e) {
      process.stderr.write(`podnet ipam release: ${(e as Error).message}\n`);
      return EXIT_FAILURE;
    }
  }
  return usageError("ipam", verb === undefined ? "list or release?" : `unknown verb ${JSON.stringify(verb)}`, USAGE);
}
