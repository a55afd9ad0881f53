// The cluster flags of `podnet node` and `podnet cluster`, checked: each bad value is refused with
// an error naming the flag and the value. The integration maps its parsed argv onto ClusterFlags.
import { type Cidr, formatNetwork } from "../ip/index.js";
import { type ClusterRange, ClusterConfigError, cidrWithin, clusterRanges, parseClusterCidrs } from "./blocks.js";
import { EtcdStore, type EtcdTls, loadEtcdTls, parseEtcdEndpoints } from "./etcd-store.js";
import { DEFAULT_PREFIX, KeyLayout, checkNodeName } from "./keys.js";
import { type Backend, BACKENDS } from "./node-record.js";

export interface EtcdFlags {
  /** --etcd-endpoints */
  readonly endpoints: string;
  /** --etcd-prefix (default /podnet) */
  readonly prefix?: string;
  readonly cafile?: string;
  readonly certfile?: string;
  readonly keyfile?: string;
}

export interface ClusterFlags extends EtcdFlags {
  /** --cluster-cidr */
  readonly clusterCidr: string;
  /** --node-cidr-mask-size */
  readonly nodeCidrMaskSize?: string;
  /** --backend (default auto) */
  readonly backend?: string;
  /** --node-ttl, a Go duration (default 24h) */
  readonly nodeTtl?: string;
  /** --node-name (the caller defaults it to the lower-cased hostname) */
  readonly nodeName: string;
  /** --pod-cidr, already parsed by the node manager */
  readonly podCIDRs?: readonly Cidr[];
}

export interface ClusterSettings {
  readonly ranges: readonly ClusterRange[];
  readonly backend: Backend;
  readonly nodeTtlMs: number;
  readonly nodeName: string;
  readonly keys: KeyLayout;
  readonly endpoints: readonly string[];
  readonly podCIDRs: readonly Cidr[];
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("24h", "1h30m", "90s") in milliseconds. */
export function parseDuration(text: string, field: string): number {
  const re = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (text === "" || matched !== text.length)
    throw new ClusterConfigError(field, `${JSON.stringify(text)} is not a duration like "24h" or "90m"`);
  return total;
}

export function parseBackend(text: string | undefined, field = "--backend"): Backend {
  const b = text ?? "auto";
  if (!(BACKENDS as readonly string[]).includes(b))
    throw new ClusterConfigError(field, `${JSON.stringify(b)} is not one of ${BACKENDS.join(", ")}`);
  return b as Backend;
}

/** Checks every cluster flag of `podnet node`; nothing is contacted. */
export function parseClusterFlags(f: ClusterFlags): ClusterSettings {
  const ranges = clusterRanges(parseClusterCidrs(f.clusterCidr), f.nodeCidrMaskSize);
  const podCIDRs = [...(f.podCIDRs ?? [])];
  for (const c of podCIDRs) {
    const r = ranges.find((x) => x.cidr.network.family === c.network.family);
    if (!r)
      throw new ClusterConfigError(
        "--pod-cidr",
        `${formatNetwork(c)} is IPv${c.network.family}, but --cluster-cidr=${f.clusterCidr} has no IPv${c.network.family} CIDR`,
      );
    if (!cidrWithin(c, r.cidr))
      throw new ClusterConfigError(
        "--pod-cidr",
        `${formatNetwork(c)} is not inside the cluster CIDR ${formatNetwork(r.cidr)}`,
      );
  }
  const nodeTtlMs = f.nodeTtl === undefined ? 24 * 3_600_000 : parseDuration(f.nodeTtl, "--node-ttl");
  if (nodeTtlMs < 60_000) throw new ClusterConfigError("--node-ttl", `${f.nodeTtl} is shorter than 1m`);
  return {
    ranges,
    backend: parseBackend(f.backend),
    nodeTtlMs,
    nodeName: checkNodeName(f.nodeName),
    keys: new KeyLayout(f.prefix ?? DEFAULT_PREFIX),
    endpoints: parseEtcdEndpoints(f.endpoints),
    podCIDRs,
  };
}

/** An EtcdStore from the --etcd-* flags (reads the TLS files). */
export async function openEtcdStore(
  f: EtcdFlags,
  readFile: (path: string) => Promise<Buffer>,
): Promise<{ store: EtcdStore; keys: KeyLayout }> {
  const endpoints = parseEtcdEndpoints(f.endpoints);
  const keys = new KeyLayout(f.prefix ?? DEFAULT_PREFIX);
  const tls: EtcdTls | undefined = await loadEtcdTls(
    {
      ...(f.cafile ? { cafile: f.cafile } : {}),
      ...(f.certfile ? { certfile: f.certfile } : {}),
      ...(f.keyfile ? { keyfile: f.keyfile } : {}),
    },
    readFile,
  );
  if (endpoints.some((e) => e.startsWith("https://")) && !tls)
    throw new ClusterConfigError("--etcd-cafile", "is required with https:// endpoints");
  if (tls && endpoints.some((e) => !e.startsWith("https://")))
    throw new ClusterConfigError("--etcd-endpoints", "TLS files were given, but the endpoints are not https://");
  return { store: new EtcdStore({ endpoints, ...(tls ? { tls } : {}) }), keys };
}
