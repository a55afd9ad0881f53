// bridge: puts a container on a Linux bridge in the host netns through a veth pair; the bridge can
// also be the containers' gateway (Go's plugins/main/bridge, same config, results and rules).
//
// Beyond the reference:
// - an ADD that fails part-way removes what it made (veth, spoof check, masquerade rules) and
//   releases its addresses; the bridge, its gateway addresses and the VLAN gateway are shared and
//   stay, as in Go;
// - config errors name the field and the value, and are found before anything is touched
//   (including an L2 config whose 0.1/0.2 result could not be printed);
// - DEL removes the masquerade rules even when the netns is gone or empty: they are found by
//   chain name and comment hash, not by the container's addresses (plugins#810); every step runs
//   even if an earlier one failed, and the first error is returned;
// - CHECK of an L2 config does not call an IPAM plugin that is not there;
// - unknown CNI_ARGS keys are ignored (containerd and CRI-O send K8S_* keys);
// - IPAM runs in-process when CNI_PATH resolves it to podnet's own host-local (ipam.ts).
import * as v from "valibot";
import {
  CniCode,
  CniError,
  canonicalKeys,
  generationOf,
  isObject,
  parseCniArgs,
  parseWith,
  toCniError,
  type DNS,
  type Interface,
  type JsonObject,
  type Result,
} from "../../../cni/index.js";
import { isExist, isKernelError, isNotFound } from "../../../kernel/errors.js";
import type { Exec } from "../../../kernel/exec.js";
import { formatMac, inetAddrText, inetCidrText, inetNetwork, inetPrefix, parseMac } from "../../../kernel/inet.js";
import { canonicalIP, cidrContains, formatIP, ipFamily, nextIP, tryParseCidr, tryParseIP } from "../../../ip/index.js";
import type { AddrFamily, Kernel, Link, NetOps } from "../../../kernel/types.js";
import {
  allVersions,
  parsePrevResult,
  requirePrevResult,
  type CmdArgs,
  type PluginAbout,
  type PluginFuncs,
} from "../../../sdk/index.js";
import { configureIface } from "./configure.js";
import type { Ipam } from "./ipam.js";
import type { MasqBackend } from "./ipmasq.js";
import type { Nftables } from "../../../kernel/nft.js";
import { bridgeToolPortOps, type PortOps } from "./port.js";

// The netfilter parts (and node:crypto, for their hashed names) load only when a config uses them:
// most ADDs need neither, and every millisecond of start-up is paid on each exec.
const ipmasq = () => import("./ipmasq.js");
const spoofcheck = () => import("./spoofcheck.js");

export const DEFAULT_BRIDGE = "cni0";

// ---- config -----------------------------------------------------------------------------------

export interface BridgeConf {
  readonly name: string;
  readonly cniVersion: string;
  readonly bridge: string;
  readonly isGateway: boolean;
  readonly isDefaultGateway: boolean;
  readonly forceAddress: boolean;
  readonly ipMasq: boolean;
  /** undefined: Go's default (iptables unless only nft is installed). */
  readonly ipMasqBackend?: MasqBackend;
  /** 0: the kernel's default. */
  readonly mtu: number;
  readonly hairpinMode: boolean;
  readonly promiscMode: boolean;
  /** Access VLAN (PVID, untagged) of the host port; 0 for none. */
  readonly vlan: number;
  /** `vlanTrunk` was given (even empty): the bridge is created with vlan_filtering. */
  readonly hasTrunk: boolean;
  /** Tagged VLANs from `vlanTrunk`, sorted, without duplicates. */
  readonly vlans: readonly number[];
  readonly preserveDefaultVlan: boolean;
  readonly macspoofchk: boolean;
  readonly enabledad: boolean;
  readonly disableContainerInterface: boolean;
  readonly portIsolation: boolean;
  /** `ipam.type`; "" means L2 only. */
  readonly ipamType: string;
  /** `dns` when any of its fields is set: the result's dns (v1.1.1 never passes IPAM's on). */
  readonly dns?: DNS;
  /** Requested container MAC (CNI_ARGS MAC, then args.cni.mac, then runtimeConfig.mac). */
  readonly mac?: string;
}

const KEYS = [
  "name",
  "cniVersion",
  "type",
  "bridge",
  "isGateway",
  "isDefaultGateway",
  "forceAddress",
  "ipMasq",
  "ipMasqBackend",
  "mtu",
  "hairpinMode",
  "promiscMode",
  "vlan",
  "vlanTrunk",
  "preserveDefaultVlan",
  "macspoofchk",
  "enabledad",
  "disableContainerInterface",
  "portIsolation",
  "ipam",
  "dns",
  "args",
  "runtimeConfig",
  "prevResult",
];

/** Go's encoding/json: keys match without case, `null` leaves the default. */
function normalize(o: JsonObject, keys: readonly string[]): JsonObject {
  const out = canonicalKeys(o, keys);
  for (const k of Object.keys(out)) if (out[k] === null) delete out[k];
  return out;
}

function normalizeConf(raw: JsonObject): JsonObject {
  const o = normalize(raw, KEYS);
  if (isObject(o["ipam"])) o["ipam"] = normalize(o["ipam"], ["type"]);
  if (isObject(o["dns"])) o["dns"] = normalize(o["dns"], ["nameservers", "domain", "search", "options"]);
  if (isObject(o["runtimeConfig"])) o["runtimeConfig"] = normalize(o["runtimeConfig"], ["mac"]);
  if (isObject(o["args"])) {
    const a = normalize(o["args"], ["cni"]);
    if (isObject(a["cni"])) a["cni"] = normalize(a["cni"], ["mac"]);
    o["args"] = a;
  }
  if (Array.isArray(o["vlanTrunk"])) {
    o["vlanTrunk"] = o["vlanTrunk"].map((t: unknown) => (isObject(t) ? normalize(t, ["minID", "maxID", "id"]) : t));
  }
  return o;
}

