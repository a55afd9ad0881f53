// IPv4/IPv6 addresses as (family, bigint), with the text forms of Go's net.IP:
// parsing follows net.ParseIP (no zones, no leading zeros in IPv4 octets, at most 4 hex digits
// per IPv6 group, an embedded dotted quad only at the end) and printing follows
// net.IP.String(): dotted quad for IPv4 and for IPv4-mapped IPv6 (To4 treats those as IPv4),
// RFC 5952 compressed lower case for every other IPv6 address.
//
// Two text forms, because Go and the kernel disagree on one address: Go's net.IP has no family,
// so `::ffff:10.0.0.1` prints as `10.0.0.1` (formatIP, parseIP: what CNI results and configs
// hold); the kernel keeps it an AF_INET6 address, which netlink returns as 16 bytes and iproute2
// prints as `::ffff:10.0.0.1` (formatIPExact, parseIPExact: what the kernel layer reads and
// prints, so that an address read back from the kernel keeps its family).
import { PodnetError } from "../util/errors.js";

export type Family = 4 | 6;

/** An address: `value` is the unsigned integer of its 32 (IPv4) or 128 (IPv6) bits. */
export interface IP {
  readonly family: Family;
  readonly value: bigint;
}

export class IPParseError extends PodnetError {
  override name = "IPParseError";
  readonly code = "PODNET_IP_PARSE";
  /** The text that failed to parse. */
  readonly input: string;
  /** Why, without the input: e.g. "IPv4 field 300 is greater than 255". */
  readonly reason: string;
  constructor(kind: "IP address" | "CIDR address", input: string, reason: string) {
    super(`invalid ${kind} ${JSON.stringify(input)}: ${reason}`);
    this.input = input;
    this.reason = reason;
  }
}

/**
 * Thrown by arithmetic that would leave the family's address space: a RangeError, as every bad
 * argument is (src/util/errors.ts), with a code from podnet's catalogue.
 */
export class IPRangeError extends RangeError {
  override name = "IPRangeError";
  readonly code = "PODNET_IP_RANGE";
}

const MAPPED_PREFIX = 0xffffn << 32n; // ::ffff:0:0/96

export const bitLen = (family: Family): 32 | 128 => (family === 4 ? 32 : 128);
export const maxValue = (family: Family): bigint => (1n << BigInt(bitLen(family))) - 1n;

/** An address from its integer value; throws IPRangeError when the value does not fit. */
export function ipFromBigint(family: Family, value: bigint): IP {
  if (value < 0n || value > maxValue(family)) {
    throw new IPRangeError(`${value} is not an IPv${family} address value (0..2^${bitLen(family)}-1)`);
  }
  return { family, value };
}

/** 4 bytes give IPv4, 16 bytes IPv6 (kept as IPv6 even when mapped: use `to4`). */
export function ipFromBytes(bytes: Uint8Array): IP {
  if (bytes.length !== 4 && bytes.length !== 16) {
    throw new IPRangeError(`an IP address has 4 or 16 bytes, got ${bytes.length}`);
  }
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return { family: bytes.length === 4 ? 4 : 6, value: v };
}

