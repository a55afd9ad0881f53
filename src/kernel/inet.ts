// Address text <-> bytes for the netlink codec (pure). Formatting matches inet_ntop(3), which is what
// iproute2 prints, so our output can be compared with `ip -json` verbatim.
import type { AddrFamily } from "./types.js";

export interface IpBytes {
  readonly family: AddrFamily;
  readonly bytes: Uint8Array;
}

export interface IpPrefix extends IpBytes {
  readonly prefixLen: number;
}

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Uint8Array | undefined {
  if (s.includes("%")) return undefined;
  let head = s;
  let tail4: Uint8Array | undefined;
  const lastColon = s.lastIndexOf(":");
  if (lastColon >= 0 && s.indexOf(".", lastColon) > 0) {
    tail4 = parseV4(s.slice(lastColon + 1));
    if (!tail4) return undefined;
    head = s.slice(0, lastColon + 1) + "0:0"; // placeholder groups, overwritten below
  }
  const dbl = head.indexOf("::");
  if (dbl !== head.lastIndexOf("::")) return undefined;
  const splitGroups = (t: string) => (t === "" ? [] : t.split(":"));
  let groups: string[];
  if (dbl >= 0) {
    const left = splitGroups(head.slice(0, dbl));
    const right = splitGroups(head.slice(dbl + 2));
    const fill = 8 - left.length - right.length;
    if (fill < 1) return undefined;
    groups = [...left, ...Array<string>(fill).fill("0"), ...right];
  } else {
    groups = head.split(":");
  }
  if (groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = groups[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  }
  if (tail4) out.set(tail4, 12);
  return out;
}

/** Parses "10.0.0.1" or "fd00::1"; undefined when it is neither. */
export function parseIp(s: string): IpBytes | undefined {
  const v4 = parseV4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = s.includes(":") ? parseV6(s) : undefined;
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

/** Parses "10.0.0.1/24" (a bare address is a host prefix). undefined when malformed. */
export function parseCidr(s: string): IpPrefix | undefined {
  const slash = s.indexOf("/");
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (!ip) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  if (slash < 0) return { ...ip, prefixLen: max };
  const p = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) return undefined;
  return { ...ip, prefixLen: Number(p) };
}

/** inet_ntop(3) formatting: IPv4 dotted quad; IPv6 lower-case, longest zero run (≥2 groups) as "::". */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw new RangeError(`invalid IP address length ${b.length}`);
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (bestLen < 2) best = -1;
  // ::a.b.c.d (compat) and ::ffff:a.b.c.d (mapped), as glibc prints them
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
    return (bestLen === 6 ? "::" : "::ffff:") + `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === best) { out += "::"; i += bestLen - 1; continue; }
    if (out !== "" && !out.endsWith(":")) out += ":";
    out += w[i]!.toString(16);
  }
  return out;
}

/** The address with host bits cleared. */
export function maskBytes(b: Uint8Array, prefixLen: number): Uint8Array {
  const out = new Uint8Array(b);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    out[i] = out[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** IPv4 subnet broadcast address (host bits set). */
export function broadcastV4(b: Uint8Array, prefixLen: number): Uint8Array {
  const out = new Uint8Array(b);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    out[i] = out[i]! | (0xff >> bits);
  }
  return out;
}

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
