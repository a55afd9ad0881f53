// portmap: forwards host ports to a pod (the `portMappings` capability), a drop-in for the Go
// reference plugin (same config, same iptables layout and chain names with "backend": "iptables").
//
// Beyond the reference:
// - default backend nftables with maps: O(1) per pod to add, remove and look up (nftables.ts);
// - a host port already forwarded to another pod is refused with an error naming the holder, and
//   nothing is changed (Go silently lets the last writer win);
// - DEL works from the attachment's identity alone — no port mappings, no prevResult, no netns —
//   from a per-attachment state file (state.ts); two attachments of one container never remove
//   each other's rules; a DEL that finds no state but gets mappings cleans up what the Go plugin
//   left (both backends);
// - CHECK works for IPv4-only pods (plugins#819); UDP conntrack entries are flushed on DEL too;
// - GC (spec 1.1.0) removes attachments that are not in the runtime's list;
// - with route_localnet (node → 127.0.0.1:hostPort, as Go) the table drops new non-local traffic
//   to 127/8 (CVE-2020-8558); the last DEL removes the whole table: the ruleset is as before.
// Backend: "backend" when given; otherwise iptables when the config has iptables-only options
// (the seed's "externalSetMarkChain": "KUBE-MARK-MASQ"), nftables when not. State lives under
// "dataDir" (podnet's key; default /var/lib/cni/podnet-portmap).
import { join } from "node:path";
import { CniCode, CniError, getCI, isObject, readJson, type AnyResult } from "../../../cni/index.js";
import { type Cidr, cidrContains, formatIP, parseCidr, type IP } from "../../../ip/index.js";
import { IPPROTO_UDP, type Conntrack } from "../../../kernel/conntrack.js";
import type { Exec } from "../../../kernel/exec.js";
import { inetAddrText } from "../../../kernel/inet.js";
import { createIPTables } from "../../../kernel/iptables.js";
import { isNftNotFound, type Nftables } from "../../../kernel/nft.js";
import type { RouteGet } from "../../../kernel/route-get.js";
import type { Kernel } from "../../../kernel/types.js";
import { allVersions, type CmdArgs, type PluginAbout, type PluginFuncs } from "../../../sdk/index.js";
import { mappingsFor, parseConfig, type PortMapConf } from "./config.js";
import {
  NoIptablesError,
  iptCheck,
  iptForward,
  iptUnforward,
  planFamily,
  type IPTablesByFamily,
  type IptFamilyState,
} from "./iptables.js";
import {
  chainName,
  DELETE_TABLE,
  MAPS,
  nftCheck,
  nftForward,
  nftUnforward,
  onlyAttachment,
  parseChainComments,
  planAttachment,
  readTable,
  TABLE,
  type NftElement,
  type Owner,
} from "./nftables.js";
import { DEFAULT_DATA_DIR, StateStore, type PortmapState, type StateFs, type UdpFlow } from "./state.js";

export interface PortmapDeps {
  /** Runs iptables-save/-restore (and conntrack, without `conntrack` below) in the host network namespace. */
  readonly exec: Exec;
  /** Conntrack over netlink in a netns (null: this process's), closed after use; without it the `conntrack` tool. */
  readonly conntrack?: (netns: string | null) => Conntrack;
  /** nftables in a netns (null: this process's), closed after each call. */
  readonly nftables: (netns: string | null) => Nftables;
  /** The kernel's route lookup in a netns (`ip route get`), closed after use; without it the routes are listed. */
  readonly routeGet?: (netns: string | null) => RouteGet;
  /** Routes (to find the interface for route_localnet) and sysctl. */
  readonly kernel: Pick<Kernel, "netns" | "sysctl">;
  readonly fs: StateFs;
  /** An exclusive lock on a file (flock); held around every change. */
  readonly lock: (path: string) => Promise<{ release(): Promise<void> | void }>;
  /** Identity of this boot and host netns ("<boot_id>:<netns inode>"); state from another is stale. */
  readonly scope: () => Promise<string>;
  /** The host network namespace (null: the one this process runs in). */
  readonly hostNetns?: string | null;
  /** Default for the state directory; a config's `dataDir` wins. */
  readonly dataDir?: string;
  readonly log?: (msg: string) => void;
}

export const PORTMAP_ABOUT: PluginAbout = { name: "portmap", supportedVersions: allVersions, plainErrors: true };

// ---- helpers ----------------------------------------------------------------------------------