/** Linux interface names: 1..15 bytes, not "." or "..", no "/", ":" or whitespace. */
export function isValidIfName(s: string): boolean {
  return s.length > 0 && Buffer.byteLength(s) <= 15 && s !== "." && s !== ".." && !/[/:\s]/.test(s);
}

const IFNAME_MSG = 'must be an interface name of 1..15 bytes without "/", ":" or whitespace';
const int = (lo: number, hi: number, msg = `must be ${lo}..${hi}`) =>
  v.pipe(
    v.number(),
    v.integer("must be an integer"),
    v.check((n: number) => n >= lo && n <= hi, msg),
  );
const bool = v.optional(v.boolean(), false);
const strList = v.optional(v.array(v.string()));
const macStr = v.optional(v.string());

const TrunkSchema = v.looseObject({
  minID: v.optional(int(1, 4094)),
  maxID: v.optional(int(1, 4094)),
  id: v.optional(int(1, 4094)),
});

const BridgeConfSchema = v.looseObject({
  name: v.string(),
  bridge: v.optional(v.pipe(v.string(), v.check(isValidIfName, IFNAME_MSG)), DEFAULT_BRIDGE),
  isGateway: bool,
  isDefaultGateway: bool,
  forceAddress: bool,
  ipMasq: bool,
  ipMasqBackend: v.optional(
    v.pipe(
      v.string(),
      v.check((s: string) => s === "iptables" || s === "nftables", 'must be "iptables" or "nftables"'),
    ),
  ),
  mtu: v.optional(
    v.pipe(
      v.number(),
      v.integer("must be an integer"),
      v.check((n: number) => n === 0 || (n >= 68 && n <= 65535), "must be 68..65535"),
    ),
    0,
  ),
  hairpinMode: bool,
  promiscMode: bool,
  vlan: v.optional(int(0, 4094), 0),
  vlanTrunk: v.optional(v.array(TrunkSchema)),
  // Go's default: true ("to maintain existing behavior"); false removes VLAN 1 from the port.
  preserveDefaultVlan: v.optional(v.boolean(), true),
  macspoofchk: bool,
  enabledad: bool,
  disableContainerInterface: bool,
  portIsolation: bool,
  ipam: v.optional(v.looseObject({ type: v.optional(v.string(), "") })),
  dns: v.optional(
    v.looseObject({ nameservers: strList, domain: v.optional(v.string()), search: strList, options: strList }),
  ),
  args: v.optional(v.looseObject({ cni: v.optional(v.looseObject({ mac: macStr })) })),
  runtimeConfig: v.optional(v.looseObject({ mac: macStr })),
  // Not read at ADD, but Go decodes it into a map, so anything else fails there as here.
  prevResult: v.optional(v.looseObject({})),
});

const invalid = (msg: string) => new CniError(CniCode.InvalidNetworkConfig, `invalid bridge config: ${msg}`);

/** Go's collectVlanTrunk: ranges need both ends; the result is sorted and unique. */
function collectVlanTrunk(items: ReadonlyArray<{ minID?: number; maxID?: number; id?: number }>): number[] {
  const set = new Set<number>();
  items.forEach((t, i) => {
    const where = `"vlanTrunk[${i}]"`;
    if (t.minID !== undefined && t.maxID !== undefined) {
      if (t.maxID < t.minID)
        throw invalid(`${where} minID is greater than maxID, got minID ${t.minID} and maxID ${t.maxID}`);
      for (let id = t.minID; id <= t.maxID; id++) set.add(id);
    } else if (t.maxID !== undefined) {
      throw invalid(`${where} minID and maxID should be configured simultaneously, minID is missing`);
    } else if (t.minID !== undefined) {
      throw invalid(`${where} minID and maxID should be configured simultaneously, maxID is missing`);
    }
    if (t.id !== undefined) set.add(t.id);
  });
  return [...set].sort((a, b) => a - b);
}

function checkMac(mac: string, source: string): string {
  const b = parseMac(mac);
  if (b?.length !== 6)
    throw invalid(`${source} must be a MAC address like 0a:58:0a:c8:00:02, got ${JSON.stringify(mac)}`);
  return formatMac(b);
}

export function parseConfig(args: CmdArgs): BridgeConf {
  const c = parseWith(BridgeConfSchema, normalizeConf(args.netconf), "bridge config");
  const vlans = c.vlanTrunk ? collectVlanTrunk(c.vlanTrunk) : [];
  if (c.vlan > 0 && vlans.length > 0)
    throw invalid(
      `cannot set "vlan" and "vlanTrunk" at the same time, got vlan ${c.vlan} and vlanTrunk ${JSON.stringify(vlans)}`,
    );

  let mac: string | undefined;
  if (args.args !== "") {
    // Only MAC is read; other keys (K8S_POD_NAME, …) are ignored even without IgnoreUnknown.
    for (const [k, val] of parseCniArgs(args.args)) if (k === "MAC" && val !== "") mac = checkMac(val, "CNI_ARGS MAC");
  }
  if (c.args?.cni?.mac) mac = checkMac(c.args.cni.mac, '"args.cni.mac"');
  if (c.runtimeConfig?.mac) mac = checkMac(c.runtimeConfig.mac, '"runtimeConfig.mac"');

  const d = c.dns;
  const dnsSet =
    d !== undefined &&
    (d.nameservers !== undefined || d.search !== undefined || d.options !== undefined || (d.domain ?? "") !== "");
  const dns: DNS | undefined = dnsSet
    ? {
        ...(d.nameservers ? { nameservers: [...d.nameservers] } : {}),
        ...(d.domain ? { domain: d.domain } : {}),
        ...(d.search ? { search: [...d.search] } : {}),
        ...(d.options ? { options: [...d.options] } : {}),
      }
    : undefined;

  const isDefaultGateway = c.isDefaultGateway;
  const isGateway = c.isGateway || isDefaultGateway;
  if (isGateway && c.vlan > 0 && !isValidIfName(`${c.bridge}.${c.vlan}`)) {
    throw invalid(
      `the VLAN gateway interface "${c.bridge}.${c.vlan}" (from "bridge" and "vlan") would be longer than 15 bytes`,
    );
  }
  return {
    name: c.name,
    cniVersion: args.cniVersion,
    bridge: c.bridge,
    isGateway,
    isDefaultGateway,
    forceAddress: c.forceAddress,
    ipMasq: c.ipMasq,
    ...(c.ipMasqBackend ? { ipMasqBackend: c.ipMasqBackend as MasqBackend } : {}),
    mtu: c.mtu,
    hairpinMode: c.hairpinMode,
    promiscMode: c.promiscMode,
    vlan: c.vlan,
    hasTrunk: c.vlanTrunk !== undefined,
    vlans,
    preserveDefaultVlan: c.preserveDefaultVlan,
    macspoofchk: c.macspoofchk,
    enabledad: c.enabledad,
    disableContainerInterface: c.disableContainerInterface,
    portIsolation: c.portIsolation,
    ipamType: c.ipam?.type ?? "",
    ...(dns ? { dns } : {}),
    ...(mac ? { mac } : {}),
  };
}

