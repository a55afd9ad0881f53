// podnet's VXLAN device (`podnet.vxlan`), as flannel keeps its `flannel.1`: one per node, VNI 1,
// UDP 4789, sourcing from the node IP on the link that holds it, no MAC learning (the FDB and
// neighbour entries are programmed per peer), MTU lowered by the encapsulation overhead, up, with
// the network address of each of the node's blocks on it as a host address (/32, /128) — the
// node's VTEP address, the source of what the node itself sends to other nodes' pods. Its MAC is
// the node's VTEP MAC in the node record.
import { createHash } from "node:crypto";
import { formatIP, formatIPExact, parseCidr, tryParseIP } from "../ip/index.js";
import { isExist, isNotFound } from "../kernel/errors.js";
import { formatMac } from "../kernel/inet.js";
import type { Link, NetOps } from "../kernel/types.js";
import { ClusterConfigError } from "./blocks.js";
import type { VtepInfo } from "./node-record.js";
import { linkOfAddress } from "./node-discovery.js";
import { DEFAULT_VXLAN_DEVICE, DEFAULT_VXLAN_PORT, DEFAULT_VXLAN_VNI, VXLAN_OVERHEAD } from "./routes.js";

export interface VxlanDeviceSpec {
  /** The node IP peers send to (`local`); the first --node-ip. */
  readonly nodeIP: string;
  /** Default podnet.vxlan. */
  readonly name?: string;
  /** Default 1. */
  readonly vni?: number;
  /** Default 4789. */
  readonly port?: number;
  /** The underlay link; default: the link holding nodeIP. */
  readonly underlay?: string;
  /** The device's MAC; default: the existing device's, else one derived from nodeIP (stable across re-creation and reboots). */
  readonly mac?: string;
  /** The node's blocks; when given, their network addresses are put on the device and every other global address removed. */
  readonly blocks?: readonly string[];
}

export interface VxlanDevice {
  readonly name: string;
  readonly mac: string;
  readonly mtu: number;
  readonly underlay: string;
  /** What the node record publishes. */
  readonly vtep: VtepInfo;
  /** "created": it did not exist; "recreated": it had other attributes (its neighbours, FDB entries and routes went with it); "kept". */
  readonly action: "created" | "recreated" | "kept";
}

/**
 * A locally administered unicast MAC derived from the node IP. Set explicitly at creation, so udev's
 * MACAddressPolicy=persistent leaves it alone (the kernel's random MAC would be rewritten; flannel
 * issue 1155), and the same after the device is recreated or the node reboots.
 */
export function vtepMacFor(nodeIP: string): string {
  const h = createHash("sha256").update(`podnet.vxlan ${nodeIP}`).digest();
  h[0] = (h[0]! & 0xfc) | 0x02;
  return formatMac(h.subarray(0, 6));
}

/** The VTEP address of a block: its network address as a host prefix ("10.244.1.0/24" → "10.244.1.0/32"). */
export function vtepAddressOf(block: string): string {
  const c = parseCidr(block);
  return `${formatIPExact(c.network)}/${c.network.family === 4 ? 32 : 128}`;
}

/** Creates podnet's VXLAN device, or brings an existing one to the spec (recreating it when its VXLAN attributes differ). */
export async function ensureVxlanDevice(ops: NetOps, spec: VxlanDeviceSpec): Promise<VxlanDevice> {
  const name = spec.name ?? DEFAULT_VXLAN_DEVICE;
  const vni = spec.vni ?? DEFAULT_VXLAN_VNI;
  const port = spec.port ?? DEFAULT_VXLAN_PORT;
  const ip = tryParseIP(spec.nodeIP);
  if (!ip) throw new ClusterConfigError("--node-ip", `${JSON.stringify(spec.nodeIP)} is not an IP address`);
  const local = formatIP(ip);
  const under = spec.underlay !== undefined ? await ops.linkGet(spec.underlay) : (await linkOfAddress(ops, local)).link;
  if (!under)
    throw new ClusterConfigError(
      "--node-ip",
      `the underlay link ${JSON.stringify(spec.underlay)} of the VXLAN device does not exist`,
    );
  const mtu = under.mtu - VXLAN_OVERHEAD[ip.family];

  let existing = await ops.linkGet(name);
  let action: VxlanDevice["action"] = "kept";
  if (existing && !sameVxlan(existing, { vni, port, local, underlayIndex: under.index })) {
    await ops.linkDel(name).catch((e) => {
      if (!isNotFound(e)) throw e;
    });
    action = "recreated";
  } else if (!existing) {
    action = "created";
  }
  const mac = (spec.mac ?? existing?.mac ?? vtepMacFor(local)).toLowerCase();
  if (action !== "kept") {
    await ops.linkAddVxlan(name, { vni, port, local, dev: under.name, learning: false, mtu, mac });
    existing = await ops.linkGet(name);
    if (!existing) throw new Error(`${name}: created, but the kernel does not list it`);
  } else {
    if (existing!.mtu !== mtu) await ops.linkSetMtu(name, mtu);
    if (existing!.mac !== mac) await ops.linkSetMac(name, mac);
  }
  if (spec.blocks) await syncVxlanAddresses(ops, name, spec.blocks);
  if (!existing!.up) await ops.linkSetUp(name);
  return { name, mac, mtu, underlay: under.name, vtep: { mac, vni, port }, action };
}

/** Puts each block's VTEP address on the device and removes its other global addresses (the device is podnet's). */
export async function syncVxlanAddresses(ops: NetOps, name: string, blocks: readonly string[]): Promise<void> {
  const want = new Set(blocks.map(vtepAddressOf));
  for (const a of await ops.addrList(name)) {
    if (a.scope !== "universe") continue; // the kernel's own link-local address stays
    if (want.delete(a.cidr)) continue;
    await ops.addrDel(name, a.cidr).catch((e) => {
      if (!isNotFound(e)) throw e;
    });
  }
  for (const a of want) {
    await ops.addrAdd(name, a, a.includes(":") ? { noDad: true } : {}).catch((e) => {
      if (!isExist(e)) throw e;
    });
  }
}

function sameVxlan(l: Link, want: { vni: number; port: number; local: string; underlayIndex: number }): boolean {
  const x = l.vxlan;
  if (l.kind !== "vxlan" || !x) return false;
  const local = x.local !== undefined ? tryParseIP(x.local) : undefined;
  return (
    x.vni === want.vni &&
    x.port === want.port &&
    !x.learning &&
    x.underlayIndex === want.underlayIndex &&
    !!local &&
    formatIP(local) === want.local
  );
}
