// CIDR prefixes: "10.1.0.5/16" keeps its host bits in `ip` (as CNI results do) and carries the
// masked `network` beside it. Semantics follow Go's net.ParseCIDR / net.IPNet:
// the prefix may be 0..32 for IPv4 text and 0..128 for IPv6 text (including "::ffff:a.b.c.d"
// text, which keeps a 128-bit mask; Contains and String then treat it as IPv4, as Go does).
import {
  type Family,
  type IP,
  IPParseError,
  bitLen,
  canonicalIP,
  formatIP,
  isV4Mapped,
  maxValue,
  parseIPExact,
} from "./ip.js";

export interface Cidr {
  /** The address as written, host bits included. */
  readonly ip: IP;
  /** Prefix length, 0..32 (IPv4) or 0..128 (IPv6). */
  readonly prefix: number;
  /** `ip` with the host bits cleared. */
  readonly network: IP;
}

/** The netmask of `prefix` leading one bits. */
export function prefixMask(family: Family, prefix: number): bigint {
  checkPrefix(family, prefix);
  const bits = BigInt(bitLen(family));
  return (maxValue(family) >> (bits - BigInt(prefix))) << (bits - BigInt(prefix));
}

/** The complement of the netmask: the host bits. */
export const hostMask = (family: Family, prefix: number): bigint => maxValue(family) ^ prefixMask(family, prefix);

function checkPrefix(family: Family, prefix: number): void {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bitLen(family)) {
    throw new RangeError(`prefix length ${prefix} is not in 0..${bitLen(family)} for IPv${family}`);
  }
}

/** The first address of ip/prefix. */
export const networkOf = (ip: IP, prefix: number): IP => ({
  family: ip.family,
  value: ip.value & prefixMask(ip.family, prefix),
});

/** The last address of ip/prefix (the IPv4 broadcast address). */
export const lastOf = (ip: IP, prefix: number): IP => ({
  family: ip.family,
  value: ip.value | hostMask(ip.family, prefix),
});

/** A prefix from an address (host bits kept) and a length; throws RangeError on a bad length. */
export function cidrOf(ip: IP, prefix: number): Cidr {
  return { ip, prefix, network: networkOf(ip, prefix) };
}

/**
 * Parses "addr/len" as Go's net.ParseCIDR does (the length is decimal digits, leading zeros allowed).
 * Throws IPParseError naming the input.
 */
export function parseCidr(s: string): Cidr {
  const slash = s.indexOf("/");
  if (slash < 0) throw new IPParseError("CIDR address", s, 'missing "/prefix-length"');
  const ip = parseIPExact(s.slice(0, slash), "CIDR address", s);
  const len = s.slice(slash + 1);
  if (!/^[0-9]+$/.test(len))
    throw new IPParseError("CIDR address", s, `prefix length ${JSON.stringify(len)} is not a decimal number`);
  const prefix = Number(len);
  if (prefix > bitLen(ip.family)) {
    throw new IPParseError(
      "CIDR address",
      s,
      `prefix length ${len} is greater than ${bitLen(ip.family)} for IPv${ip.family}`,
    );
  }
  return cidrOf(ip, prefix);
}

/** parseCidr, or undefined instead of an exception. */
export function tryParseCidr(s: string): Cidr | undefined {
  try {
    return parseCidr(s);
  } catch {
    return undefined;
  }
}

/**
 * How Go's net.IPNet treats a prefix: a network inside ::ffff:0:0/96 is the IPv4 network with a
 * 32-bit mask (the low 4 bytes of the 16-byte mask).
 */
function goView(c: Cidr): { family: Family; network: bigint; prefix: number } {
  if (isV4Mapped(c.network))
    return { family: 4, network: c.network.value & 0xffffffffn, prefix: Math.max(c.prefix - 96, 0) };
  return { family: c.network.family, network: c.network.value, prefix: c.prefix };
}

/** "10.1.0.5/16": the address with its host bits, as CNI results write it (Go IPNet.String). */
export function formatCidr(c: Cidr): string {
  const prefix = c.ip.family === 6 && isV4Mapped(c.ip) ? Math.max(c.prefix - 96, 0) : c.prefix;
  return `${formatIP(c.ip)}/${prefix}`;
}

/** "10.1.0.0/16": the network address and the prefix length. */
export const formatNetwork = (c: Cidr): string => formatCidr(cidrOf(c.network, c.prefix));

/** The first address of the prefix. */
export const cidrNetwork = (c: Cidr): IP => c.network;

/** The last address of the prefix (the IPv4 broadcast address; for IPv6 simply the last one). */
export const cidrBroadcast = (c: Cidr): IP => lastOf(c.network, c.prefix);

/** Number of addresses in the prefix. */
export const cidrSize = (c: Cidr): bigint => 1n << BigInt(bitLen(c.network.family) - c.prefix);

/** True when the address was written without host bits. */
export const isNetworkAddress = (c: Cidr): boolean => c.ip.value === c.network.value;

/** Go's IPNet.Contains: an IPv4 address matches an IPv4 or IPv4-mapped network; families never mix otherwise. */
export function cidrContains(c: Cidr, ip: IP): boolean {
  const n = goView(c);
  const x = canonicalIP(ip);
  if (x.family !== n.family) return false;
  return (x.value & prefixMask(n.family, n.prefix)) === n.network;
}

/** True when the two prefixes share at least one address. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  const x = goView(a);
  const y = goView(b);
  if (x.family !== y.family) return false;
  const p = Math.min(x.prefix, y.prefix);
  const m = prefixMask(x.family, p);
  return (x.network & m) === (y.network & m);
}