/** Conflicts Go reports at the start of ADD (DEL and CHECK accept such configs). */
function checkAddConf(n: BridgeConf): void {
  if (n.hairpinMode && n.promiscMode) throw invalid("cannot set hairpin mode and promiscuous mode at the same time");
  if (n.disableContainerInterface && n.ipamType !== "") {
    throw invalid(`cannot use IPAM when DisableContainerInterface flag is set, got "ipam.type" "${n.ipamType}"`);
  }
  if (n.ipamType === "" && generationOf(n.cniVersion) === "020") {
    throw invalid(
      `an L2 config (no "ipam.type") needs cniVersion 0.3.0 or later, got "${n.cniVersion || "0.1.0"}": its result has no IP to print`,
    );
  }
}

// ---- dependencies -----------------------------------------------------------------------------

export interface BridgeDeps {
  readonly kernel: Kernel;
  /** Runs iptables-restore, nft, bridge — in the host netns. */
  readonly exec: Exec;
  readonly ipam: Ipam;
  /** The host netns path (null: the process's own). Tests point it at a sandbox "node" netns. */
  readonly hostNetns?: string | null;
  /** Default: the `bridge` tool through `exec`. */
  readonly port?: PortOps;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly randomBytes?: (n: number) => Buffer;
  /** Diagnostics (stderr in a plugin process). */
  readonly log?: (msg: string) => void;
  /**
   * nftables in a netns (null: the process's own), closed after use: DEL then asks whether the
   * nftables masquerade table exists (over netlink) before running `nft` to look into it.
   */
  readonly nftables?: (netns: string | null) => Pick<Nftables, "tableExists" | "close">;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What a veth peer's netns is given as when the host netns is the process's own. */
const SELF_NETNS = "/proc/self/ns/net";

const errText = (e: unknown) => (e instanceof CniError ? e.toString() : ((e as Error)?.message ?? String(e)));
const fail = (msg: string, e?: unknown) =>
  new CniError(CniCode.Internal, e === undefined ? msg : `${msg}: ${errText(e)}`, e === undefined ? {} : { cause: e });

/** Undo steps of a half-done ADD, run newest first; their own failures only get logged. */
class Undo {
  private readonly steps: Array<[string, () => Promise<unknown>]> = [];
  private readonly log: ((msg: string) => void) | undefined;
  constructor(log?: (msg: string) => void) {
    this.log = log;
  }
  push(what: string, fn: () => Promise<unknown>): void {
    this.steps.push([what, fn]);
  }
  async run(): Promise<void> {
    for (const [what, fn] of this.steps.reverse()) {
      try {
        await fn();
      } catch (e) {
        this.log?.(`bridge: undo ${what} failed: ${errText(e)}\n`);
      }
    }
  }
}

async function sysctlQuiet(deps: BridgeDeps, netns: string | null, key: string, value: string): Promise<void> {
  await deps.kernel.sysctl.write(netns, key, value).catch(() => {});
}

// ---- bridge, veth, addresses ------------------------------------------------------------------

async function bridgeByName(host: NetOps, name: string): Promise<Link> {
  const l = await host.linkGet(name);
  if (!l) throw fail(`could not lookup "${name}": link not found`);
  if (l.kind !== "bridge") throw fail(`"${name}" already exists but is not a bridge`);
  return l;
}

export async function ensureBridge(deps: BridgeDeps, n: BridgeConf): Promise<Link> {
  const hostNs = deps.hostNetns ?? null;
  const host = deps.kernel.netns(hostNs);
  const vlanFiltering = n.vlan !== 0 || n.hasTrunk;
  try {
    try {
      await host.linkAddBridge(n.bridge, {
        ...(n.mtu ? { mtu: n.mtu } : {}),
        ...(vlanFiltering ? { vlanFiltering: true } : {}),
      });
    } catch (e) {
      if (!isExist(e)) throw fail(`could not add "${n.bridge}"`, e);
    }
    if (n.promiscMode) {
      await host.linkSetPromisc(n.bridge, true).catch((e: unknown) => {
        throw fail(`could not set promiscuous mode on "${n.bridge}"`, e);
      });
    }
    // Re-fetch: if it already existed, it must really be a bridge.
    const br = await bridgeByName(host, n.bridge);
    await sysctlQuiet(deps, hostNs, `net/ipv6/conf/${n.bridge}/accept_ra`, "0");
    if (!br.up) await host.linkSetUp(n.bridge);
    return br;
  } catch (e) {
    throw fail(`failed to create bridge "${n.bridge}"`, e);
  }
}

/** `veth` + 8 hex characters, as Go names the host end. The name only has to be unlikely to be
 * taken (a collision is retried), so Math.random does, and node:crypto need not load. */
function randomVethName(deps: BridgeDeps): string {
  if (deps.randomBytes) return `veth${deps.randomBytes(4).toString("hex")}`;
  return `veth${Math.floor(Math.random() * 0x1_0000_0000)
    .toString(16)
    .padStart(8, "0")}`;
}

interface VethPair {
  readonly host: Interface & { index: number };
  readonly cont: Interface & { index: number };
}

/**
 * Creates `contName` in `contNetns` with a `vethXXXXXXXX` peer directly in the host netns (10 tries
 * when the random name is taken), brings the host end up and attaches it to the bridge.
 */
async function setupVeth(
  deps: BridgeDeps,
  undo: Undo,
  contNetns: string | null,
  contName: string,
  br: Link,
  o: {
    mtu: number;
    mac?: string;
    hairpin: boolean;
    vlan: number;
    vlans: readonly number[];
    preserveDefaultVlan: boolean;
    portIsolation: boolean;
  },
): Promise<VethPair> {
  const hostNs = deps.hostNetns ?? null;
  const host = deps.kernel.netns(hostNs);
  const cont = deps.kernel.netns(contNetns);
  let hostName = "";
  for (let attempt = 0; ; attempt++) {
    if (attempt === 10) throw fail("failed to find a unique veth name");
    hostName = randomVethName(deps);
    try {
      await cont.linkAddVeth(contName, hostName, {
        ...(o.mtu ? { mtu: o.mtu } : {}),
        ...(o.mac ? { mac: o.mac } : {}),
        peerNetns: hostNs ?? SELF_NETNS,
      });
      break;
    } catch (e) {
      if (!isExist(e)) throw fail("failed to make veth pair", e);
      if (await cont.linkGet(contName))
        throw fail(`container veth name ("${contName}") peer provided ("${hostName}") already exists`);
      // the random host name is taken: try another
    }
  }
  const madeHost = hostName;
  undo.push(`delete veth ${contName}/${madeHost}`, async () => {
    try {
      await cont.linkDel(contName);
    } catch {
      await host.linkDel(madeHost).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
    }
  });

  const contLink = await cont.linkGet(contName);
  if (!contLink) throw fail(`failed to lookup "${contName}" after creating it`);
  const hostLink = await host.linkGet(hostName);
  if (!hostLink) throw fail(`failed to lookup "${hostName}"`);
  await host.linkSetUp(hostName).catch((e: unknown) => {
    throw fail(`failed to set "${hostName}" up`, e);
  });
  await sysctlQuiet(deps, hostNs, `net/ipv6/conf/${hostName}/accept_ra`, "0");

  await host.linkSetMaster(hostName, br.name).catch((e: unknown) => {
    throw fail(`failed to connect "${hostName}" to bridge ${br.name}`, e);
  });
  // A new port starts with hairpin off: only "on" is a change (Go sets it either way; off is a
  // no-op the kernel still pays for, growing with the bridge's ports).
  if (o.hairpin) {
    await host.linkSetHairpin(hostName, true).catch((e: unknown) => {
      throw fail(`failed to setup hairpin mode for ${hostName}`, e);
    });
  }
  const port = deps.port ?? bridgeToolPortOps(deps.exec);
  if (o.portIsolation) {
    await port.setIsolated(hostName, true).catch((e: unknown) => {
      throw fail(`failed to set isolation on ${hostName}`, e);
    });
  }
  if ((o.vlan !== 0 || o.vlans.length > 0) && !o.preserveDefaultVlan) {
    try {
      for (const vid of await port.vlanList(hostName)) await host.bridgeVlanDel(hostName, vid);
    } catch (e) {
      throw fail(`failed to remove default vlan on interface "${hostName}"`, e);
    }
  }
  try {
    if (o.vlan !== 0) await host.bridgeVlanAdd(hostName, o.vlan, { pvid: true, untagged: true });
    for (const vid of o.vlans) await host.bridgeVlanAdd(hostName, vid);
    // A trunk without an access VLAN keeps VLAN 1 as its native VLAN.
    if (o.vlan === 0 && o.vlans.length > 0) await host.bridgeVlanAdd(hostName, 1, { pvid: true, untagged: true });
  } catch (e) {
    throw fail(`failed to setup vlan tag on interface "${hostName}"`, e);
  }
  return {
    host: { name: hostName, mac: hostLink.mac, index: hostLink.index },
    cont: { name: contName, mac: contLink.mac, index: contLink.index },
  };
}

interface GwInfo {
  /** "gateway/prefixlen-of-address" for the bridge. */
  readonly gws: string[];
  readonly family: AddrFamily;
  defaultRouteFound: boolean;
}

/**
 * Go's calcGateways: every IP goes on interface 2; a missing gateway is the subnet's first host
 * (with isGateway); with isDefaultGateway a default route via the gateway is added per family
 * unless one with a gateway is there; the bridge gets `gateway/prefix` per IP (with isGateway).
 * Mutates `result`.
 */
export function calcGateways(
  result: Result,
  n: Pick<BridgeConf, "isGateway" | "isDefaultGateway">,
): { v4: GwInfo; v6: GwInfo } {
  const v4: GwInfo = { gws: [], family: 4, defaultRouteFound: false };
  const v6: GwInfo = { gws: [], family: 6, defaultRouteFound: false };
  for (const ipc of result.ips ?? []) {
    const p = tryParseCidr(ipc.address);
    if (!p) throw fail(`Unknown IP object: ${JSON.stringify(ipc)}`);
    const family = canonicalIP(p.ip).family;
    const gws = family === 4 ? v4 : v6;
    const defaultDst = family === 4 ? "0.0.0.0/0" : "::/0";
    ipc.interface = 2;
    if (ipc.gateway === undefined && n.isGateway) ipc.gateway = formatIP(nextIP(p.network));
    if (n.isDefaultGateway && !gws.defaultRouteFound) {
      gws.defaultRouteFound = (result.routes ?? []).some(
        (r) => r.gw !== undefined && ipFamily(r.dst) === family && tryParseCidr(r.dst)?.prefix === 0,
      );
      if (!gws.defaultRouteFound) {
        result.routes ??= [];
        result.routes.push({ dst: defaultDst, ...(ipc.gateway ? { gw: ipc.gateway } : {}) });
        gws.defaultRouteFound = true;
      }
    }
    if (n.isGateway && ipc.gateway) gws.gws.push(`${ipc.gateway}/${p.prefix}`);
  }
  return { v4, v6 };
}

/** Go's IPNet.Contains over texts; false when either does not parse. */
function contains(cidr: string, ip: string): boolean {
  const c = tryParseCidr(cidr);
  const a = tryParseIP(ip);
  return !!c && !!a && cidrContains(c, a);
}

/** "fd00:200:0::1/64" → "fd00:200::1/64" (the kernel layer's spelling, as it reports addresses). */
const canonCidr = (cidr: string): string => inetCidrText(cidr) ?? cidr;

/** Go's ensureAddr: put `gw` (CIDR) on `dev`, replacing a conflicting address only with forceAddress. */
async function ensureAddr(
  host: NetOps,
  dev: string,
  family: AddrFamily,
  gw: string,
  forceAddress: boolean,
): Promise<void> {
  const want = canonCidr(gw);
  const wantIp = want.split("/")[0]!;
  for (const a of await host.addrList(dev, family)) {
    if (a.cidr === want) return;
    // IPv4: one address per bridge. IPv6: several, as long as their subnets do not overlap.
    if (family === 4 || contains(a.cidr, wantIp) || contains(want, a.address)) {
      if (!forceAddress) throw fail(`"${dev}" already has an IP address different from ${want}`);
      await host.addrDel(dev, a.cidr).catch((e: unknown) => {
        throw fail(`could not remove IP address from "${dev}"`, e);
      });
    }
  }
  try {
    await host.addrAdd(dev, want);
  } catch (e) {
    if (!isExist(e)) throw fail(`could not add IP address to "${dev}"`, e);
  }
  // Pin the bridge's MAC; otherwise it follows the lowest port MAC as ports come and go.
  const l = await host.linkGet(dev);
  if (l?.mac) {
    await host.linkSetMac(dev, l.mac).catch((e: unknown) => {
      throw fail("could not set bridge's mac", e);
    });
  }
}

async function enableIPForward(deps: BridgeDeps, family: AddrFamily): Promise<void> {
  const key = family === 4 ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding";
  const hostNs = deps.hostNetns ?? null;
  const cur = await deps.kernel.sysctl.read(hostNs, key).catch(() => "");
  if (cur.trim() === "1") return;
  await deps.kernel.sysctl.write(hostNs, key, "1");
}

/** The `<bridge>.<vlan>` veth that carries the gateway addresses of a VLAN (created once, never removed). */
async function ensureVlanInterface(deps: BridgeDeps, n: BridgeConf, br: Link): Promise<Link> {
  const host = deps.kernel.netns(deps.hostNetns ?? null);
  const name = `${n.bridge}.${n.vlan}`;
  const found = await host.linkGet(name);
  if (found) return found;
  try {
    await setupVeth(deps, new Undo(), deps.hostNetns ?? null, name, br, {
      mtu: br.mtu,
      hairpin: false,
      vlan: n.vlan,
      vlans: [],
      preserveDefaultVlan: n.preserveDefaultVlan,
      portIsolation: false,
    });
  } catch (e) {
    throw fail(`faild to create vlan gateway "${name}"`, e);
  }
  await host.linkSetUp(name).catch((e: unknown) => {
    throw fail(`failed to up "${name}"`, e);
  });
  const l = await host.linkGet(name);
  if (!l) throw fail(`failed to lookup "${name}"`);
  return l;
}

/** Sleeps between looks at the host veth's operstate: ≈2.5 s in all, as Go's 0/50/500/1000/1000, but finer at first. */
const PORT_WAIT_MS = [0, 2, 5, 10, 20, 40, 80, 150, 300, 600, 1300];

// ---- ADD --------------------------------------------------------------------------------------

/**
 * Runs `fn`, then closes the kernel handle of the container netns: an open netlink socket would keep
 * the netns (and the veth in it) alive in a long-running process that calls the plugin in-process.
 */
async function closingNetns<T>(deps: BridgeDeps, netns: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    if (netns !== "") deps.kernel.netns(netns).close();
  }
}