interface Ctx {
  readonly deps: PortmapDeps;
  readonly nft: Nftables;
  readonly ipt: IPTablesByFamily;
  readonly store: StateStore;
  readonly log: (msg: string) => void;
}

function context(deps: PortmapDeps, conf: Pick<PortMapConf, "dataDir">): Ctx {
  return {
    deps,
    nft: deps.nftables(deps.hostNetns ?? null),
    ipt: { 4: createIPTables(deps.exec, false), 6: createIPTables(deps.exec, true) },
    store: new StateStore(deps.fs, conf.dataDir ?? deps.dataDir ?? DEFAULT_DATA_DIR),
    log: deps.log ?? (() => {}),
  };
}

/** Runs `fn` with a context whose nftables port (its netlink socket) is closed afterwards. */
async function withContext<T>(
  deps: PortmapDeps,
  conf: Pick<PortMapConf, "dataDir">,
  fn: (ctx: Ctx) => Promise<T>,
): Promise<T> {
  const ctx = context(deps, conf);
  try {
    return await fn(ctx);
  } finally {
    ctx.nft.close();
  }
}

async function withLock<T>(ctx: Ctx, fn: () => Promise<T>): Promise<T> {
  try {
    await ctx.deps.fs.mkdir(ctx.store.dir, { recursive: true, mode: 0o755 });
  } catch (e) {
    throw new CniError(CniCode.IoFailure, `portmap: cannot create ${ctx.store.dir}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const lock = await ctx.deps.lock(join(ctx.store.dir, "lock"));
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/** The interface that routes to `ip` in the host netns (Go: getRoutableHostIF, `ip route get`). */
async function routableHostIf(deps: PortmapDeps, ip: IP): Promise<string | undefined> {
  if (deps.routeGet) {
    const rg = deps.routeGet(deps.hostNetns ?? null);
    try {
      return rg.outputDevice(formatIP(ip));
    } finally {
      rg.close();
    }
  }
  const routes = await deps.kernel.netns(deps.hostNetns ?? null).routeList({ family: 4 });
  let best: { dev: string; prefix: number; metric: number } | undefined;
  for (const r of routes) {
    if (!r.dev || (r.type !== "unicast" && r.type !== 1)) continue;
    let c: Cidr;
    try {
      c = parseCidr(r.dst);
    } catch {
      continue;
    }
    if (!cidrContains(c, ip)) continue;
    const metric = r.metric ?? 0;
    if (!best || c.prefix > best.prefix || (c.prefix === best.prefix && metric < best.metric))
      best = { dev: r.dev, prefix: c.prefix, metric };
  }
  return best?.dev;
}

/** route_localnet=1 on the interface towards the pod, so that 127.0.0.1 can be DNATed to it (as Go). */
async function enableLocalnetRouting(deps: PortmapDeps, ip: IP): Promise<void> {
  const dev = await routableHostIf(deps, ip);
  if (!dev) return;
  const key = `net/ipv4/conf/${dev}/route_localnet`;
  const ns = deps.hostNetns ?? null;
  try {
    if ((await deps.kernel.sysctl.read(ns, key)) === "1") return;
    await deps.kernel.sysctl.write(ns, key, "1");
  } catch (e) {
    throw new CniError(CniCode.Internal, `unable to enable route_localnet: ${(e as Error).message}`, { cause: e });
  }
}

function udpFlows(conf: PortMapConf): UdpFlow[] {
  const out: UdpFlow[] = [];
  for (const family of [4, 6] as const) {
    const cont = family === 4 ? conf.contIPv4 : conf.contIPv6;
    if (!cont) continue;
    for (const e of mappingsFor(conf, family))
      if (e.protocol === "udp") out.push({ family, hostPort: e.hostPort, podIP: formatIP(cont.ip) });
  }
  return out;
}

/**
 * Deletes UDP conntrack entries towards the host ports, so that a flow created before the
 * mapping (or towards the pod's predecessor) does not blackhole the traffic. On DEL only the
 * flows answered by this pod. Failures are only logged, as in Go. Over netlink it is one walk of
 * the table for every port and family (each walk costs the same ≈13 ms, empty or not); with the
 * `conntrack` tool, one process per port and family.
 */
async function flushUdpConntrack(ctx: Ctx, flows: readonly UdpFlow[], onDel: boolean): Promise<void> {
  if (flows.length === 0) return;
  if (ctx.deps.conntrack) {
    const canon = (ip: string) => inetAddrText(ip) ?? ip; // as the conntrack dump prints it
    const want = flows.map((f) => ({ family: f.family, port: f.hostPort, podIP: canon(f.podIP) }));
    const families = [...new Set(want.map((f) => f.family))].sort();
    let ct: Conntrack | undefined;
    try {
      ct = ctx.deps.conntrack(ctx.deps.hostNetns ?? null);
      ct.deleteWhere(
        families,
        (e) =>
          e.orig.proto === IPPROTO_UDP &&
          want.some((f) => f.family === e.family && f.port === e.orig.dstPort && (!onDel || e.reply?.src === f.podIP)),
      );
    } catch (e) {
      ctx.log(
        `failed to delete stale UDP conntrack entries for ports ${[...new Set(want.map((f) => f.port))].join(", ")}: ${(e as Error).message}`,
      );
    } finally {
      ct?.close();
    }
    return;
  }
  const seen = new Set<string>();
  const jobs: Array<Promise<void>> = [];
  for (const f of flows) {
    const id = `${f.family}|${f.hostPort}|${onDel ? f.podIP : ""}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const argv = [
      "conntrack",
      "-D",
      "-p",
      "udp",
      "--orig-port-dst",
      String(f.hostPort),
      "-f",
      f.family === 4 ? "ipv4" : "ipv6",
    ];
    if (onDel) argv.push("--reply-src", f.podIP);
    jobs.push(
      ctx.deps.exec.run(argv).then(
        () => {},
        (e: unknown) => {
          const text = String((e as { stderr?: string }).stderr ?? (e as Error).message);
          if (!/0 flow entries have been deleted/.test(text))
            ctx.log(`failed to delete stale UDP conntrack entries for port ${f.hostPort}: ${text.trim()}`);
        },
      ),
    );
  }
  await Promise.all(jobs);
}

const ownerOf = (conf: Pick<PortMapConf, "name">, args: Pick<CmdArgs, "containerID" | "ifName">): Owner => ({
  network: conf.name,
  containerID: args.containerID,
  ifName: args.ifName,
});

function mergeElements(a: readonly NftElement[], b: readonly NftElement[]): NftElement[] {
  const out = [...a];
  for (const e of b) if (!out.some((x) => x.map === e.map && x.key === e.key)) out.push(e);
  return out;
}

/**
 * Undoes one attachment from its state (the caller holds the lock); returns its UDP flows, whose
 * conntrack entries the caller deletes after releasing the lock: the walk of the conntrack table
 * (≈13 ms) needs no lock, and every other pod's portmap ADD and DEL on the node would wait for it.
 * When no other attachment has state, the table is read first: holding nothing but this
 * attachment's chain and elements, it goes whole — one transaction (one RCU wait), and the ruleset
 * is as before the first ADD. The nftables port stays open until the end: closing a
 * NETLINK_NETFILTER socket waits for the RCU grace period of the deletions just committed
 * (nf_tables flushes its destroy work when a socket goes away), and the conntrack walk meanwhile
 * lets that period pass instead of waiting.
 */
async function unforward(
  ctx: Ctx,
  s: PortmapState,
  trace: (phase: string) => void = () => {},
): Promise<readonly UdpFlow[]> {
  if (s.backend === "nftables") {
    const chain = s.chain ?? chainName(s);
    const elements = s.elements ?? [];
    const others = (await ctx.store.list()).filter(
      (x) => !(x.network === s.network && x.file === `${s.containerID}-${s.ifName}`),
    ).length;
    let whole = false;
    if (others === 0) {
      try {
        const t = await ctx.nft.table("inet", TABLE, MAPS);
        if (t && onlyAttachment(t, chain, elements)) {
          await ctx.nft.apply([DELETE_TABLE]);
          whole = true;
        }
      } catch {
        // the ordinary path decides
      }
    }
    if (!whole) await nftUnforward(ctx.nft, chain, elements);
  } else {
    await iptUnforward(ctx.ipt, s.network, s.containerID, s.iptables ?? {});
  }
  trace(s.backend);
  await ctx.store.remove(s.network, s.containerID, s.ifName);
  return s.udp;
}

/** After the last attachment is gone: drop the (then empty) table, so that the ruleset is as before. */
async function cleanupTable(ctx: Ctx): Promise<void> {
  if ((await ctx.store.list()).length > 0) return;
  try {
    const t = await ctx.nft.table("inet", TABLE, MAPS);
    if (t && onlyAttachment(t, undefined, [])) await ctx.nft.apply([DELETE_TABLE]);
  } catch (e) {
    if (!isNftNotFound(e)) ctx.log(`portmap: could not remove the unused table inet ${TABLE}: ${(e as Error).message}`);
  }
}

// ---- ADD / DEL / CHECK / GC -------------------------------------------------------------------

/** Sets up the mappings; returns the prevResult as read (Go prints it back as it came). */
export async function cmdAdd(args: CmdArgs, deps: PortmapDeps): Promise<AnyResult> {
  const conf = parseConfig(args.netconf, args.cniVersion, args.ifName);
  if (!conf.passThrough) throw new CniError(CniCode.InvalidNetworkConfig, "must be called as chained plugin");
  if (conf.portMappings.length === 0) return conf.passThrough;
  const passThrough = conf.passThrough;
  await withContext(deps, conf, (ctx) => add(ctx, conf, args));
  return passThrough;
}

async function add(ctx: Ctx, conf: PortMapConf, args: CmdArgs): Promise<void> {
  const deps = ctx.deps;
  const owner = ownerOf(conf, args);
  const scope = await deps.scope();
  const udp = udpFlows(conf);
  args.trace("config");

  await withLock(ctx, async () => {
    args.trace("lock");
    const old = await ctx.store.read(owner.network, owner.containerID, owner.ifName);
    const prior = old && old.scope === scope ? old : undefined;
    if (conf.snat && conf.contIPv4 && mappingsFor(conf, 4).length > 0)
      await enableLocalnetRouting(deps, conf.contIPv4.ip);
    args.trace("route_localnet");

    const base = {
      version: 1 as const,
      scope,
      network: owner.network,
      containerID: owner.containerID,
      ifName: owner.ifName,
    };
    let state: PortmapState;
    if (conf.backend === "nftables") {
      const plan = planAttachment(conf, owner);
      if (plan.elements.length === 0) return; // no address of the mappings' families
      const earlier = prior?.backend === "nftables" ? (prior.elements ?? []) : [];
      state = { ...base, backend: "nftables", chain: plan.chain, elements: mergeElements(earlier, plan.elements), udp };
    } else {
      const fams: Record<string, IptFamilyState> = {};
      for (const f of [4, 6] as const) {
        const p = planFamily(conf, owner.network, owner.containerID, f);
        if (p) fams[String(f)] = { chain: p.chain, rules: p.rules, entryRules: p.entryRules };
      }
      state = { ...base, backend: "iptables", iptables: fams, udp };
    }
    // The state goes first: whatever happens next, DEL knows what may be there.
    await ctx.store.write(state);
    args.trace("state");
    try {
      if (conf.backend === "nftables") await nftForward(ctx.nft, conf, owner);
      else await iptForward(ctx.ipt, conf, owner.network, owner.containerID);
      args.trace(conf.backend);
    } catch (e) {
      if (old) await ctx.store.write(old).catch(() => {});
      else await ctx.store.remove(owner.network, owner.containerID, owner.ifName).catch(() => {});
      throw e;
    }
  });
  await flushUdpConntrack(ctx, udp, false);
  args.trace("conntrack");
}

export async function cmdDel(args: CmdArgs, deps: PortmapDeps): Promise<void> {
  const conf = parseConfig(args.netconf, args.cniVersion, args.ifName);
  await withContext(deps, conf, (ctx) => del(ctx, conf, args));
}

async function del(ctx: Ctx, conf: PortMapConf, args: CmdArgs): Promise<void> {
  const deps = ctx.deps;
  const owner = ownerOf(conf, args);
  // Fast path for the many pods without host ports: no state, no mappings, nothing to do — and
  // no lock, no exec.
  let state = await ctx.store.read(owner.network, owner.containerID, owner.ifName);
  if (!state && conf.portMappings.length === 0) return;
  const scope = await deps.scope();
  args.trace("config");
  /** The UDP flows whose conntrack entries go, after the lock (see unforward). */
  let flows: readonly UdpFlow[] = [];
  await withLock(ctx, async () => {
    args.trace("lock");
    state = await ctx.store.read(owner.network, owner.containerID, owner.ifName);
    if (state && state.scope !== scope) {
      // From another boot (or another netns): its rules are gone with it.
      await ctx.store.remove(owner.network, owner.containerID, owner.ifName);
      return;
    }
    if (state) {
      flows = await unforward(ctx, state, args.trace);
      args.trace("state");
      return;
    }
    // No state but mappings: made by the Go plugin (iptables: CNI-DN-<hash>), or state lost.
    const table = await nftUnforward(ctx.nft, chainName(owner), undefined);
    try {
      await iptUnforward(ctx.ipt, owner.network, owner.containerID, undefined);
    } catch (e) {
      if (!(e instanceof NoIptablesError)) throw e;
    }
    flows = udpFlows(conf);
    if (table) await cleanupTable(ctx);
  });
  await flushUdpConntrack(ctx, flows, true);
  args.trace("conntrack");
}

export async function cmdCheck(args: CmdArgs, deps: PortmapDeps): Promise<void> {
  const conf = parseConfig(args.netconf, args.cniVersion, args.ifName);
  if (!conf.prevResult) throw new CniError(CniCode.InvalidNetworkConfig, "Required prevResult missing");
  if (conf.portMappings.length === 0) return;
  await withContext(deps, conf, async (ctx) => {
    const owner = ownerOf(conf, args);
    const state = await ctx.store.read(owner.network, owner.containerID, owner.ifName);
    const backend = state?.backend ?? conf.backend;
    if (backend === "nftables") await nftCheck(ctx.nft, conf, owner);
    else await iptCheck(ctx.ipt, conf, owner.network, owner.containerID);
  });
}

/** GC (spec 1.1.0): every attachment of this network that is not in `cni.dev/valid-attachments` goes. */
export async function cmdGc(args: CmdArgs, deps: PortmapDeps): Promise<void> {
  const conf = parseConfig(args.netconf, args.cniVersion, args.ifName || "eth0");
  await withContext(deps, conf, (ctx) => gc(ctx, conf, args));
}

async function gc(ctx: Ctx, conf: PortMapConf, args: CmdArgs): Promise<void> {
  const deps = ctx.deps;
  const rawValid = getCI(args.netconf, "cni.dev/valid-attachments") ?? getCI(args.netconf, "cni.dev/attachments");
  const valid = new Set<string>();
  if (Array.isArray(rawValid)) {
    for (const a of rawValid) {
      if (!isObject(a)) continue;
      const cid = getCI(a, "containerID");
      const ifn = getCI(a, "ifname");
      if (typeof cid === "string" && typeof ifn === "string") valid.add(`${cid} ${ifn}`);
    }
  }
  const scope = await deps.scope();
  const errors: string[] = [];
  /** The UDP flows of the attachments that went: one walk of the conntrack table for all, after the lock. */
  const flows: UdpFlow[] = [];
  await withLock(ctx, async () => {
    const keep = new Set<string>();
    for (const { network, file } of await ctx.store.list()) {
      if (network !== conf.name) continue;
      const path = join(ctx.store.dir, network, file);
      let s: PortmapState | undefined;
      try {
        s = readJson(await deps.fs.readFile(path, "utf8")) as PortmapState;
      } catch {
        continue;
      }
      if (valid.has(`${s.containerID} ${s.ifName}`)) {
        if (s.backend === "nftables") keep.add(s.chain ?? chainName(s));
        continue;
      }
      try {
        if (s.scope === scope) flows.push(...(await unforward(ctx, s)));
        else await ctx.store.remove(s.network, s.containerID, s.ifName);
      } catch (e) {
        errors.push(`${s.containerID}/${s.ifName}: ${(e as Error).message}`);
      }
    }
    // nftables chains of this network without a state file (state lost): found by their comment.
    const view = await readTable(ctx.nft);
    if (view && view.chains.size > 0) {
      const comments = parseChainComments(await ctx.nft.run(["list", "table", "inet", TABLE]));
      for (const chain of view.chains) {
        if (keep.has(chain)) continue;
        const [cid, ifn, ...net] = (comments.get(chain) ?? "").split(" ");
        if (!cid || !ifn || net.join(" ") !== conf.name || valid.has(`${cid} ${ifn}`)) continue;
        try {
          await nftUnforward(ctx.nft, chain, undefined);
        } catch (e) {
          errors.push(`chain ${chain}: ${(e as Error).message}`);
        }
      }
    }
    await cleanupTable(ctx);
  });
  await flushUdpConntrack(ctx, flows, true);
  if (errors.length) throw new CniError(CniCode.Internal, `portmap GC: ${errors.join("; ")}`);
}

export function createPortmap(deps: PortmapDeps): PluginFuncs {
  return {
    add: (args) => cmdAdd(args, deps),
    del: (args) => cmdDel(args, deps),
    check: (args) => cmdCheck(args, deps),
    gc: (args) => cmdGc(args, deps),
  };
}
