// host-local IPAM: hands out addresses from configured ranges and records each one as a file on
// the local disk. A drop-in for Go's host-local: same config, same results, same files, and the
// same lock, so the two can take turns on one data directory.
//
// Beyond the reference:
// - the store lock is held for a whole ADD (every range set and any undo), not per range set;
// - an ADD that fails undoes exactly the reservations it made;
// - GC (spec 1.1.0) releases every reservation whose owner is not a valid attachment;
// - STATUS (spec 1.1.0) fails with code 50 when a range set is exhausted or the store is unusable.
//
// `hostLocalAdd`/`hostLocalDel`/… take the parsed config and can be called in-process (bridge
// does, instead of exec'ing host-local); `createHostLocal` wraps them as plugin functions.
import {
  ALL_SPEC_VERSIONS,
  CniCode,
  CniError,
  getCI,
  isObject,
  type DNS,
  type JsonObject,
  type Result,
} from "../../../cni/index.js";
import type { CmdArgs, PluginAbout, PluginFuncs } from "../../../sdk/types.js";
import { type IP, cidrOf, formatCidr, formatIP } from "../../../ip/index.js";
import { IPAllocator, type Allocation } from "./allocator.js";
import { type IPAMConfig, MAX_CONFIG_FILE_BYTES, loadIPAMConfig } from "./config.js";
import { formatRangeSet, isAllocatable, rangeSetCapacity, rangeSetContains } from "./range-set.js";
import { loadResolvConf } from "./resolvconf.js";
import { type Lock, type LockFn, Store, type StoreFs } from "./store.js";
import { BoundedReadError } from "../../../kernel/read-bounded.js";
import { PodnetError } from "../../../util/errors.js";
import type { StoreCache } from "./store-cache.js";

/** The store's file access, plus bounded reads of the files a config names (rangeFromFile, resolvConf). */
export interface HostLocalFs extends StoreFs {
  /** A regular file of at most `maxBytes`, as UTF-8; throws for anything else (a FIFO, /dev/zero, a huge file). */
  readFileLimited(path: string, maxBytes: number): Promise<string>;
}

export interface HostLocalDeps {
  /** File access for the store, resolvConf and rangeFromFile: `syncFs` in the executable, node:fs/promises in a daemon. */
  readonly fs: HostLocalFs;
  /** An exclusive lock on a file that Go's host-local also honours (flock). */
  readonly lock: LockFn;
  /** Diagnostics (GC releases); stderr in a plugin process, nothing by default. */
  readonly log?: (msg: string) => void;
  /**
   * A long-lived process's memory of the stores (with `fs.changes`): an operation then reads only
   * the files changed since the previous one instead of every reservation. None in a plugin process.
   */
  readonly cache?: StoreCache;
}

/** What an attachment operation needs besides the config (a subset of CmdArgs). */
export interface AttachmentArgs {
  readonly containerID: string;
  readonly ifName: string;
  /** Raw CNI_ARGS ("K=V;K=V"), for IP=. */
  readonly args?: string;
  /** Marks the end of a phase (PODNET_TRACE=1); phases are named "hl.<what>". */
  readonly trace?: (phase: string) => void;
}

const ioError = (msg: string, e: unknown) =>
  new CniError(CniCode.IoFailure, `${msg}: ${(e as Error)?.message ?? String(e)}`, { cause: e });

/** Node's fs errors (an errno name in `code`) and a file over its limit are I/O failures. */
const isIoError = (e: unknown): boolean =>
  e instanceof BoundedReadError ||
  (!(e instanceof PodnetError) && typeof (e as NodeJS.ErrnoException)?.code === "string");

/** I/O failures are code 5; CniErrors keep theirs; the rest pass through as 999. */
function classify(e: unknown, prefix: string): CniError {
  if (e instanceof CniError) return new CniError(e.code, `${prefix}${e.message}`, { details: e.details, cause: e });
  if (isIoError(e)) return ioError(prefix.replace(/: $/, ""), e);
  return new CniError(CniCode.Internal, `${prefix}${(e as Error)?.message ?? String(e)}`, { cause: e });
}