/** Network byte order: 4 bytes for IPv4, 16 for IPv6. */
export function ipToBytes(ip: IP): Uint8Array {
  const n = ip.family === 4 ? 4 : 16;
  const out = new Uint8Array(n);
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export const isV4Mapped = (ip: IP): boolean => ip.family === 6 && ip.value >> 32n === 0xffffn;

/** Go's To4: an IPv4 address, or the IPv4 inside an IPv4-mapped IPv6 address; else undefined. */
export function to4(ip: IP): IP | undefined {
  if (ip.family === 4) return ip;
  return isV4Mapped(ip) ? { family: 4, value: ip.value & 0xffffffffn } : undefined;
}

/** Go's To16: IPv6 as is, IPv4 as ::ffff:a.b.c.d. */
export const to16 = (ip: IP): IP => (ip.family === 6 ? ip : { family: 6, value: MAPPED_PREFIX | ip.value });

/** IPv4-mapped IPv6 becomes IPv4 (host-local's canonicalizeIP); everything else is unchanged. */
export const canonicalIP = (ip: IP): IP => to4(ip) ?? ip;

function parseV4(s: string, input: string, kind: "IP address" | "CIDR address"): bigint {
  const parts = s.split(".");
  if (parts.length !== 4)
    throw new IPParseError(kind, input, `an IPv4 address has 4 dot-separated fields, got ${parts.length}`);
  let v = 0n;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p))
      throw new IPParseError(kind, input, `IPv4 field ${JSON.stringify(p)} is not a decimal number of 1 to 3 digits`);
    if (p.length > 1 && p[0] === "0")
      throw new IPParseError(kind, input, `IPv4 field ${JSON.stringify(p)} has a leading zero`);
    const n = Number(p);
    if (n > 255) throw new IPParseError(kind, input, `IPv4 field ${p} is greater than 255`);
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseGroups(s: string, input: string, kind: "IP address" | "CIDR address", last: boolean): bigint[] {
  if (s === "") return [];
  const out: bigint[] = [];
  const parts = s.split(":");
  for (const [i, p] of parts.entries()) {
    if (last && i === parts.length - 1 && p.includes(".")) {
      const v4 = parseV4(p, input, kind);
      out.push(v4 >> 16n, v4 & 0xffffn);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
      out.push(BigInt(`0x${p}`));
    } else if (p === "") {
      throw new IPParseError(kind, input, "empty IPv6 group (a single ':' at the start or end, or ':::')");
    } else {
      throw new IPParseError(kind, input, `IPv6 group ${JSON.stringify(p)} is not 1 to 4 hex digits`);
    }
  }
  return out;
}

function parseV6(s: string, input: string, kind: "IP address" | "CIDR address"): bigint {
  if (s.includes("%")) throw new IPParseError(kind, input, "IPv6 zones are not allowed");
  const halves = s.split("::");
  if (halves.length > 2) throw new IPParseError(kind, input, "'::' may appear only once");
  let groups: bigint[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!, input, kind, false);
    const tail = parseGroups(halves[1]!, input, kind, true);
    const missing = 8 - head.length - tail.length;
    if (missing < 1) throw new IPParseError(kind, input, "'::' must stand for at least one group of zeros");
    groups = [...head, ...new Array<bigint>(missing).fill(0n), ...tail];
  } else {
    groups = parseGroups(s, input, kind, true);
    if (groups.length !== 8) throw new IPParseError(kind, input, `an IPv6 address has 8 groups, got ${groups.length}`);
  }
  return groups.reduce((v, g) => (v << 16n) | g, 0n);
}

/** net.ParseIP without To4: "::ffff:1.2.3.4" stays IPv6 (parseCidr and the kernel layer need that). */
export function parseIPExact(s: string, kind: "IP address" | "CIDR address" = "IP address", input = s): IP {
  if (s === "") throw new IPParseError(kind, input, "empty string");
  if (s.includes(":")) return { family: 6, value: parseV6(s, input, kind) };
  if (s.includes(".")) return { family: 4, value: parseV4(s, input, kind) };
  throw new IPParseError(kind, input, "neither an IPv4 nor an IPv6 address");
}

/**
 * Parses an address as Go's net.ParseIP does and canonicalises it as host-local does:
 * IPv4-mapped IPv6 ("::ffff:10.1.2.3") comes back as IPv4. Throws IPParseError naming the input.
 */
export function parseIP(s: string): IP {
  return canonicalIP(parseIPExact(s));
}

/** parseIP, or undefined instead of an exception. */
export function tryParseIP(s: string): IP | undefined {
  try {
    return parseIP(s);
  } catch {
    return undefined;
  }
}

