// Fast paths for the IPv4 text podnet itself writes (canonical dotted quads), on plain numbers:
// node records and routes are decoded and planned once per node per peer, so on a 1,000-node
// cluster these run a million times across the cluster. Anything else (IPv6, or text that is not
// canonical) takes src/ip's general parsers; results are identical.
const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const V4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const V4_CIDR = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}/(3[0-2]|[12]?[0-9])$`);

/** The 32-bit value of a canonical dotted quad, else undefined. */
export function v4Value(s: string): number | undefined {
  const m = V4.exec(s);
  if (!m) return undefined;
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

/** A canonical IPv4 network "a.b.c.d/len" (no host bits) as [value, prefix], else undefined. */
export function v4Network(s: string): [number, number] | undefined {
  const m = V4_CIDR.exec(s);
  if (!m) return undefined;
  const v = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  const len = Number(m[5]);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return (v & mask) >>> 0 === v ? [v, len] : undefined;
}

/** true when the IPv4 value lies in value/prefix. */
export function v4Contains(net: [number, number], ip: number): boolean {
  const mask = net[1] === 0 ? 0 : (0xffffffff << (32 - net[1])) >>> 0;
  return ((ip & mask) >>> 0) === net[0];
}
