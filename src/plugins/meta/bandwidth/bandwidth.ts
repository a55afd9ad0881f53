// bandwidth: limits a pod's traffic with token bucket filters, a drop-in for the Go reference
// plugin (same config, same devices and names): a root tbf on the host-side veth limits what
// enters the pod (ingress); what leaves the pod is redirected from the veth's ingress qdisc
// (u32 match-all, mirred egress redirect) to an ifb device `bwp<sha512(network+containerID)[:12]>`
// whose root tbf limits it (egress).
//
// Beyond the reference:
// - a burst that is Kubernetes' "no limit" (math.MaxInt32 bits, what kubelet, containerd and CRI-O
//   send for the bandwidth annotations) becomes 50 ms at the rate (at least two full frames), so
//   the first second is not let through at line rate (plugins#609: 1.5–2 Gbit/s under a
//   10 Mbit/s cap); a burst too long for the kernel's 32-bit tick buffer is clamped instead of
//   wrapping around (Go's float→uint32 overflow); a burst smaller than one frame (which would
//   drop every full-size packet) is raised to one frame;
// - no `tc` process on ADD and DEL: the qdiscs and the filter go through rtnetlink (a few
//   round trips of microseconds, built as iproute2 builds them; the tc port, src/kernel/tc.ts,
//   picks that, or one `tc -batch` after one read without netlink); an ADD that fails removes
//   what it added; an ADD that is retried reuses its ifb and replaces its own qdiscs
//   (plugins#894: "file exists"); an ingress qdisc some other tool put on the veth is shared,
//   not replaced;
// - DEL removes the qdiscs and the filter from the veth (when it still exists) and the ifb, from
//   a per-attachment state file: no netns, no config values needed;
// - errors name the field and the value; negative, fractional and sub-byte rates are refused.
import { mustFormatHashWithPrefix } from "../../utils.js";
import { AttachmentStore, type StateFs } from "../attachment-state.js";
import { join } from "node:path";
import {
  ALL_SPEC_VERSIONS,
  CniCode,
  CniError,
  versionAtLeast,
  type AnyResult,
  type Interface,
  type Result,
} from "../../../cni/index.js";
import { isExist, isNotFound } from "../../../kernel/errors.js";
import {
  DEFAULT_PSCHED,
  isTcExists,
  tbfParams,
  type Qdisc,
  type ShapingOp,
  type Tc,
  type TbfParams,
} from "../../../kernel/tc.js";
import type { Kernel } from "../../../kernel/types.js";
import type { CmdArgs, PluginAbout, PluginFuncs } from "../../../sdk/types.js";
import { isZero, K8S_UNLIMITED_BURST, parseConfig, shapesEgress, shapesIngress, type BandwidthConf } from "./config.js";

export interface BandwidthDeps {
  /** Traffic control in a netns (null: this process's); closed after each call. */
  readonly tc: (netns: string | null) => Tc;
  /** Links in the pod's and the host's netns (veth peer lookup, the ifb). */
  readonly kernel: Pick<Kernel, "netns">;
  readonly fs: BwFs;
  /** The host network namespace (null: the one this process runs in). */
  readonly hostNetns?: string | null;
  /** Default state directory; a config's `dataDir` wins. */
  readonly dataDir?: string;
  readonly log?: (msg: string) => void;
}

/** State-file access (shared with portmap). */
export type BwFs = StateFs;

export const DEFAULT_DATA_DIR = "/var/lib/cni/podnet-bandwidth";
/** Go: version.VersionsStartingFrom("0.3.0"). */
export const BANDWIDTH_ABOUT: PluginAbout = {
  name: "bandwidth",
  supportedVersions: ALL_SPEC_VERSIONS.filter((v) => versionAtLeast(v, "0.3.0")),
  plainErrors: true,
};

/** Go's ifb name: "bwp" + hex(sha512(network + containerID)), 15 characters. */
export function ifbDeviceName(network: string, containerID: string): string {
  return mustFormatHashWithPrefix(15, "bwp", network + containerID);
}