/** parseIPExact, or undefined instead of an exception. */
export function tryParseIPExact(s: string): IP | undefined {
  try {
    return parseIPExact(s);
  } catch {
    return undefined;
  }
}

export const isIP = (s: string): boolean => tryParseIP(s) !== undefined;

/**
 * The family of an address or a prefix text ("10.0.0.1", "fd00::1", "10.0.0.0/8"): 4 or 6, with
 * IPv4-mapped IPv6 counting as 4 (as in Go); undefined when the text is neither. The one test
 * of a family: never look for a ':' in the text.
 */
export function ipFamily(s: string): Family | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return tryParseIP(s)?.family;
  if (!/^[0-9]+$/.test(s.slice(slash + 1))) return undefined;
  const ip = tryParseIPExact(s.slice(0, slash));
  if (!ip || Number(s.slice(slash + 1)) > bitLen(ip.family)) return undefined;
  return canonicalIP(ip).family;
}

/** Go's net.JoinHostPort: "10.0.0.1:80", "[fd00::1]:80" (a host with a colon gets brackets). */
export const joinHostPort = (host: string, port: number | string): string =>
  host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;

function formatV4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((sh) => String((v >> sh) & 0xffn)).join(".");
}

/** The eight groups of an IPv6 address and its longest run of two or more zero groups (the first on a tie; best -1: none). */
function zeroRun(v: bigint): { groups: number[]; best: number; bestLen: number } {
  const groups: number[] = [];
  for (let sh = 112n; sh >= 0n; sh -= 16n) groups.push(Number((v >> sh) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  return { groups, best, bestLen };
}

function formatV6(v: bigint): string {
  // RFC 5952 §4.2: compress the longest run of two or more zero groups; the first one on a tie.
  const { groups, best, bestLen } = zeroRun(v);
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** Go's net.IP.String(): IPv4-mapped IPv6 prints as IPv4 ("::ffff:10.0.0.1" → "10.0.0.1"). */
export function formatIP(ip: IP): string {
  const v4 = to4(ip);
  return v4 ? formatV4(v4.value) : formatV6(ip.value);
}

/**
 * inet_ntop(3), what iproute2 prints and the kernel layer reports: an IPv6 address stays IPv6, with
 * glibc's dotted tail for the IPv4-mapped (`::ffff:10.0.0.1`) and IPv4-compatible (`::10.0.0.1`)
 * forms; parseIPExact reads it back to the same family and value.
 */
export function formatIPExact(ip: IP): string {
  if (ip.family === 4) return formatV4(ip.value);
  const { groups, best, bestLen } = zeroRun(ip.value);
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && groups[5] === 0xffff))) {
    return `${bestLen === 6 ? "::" : "::ffff:"}${formatV4(ip.value & 0xffffffffn)}`;
  }
  return formatV6(ip.value);
}

/** Orders IPv4 before IPv6, then by value. */
export function compareIP(a: IP, b: IP): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** Go's net.IP.Equal: an IPv4 address equals its IPv4-mapped IPv6 form. */
export function ipEqual(a: IP, b: IP): boolean {
  const x = canonicalIP(a);
  const y = canonicalIP(b);
  return x.family === y.family && x.value === y.value;
}

/** `ip + delta` in the same family; throws IPRangeError when the result leaves the address space. */
export function addIP(ip: IP, delta: bigint | number): IP {
  const d = BigInt(delta);
  const v = ip.value + d;
  if (v < 0n || v > maxValue(ip.family)) {
    const op = d < 0n ? `- ${-d}` : `+ ${d}`;
    throw new IPRangeError(`${formatIP(ip)} ${op} leaves the IPv${ip.family} address space`);
  }
  return { family: ip.family, value: v };
}

export const nextIP = (ip: IP): IP => addIP(ip, 1n);
export const prevIP = (ip: IP): IP => addIP(ip, -1n);
