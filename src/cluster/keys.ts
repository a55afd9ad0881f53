// podnet's key layout in the store (all under --etcd-prefix, default /podnet):
//   <prefix>/config            the cluster CIDRs and mask sizes every node must agree on
//   <prefix>/nodes/<name>      the node record (JSON, node-record.ts); what every node watches
//   <prefix>/heartbeats/<name> last heartbeat, attached to the node's lease (TTL = --node-ttl);
//                              not watched, so renewals cost no fan-out
//   <prefix>/blocks/<block>    → the holder's node name; one key per block
// A block key writes the network address at a fixed width, so that key order is address order:
// "010.244.001.000-24", "fd00:0010:0000:0001:0000:0000:0000:0000-64". Every block overlapping a
// prefix C then is either a supernet of C (one exact key per shorter prefix length) or has its key
// inside one key range, and a claim can refuse every overlap in a single transaction (conflictConditions).
import { type Cidr, type Family, bitLen, cidrOf, formatNetwork, type IP, lastOf, networkOf } from "../ip/index.js";
import { ClusterConfigError, MIN_BLOCK_PREFIX } from "./blocks.js";
import type { Condition } from "./store.js";

export const DEFAULT_PREFIX = "/podnet";

/** Kubernetes node names: DNS-1123 subdomains. */
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isNodeName(s: string): boolean {
  return s.length > 0 && s.length <= 253 && NODE_NAME.test(s);
}

export function checkNodeName(s: string, field = "--node-name"): string {
  if (!isNodeName(s))
    throw new ClusterConfigError(
      field,
      `${JSON.stringify(s)} is not a node name (a lower-case DNS subdomain of at most 253 characters)`,
    );
  return s;
}

/** "--etcd-prefix": an absolute key path of printable ASCII without a trailing "/". */
export function checkPrefix(s: string, field = "--etcd-prefix"): string {
  if (!/^(\/[\x21-\x2e\x30-\x7e]+)+$/.test(s) || s.length > 128) {
    throw new ClusterConfigError(
      field,
      `${JSON.stringify(s)} is not a key prefix like "/podnet" (absolute, printable ASCII, no trailing "/", at most 128 characters)`,
    );
  }
  return s;
}

function padV4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn).padStart(3, "0")).join(".");
}

function padV6(v: bigint): string {
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((v >> s) & 0xffffn).toString(16).padStart(4, "0"));
  return groups.join(":");
}

const padded = (ip: IP): string => (ip.family === 4 ? padV4(ip.value) : padV6(ip.value));

function unpad(text: string): IP | undefined {
  if (/^[0-9]{3}(\.[0-9]{3}){3}$/.test(text)) {
    const parts = text.split(".").map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return { family: 4, value: parts.reduce((v, p) => (v << 8n) | BigInt(p), 0n) };
  }
  if (/^[0-9a-f]{4}(:[0-9a-f]{4}){7}$/.test(text)) {
    return { family: 6, value: text.split(":").reduce((v, g) => (v << 16n) | BigInt(`0x${g}`), 0n) };
  }
  return undefined;
}

/** The keys of one cluster (one prefix). */
export class KeyLayout {
  readonly prefix: string;
  readonly config: string;
  readonly nodes: string;
  readonly heartbeats: string;
  readonly blocks: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    this.prefix = checkPrefix(prefix);
    this.config = `${prefix}/config`;
    this.nodes = `${prefix}/nodes/`;
    this.heartbeats = `${prefix}/heartbeats/`;
    this.blocks = `${prefix}/blocks/`;
  }

  node(name: string): string {
    return this.nodes + name;
  }

  heartbeat(name: string): string {
    return this.heartbeats + name;
  }

  /** The key of a block (its network address, fixed width, and prefix length). */
  block(c: Cidr): string {
    const f = c.network.family;
    if (c.prefix < MIN_BLOCK_PREFIX[f])
      throw new RangeError(`block ${formatNetwork(c)}: prefix shorter than /${MIN_BLOCK_PREFIX[f]}`);
    return `${this.blocks}${padded(networkOf(c.network, c.prefix))}-${c.prefix}`;
  }

  /** The block a key names, or undefined for a key that is not one. */
  parseBlock(key: string): Cidr | undefined {
    if (!key.startsWith(this.blocks)) return undefined;
    const m = /^(.+)-([0-9]{1,3})$/.exec(key.slice(this.blocks.length));
    if (!m) return undefined;
    const ip = unpad(m[1]!);
    const prefix = Number(m[2]);
    if (!ip || prefix > bitLen(ip.family) || prefix < MIN_BLOCK_PREFIX[ip.family]) return undefined;
    if (networkOf(ip, prefix).value !== ip.value) return undefined;
    return cidrOf(ip, prefix);
  }

  /** The node name a record or heartbeat key belongs to. */
  nameOf(key: string): string | undefined {
    const rest = key.startsWith(this.nodes)
      ? key.slice(this.nodes.length)
      : key.startsWith(this.heartbeats)
        ? key.slice(this.heartbeats.length)
        : undefined;
    return rest !== undefined && isNodeName(rest) ? rest : undefined;
  }

  /**
   * Conditions that hold only while no block overlapping `c` exists: the exact key of each
   * supernet of `c` down to `shortest` bits, and the key range of every block whose network lies
   * inside `c` (its subnets and `c` itself). With MIN_BLOCK_PREFIX the range cannot reach keys of
   * the other family: IPv4 keys share their first 4 characters ("ddd."), IPv6 ones their first 5.
   */
  conflictConditions(c: Cidr, shortest: number): Condition[] {
    const f: Family = c.network.family;
    const out: Condition[] = [];
    for (let p = Math.max(shortest, MIN_BLOCK_PREFIX[f]); p < c.prefix; p++)
      out.push({ kind: "absent", key: this.block(cidrOf(c.network, p)) });
    const first = padded(networkOf(c.network, c.prefix));
    const last = padded(lastOf(c.network, c.prefix));
    // "-" (0x2d) < "." (0x2e): every "<last>-<len>" key sorts before "<last>.".
    out.push({ kind: "absent", key: `${this.blocks}${first}`, rangeEnd: `${this.blocks}${last}.` });
    return out;
  }
}
