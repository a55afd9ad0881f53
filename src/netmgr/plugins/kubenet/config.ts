// kubenet's in-memory CNI configs (pure): the bridge network rendered from the kubelet's
// NET_CONFIG_TEMPLATE once the pod CIDR is known, and the loopback config.
import { CidrListError, formatIP, formatNetwork, parseCidrList, type Cidr } from "../../../ip/index.js";

export const BRIDGE_NAME = "cbr0";
export const KUBENET_NETWORK_NAME = "kubenet";
export const REQUIRED_CNI_PLUGINS = ["bridge", "host-local", "loopback"] as const;

export const LOOPBACK_CONFIG = `{
  "cniVersion": "0.1.0",
  "name": "kubenet-loopback",
  "type": "loopback"
}`;

export interface PodCIDRs {
  /** Masked, one per family at most, in the order given ("10.0.0.1/24" → 10.0.0.0/24). */
  readonly cidrs: readonly Cidr[];
  /** The first address of each, which host-local makes the gateway (cbr0's address). */
  readonly gateways: readonly string[];
}

/**
 * Parses the event's `pod-cidr` value: one CIDR, or one per family joined with ","; host bits are
 * masked (as the kubelet does); without dual stack only the first is used. Throws a RangeError
 * naming the bad element.
 */
export function parsePodCIDRs(value: string, dualStack = true): PodCIDRs {
  let cidrs: Cidr[];
  try {
    cidrs = parseCidrList(dualStack ? value : (value.split(",")[0] ?? ""), { hostBits: "mask", minHostBits: 2 });
  } catch (e) {
    if (e instanceof CidrListError) throw new RangeError(`pod CIDR ${e.message}`, { cause: e });
    throw e;
  }
  const gateways = cidrs.map((c) => formatIP({ family: c.network.family, value: c.network.value + 1n }));
  return { cidrs, gateways };
}

export interface NetConfigInput {
  readonly mtu: number;
  readonly hairpin: boolean;
  readonly podCIDRs: readonly Cidr[];
  /** host-local dataDir; omitted (host-local's default /var/lib/cni/networks) when undefined. */
  readonly dataDir?: string;
}

/** NET_CONFIG_TEMPLATE (1.21+): one range set per pod CIDR (subnet only), a default route per family. */
export function renderNetConfig(i: NetConfigInput): string {
  const ranges = i.podCIDRs.map((c) => `\n[{\n"subnet": "${formatNetwork(c)}"\n}]`).join(",");
  const hasV4 = i.podCIDRs.some((c) => c.network.family === 4);
  const hasV6 = i.podCIDRs.some((c) => c.network.family === 6);
  const routes = [...(hasV4 ? [`{"dst": "0.0.0.0/0"}`] : []), ...(hasV6 ? [`{"dst": "::/0"}`] : [])].join(",");
  const dataDir = i.dataDir !== undefined ? `,\n    "dataDir": ${JSON.stringify(i.dataDir)}` : "";
  return `{
  "cniVersion": "0.1.0",
  "name": "${KUBENET_NETWORK_NAME}",
  "type": "bridge",
  "bridge": "${BRIDGE_NAME}",
  "mtu": ${i.mtu},
  "addIf": "eth0",
  "isGateway": true,
  "ipMasq": false,
  "hairpinMode": ${i.hairpin},
  "ipam": {
    "type": "host-local",
    "ranges": [${ranges}],
    "routes": [${routes}]${dataDir}
  }
}`;
}

/**
 * The masquerade rule's args, or undefined when the CIDR disables it (0.0.0.0/0, ::/0). `target`:
 * MASQUERADE (the kubelet's rule), or the chain that exempts the cluster's pods first (a cluster node).
 */
export function masqRuleArgs(nonMasqueradeCIDR: string, target = "MASQUERADE"): string[] | undefined {
  if (nonMasqueradeCIDR === "0.0.0.0/0" || nonMasqueradeCIDR === "::/0") return undefined;
  return [
    "-m",
    "comment",
    "--comment",
    "kubenet: SNAT for outbound traffic from cluster",
    "-m",
    "addrtype",
    "!",
    "--dst-type",
    "LOCAL",
    "!",
    "-d",
    nonMasqueradeCIDR,
    "-j",
    target,
  ];
}
