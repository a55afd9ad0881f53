// kubenet's traffic shaper (pkg/util/bandwidth tcShaper): an HTB tree on cbr0's root, one class
// and one u32 filter per pod address and direction. Rates are floor(bits/1000) kbit.
//   download (ingress to the pod): filter `match ip dst <ip>/32`
//   upload (egress from the pod):  filter `match ip src <ip>/32`
// podnet extension: IPv6 pod addresses get `protocol ipv6 … match ip6 dst/src <ip>/128` filters at
// prio 2 (the kubelet built `protocol ip` filters for them, which never match). tc output is parsed
// with patterns, not positions (kubernetes/kubernetes#76064).
import type { Exec } from "../../../kernel/exec.js";
import { formatIP, parseCidr, prefixMask } from "../../../ip/index.js";

export interface Shaper {
  /** Makes sure the interface's root qdisc is `htb 1:` (replacing another root qdisc). */
  reconcileInterface(): Promise<void>;
  /** Adds limits for `cidr` unless a filter for it exists already (rates are never updated). */
  reconcileCIDR(cidr: string, egress: number | undefined, ingress: number | undefined): Promise<void>;
  /** Removes the filters and classes of `cidr`; rejects when there are none. */
  reset(cidr: string): Promise<void>;
  /** The CIDRs that have filters. */
  getCIDRs(): Promise<string[]>;
  /**
   * Optional: the part of reconcileCIDR that does not need the address (the classes), done now —
   * while the pod's address is still being allocated; commit(cidr) then adds only the filters.
   */
  prepare?(egress: number | undefined, ingress: number | undefined): PreparedLimit;
  /** Optional: what is missing of the limits of `cidr` (a filter and its class per limited direction); [] = all there. */
  verify?(cidr: string, egress: number | undefined, ingress: number | undefined): Promise<string[]>;
  /**
   * Optional: deletes the classes no filter points to (a class is made before its filter, so a
   * crash in between leaves one), except those made ahead by prepare() and not committed yet.
   * Returns them ("1:5").
   */
  removeOrphanClasses?(): Promise<string[]>;
}

/** Classes made ahead of their filters. Exactly one of commit/cancel must be called. */
export interface PreparedLimit {
  /** reconcileCIDR(cidr) with the classes made already (dropped if `cidr` turns out to be limited). */
  commit(cidr: string): Promise<void>;
  cancel(): Promise<void>;
}

/** "10.0.0.2/32" → "0a000002/ffffffff" (network address and mask, 8 hex digits each). */
export function hexCIDR(cidr: string): string {
  const c = parseCidr(cidr);
  if (c.network.family !== 4) throw new RangeError(`hexCIDR: ${cidr} is not an IPv4 CIDR`);
  const mask = prefixMask(4, c.prefix);
  return `${c.network.value.toString(16).padStart(8, "0")}/${mask.toString(16).padStart(8, "0")}`;
}

/** "0a000002/ffffffff" → "10.0.0.2/32" */
export function asciiCIDR(hex: string): string {
  const m = /^([0-9a-f]{8})\/([0-9a-f]{8})$/i.exec(hex);
  if (!m) throw new RangeError(`unexpected CIDR format: ${hex}`);
  const ip = Number.parseInt(m[1]!, 16);
  const mask = Number.parseInt(m[2]!, 16);
  let prefix = 0;
  for (let b = 31; b >= 0 && (mask >>> b) & 1; b--) prefix++;
  return `${[24, 16, 8, 0].map((s) => (ip >>> s) & 0xff).join(".")}/${prefix}`;
}

/** The u32 key words tc prints for an IPv6 prefix: non-zero mask words only, as "hhhhhhhh/mmmmmmmm". */
export function hexCIDR6Words(cidr: string): string[] {
  const c = parseCidr(cidr);
  if (c.network.family !== 6) throw new RangeError(`${cidr} is not an IPv6 CIDR`);
  const mask = prefixMask(6, c.prefix);
  const out: string[] = [];
  for (let w = 3; w >= 0; w--) {
    const sh = BigInt(w * 32);
    const mw = (mask >> sh) & 0xffffffffn;
    if (mw === 0n) continue;
    out.push(`${((c.network.value >> sh) & 0xffffffffn).toString(16).padStart(8, "0")}/${mw.toString(16).padStart(8, "0")}`);
  }
  return out;
}

export interface TcFilter {
  readonly protocol: string;
  readonly prio: number;
  /** u32 handle, e.g. "800::800" */
  readonly handle: string;
  /** class, e.g. "1:1" */
  readonly flowid: string;
  /** "0a000002/ffffffff" per `match … at N` line, with the offset. */
  readonly matches: ReadonlyArray<{ key: string; at: number }>;
}

const FILTER_RE = /^filter parent 1:.*?protocol (\S+) pref (\d+).*?fh ([0-9a-f]+::[0-9a-f]+).*?flowid (\d+:[0-9a-f]+)/;
const MATCH_RE = /^match ([0-9a-f]{8}\/[0-9a-f]{8}) at (\d+)/;