/** The name used when a second attachment of the same container needs its own ifb. */
export function ifbDeviceNameFor(network: string, containerID: string, ifName: string): string {
  return mustFormatHashWithPrefix(15, "bwp", `${network}${containerID}/${ifName}`);
}

// ---- the shaping numbers ----------------------------------------------------------------------

/** Burst podnet uses for Kubernetes' "no limit": this long at the rate. */
export const DERIVED_BURST_MS = 50;
/** Ethernet header: tbf counts frames from the MAC header on. */
const L2_HEADER = 14;

/**
 * The tbf of one direction: Go's numbers, except for a Kubernetes "no limit" burst (derived),
 * bursts beyond the 32-bit tick buffer (clamped) and bursts under one frame (raised).
 */
export function shapingParams(
  rateBits: number,
  burstBits: number,
  mtu: number,
  tickInUsec = DEFAULT_PSCHED.tickInUsec,
): TbfParams {
  const frame = mtu + L2_HEADER;
  let bits = burstBits;
  if (burstBits === K8S_UNLIMITED_BURST) {
    const rateBytes = Math.floor(rateBits / 8);
    bits = Math.max(Math.ceil((rateBytes * DERIVED_BURST_MS) / 1000), 2 * frame) * 8;
  }
  const p = tbfParams(rateBits, bits, tickInUsec);
  return p.burstBytes >= frame ? p : tbfParams(rateBits, frame * 8, tickInUsec);
}

// ---- state ------------------------------------------------------------------------------------

interface BwState {
  readonly version: 1;
  readonly network: string;
  readonly containerID: string;
  readonly ifName: string;
  readonly hostIf: string;
  /** The ifb this attachment shapes egress on ("" when only ingress is shaped). */
  readonly ifb: string;
  /** What ADD added to the host veth (and so what DEL removes). */
  readonly rootTbf: boolean;
  readonly ingressQdisc: boolean;
  readonly filter: boolean;
}

class Store extends AttachmentStore<BwState> {
  /** The ifbs other attachments of the network use. */
  async ifbsInUse(net: string, except: string): Promise<Set<string>> {
    const out = new Set<string>();
    for (const f of await this.files(net).catch(() => [])) {
      if (f === except) continue;
      const s = await this.readFile(join(this.dir, net), f).catch(() => undefined);
      if (s?.ifb) out.add(s.ifb);
    }
    return out;
  }
}

// ---- helpers ----------------------------------------------------------------------------------

interface Ctx {
  readonly deps: BandwidthDeps;
  readonly tc: Tc;
  readonly store: Store;
  readonly host: ReturnType<Kernel["netns"]>;
}

function context(deps: BandwidthDeps, conf: BandwidthConf): Ctx {
  return {
    deps,
    tc: deps.tc(deps.hostNetns ?? null),
    store: new Store(deps.fs, conf.dataDir ?? deps.dataDir ?? DEFAULT_DATA_DIR),
    host: deps.kernel.netns(deps.hostNetns ?? null),
  };
}

/** Runs `fn` with a context whose tc (its netlink socket) is closed afterwards. */
async function withContext<T>(deps: BandwidthDeps, conf: BandwidthConf, fn: (ctx: Ctx) => Promise<T>): Promise<T> {
  const ctx = context(deps, conf);
  try {
    return await fn(ctx);
  } finally {
    ctx.tc.close();
  }
}

