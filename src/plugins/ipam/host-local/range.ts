// One allocation range: a subnet, the first and last address handed out, and the gateway.
// Canonicalisation is Go's allocator.Range.Canonicalize (same defaults, same checks, same words),
// plus one check Go lacks: a default rangeEnd before an explicit rangeStart would make Go's
// iterator walk the whole address space, so it is refused here.
import {
  type Cidr,
  type IP,
  IPParseError,
  addIP,
  bitLen,
  cidrContains,
  cidrOf,
  compareIP,
  formatCidr,
  formatIP,
  isNetworkAddress,
  isV4Mapped,
  lastOf,
  parseCidr,
  parseIP,
} from "../../../ip/index.js";
import { PodnetError } from "../../../util/errors.js";

/** A range as written in the config (every field optional here; `subnet` is required later). */
export interface RangeInput {
  readonly subnet?: string | null | undefined;
  readonly rangeStart?: string | null | undefined;
  readonly rangeEnd?: string | null | undefined;
  readonly gateway?: string | null | undefined;
}

/** A canonical range: every field set, addresses in canonical form (IPv4-mapped → IPv4). */
export interface Range {
  /** As written: the address equals the network address (checked). */
  readonly subnet: Cidr;
  /** First address handed out, inclusive. */
  readonly rangeStart: IP;
  /** Last address handed out, inclusive. */
  readonly rangeEnd: IP;
  /** Never handed out; reported as the gateway of addresses from this range. */
  readonly gateway: IP;
}

/** Raised for a range that fails validation; the message reads after "invalid range set N: ". */
export class RangeConfigError extends PodnetError {
  override name = "RangeConfigError";
  readonly code = "PODNET_HOST_LOCAL_RANGE";
}

function parseField(field: string, text: string): IP {
  try {
    return parseIP(text);
  } catch (e) {
    if (e instanceof IPParseError) throw new RangeConfigError(`invalid ${field} ${JSON.stringify(text)}: ${e.reason}`);
    throw e;
  }
}

/** Empty strings count as absent, as Go's net.IP.UnmarshalText makes them nil (containerd sends ""). */
const given = (s: string | null | undefined): s is string => typeof s === "string" && s !== "";

/** The default last address: broadcast − 1 for IPv4, the last address of the prefix for IPv6. */
export function lastIP(subnet: Cidr): IP {
  const last = lastOf(subnet.network, subnet.prefix);
  return subnet.network.family === 4 ? addIP(last, -1n) : last;
}

/** Go's Range.Contains: same family, inside the subnet, and within rangeStart..rangeEnd. */
export function rangeContains(r: Range, ip: IP): boolean {
  return (
    ip.family === r.subnet.network.family &&
    cidrContains(r.subnet, ip) &&
    compareIP(ip, r.rangeStart) >= 0 &&
    compareIP(ip, r.rangeEnd) <= 0
  );
}

/** True when the ranges share an address (one contains the other's start or end). */
export function rangesOverlap(a: Range, b: Range): boolean {
  if (a.rangeStart.family !== b.rangeStart.family) return false;
  return (
    rangeContains(a, b.rangeStart) ||
    rangeContains(a, b.rangeEnd) ||
    rangeContains(b, a.rangeStart) ||
    rangeContains(b, a.rangeEnd)
  );
}

/** "10.1.0.2-10.1.0.254", as Go's Range.String. */
export const formatRange = (r: Range): string => `${formatIP(r.rangeStart)}-${formatIP(r.rangeEnd)}`;

/** Fills the defaults and validates, with Go's messages; throws RangeConfigError. */
export function canonicalizeRange(raw: RangeInput): Range {
  if (!given(raw.subnet)) throw new RangeConfigError(`missing "subnet"`);
  let subnet: Cidr;
  try {
    subnet = parseCidr(raw.subnet);
  } catch (e) {
    if (e instanceof IPParseError)
      throw new RangeConfigError(`invalid range ${JSON.stringify(raw.subnet)}: ${e.reason}`);
    throw e;
  }
  // Can't allocate from a network without at least two host bits (/31, /32, /127, /128).
  if (subnet.prefix > bitLen(subnet.ip.family) - 2)
    throw new RangeConfigError(`Network ${formatCidr(subnet)} too small to allocate from`);
  // "::ffff:10.0.0.0/104": an IPv4 address with a 128-bit mask.
  if (isV4Mapped(subnet.ip)) throw new RangeConfigError("IPNet IP and Mask version mismatch");
  if (!isNetworkAddress(subnet)) {
    throw new RangeConfigError(
      `Network has host bits set. For a subnet mask of length ${subnet.prefix} the network address is ${formatIP(subnet.network)}`,
    );
  }
  subnet = cidrOf(subnet.network, subnet.prefix);
  const first = addIP(subnet.network, 1n);
  // The gateway is not checked against the subnet (Go dropped that check).
  const gateway = given(raw.gateway) ? parseField("gateway", raw.gateway) : first;

  const inSubnet = (ip: IP) => ip.family === subnet.network.family && cidrContains(subnet, ip);
  let rangeStart = first;
  if (given(raw.rangeStart)) {
    rangeStart = parseField("rangeStart", raw.rangeStart);
    if (!inSubnet(rangeStart))
      throw new RangeConfigError(`RangeStart ${formatIP(rangeStart)} not in network ${formatCidr(subnet)}`);
  }
  let rangeEnd: IP;
  if (given(raw.rangeEnd)) {
    rangeEnd = parseField("rangeEnd", raw.rangeEnd);
    // Go checks this with Range.Contains once rangeStart is set, so an end before the start
    // gets the same words as an end outside the subnet.
    if (!inSubnet(rangeEnd) || compareIP(rangeEnd, rangeStart) < 0) {
      throw new RangeConfigError(`RangeEnd ${formatIP(rangeEnd)} not in network ${formatCidr(subnet)}`);
    }
  } else {
    rangeEnd = lastIP(subnet);
    if (compareIP(rangeStart, rangeEnd) > 0) {
      throw new RangeConfigError(
        `RangeStart ${formatIP(rangeStart)} is after the default RangeEnd ${formatIP(rangeEnd)} of network ${formatCidr(subnet)}`,
      );
    }
  }
  return { subnet, rangeStart, rangeEnd, gateway };
}