export function cmdAdd(args: CmdArgs, deps: BridgeDeps): Promise<Result> {
  return closingNetns(deps, args.netns, () => add(args, deps));
}

async function add(args: CmdArgs, deps: BridgeDeps): Promise<Result> {
  const n = parseConfig(args);
  checkAddConf(n);
  if (!deps.kernel.netnsExists(args.netns)) {
    throw new CniError(CniCode.InvalidNetNs, `failed to open netns "${args.netns}": not a network namespace`);
  }
  const sleep = deps.sleep ?? defaultSleep;
  const hostNs = deps.hostNetns ?? null;
  const host = deps.kernel.netns(hostNs);
  const cont = deps.kernel.netns(args.netns);
  const isL3 = n.ipamType !== "";
  const undo = new Undo(deps.log);
  // The masquerade runs in its own processes while the interface is configured (started once the
  // addresses are known, awaited before the result): settled before any undo.
  let masq: Promise<void> | undefined;
  try {
    let br = await ensureBridge(deps, n);
    args.trace("bridge");
    const veth = await setupVeth(deps, undo, args.netns, args.ifName, br, {
      mtu: n.mtu,
      ...(n.mac ? { mac: n.mac } : {}),
      hairpin: n.hairpinMode,
      vlan: n.vlan,
      vlans: n.vlans,
      preserveDefaultVlan: n.preserveDefaultVlan,
      portIsolation: n.portIsolation,
    });
    args.trace("veth");
    const brIface: Interface = { name: br.name, mac: br.mac };
    const hostIface: Interface = { name: veth.host.name, ...(veth.host.mac ? { mac: veth.host.mac } : {}) };
    const contIface: Interface = {
      name: veth.cont.name,
      ...(veth.cont.mac ? { mac: veth.cont.mac } : {}),
      sandbox: args.netns,
    };
    const result: Result = { cniVersion: "1.1.0", interfaces: [brIface, hostIface, contIface] };

    if (n.macspoofchk) {
      const sc = await spoofcheck();
      const ref = sc.spoofRefID(args.containerID, args.ifName);
      await sc.setupSpoofCheck(deps.exec, veth.host.name, veth.cont.mac ?? "", ref);
      undo.push("spoof check", () => sc.teardownSpoofCheck(deps.exec, ref));
    }

    if (isL3) {
      const ipamResult = await deps.ipam.add(n.ipamType, args);
      undo.push(`IPAM ${n.ipamType} DEL`, () => deps.ipam.del(n.ipamType, args));
      args.trace("ipam");
      if (ipamResult.ips?.length) result.ips = structuredClone(ipamResult.ips);
      if (ipamResult.routes?.length) result.routes = structuredClone(ipamResult.routes);
      // IPAM's dns is not passed on: v1.1.1's result has the config's dns only (below).
      if (!result.ips?.length) throw fail("IPAM plugin returned missing IP config");

      const { v4, v6 } = calcGateways(result, n);

      if (n.ipMasq) {
        const target = { network: n.name, ifName: args.ifName, containerID: args.containerID };
        const addrs = result.ips.map((i) => i.address);
        const m = await ipmasq();
        // Registered first: a setup that fails half-way may have added some rules.
        undo.push("IP masquerade", () => m.teardownIPMasq(deps.exec, target, m.familiesOf(addrs), addrs));
        masq = m.setupIPMasq(deps.exec, n.ipMasqBackend, addrs, target);
        masq.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
      }

      if (n.enabledad) {
        await sysctlQuiet(deps, args.netns, `net/ipv6/conf/${args.ifName}/enhanced_dad`, "1");
        await sysctlQuiet(deps, args.netns, `net/ipv6/conf/${args.ifName}/accept_dad`, "1");
      } else {
        await sysctlQuiet(deps, args.netns, `net/ipv6/conf/${args.ifName}/accept_dad`, "0");
      }
      await sysctlQuiet(deps, args.netns, `net/ipv4/conf/${args.ifName}/arp_notify`, "1");
      await configureIface(
        { kernel: deps.kernel, sleep, ...(deps.log ? { log: deps.log } : {}) },
        args.netns,
        args.ifName,
        result,
      );
      args.trace("configure");

      if (n.isGateway) {
        let vlanIface: Interface | undefined;
        for (const gws of [v4, v6]) {
          for (const gw of gws.gws) {
            if (n.vlan !== 0) {
              const vl = await ensureVlanInterface(deps, n, br).catch((e: unknown) => {
                throw fail("failed to create vlan interface", e);
              });
              if (!vlanIface) {
                vlanIface = { name: vl.name, mac: vl.mac };
                result.interfaces!.push(vlanIface);
              }
              await ensureAddr(host, vl.name, gws.family, gw, n.forceAddress).catch((e: unknown) => {
                throw fail("failed to set vlan interface for bridge with addr", e);
              });
            } else {
              await ensureAddr(host, n.bridge, gws.family, gw, n.forceAddress).catch((e: unknown) => {
                throw fail("failed to set bridge addr", e);
              });
            }
          }
          if (gws.gws.length) {
            await enableIPForward(deps, gws.family).catch((e: unknown) => {
              throw fail("failed to enable forwarding", e);
            });
          }
        }
        args.trace("gateway");
      }

      if (masq) {
        await masq;
        args.trace("ipmasq");
      }
    } else if (!n.disableContainerInterface) {
      // L2: the container end still has to come up.
      await cont.linkSetUp(args.ifName).catch((e: unknown) => {
        throw fail(`failed to set "${args.ifName}" up`, e);
      });
    }

    let hostVeth: Link | undefined;
    if (!n.disableContainerInterface) {
      for (const [i, ms] of PORT_WAIT_MS.entries()) {
        if (ms) await sleep(ms);
        hostVeth = await host.linkGet(veth.host.name);
        if (!hostVeth) throw fail(`failed to lookup "${veth.host.name}"`);
        if (hostVeth.operstate === "up") break;
        if (i === PORT_WAIT_MS.length - 1) throw fail(`bridge port in error state: ${hostVeth.operstate}`);
      }
      args.trace("port-up");
    } else {
      hostVeth = await host.linkGet(veth.host.name);
    }
    // The host end's MAC may have changed; the bridge's changes with its first port.
    if (hostVeth?.mac) hostIface.mac = hostVeth.mac;
    br = await bridgeByName(host, n.bridge);
    brIface.mac = br.mac;

    if (n.dns) result.dns = structuredClone(n.dns);
    return result;
  } catch (e) {
    await masq?.catch(() => {});
    await undo.run();
    throw toCniError(e);
  }
}