async function openStore(ipam: IPAMConfig, deps: HostLocalDeps, code: number = CniCode.IoFailure): Promise<Store> {
  try {
    return await Store.open(deps.fs, deps.lock, ipam.dataDir, ipam.name, deps.cache);
  } catch (e) {
    throw new CniError(
      code,
      `failed to open the store for network "${ipam.name}" in ${JSON.stringify(ipam.dataDir)}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

async function withLock<T>(store: Store, code: number, fn: () => Promise<T>): Promise<T> {
  let lock: Lock;
  try {
    lock = await store.lock();
  } catch (e) {
    throw new CniError(code, `failed to lock ${JSON.stringify(store.dir)}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

const ipConfig = (a: Allocation) => ({
  address: formatCidr(cidrOf(a.ip, a.range.subnet.prefix)),
  gateway: formatIP(a.range.gateway),
});

// ---- ADD ------------------------------------------------------------------------------------

/** Allocates one address per range set for (containerID, ifName); the IPAM result in the 1.1.0 shape. */
export async function hostLocalAdd(conf: JsonObject, args: AttachmentArgs, deps: HostLocalDeps): Promise<Result> {
  const trace = args.trace ?? (() => {});
  const { ipam } = await loadIPAMConfig(conf, args.args ?? "", deps.fs);
  trace("hl.config");

  let dns: DNS | undefined;
  if (ipam.resolvConf) {
    try {
      dns = await loadResolvConf((p) => deps.fs.readFileLimited(p, MAX_CONFIG_FILE_BYTES), ipam.resolvConf);
    } catch (e) {
      throw ioError(`failed to read resolvConf ${JSON.stringify(ipam.resolvConf)}`, e);
    }
  }

  const store = await openStore(ipam, deps);
  const allocs = await withLock(store, CniCode.IoFailure, async () => {
    trace("hl.lock");
    const done: Allocation[] = [];
    // Requested addresses go to the first range set that holds them.
    const requested = new Map<string, IP>(ipam.ipArgs.map((ip) => [formatIP(ip), ip]));
    try {
      // One read of the store serves every range set (they do not overlap).
      const reservations = await store.list().catch((e: unknown) => {
        throw ioError(`failed to read ${JSON.stringify(store.dir)}`, e);
      });
      trace("hl.list");
      for (const [idx, set] of ipam.ranges.entries()) {
        let want: IP | undefined;
        for (const [k, ip] of requested) {
          if (rangeSetContains(set, ip)) {
            want = ip;
            requested.delete(k);
            break;
          }
        }
        try {
          done.push(await new IPAllocator(set, store, idx).get(args.containerID, args.ifName, want, reservations));
        } catch (e) {
          throw classify(e, `failed to allocate for range ${idx}: `);
        }
      }
      if (requested.size > 0) {
        throw new CniError(
          CniCode.InvalidNetworkConfig,
          `failed to allocate all requested IPs: ${[...requested.keys()].join(" ")}`,
        );
      }
      trace("hl.reserve");
      return done;
    } catch (e) {
      // Undo exactly what this ADD reserved (Go releases everything the owner holds).
      for (const a of done) await store.releaseIP(a.ip, args.containerID, args.ifName).catch(() => false);
      throw e;
    }
  });

  const result: Result = { cniVersion: "1.1.0", ips: allocs.map(ipConfig) };
  if (ipam.routes.length > 0) result.routes = ipam.routes.map((r) => ({ ...r }));
  if (dns) result.dns = dns;
  return result;
}

// ---- DEL ------------------------------------------------------------------------------------

/** Releases every address held by (containerID, ifName), wherever it is; repeatable. */
export async function hostLocalDel(conf: JsonObject, args: AttachmentArgs, deps: HostLocalDeps): Promise<void> {
  const trace = args.trace ?? (() => {});
  // The config must still be valid (as in Go), though release does not depend on the ranges.
  const { ipam } = await loadIPAMConfig(conf, args.args ?? "", deps.fs);
  trace("hl.config");
  const store = await openStore(ipam, deps);
  await withLock(store, CniCode.IoFailure, async () => {
    trace("hl.lock");
    try {
      await store.releaseByID(args.containerID, args.ifName);
      trace("hl.release");
    } catch (e) {
      throw ioError(
        `failed to release the addresses of ${args.containerID}/${args.ifName} in ${JSON.stringify(store.dir)}`,
        e,
      );
    }
  });
}

// ---- CHECK ----------------------------------------------------------------------------------

/** Succeeds when (containerID, ifName) holds at least one address (any address, as in Go). */
export async function hostLocalCheck(conf: JsonObject, args: AttachmentArgs, deps: HostLocalDeps): Promise<void> {
  const { ipam } = await loadIPAMConfig(conf, args.args ?? "", deps.fs);
  const store = await openStore(ipam, deps);
  const found = await withLock(store, CniCode.IoFailure, () => store.findByID(args.containerID, args.ifName));
  if (!found)
    throw new CniError(CniCode.Internal, `host-local: Failed to find address added by container ${args.containerID}`);
}

// ---- STATUS ---------------------------------------------------------------------------------

/**
 * Ready to serve ADD: the store directory can be created, locked and written, and every range set
 * has a free address. Otherwise code 50 (plugin not available). A bad config fails with its own code.
 */
export async function hostLocalStatus(conf: JsonObject, deps: HostLocalDeps): Promise<void> {
  const { ipam } = await loadIPAMConfig(conf, "", deps.fs);
  const na = CniCode.PluginNotAvailable;
  const store = await openStore(ipam, deps, na);
  const reserved = await withLock(store, na, async () => {
    try {
      await store.probeWritable();
      return await store.list();
    } catch (e) {
      throw new CniError(na, `data dir ${JSON.stringify(store.dir)} is unusable: ${(e as Error).message}`, {
        cause: e,
      });
    }
  });
  for (const set of ipam.ranges) {
    const used = reserved.filter((r) => isAllocatable(set, r.ip)).length;
    if (BigInt(used) >= rangeSetCapacity(set)) {
      throw new CniError(na, `no IP addresses available in range set: ${formatRangeSet(set)}`);
    }
  }
}

// ---- GC -------------------------------------------------------------------------------------

export interface Attachment {
  readonly containerID: string;
  readonly ifname: string;
}

/**
 * Whether a reservation's owner is one of the valid attachments: (containerID, ifname) for current
 * files, the container ID alone for pre-v0.8.0 files (no ifname).
 */
export function validOwner(
  valid: readonly Attachment[],
): (r: { readonly containerID: string; readonly ifname: string | undefined }) => boolean {
  const keep = new Set(valid.map((a) => `${a.containerID.trim()}\r\n${a.ifname}`));
  const keepIDs = new Set(valid.map((a) => a.containerID.trim()));
  return (r) => (r.ifname === undefined ? keepIDs.has(r.containerID) : keep.has(`${r.containerID}\r\n${r.ifname}`));
}

/** `cni.dev/valid-attachments` (or the older `cni.dev/attachments`); undefined when neither is present. */
export function validAttachments(conf: JsonObject): Attachment[] | undefined {
  let key = "cni.dev/valid-attachments";
  let raw = conf[key];
  if (raw === undefined || raw === null) {
    key = "cni.dev/attachments";
    raw = conf[key];
  }
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw))
    throw new CniError(CniCode.InvalidNetworkConfig, `invalid "${key}": must be a list, got ${JSON.stringify(raw)}`);
  return raw.map((a, i) => {
    const id = isObject(a) ? getCI(a, "containerID") : undefined;
    const ifname = isObject(a) ? getCI(a, "ifname") : undefined;
    if (typeof id !== "string" || typeof ifname !== "string") {
      throw new CniError(
        CniCode.InvalidNetworkConfig,
        `invalid "${key}[${i}]": must be {"containerID": string, "ifname": string}, got ${JSON.stringify(a)}`,
      );
    }
    return { containerID: id, ifname };
  });
}

/**
 * Releases every reservation in this network's store whose owner is not in the valid attachments:
 * (containerID, ifname) for current files, the container ID alone for pre-v0.8.0 files; files
 * without an owner (empty) are stale too. Leftover temporary files go as well. Without any
 * attachments key nothing is released: an absent list is not an empty one.
 */
export async function hostLocalGc(conf: JsonObject, deps: HostLocalDeps): Promise<void> {
  const { ipam } = await loadIPAMConfig(conf, "", deps.fs);
  const valid = validAttachments(conf);
  if (valid === undefined) return;
  const isValid = validOwner(valid);
  const store = await openStore(ipam, deps);
  const errors: string[] = [];
  await withLock(store, CniCode.IoFailure, async () => {
    let stale: string[];
    try {
      const reservations = await store.list();
      stale = reservations.filter((r) => !isValid(r)).map((r) => r.name);
      // Under the lock no write is in flight, so any temporary file is a crash leftover.
      stale.push(...(await store.tempFiles()));
    } catch (e) {
      throw ioError(`failed to list ${JSON.stringify(store.dir)}`, e);
    }
    for (const name of stale) {
      try {
        await store.remove(name);
        deps.log?.(`host-local GC: released ${name} in ${store.dir}`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") errors.push(`${name}: ${(e as Error).message}`);
      }
    }
  });
  if (errors.length > 0)
    throw new CniError(CniCode.IoFailure, `failed to release stale reservations: ${errors.join("; ")}`);
}

// ---- plugin functions -----------------------------------------------------------------------

export const cmdAdd = (args: CmdArgs, deps: HostLocalDeps): Promise<Result> => hostLocalAdd(args.netconf, args, deps);
export const cmdDel = (args: CmdArgs, deps: HostLocalDeps): Promise<void> => hostLocalDel(args.netconf, args, deps);
export const cmdCheck = (args: CmdArgs, deps: HostLocalDeps): Promise<void> => hostLocalCheck(args.netconf, args, deps);
export const cmdStatus = (args: CmdArgs, deps: HostLocalDeps): Promise<void> => hostLocalStatus(args.netconf, deps);
export const cmdGc = (args: CmdArgs, deps: HostLocalDeps): Promise<void> => hostLocalGc(args.netconf, deps);

export function createHostLocal(deps: HostLocalDeps): PluginFuncs {
  return {
    add: (a) => cmdAdd(a, deps),
    del: (a) => cmdDel(a, deps),
    check: (a) => cmdCheck(a, deps),
    status: (a) => cmdStatus(a, deps),
    gc: (a) => cmdGc(a, deps),
  };
}

export const HOST_LOCAL_ABOUT: PluginAbout = {
  name: "host-local",
  supportedVersions: ALL_SPEC_VERSIONS,
  plainErrors: true,
};
