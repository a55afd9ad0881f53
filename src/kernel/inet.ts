// Addresses between netlink and the kernel layer's strings. The address model — parsing, printing,
// prefix math — is src/ip's; this file only adds what netlink needs on top of it:
// - bytes → text keeps the kernel's family: netlink returns an AF_INET6 `::ffff:10.0.0.1` as 16
//   bytes, and it is printed as inet_ntop(3) and iproute2 print it (src/ip formatIPExact), never
//   as Go's net.IP.String() would (`10.0.0.1`), which would lose the family on the way back;
// - text → prefix as iproute2 reads its arguments: the text's own family (parseIPExact), and a
//   bare address is a host prefix ("10.0.0.1" = "10.0.0.1/32");
// - MAC addresses, which src/ip does not model.
import { type Cidr, bitLen, cidrOf, formatIPExact, ipFromBytes, tryParseCidr, tryParseIPExact } from "../ip/index.js";

/** A prefix argument as iproute2 reads one: "10.0.0.0/8", or a bare address for its host prefix; undefined when malformed. */
export function inetPrefix(s: string): Cidr | undefined {
  if (s.includes("/")) return tryParseCidr(s);
  const ip = tryParseIPExact(s);
  return ip ? cidrOf(ip, bitLen(ip.family)) : undefined;
}

/** The text of address bytes from netlink (4 or 16 bytes; RangeError otherwise), keeping the family. */
export const inetText = (b: Uint8Array): string => formatIPExact(ipFromBytes(b));

/** A prefix argument in the kernel's text ("fd00:200:0::1/64" → "fd00:200::1/64"), as addrList and routeList report prefixes; undefined when malformed. */
export function inetCidrText(s: string): string | undefined {
  const c = inetPrefix(s);
  return c ? `${formatIPExact(c.ip)}/${c.prefix}` : undefined;
}

/** An address argument in the kernel's text ("fd00:0::1" → "fd00::1"); undefined when malformed. */
export function inetAddrText(s: string): string | undefined {
  const ip = tryParseIPExact(s);
  return ip ? formatIPExact(ip) : undefined;
}

/** "10.200.0.0/24": a prefix's network in the kernel's text. */
export const inetNetwork = (c: Cidr): string => `${formatIPExact(c.network)}/${c.prefix}`;

/** "0A:58:…" / "0a-58-…" → 6 (or more) bytes; undefined when malformed. */
export function parseMac(s: string): Uint8Array | undefined {
  const parts = s.split(/[:-]/);
  if (parts.length < 6 || parts.length > 20) return undefined;
  const out = new Uint8Array(parts.length);
  for (let i = 0; i < parts.length; i++) {
    if (!/^[0-9a-fA-F]{2}$/.test(parts[i]!)) return undefined;
    out[i] = parseInt(parts[i]!, 16);
  }
  return out;
}

export function formatMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}