// ---- DEL --------------------------------------------------------------------------------------

/**
 * DEL must not be blocked by a config that went bad after ADD (an edited mtu, a renamed field):
 * what DEL needs — name, ipam.type, ipMasq, macspoofchk — is then read leniently (Go's DEL, too,
 * validates almost nothing).
 */
function parseConfigForDel(args: CmdArgs, deps: BridgeDeps): BridgeConf {
  try {
    return parseConfig(args);
  } catch (e) {
    if (!(e instanceof CniError) || e.code !== CniCode.InvalidNetworkConfig) throw e;
    deps.log?.(`bridge DEL: ${e.message}; cleaning up with what can be read\n`);
    const o = normalizeConf(args.netconf);
    const ipam = isObject(o["ipam"]) ? o["ipam"] : {};
    return {
      name: typeof o["name"] === "string" ? o["name"] : "",
      cniVersion: args.cniVersion,
      bridge: typeof o["bridge"] === "string" ? o["bridge"] : DEFAULT_BRIDGE,
      isGateway: false,
      isDefaultGateway: false,
      forceAddress: false,
      ipMasq: o["ipMasq"] === true,
      mtu: 0,
      hairpinMode: false,
      promiscMode: false,
      vlan: 0,
      hasTrunk: false,
      vlans: [],
      preserveDefaultVlan: true,
      macspoofchk: o["macspoofchk"] === true,
      enabledad: false,
      disableContainerInterface: false,
      portIsolation: false,
      ipamType: typeof ipam["type"] === "string" ? ipam["type"] : "",
    };
  }
}