/** Go's getHostInterface: the host end of the pod's veth, which must be a host interface of the result. */
async function getHostInterface(
  ctx: Ctx,
  result: Result,
  args: CmdArgs,
): Promise<{ iface: Interface; mtu: number; txQLen: number }> {
  const ifaces = result.interfaces ?? [];
  if (ifaces.length === 0) throw new CniError(CniCode.Internal, "no interfaces provided");
  let peerIndex: number | undefined;
  let why = "";
  try {
    const link = await ctx.deps.kernel.netns(args.netns).linkGet(args.ifName);
    peerIndex = link?.kind === "veth" ? link.linkIndex : undefined;
    if (!link) why = `could not look up ${JSON.stringify(args.ifName)}: Link not found`; // the reference's words
  } catch (e) {
    why = (e as Error).message;
  }
  if (!peerIndex || peerIndex <= 0)
    throw new CniError(CniCode.Internal, `container interface ${args.ifName} has no veth peer${why ? `: ${why}` : ""}`);
  const peer = await ctx.host.linkGetByIndex(peerIndex);
  if (!peer) throw new CniError(CniCode.Internal, `veth peer with index ${peerIndex} is not in host ns`);
  const iface = ifaces.find((i) => !i.sandbox && i.name === peer.name);
  if (!iface) throw new CniError(CniCode.Internal, "no veth peer of container interface found in host ns");
  return { iface, mtu: peer.mtu, txQLen: peer.txQLen };
}

const rootQdisc = (qs: readonly Qdisc[]) => qs.find((q) => q.root);
const isOurTbf = (q: Qdisc | undefined) => q?.kind === "tbf" && q.handle === "1:";
const ingressOf = (qs: readonly Qdisc[]) => qs.find((q) => q.kind === "ingress" || q.kind === "clsact");

/** Best-effort removal of what an attachment put on its host veth (tc -force: each line on its own). */
async function clearVeth(ctx: Ctx, s: Pick<BwState, "hostIf" | "rootTbf" | "ingressQdisc" | "filter">): Promise<void> {
  let qs: Qdisc[];
  try {
    qs = await ctx.tc.qdiscs(s.hostIf);
  } catch {
    return; // the veth is gone, and its qdiscs with it
  }
  const ops: ShapingOp[] = [];
  const dev = s.hostIf;
  if (s.rootTbf && isOurTbf(rootQdisc(qs))) ops.push({ op: "delRoot", dev });
  if (s.ingressQdisc && ingressOf(qs)) ops.push({ op: "delIngress", dev });
  else if (s.filter && ingressOf(qs)) ops.push({ op: "unredirect", dev });
  await ctx.tc.apply(ops, { force: true }).catch(() => {});
}

async function deleteIfb(ctx: Ctx, name: string): Promise<void> {
  try {
    await ctx.host.linkDel(name);
  } catch (e) {
    if (!isNotFound(e))
      throw new CniError(CniCode.Internal, `failed to delete ifb ${name}: ${(e as Error).message}`, { cause: e });
  }
}

// ---- ADD / DEL / CHECK ------------------------------------------------------------------------

export async function cmdAdd(args: CmdArgs, deps: BandwidthDeps): Promise<AnyResult> {
  const conf = parseConfig(args.netconf, args.cniVersion);
  const bw = conf.bandwidth;
  if (isZero(bw) || (!shapesIngress(bw) && !shapesEgress(bw))) {
    // Nothing to shape: the prevResult as read, printed back as it came (Go: PrintResult(conf.PrevResult)).
    if (!conf.passThrough) throw new CniError(CniCode.InvalidNetworkConfig, "must be called as chained plugin");
    return conf.passThrough;
  }
  if (!conf.prevResult) throw new CniError(CniCode.InvalidNetworkConfig, "must be called as chained plugin");
  const result = conf.prevResult;
  return withContext(deps, conf, (ctx) => add(ctx, conf, result, args));
}

