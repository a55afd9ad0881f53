// The cluster flags of `podnet node` (docs/cluster.md): with --cluster-cidr and --etcd-endpoints
// the node takes its pod CIDR from the cluster and routes to every other node's. Pure: the flag
// values in, checked settings out; a bad value is an error naming the flag and the value.
import { formatIP, parseCidrList, tryParseIP } from "../../ip/index.js";
import {
  ClusterConfigError,
  type ClusterSettings,
  type EtcdFlags,
  isNodeName,
  parseClusterFlags,
} from "../../cluster/index.js";

export const CLUSTER_NODE_FLAGS = {
  "cluster-cidr": {
    default: "",
    help: 'cluster networking: the pods\' CIDR(s) of the whole cluster ("v4", "v6" or "v4,v6"); each node takes a block of it and routes to every other node\'s (needs --etcd-endpoints; docs/cluster.md)',
  },
  "etcd-endpoints": {
    default: "",
    help: "cluster networking: the etcd v3 endpoints (http://HOST:PORT, https://HOST:PORT or unix:///PATH, comma-separated)",
  },
  "node-name": { default: "", help: "cluster networking: this node's name (default: the hostname, lower-cased)" },
  "node-ip": {
    default: "",
    help: "cluster networking: the address(es) other nodes send to, one per family (default: the source address of the route to the Internet)",
  },
  "node-cidr-mask-size": {
    default: "",
    help: "cluster networking: the size of each node's block, V4[,V6] (default 24 for IPv4, 64 for IPv6)",
  },
  backend: {
    default: "auto",
    help: "cluster networking: auto (host-gw to peers on a connected subnet, VXLAN to the others) | host-gw | vxlan",
  },
  "etcd-prefix": { default: "/podnet", help: "cluster networking: the key prefix in etcd" },
  "etcd-cafile": { default: "", help: "cluster networking: the CA of etcd's server certificates (PEM)" },
  "etcd-certfile": {
    default: "",
    help: "cluster networking: the client certificate for etcd (PEM; with --etcd-keyfile)",
  },
  "etcd-keyfile": { default: "", help: "cluster networking: the client key for etcd (PEM; with --etcd-certfile)" },
  "node-ttl": {
    default: "24h",
    help: "cluster networking: a node absent longer than this loses its block (a Go duration)",
  },
} as const;

export type ClusterFlagName = keyof typeof CLUSTER_NODE_FLAGS;

export interface ClusterNodeOptions {
  readonly settings: ClusterSettings;
  readonly etcd: EtcdFlags;
  /** --node-ip, canonical, IPv4 first; empty: discovered at start. */
  readonly nodeIPs: readonly string[];
}

/** "--node-ip=A[,B]": at most one address per family, canonical text, IPv4 first. */
export function parseNodeIPs(text: string, field = "--node-ip"): string[] {
  if (text.trim() === "") return [];
  const out: Array<{ family: 4 | 6; text: string }> = [];
  for (const p of text.split(",").map((s) => s.trim())) {
    const ip = tryParseIP(p);
    if (!ip) throw new ClusterConfigError(field, `${JSON.stringify(p)} is not an IP address`);
    if (out.some((o) => o.family === ip.family))
      throw new ClusterConfigError(
        field,
        `${JSON.stringify(text)} has two IPv${ip.family} addresses; at most one per family`,
      );
    out.push({ family: ip.family, text: formatIP(ip) });
  }
  return out.sort((a, b) => a.family - b.family).map((o) => o.text);
}

/**
 * The cluster settings from the flags given (`given`: the flags set on the command line), or
 * undefined when no cluster flag is set. Throws ClusterConfigError naming the flag.
 */
export function parseClusterNodeOptions(
  get: (k: ClusterFlagName) => string,
  given: (k: ClusterFlagName) => boolean,
  o: { networkPlugin: string; podCIDR: string; hostname?: string },
): ClusterNodeOptions | undefined {
  const set = (Object.keys(CLUSTER_NODE_FLAGS) as ClusterFlagName[]).filter(given);
  if (set.length === 0) return undefined;
  if (!given("cluster-cidr"))
    throw new ClusterConfigError(
      `--${set[0]}`,
      "is a cluster networking flag: it needs --cluster-cidr (and --etcd-endpoints)",
    );
  if (!given("etcd-endpoints") || get("etcd-endpoints") === "")
    throw new ClusterConfigError("--etcd-endpoints", "is required with --cluster-cidr");
  if (o.networkPlugin !== "kubenet" && o.networkPlugin !== "cni") {
    throw new ClusterConfigError(
      "--cluster-cidr",
      `needs --network-plugin=kubenet or --network-plugin=cni, got ${JSON.stringify(o.networkPlugin || "noop")}`,
    );
  }
  let nodeName = get("node-name");
  if (nodeName === "") {
    nodeName = (o.hostname ?? "").toLowerCase();
    if (nodeName === "") throw new ClusterConfigError("--node-name", "is required: the hostname is unknown");
  }
  const opt = (k: ClusterFlagName) => (get(k) === "" ? undefined : get(k));
  const etcd: EtcdFlags = {
    endpoints: get("etcd-endpoints"),
    prefix: get("etcd-prefix"),
    ...(opt("etcd-cafile") ? { cafile: get("etcd-cafile") } : {}),
    ...(opt("etcd-certfile") ? { certfile: get("etcd-certfile") } : {}),
    ...(opt("etcd-keyfile") ? { keyfile: get("etcd-keyfile") } : {}),
  };
  const settings = parseClusterFlags({
    ...etcd,
    clusterCidr: get("cluster-cidr"),
    ...(opt("node-cidr-mask-size") ? { nodeCidrMaskSize: get("node-cidr-mask-size") } : {}),
    backend: get("backend"),
    nodeTtl: get("node-ttl"),
    nodeName: given("node-name") ? nodeName : nodeNameFromHost(nodeName),
    ...(o.podCIDR !== "" ? { podCIDRs: parseCidrList(o.podCIDR, { hostBits: "mask" }) } : {}),
  });
  if ((etcd.certfile || etcd.keyfile) && !etcd.cafile)
    throw new ClusterConfigError("--etcd-cafile", "is required with --etcd-certfile/--etcd-keyfile");
  return { settings, etcd, nodeIPs: parseNodeIPs(get("node-ip")) };
}

/** The hostname as a node name, or an error saying to pass --node-name. */
function nodeNameFromHost(host: string): string {
  if (!isNodeName(host))
    throw new ClusterConfigError(
      "--node-name",
      `the hostname ${JSON.stringify(host)} is not a node name (a lower-case DNS subdomain); pass --node-name`,
    );
  return host;
}
