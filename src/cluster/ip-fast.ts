// Fast paths for the IPv4 text podnet itself writes (canonical dotted quads), on plain numbers:
// node records and routes are decoded and planned once per node per peer, so on a 1,000-node
// cluster these run a million times across the cluster. They read the characters directly (a
// regular expression's match array and captured strings were an eighth of everything the agents
// allocated). Anything else (IPv6, or text that is not canonical) takes src/ip's general parsers;
// results are identical.

/**
 * Reads a canonical dotted quad from `s` at [0, end): its 32-bit value, or -1 (a leading zero, an
 * octet over 255, anything but four decimal octets).
 */
function quad(s: string, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return -1; // a leading zero
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else return -1;
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

/** The 32-bit value of a canonical dotted quad, else undefined. */
export function v4Value(s: string): number | undefined {
  if (s.length > 15) return undefined;
  const v = quad(s, s.length);
  return v < 0 ? undefined : v;
}

/** A canonical IPv4 network "a.b.c.d/len" (no host bits) as [value, prefix], else undefined. */
export function v4Network(s: string): [number, number] | undefined {
  const slash = s.indexOf("/");
  if (slash < 7 || slash > 15 || s.length - slash < 2 || s.length - slash > 3) return undefined;
  const v = quad(s, slash);
  if (v < 0) return undefined;
  let len = 0;
  for (let i = slash + 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57 || (i === slash + 1 && c === 48 && s.length - slash > 2)) return undefined;
    len = len * 10 + (c - 48);
  }
  if (len > 32) return undefined;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return (v & mask) >>> 0 === v ? [v, len] : undefined;
}

/** true when the IPv4 value lies in value/prefix. */
export function v4Contains(net: [number, number], ip: number): boolean {
  const mask = net[1] === 0 ? 0 : (0xffffffff << (32 - net[1])) >>> 0;
  return (ip & mask) >>> 0 === net[0];
}