export function cmdDel(args: CmdArgs, deps: BridgeDeps): Promise<void> {
  return closingNetns(deps, args.netns, () => del(args, deps));
}

/** Lets processes started just before run while this thread waits in the kernel (a veth delete). */
const letProcessesStart = () => new Promise<void>((r) => setImmediate(r));

async function del(args: CmdArgs, deps: BridgeDeps): Promise<void> {
  const n = parseConfigForDel(args, deps);
  const isL3 = n.ipamType !== "";
  const errors: CniError[] = [];

  // The addresses the attachment used, when known (the cached result, or the link's global
  // addresses): only those iptables families need looking at, and with the addresses the
  // masquerade goes in one transaction per family without listing the nat table. Unknown: both
  // families, found by listing.
  const families = new Set<4 | 6>();
  const addrs = new Set<string>();
  try {
    for (const ip of parsePrevResult(args.netconf, args.cniVersion)?.ips ?? []) {
      families.add(ipFamily(ip.address) === 6 ? 6 : 4);
      addrs.add(ip.address);
    }
  } catch {
    // a broken prevResult must not stop DEL
  }

  // 1. The container end (its host peer goes with it). A vanished netns or link is fine (kubernetes#43014).
  const cont = args.netns !== "" ? deps.kernel.netns(args.netns) : undefined;
  let contLink = false;
  if (cont) {
    try {
      contLink = (await cont.linkGet(args.ifName)) !== undefined;
      if (contLink && isL3 && n.ipMasq) {
        for (const a of await cont.addrList(args.ifName)) {
          if (a.scope !== "universe") continue;
          families.add(a.family);
          addrs.add(a.cidr);
        }
      }
    } catch (e) {
      if (!isKernelError(e, "ENOENT", "ENODEV"))
        errors.push(fail(`failed to delete "${args.ifName}" in netns "${args.netns}"`, e));
    }
  }
  // 4, started now: the masquerade is found by chain name and comment hash, so it goes even when
  // the netns is gone; its processes run while the kernel deletes the veth (≈20 ms of RCU waits).
  let masqError: CniError | undefined;
  let masq: Promise<void> | undefined;
  if (isL3 && n.ipMasq) {
    const fams = families.size > 0 ? [...families].sort() : ([4, 6] as const);
    const target = { network: n.name, ifName: args.ifName, containerID: args.containerID };
    const probe = deps.nftables;
    const nftTableExists = probe
      ? async (family: "inet", table: string) => {
          const nft = probe(deps.hostNetns ?? null);
          try {
            return await nft.tableExists(family, table);
          } finally {
            nft.close();
          }
        }
      : undefined;
    masq = ipmasq()
      .then((m) => m.teardownIPMasq(deps.exec, target, fams, [...addrs], nftTableExists ? { nftTableExists } : {}))
      .catch((e: unknown) => {
        masqError = toCniError(e);
      });
    await letProcessesStart();
  }
  if (cont && contLink) {
    try {
      await cont.linkDel(args.ifName);
    } catch (e) {
      if (!isKernelError(e, "ENOENT", "ENODEV"))
        errors.push(fail(`failed to delete "${args.ifName}" in netns "${args.netns}"`, e));
    }
  }
  args.trace("link");
  // 2. The addresses: always, whatever happened above (plugins#1196: IPAM must never be skipped).
  if (isL3) {
    try {
      await deps.ipam.del(n.ipamType, args);
    } catch (e) {
      errors.push(toCniError(e));
    }
  }
  args.trace("ipam");
  // 3. The spoof check: failures are only reported on stderr, as in Go.
  if (n.macspoofchk) {
    const sc = await spoofcheck();
    await sc.teardownSpoofCheck(deps.exec, sc.spoofRefID(args.containerID, args.ifName)).catch((e: unknown) => {
      deps.log?.(`${errText(e)}\n`);
    });
  }
  await masq;
  if (masqError) errors.push(masqError);
  args.trace("teardown");
  if (errors.length) throw errors[0]!;
}