async function add(ctx: Ctx, conf: BandwidthConf, result: Result, args: CmdArgs): Promise<Result> {
  const bw = conf.bandwidth;
  const { iface, mtu, txQLen } = await getHostInterface(ctx, result, args);
  const hostIf = iface.name;
  args.trace("host-if");
  const tick = ctx.tc.psched().tickInUsec;
  const prior = await ctx.store.read(conf.name, args.containerID, args.ifName);
  args.trace("state");
  const qs = await ctx.tc.qdiscs(hostIf);
  const root = rootQdisc(qs);
  const ingress = ingressOf(qs);
  const ours = prior?.hostIf === hostIf ? prior : undefined;
  args.trace("qdiscs");

  const ops: ShapingOp[] = [];
  let rootTbf = false;
  let ingressQdisc = ours?.ingressQdisc ?? false;
  let filter = false;
  let ifb = "";
  let createdIfb = false;
  if (shapesIngress(bw)) {
    const p = shapingParams(bw!.ingressRate, bw!.ingressBurst, mtu, tick);
    // Replace only our own tbf (a retried ADD); another root qdisc makes `add` fail (as Go).
    ops.push({ op: "tbf", mode: root && isOurTbf(root) && ours?.rootTbf ? "replace" : "add", dev: hostIf, params: p });
    rootTbf = true;
  }
  try {
    if (shapesEgress(bw)) {
      const p = shapingParams(bw!.egressRate, bw!.egressBurst, mtu, tick);
      ifb = ours?.ifb || ifbDeviceName(conf.name, args.containerID);
      const addIfb = async (name: string) => {
        await ctx.host.linkAddIfb(name, { mtu, txQLen: Math.max(txQLen, 1000), up: true });
        createdIfb = true;
      };
      try {
        await addIfb(ifb);
      } catch (e) {
        if (!isExist(e)) throw new CniError(CniCode.Internal, `adding link: ${(e as Error).message}`, { cause: e });
        // Go names the ifb by network + container ID only: another attachment of this container
        // may have it. Then this one gets a name with its ifname; otherwise it is a leftover of
        // an earlier attempt, reused.
        const taken =
          ours?.ifb === ifb
            ? new Set<string>()
            : await ctx.store.ifbsInUse(conf.name, `${args.containerID}-${args.ifName}`);
        if (taken.has(ifb)) {
          ifb = ifbDeviceNameFor(conf.name, args.containerID, args.ifName);
          try {
            await addIfb(ifb);
          } catch (e2) {
            if (!isExist(e2))
              throw new CniError(CniCode.Internal, `adding link: ${(e2 as Error).message}`, { cause: e2 });
          }
        }
        if (!createdIfb) await ctx.host.linkSetUp(ifb);
      }
      args.trace("ifb");
      if (!ingress) {
        ops.push({ op: "ingress", dev: hostIf });
        ingressQdisc = true;
      } else if (ours?.filter) {
        ops.push({ op: "unredirect", dev: hostIf });
      }
      ops.push({ op: "redirect", dev: hostIf, to: ifb });
      filter = true;
      ops.push({ op: "tbf", mode: "replace", dev: ifb, params: p });
    }
    const state: BwState = {
      version: 1,
      network: conf.name,
      containerID: args.containerID,
      ifName: args.ifName,
      hostIf,
      ifb,
      rootTbf,
      ingressQdisc,
      filter,
    };
    await ctx.store.write(state);
    args.trace("state-write");
    await ctx.tc.apply(ops);
    args.trace("tc");
  } catch (e) {
    await clearVeth(ctx, {
      hostIf,
      rootTbf: rootTbf && !(root && ours?.rootTbf),
      ingressQdisc: ingressQdisc && !ingress,
      filter,
    });
    if (createdIfb) await deleteIfb(ctx, ifb).catch(() => {});
    await ctx.store.remove(conf.name, args.containerID, args.ifName).catch(() => {});
    if (e instanceof CniError) throw e;
    const exists = isTcExists(e) || isExist(e);
    const hint = exists ? ` (${hostIf} already has a qdisc podnet did not make)` : "";
    throw new CniError(
      CniCode.Internal,
      `failed to set up bandwidth limits on ${hostIf}${hint}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  if (ifb) {
    const link = await ctx.host.linkGet(ifb);
    const interfaces = [...(result.interfaces ?? [])];
    if (!interfaces.some((i) => i.name === ifb && !i.sandbox)) interfaces.push({ name: ifb, mac: link?.mac ?? "" });
    return { ...result, interfaces };
  }
  return result;
}

export async function cmdDel(args: CmdArgs, deps: BandwidthDeps): Promise<void> {
  const conf = parseConfig(args.netconf, args.cniVersion);
  await withContext(deps, conf, async (ctx) => {
    const s = await ctx.store.read(conf.name, args.containerID, args.ifName);
    args.trace("state");
    if (s) {
      await clearVeth(ctx, s);
      args.trace("veth");
      if (s.ifb) await deleteIfb(ctx, s.ifb);
      args.trace("ifb");
      await ctx.store.remove(conf.name, args.containerID, args.ifName);
      return;
    }
    // Made by the Go plugin (or state lost): Go's DEL, the ifb by its name.
    await deleteIfb(ctx, ifbDeviceName(conf.name, args.containerID));
    args.trace("ifb");
  });
}

function checkTbf(dev: string, qs: readonly Qdisc[], p: TbfParams): void {
  const list = qs.filter((q) => q.kind !== "pfifo_fast");
  if (list.length === 0) throw new CniError(CniCode.Internal, `Failed to find qdisc on ${dev}`);
  for (const q of list) {
    if (q.kind !== "tbf") break;
    const o = q.options ?? {};
    if (o.rate !== p.rateBytes)
      throw new CniError(CniCode.Internal, `Rate doesn't match on ${dev}: ${o.rate} bytes/s, want ${p.rateBytes}`);
    // tc prints the burst recomputed from the tick buffer, and the latency from the limit.
    if (Math.abs((o.burst ?? 0) - p.burstBytes) > Math.max(2, p.burstBytes * 0.001)) {
      throw new CniError(
        CniCode.Internal,
        `Buffer doesn't match on ${dev}: burst ${o.burst} bytes, want ${p.burstBytes}`,
      );
    }
    const lat = ((p.limitBytes - p.burstBytes) / p.rateBytes) * 1e6;
    if (o.lat !== undefined && Math.abs(o.lat - lat) > Math.max(2, lat * 0.001)) {
      throw new CniError(
        CniCode.Internal,
        `Limit doesn't match on ${dev}: latency ${o.lat} µs, want ${Math.round(lat)}`,
      );
    }
  }
}

export async function cmdCheck(args: CmdArgs, deps: BandwidthDeps): Promise<void> {
  const conf = parseConfig(args.netconf, args.cniVersion);
  if (!conf.prevResult) throw new CniError(CniCode.InvalidNetworkConfig, "must be called as a chained plugin");
  const result = conf.prevResult;
  await withContext(deps, conf, async (ctx) => {
    const { iface, mtu } = await getHostInterface(ctx, result, args);
    const bw = conf.bandwidth;
    const tick = ctx.tc.psched().tickInUsec;
    // the tbfs' numbers as tc prints them from what the kernel keeps
    const tbfs = (dev: string) => ctx.tc.qdiscs(dev, { options: true });
    if (shapesIngress(bw))
      checkTbf(iface.name, await tbfs(iface.name), shapingParams(bw!.ingressRate, bw!.ingressBurst, mtu, tick));
    if (shapesEgress(bw)) {
      const s = await ctx.store.read(conf.name, args.containerID, args.ifName);
      const ifb = s?.ifb || ifbDeviceName(conf.name, args.containerID);
      if (!(await ctx.host.linkGet(ifb))) throw new CniError(CniCode.Internal, `get ifb device: link ${ifb} not found`);
      checkTbf(ifb, await tbfs(ifb), shapingParams(bw!.egressRate, bw!.egressBurst, mtu, tick));
    }
  });
}

export function createBandwidth(deps: BandwidthDeps): PluginFuncs {
  return {
    add: (args) => cmdAdd(args, deps),
    del: (args) => cmdDel(args, deps),
    check: (args) => cmdCheck(args, deps),
  };
}
