// Pod CIDR blocks inside the cluster CIDR(s), pure: parsing the cluster flags' values, and the
// n-th free block of a mask size given the blocks already taken (the controller manager's
// --allocate-node-cidrs range allocator, computed from a sorted list of taken ranges instead of a
// bitmap so that an IPv6 cluster CIDR with 2^64 blocks costs the same as a /16).
import {
  type Cidr,
  type Family,
  bitLen,
  cidrContains,
  cidrOf,
  cidrOverlaps,
  CidrListError,
  formatCidr,
  formatNetwork,
  parseCidrList,
  type IP,
} from "../ip/index.js";
import { PodnetError } from "../util/errors.js";

/** A cluster CIDR and the mask size of the blocks cut from it. */
export interface ClusterRange {
  readonly cidr: Cidr;
  readonly maskSize: number;
}

export const DEFAULT_MASK_SIZE: Readonly<Record<Family, number>> = { 4: 24, 6: 64 };

/** Smallest block prefix a key can hold (see keys.ts: the family is told apart by the first group). */
export const MIN_BLOCK_PREFIX: Readonly<Record<Family, number>> = { 4: 8, 6: 16 };
/** Largest block prefix that still leaves room for a gateway and pods. */
export const MAX_BLOCK_PREFIX: Readonly<Record<Family, number>> = { 4: 30, 6: 126 };

export class ClusterConfigError extends PodnetError {
  override name = "ClusterConfigError";
  readonly code = "PODNET_CLUSTER_CONFIG";
  /** The flag or field at fault, e.g. "--cluster-cidr". */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

const familyOf = (c: Cidr): Family => c.network.family;

/**
 * "--cluster-cidr=10.244.0.0/16[,fd00:10::/48]": at most one CIDR per family (dual-stack), written
 * without host bits, IPv4 first in the result.
 */
export function parseClusterCidrs(text: string, field = "--cluster-cidr"): Cidr[] {
  let out: Cidr[];
  try {
    out = parseCidrList(text);
  } catch (e) {
    if (e instanceof CidrListError) throw new ClusterConfigError(field, e.message);
    throw e;
  }
  const whole = out.find((c) => c.prefix === 0);
  if (whole) throw new ClusterConfigError(field, `${formatCidr(whole)} is the whole address space`);
  return out.sort((a, b) => familyOf(a) - familyOf(b));
}

/**
 * "--node-cidr-mask-size=V4[,V6]" against the cluster CIDRs: two values are IPv4 then IPv6; one
 * value applies to the cluster's only family (or to IPv4 in a dual-stack cluster, IPv6 keeping
 * 64); absent, 24 for IPv4 and 64 for IPv6.
 */
export function clusterRanges(
  cidrs: readonly Cidr[],
  maskSizes?: string,
  field = "--node-cidr-mask-size",
): ClusterRange[] {
  const sizes: Partial<Record<Family, number>> = {};
  if (maskSizes !== undefined && maskSizes.trim() !== "") {
    const vals = maskSizes.split(",").map((s) => s.trim());
    if (vals.length > 2 || vals.some((v) => !/^[0-9]{1,3}$/.test(v)))
      throw new ClusterConfigError(field, `${JSON.stringify(maskSizes)} is not V4[,V6] (decimal prefix lengths)`);
    const n = vals.map(Number);
    if (n.length === 2) {
      sizes[4] = n[0]!;
      sizes[6] = n[1]!;
    } else if (cidrs.length === 1) sizes[familyOf(cidrs[0]!)] = n[0]!;
    else sizes[4] = n[0]!;
  }
  return cidrs.map((cidr) => {
    const f = familyOf(cidr);
    const maskSize = sizes[f] ?? DEFAULT_MASK_SIZE[f];
    const where = `IPv${f} mask size ${maskSize}`;
    if (maskSize < cidr.prefix)
      throw new ClusterConfigError(
        field,
        `${where} is shorter than the cluster CIDR ${formatNetwork(cidr)}: a block cannot be larger than the cluster`,
      );
    if (maskSize < MIN_BLOCK_PREFIX[f] || maskSize > MAX_BLOCK_PREFIX[f]) {
      throw new ClusterConfigError(field, `${where} is not in ${MIN_BLOCK_PREFIX[f]}..${MAX_BLOCK_PREFIX[f]}`);
    }
    if (maskSize - cidr.prefix > 120)
      throw new ClusterConfigError(
        field,
        `${where} is more than 120 bits longer than the cluster CIDR ${formatNetwork(cidr)}`,
      );
    return { cidr, maskSize };
  });
}

/** Number of blocks of the range (a bigint: an IPv6 range can hold 2^64). */
export const blockCount = (r: ClusterRange): bigint => 1n << BigInt(r.maskSize - r.cidr.prefix);

/** A network-form CIDR from a network address and a prefix. */
export const blockAt = (family: Family, value: bigint, prefix: number): Cidr => cidrOf({ family, value } as IP, prefix);

/** true when `inner` lies wholly inside `outer` (same family). */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return familyOf(inner) === familyOf(outer) && inner.prefix >= outer.prefix && cidrContains(outer, inner.network);
}