// ---- CHECK ------------------------------------------------------------------------------------

interface FoundIf {
  readonly index: number;
  readonly peerIndex?: number;
  readonly masterIndex?: number;
}

export function cmdCheck(args: CmdArgs, deps: BridgeDeps): Promise<void> {
  return closingNetns(deps, args.netns, () => check(args, deps));
}

async function check(args: CmdArgs, deps: BridgeDeps): Promise<void> {
  const n = parseConfig(args);
  if (!deps.kernel.netnsExists(args.netns)) throw fail(`failed to open netns "${args.netns}": not a network namespace`);
  // Go runs IPAM CHECK even for L2 configs, where it can only fail ("no plugin name provided").
  if (n.ipamType !== "") await deps.ipam.check(n.ipamType, args);
  const result = requirePrevResult(args.netconf, args.cniVersion);
  const host = deps.kernel.netns(deps.hostNetns ?? null);
  const cont = deps.kernel.netns(args.netns);

  const ifs = result.interfaces ?? [];
  const brMap = ifs.find((i) => i.name === n.bridge);
  const contMap = ifs.find((i) => i.name !== n.bridge && i.name === args.ifName && i.sandbox === args.netns);
  const contByName = ifs.find((i) => i.name !== n.bridge && i.name === args.ifName);

  // The bridge: in the host netns, a bridge, same MAC, promisc as configured.
  if (!brMap) throw fail(`CNI created bridge ${n.bridge} in host namespace was not found`);
  if (brMap.sandbox) throw fail(`Interface ${brMap.name} should not be in sandbox`);
  const br = await host.linkGet(brMap.name);
  if (!br) throw fail(`Interface name ${brMap.name} not found`);
  if (br.kind !== "bridge") throw fail(`Interface ${brMap.name} does not have link type of bridge`);
  if (brMap.mac && brMap.mac !== br.mac) throw fail(`Bridge interface ${brMap.name} Mac doesn't match: ${brMap.mac}`);
  if (br.promisc !== n.promiscMode) {
    throw fail(
      `Bridge interface ${brMap.name} configured Promisc Mode ${n.promiscMode} doesn't match current state: ${br.promisc}`,
    );
  }

  // The container end: in the netns, a veth, same MAC.
  if (!contByName) throw fail(`CNI created interface in container ${args.ifName} not found`);
  if (!contMap)
    throw fail(`Sandbox in prevResult ${contByName.sandbox ?? ""} doesn't match configured netns: ${args.netns}`);
  const c = await cont.linkGet(contMap.name);
  if (!c) throw fail(`Interface name ${contMap.name} not found`);
  if (c.kind !== "veth") throw fail(`Error: Container interface ${c.name} not of type veth`);
  if (c.linkIndex === undefined) throw fail(`Unable to obtain veth peer index for veth ${c.name}`);
  if (contMap.mac && contMap.mac !== c.mac)
    throw fail(`Interface ${contMap.name} Mac ${contMap.mac} doesn't match container Mac: ${c.mac}`);
  const contIf: FoundIf = { index: c.index, peerIndex: c.linkIndex };

  // The host end: a veth whose peer is the container end and whose master is the bridge.
  let vethFound = false;
  for (const i of ifs) {
    if (i === brMap || i === contMap || i.name === brMap.name || i.name === contMap.name) continue;
    if (i.sandbox) throw fail(`Interface ${i.name} should not be in sandbox`);
    const l = await host.linkGet(i.name);
    if (!l) throw fail(`Interface name ${i.name} not found`);
    if (l.kind !== "veth") continue; // not one CNI made
    if (l.index !== contIf.peerIndex || l.linkIndex !== contIf.index || l.masterIndex !== br.index) continue;
    if (i.mac && i.mac !== l.mac) throw fail(`Interface ${i.name} Mac doesn't match: ${i.mac} not found`);
    vethFound = true;
    break;
  }
  if (!vethFound) throw fail(`CNI veth created for bridge ${n.bridge} was not found`);

  // Addresses and routes in the container.
  const addrs = await cont.addrList(args.ifName);
  const routes = [...(await cont.routeList({ family: 4 })), ...(await cont.routeList({ family: 6 }))];
  for (const ip of result.ips ?? []) {
    const want = canonCidr(ip.address);
    if (!addrs.some((a) => a.cidr === want))
      throw fail(`Failed to match addr ${ip.address} on interface ${args.ifName}`);
    const prefix = inetNetwork(inetPrefix(want)!);
    if (!routes.some((r) => canonCidr(r.dst) === prefix))
      throw fail(`Failed to find Gateway ${ip.gateway ?? "<nil>"} for interface ${args.ifName}`);
  }
  for (const rt of result.routes ?? []) {
    const dst = canonCidr(rt.dst);
    const gw = rt.gw ? (inetAddrText(rt.gw) ?? rt.gw) : undefined;
    if (!routes.some((r) => canonCidr(r.dst) === dst && (gw === undefined || r.gw === gw))) {
      throw fail(`Expected Route {Dst:${rt.dst} GW:${rt.gw ?? "<nil>"}} not found in routing table`);
    }
  }
}

// ---- STATUS, GC -------------------------------------------------------------------------------

/** Ready when the IPAM plugin is (L2: always). */
export async function cmdStatus(args: CmdArgs, deps: BridgeDeps): Promise<void> {
  const n = parseConfig(args);
  if (n.ipamType !== "") await deps.ipam.status(n.ipamType, args);
}

/** GC is handed to the IPAM plugin (host-local releases addresses of attachments that are gone). */
export async function cmdGc(args: CmdArgs, deps: BridgeDeps): Promise<void> {
  const n = parseConfig(args);
  if (n.ipamType !== "") await deps.ipam.gc(n.ipamType, args);
}

export const BRIDGE_ABOUT: PluginAbout = { name: "bridge", supportedVersions: allVersions, plainErrors: true };

export function createBridge(deps: BridgeDeps): PluginFuncs {
  return {
    add: (a) => cmdAdd(a, deps),
    del: (a) => cmdDel(a, deps),
    check: (a) => cmdCheck(a, deps),
    status: (a) => cmdStatus(a, deps),
    gc: (a) => cmdGc(a, deps),
  };
}
