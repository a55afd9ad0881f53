// What a node finds out about its own network before it joins the cluster, read from the kernel
// through NetOps: the default --node-ip (the source address of its route to the Internet, as
// `ip route get` answers it), the link that holds an address (the VXLAN underlay), and its directly
// connected subnets (where host-gw can reach a peer without a gateway).
import { type Family, formatIP, formatNetwork, networkOf, cidrOf, tryParseIP, ipEqual } from "../ip/index.js";
import type { Link, NetOps } from "../kernel/types.js";
import { ClusterConfigError } from "./blocks.js";
import { DEFAULT_VXLAN_DEVICE } from "./routes.js";

/**
 * Public addresses looked up (never contacted) to find the route to the Internet: `ip route get`
 * only consults the routing tables, so the answer is the default route's source address unless a
 * more specific route covers these.
 */
export const PROBE_ADDRESS: Readonly<Record<Family, string>> = { 4: "8.8.8.8", 6: "2001:4860:4860::8888" };

export interface NodeAddress {
  /** The address, in canonical text. */
  readonly ip: string;
  /** The link that holds it. */
  readonly dev: string;
}

/**
 * The default --node-ip of a family: the source address of the kernel's route towards a public
 * address (`ip route get 8.8.8.8` → `src`), i.e. an address of the interface holding the default
 * route. Undefined when the node has no such route (or no source address for it).
 */
export async function defaultNodeIP(ops: NetOps, family: Family): Promise<NodeAddress | undefined> {
  const r = await ops.routeGet(PROBE_ADDRESS[family]);
  if (!r?.src) return undefined;
  const ip = tryParseIP(r.src);
  if (!ip || ip.family !== family) return undefined;
  return { ip: formatIP(ip), dev: r.dev };
}

/** The default --node-ip list: the IPv4 one first, then the IPv6 one, each when the node has one. */
export async function defaultNodeIPs(ops: NetOps): Promise<NodeAddress[]> {
  const out: NodeAddress[] = [];
  for (const f of [4, 6] as const) {
    const a = await defaultNodeIP(ops, f);
    if (a) out.push(a);
  }
  return out;
}

/** The link holding `nodeIP` and its MTU; ClusterConfigError("--node-ip") when no link holds it. */
export async function linkOfAddress(
  ops: NetOps,
  nodeIP: string,
): Promise<{ readonly link: Link; readonly prefixLen: number }> {
  const ip = tryParseIP(nodeIP);
  if (!ip) throw new ClusterConfigError("--node-ip", `${JSON.stringify(nodeIP)} is not an IP address`);
  for (const a of await ops.addrList(undefined, ip.family)) {
    const mine = tryParseIP(a.address);
    if (!mine || !ipEqual(mine, ip)) continue;
    const link = await ops.linkGetByIndex(a.ifindex);
    if (link) return { link, prefixLen: a.prefixLen };
  }
  throw new ClusterConfigError("--node-ip", `${nodeIP} is not an address of any interface of this node`);
}

export interface ConnectedOptions {
  /**
   * Links whose subnets are not the node's network: podnet's own (its pods' bridge, the VXLAN
   * device) and every port of them (the pods' veths). Default: the VXLAN device.
   */
  readonly exclude?: readonly string[];
}

/**
 * The node's directly connected subnets, in network form, IPv4 first: the prefixes of the global
 * addresses on its links that are up — not loopback, not link-local, not host routes (/32, /128),
 * not on the excluded links or their ports.
 */
export async function connectedSubnets(ops: NetOps, o: ConnectedOptions = {}): Promise<string[]> {
  const exclude = new Set(o.exclude ?? [DEFAULT_VXLAN_DEVICE]);
  const links = await ops.linkList();
  const excludedIdx = new Set(links.filter((l) => exclude.has(l.name)).map((l) => l.index));
  const usable = new Set(
    links
      .filter(
        (l) =>
          l.up &&
          l.kind !== "loopback" &&
          !exclude.has(l.name) &&
          !(l.masterIndex !== undefined && excludedIdx.has(l.masterIndex)),
      )
      .map((l) => l.index),
  );
  const seen = new Set<string>();
  const v4: string[] = [];
  const v6: string[] = [];
  for (const a of await ops.addrList()) {
    if (!usable.has(a.ifindex) || a.scope !== "universe" || a.dadFailed) continue;
    const ip = tryParseIP(a.address);
    if (!ip || a.prefixLen >= (ip.family === 4 ? 32 : 128)) continue;
    const net = formatNetwork(cidrOf(networkOf(ip, a.prefixLen), a.prefixLen));
    if (seen.has(net)) continue;
    seen.add(net);
    (ip.family === 4 ? v4 : v6).push(net);
  }
  return [...v4, ...v6];
}