/** The taken blocks that overlap `c`. */
export const overlapping = (c: Cidr, taken: Iterable<Cidr>): Cidr[] => [...taken].filter((t) => cidrOverlaps(t, c));

/**
 * The free stretches of the range: [first, last] address pairs not overlapped by any taken block,
 * in address order. O(t log t) in the number of taken blocks.
 */
function freeGaps(r: ClusterRange, taken: Iterable<Cidr>): Array<[bigint, bigint]> {
  const f = familyOf(r.cidr);
  const bits = BigInt(bitLen(f));
  const start = r.cidr.network.value;
  const end = start + (1n << (bits - BigInt(r.cidr.prefix))) - 1n;
  const spans: Array<[bigint, bigint]> = [];
  for (const t of taken) {
    if (familyOf(t) !== f) continue;
    const ts = t.network.value;
    const te = ts + (1n << (bits - BigInt(t.prefix))) - 1n;
    if (te < start || ts > end) continue;
    spans.push([ts, te]);
  }
  spans.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const gaps: Array<[bigint, bigint]> = [];
  let cursor = start; // first address not yet known to be taken
  for (const [ts, te] of spans) {
    if (ts > cursor) gaps.push([cursor, ts - 1n]);
    if (te + 1n > cursor) cursor = te + 1n;
    if (cursor > end) return gaps;
  }
  gaps.push([cursor, end]);
  return gaps;
}

/** The aligned blocks inside a free stretch: the first one's address and how many. */
function blocksInGap(r: ClusterRange, [gs, ge]: [bigint, bigint]): { first: bigint; count: bigint } {
  const size = 1n << BigInt(bitLen(familyOf(r.cidr)) - r.maskSize);
  const start = r.cidr.network.value;
  const first = ((gs - start + size - 1n) / size) * size + start; // aligned up
  if (first + size - 1n > ge) return { first, count: 0n };
  return { first, count: (ge - first + 1n) / size };
}

/**
 * Free blocks of the range in address order, skipping `skip` of them: skip 0 is the lowest free
 * block. Taken blocks of any size (a --pod-cidr may be larger or smaller than the mask) exclude
 * every block they overlap. undefined when fewer than skip+1 blocks are free.
 */
export function nthFreeBlock(r: ClusterRange, taken: Iterable<Cidr>, skip: bigint | number = 0): Cidr | undefined {
  const size = 1n << BigInt(bitLen(familyOf(r.cidr)) - r.maskSize);
  let left = BigInt(skip);
  for (const gap of freeGaps(r, taken)) {
    const { first, count } = blocksInGap(r, gap);
    if (left < count) return blockAt(familyOf(r.cidr), first + left * size, r.maskSize);
    left -= count;
  }
  return undefined;
}

/** How many blocks of the range are free (a bigint). */
export function freeBlockCount(r: ClusterRange, taken: Iterable<Cidr>): bigint {
  let n = 0n;
  for (const gap of freeGaps(r, taken)) n += blocksInGap(r, gap).count;
  return n;
}