/** Parses `tc filter show dev D` into the u32 filters that have a handle and a flowid. */
export function parseTcFilters(output: string): TcFilter[] {
  const out: Array<{ protocol: string; prio: number; handle: string; flowid: string; matches: Array<{ key: string; at: number }> }> = [];
  let cur: (typeof out)[number] | undefined;
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    if (line.startsWith("filter")) {
      const m = FILTER_RE.exec(line);
      cur = m ? { protocol: m[1]!, prio: Number(m[2]), handle: m[3]!, flowid: m[4]!, matches: [] } : undefined;
      if (cur) out.push(cur);
      continue;
    }
    const mm = MATCH_RE.exec(line);
    if (mm && cur) cur.matches.push({ key: mm[1]!, at: Number(mm[2]) });
  }
  return out;
}

/** Filters that limit `cidr` (either direction). */
export function findCIDRFilters(filters: readonly TcFilter[], cidr: string): TcFilter[] {
  const c = parseCidr(cidr);
  if (c.network.family === 4) {
    const key = hexCIDR(cidr);
    return filters.filter((f) => f.matches.some((m) => m.key === key));
  }
  const words = hexCIDR6Words(cidr).join(" ");
  return filters.filter((f) => f.protocol === "ipv6" && f.matches.map((m) => m.key).join(" ") === words);
}

/** The CIDRs limited by the filters (IPv4 keys, IPv6 word sequences), deduplicated. */
export function cidrsOfFilters(filters: readonly TcFilter[]): string[] {
  const out = new Set<string>();
  for (const f of filters) {
    if (f.protocol === "ipv6") {
      let v = 0n;
      let prefix = 0;
      for (const m of f.matches) {
        const [h, mk] = m.key.split("/");
        v = (v << 32n) | BigInt(`0x${h}`);
        prefix += BigInt(`0x${mk}`).toString(2).replace(/0+$/, "").length;
      }
      v <<= BigInt(32 * (4 - f.matches.length));
      out.add(`${formatIP({ family: 6, value: v })}/${prefix}`);
    } else {
      for (const m of f.matches) out.add(asciiCIDR(m.key));
    }
  }
  return [...out];
}

/** The smallest free class 1:N (N in 1..9999) from `tc class show dev D`. */
export function nextClassID(output: string): string {
  const used = new Set<string>();
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    const m = /^class htb (1:[0-9a-f]+)/.exec(line);
    if (!m) throw new Error(`unexpected output from tc: ${line}`);
    used.add(m[1]!);
  }
  for (let i = 1; i < 10000; i++) if (!used.has(`1:${i}`)) return `1:${i}`;
  throw new Error("exhausted class space, please try again");
}

/** floor(bits/1000) kbit, as makeKBitrate. */
export const kbitRate = (bits: number): string => `${Math.floor(bits / 1000)}kbit`;

export function createTcShaper(exec: Exec, iface: string): Shaper {
  const tc = (...args: string[]) => exec.run(["tc", ...args]);

  async function makeNewClass(rate: string): Promise<string> {
    const cls = nextClassID(await tc("class", "show", "dev", iface));
    await tc("class", "add", "dev", iface, "parent", "1:", "classid", cls, "htb", "rate", rate);
    return cls;
  }

  async function limit(cidr: string, upload: number | undefined, download: number | undefined): Promise<void> {
    const v6 = parseCidr(cidr).network.family === 6;
    const proto = v6 ? ["protocol", "ipv6"] : ["protocol", "ip"];
    const prio = v6 ? "2" : "1";
    const match = v6 ? "ip6" : "ip";
    if (download !== undefined) {
      const cls = await makeNewClass(kbitRate(download));
      await tc("filter", "add", "dev", iface, ...proto, "parent", "1:0", "prio", prio, "u32", "match", match, "dst", cidr, "flowid", cls);
    }
    if (upload !== undefined) {
      const cls = await makeNewClass(kbitRate(upload));
      await tc("filter", "add", "dev", iface, ...proto, "parent", "1:0", "prio", prio, "u32", "match", match, "src", cidr, "flowid", cls);
    }
  }

  const filters = async () => parseTcFilters(await tc("filter", "show", "dev", iface));

  return {
    async reconcileInterface() {
      const out = (await tc("qdisc", "show", "dev", iface)).trim();
      const first = out.split("\n")[0] ?? "";
      const fields = first.split(/\s+/).filter(Boolean);
      if (first === "" || fields[1] === "noqueue") {
        await tc("qdisc", "add", "dev", iface, "root", "handle", "1:", "htb", "default", "30");
        return;
      }
      if (fields.length < 12 || fields[1] !== "htb" || fields[2] !== "1:") {
        await tc("qdisc", "delete", "dev", iface, "root", "handle", fields[2] ?? "");
        await tc("qdisc", "add", "dev", iface, "root", "handle", "1:", "htb", "default", "30");
      }
    },
    async reconcileCIDR(cidr, egress, ingress) {
      if (findCIDRFilters(await filters(), cidr).length > 0) return;
      await limit(cidr, egress, ingress);
    },
    async reset(cidr) {
      const found = findCIDRFilters(await filters(), cidr);
      if (found.length === 0) throw new Error(`Failed to find cidr: ${cidr} on interface: ${iface}`);
      for (const f of found) {
        await tc("filter", "del", "dev", iface, "parent", "1:", "proto", f.protocol, "prio", String(f.prio), "handle", f.handle, "u32");
        await tc("class", "del", "dev", iface, "parent", "1:", "classid", f.flowid);
      }
    },
    async getCIDRs() {
      return cidrsOfFilters(await filters());
    },
  };
}
