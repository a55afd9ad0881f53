// kubenet's traffic shaper (the kubelet's pkg/util/bandwidth tcShaper): an HTB tree on cbr0's root,
// one class and one u32 filter per pod address and direction — root qdisc `htb 1: default 30`,
// classes `1:N htb rate R` with R = floor(bits/1000) kbit (makeKBitrate).
//   download (ingress to the pod): filter `match ip dst <ip>/32`
//   upload (egress from the pod):  filter `match ip src <ip>/32`
// podnet extension: IPv6 pod addresses get `protocol ipv6 … match ip6 dst/src <ip>/128` filters at
// prio 2 (the kubelet built `protocol ip` filters for them, which never match).
//
// Built over netlink (kernel/tc-netlink.ts), without a `tc` process: a pod with both limits took
// the kubelet 7 spawns, ~35 ms; here it is a handful of netlink round trips, ~1-2 ms. The kubelet
// listed every class and filter of cbr0 for each pod (O(pods) per pod). Here the filters (by
// address) and the class ids are read from the kernel once — at first use, after the root qdisc or
// cbr0 itself changed, and on every getCIDRs() (gc) — and then kept up to date with our own
// changes: the kernel echoes each new filter with its handle, so reset() deletes exactly those.
// Only kubenet writes cbr0's tc state; should anything else change it, the kernel's refusal
// (EEXIST for a class id, ENOENT for a filter) makes the shaper read it again.
import { isExist, isKernelError, isNotFound } from "../../../kernel/errors.js";
import {
  ETH_P,
  formatTcHandle,
  formatU32Handle,
  TC_H_ROOT,
  type TcNetlink,
  type U32Filter,
  type U32Key,
} from "../../../kernel/tc-netlink.js";
import { formatIP, parseCidr, prefixMask } from "../../../ip/index.js";

/** The pod limits on one interface. */
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
   * The part of reconcileCIDR that does not need the address (the classes), done now — while the
   * pod's address is still being allocated; commit(cidr) then adds only the filters.
   */
  prepare(egress: number | undefined, ingress: number | undefined): PreparedLimit;
  /** What is missing of the limits of `cidr` (a filter and its class per limited direction); [] = all there. */
  verify(cidr: string, egress: number | undefined, ingress: number | undefined): Promise<string[]>;
  /**
   * Deletes the classes no filter points to (a class is made before its filter, so a crash in
   * between leaves one), except those made ahead by prepare() and not committed yet. Returns them ("1:5").
   */
  removeOrphanClasses(): Promise<string[]>;
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
    out.push(
      `${((c.network.value >> sh) & 0xffffffffn).toString(16).padStart(8, "0")}/${mw.toString(16).padStart(8, "0")}`,
    );
  }
  return out;
}

/** A u32 filter as `tc filter show` prints it (the form the kubelet matched on). */
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

/** The class rate for `bits` bit/s: floor(bits/1000) kbit (makeKBitrate), in bytes/s. */
export const htbRate = (bits: number): number => Math.floor(bits / 1000) * 125;

const ROOT = 0x10000; // "1:"
const DEFAULT_CLASS = 0x30; // `default 30` (tc reads it as hex)

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, "0");

/** A netlink u32 filter as `tc filter show` prints it. */
export function asTcFilter(f: U32Filter): TcFilter {
  return {
    protocol: f.protocol === ETH_P.IPV6 ? "ipv6" : f.protocol === ETH_P.IP ? "ip" : `0x${f.protocol.toString(16)}`,
    prio: f.prio,
    handle: formatU32Handle(f.handle),
    flowid: formatTcHandle(f.classid ?? 0),
    matches: f.keys.map((k) => ({ key: `${hex8(k.val)}/${hex8(k.mask)}`, at: k.off })),
  };
}

/** The u32 keys of `match ip|ip6 src|dst CIDR`, as tc builds them. */
export function cidrKeys(cidr: string, dir: "src" | "dst"): U32Key[] {
  const v6 = parseCidr(cidr).network.family === 6;
  const words = v6 ? hexCIDR6Words(cidr) : [hexCIDR(cidr)];
  const base = v6 ? (dir === "src" ? 8 : 24) : dir === "src" ? 12 : 16;
  return words.map((w, i) => {
    const [val, mask] = w.split("/") as [string, string];
    return { val: parseInt(val, 16), mask: parseInt(mask, 16), off: base + 4 * i };
  });
}

/** What a filter of `cidr` is found by: the IPv4 key, or the IPv6 key words (either direction). */
export function cidrIndexKey(cidr: string): string {
  return parseCidr(cidr).network.family === 6 ? `6 ${hexCIDR6Words(cidr).join(" ")}` : `4 ${hexCIDR(cidr)}`;
}

/** The index keys a filter is found under (see cidrIndexKey). */
function filterIndexKeys(f: TcFilter): string[] {
  if (f.protocol === "ipv6") return [`6 ${f.matches.map((m) => m.key).join(" ")}`];
  return f.matches.map((m) => `4 ${m.key}`);
}

/** The smallest free class "1:N" (N = 1..9999 written in decimal and read as hex, as the kubelet's tc calls did). */
export function firstFreeClass(used: ReadonlySet<number>): number {
  for (let i = 1; i < 10000; i++) {
    const h = (ROOT | parseInt(String(i), 16)) >>> 0;
    if (!used.has(h)) return h;
  }
  throw new Error("exhausted class space, please try again");
}

interface Installed {
  readonly prio: number;
  readonly protocol: number;
  readonly handle: number;
  readonly classid: number;
}

interface State {
  readonly ifindex: number;
  readonly byKey: Map<string, Installed[]>;
  readonly classes: Set<number>;
}

export interface CountedShaper extends Shaper {
  /** Times the kernel's filters and classes were read in full (tests: O(1) per pod). */
  readonly reads: number;
}

const sameKeys = (a: readonly U32Key[], b: readonly U32Key[]) =>
  a.length === b.length &&
  a.every(
    (k, i) =>
      k.off === b[i]!.off &&
      k.mask >>> 0 === b[i]!.mask >>> 0 &&
      (k.val & k.mask) >>> 0 === (b[i]!.val & b[i]!.mask) >>> 0,
  );

/** The shaper of `iface` (cbr0) over netlink. */
export function createShaper(tc: TcNetlink, iface: string): CountedShaper {
  let state: State | undefined;
  let reads = 0;
  /** Classes made (by prepare or reconcileCIDR) whose filters are not added yet: not orphans. */
  const pending = new Set<number>();

  function read(ifindex: number): { state: State; filters: TcFilter[] } {
    reads++;
    const byKey = new Map<string, Installed[]>();
    const filters: TcFilter[] = [];
    for (const f of tc.u32Filters(ifindex, ROOT)) {
      if (f.classid === undefined) continue;
      const t = asTcFilter(f);
      filters.push(t);
      for (const k of new Set(filterIndexKeys(t))) {
        const list = byKey.get(k) ?? [];
        list.push({ prio: f.prio, protocol: f.protocol, handle: f.handle, classid: f.classid });
        byKey.set(k, list);
      }
    }
    const classes = new Set(tc.classes(ifindex).map((c) => c.handle));
    state = { ifindex, byKey, classes };
    return { state, filters };
  }

  /** The index for cbr0 as it is now (read again when cbr0 was re-created). */
  function current(): State {
    const ifindex = tc.ifindex(iface);
    return state && state.ifindex === ifindex ? state : read(ifindex).state;
  }

  function addClass(st: State, rate: number): { st: State; cls: number } {
    for (let attempt = 0; ; attempt++) {
      const cls = firstFreeClass(st.classes);
      try {
        tc.addHtbClass(st.ifindex, ROOT, cls, rate);
        st.classes.add(cls);
        pending.add(cls);
        return { st, cls };
      } catch (e) {
        if (!isExist(e) || attempt > 0) throw e;
        st = read(st.ifindex).state; // someone else's class: learn them all, then pick again
      }
    }
  }

  /** A class per limited direction, before the address is known: "dst" carries the download (ingress) limit. */
  function makeClasses(
    upload: number | undefined,
    download: number | undefined,
  ): Array<{ dir: "src" | "dst"; cls: number }> {
    let st = current();
    const made: Array<{ dir: "src" | "dst"; cls: number }> = [];
    try {
      for (const [dir, bits] of [
        ["dst", download],
        ["src", upload],
      ] as const) {
        if (bits === undefined) continue;
        const r = addClass(st, htbRate(bits));
        st = r.st;
        made.push({ dir, cls: r.cls });
      }
    } catch (e) {
      dropClasses(made);
      throw e;
    }
    return made;
  }

  function dropClasses(made: ReadonlyArray<{ cls: number }>): void {
    for (const m of made) pending.delete(m.cls);
    const st = current();
    for (const m of made) {
      try {
        tc.deleteClass(st.ifindex, ROOT, m.cls);
        st.classes.delete(m.cls);
      } catch {
        state = undefined; // read the kernel again next time
      }
    }
  }

  /** The filters of `cidr`, pointing at classes made by makeClasses (which go too on failure). */
  function addFilters(cidr: string, made: ReadonlyArray<{ dir: "src" | "dst"; cls: number }>): void {
    const v6 = parseCidr(cidr).network.family === 6;
    const key = cidrIndexKey(cidr);
    const st = current();
    const added: Installed[] = [];
    try {
      for (const { dir, cls } of made) {
        const spec = {
          parent: ROOT,
          prio: v6 ? 2 : 1,
          protocol: v6 ? ETH_P.IPV6 : ETH_P.IP,
          keys: cidrKeys(cidr, dir),
          classid: cls,
        };
        const handle = tc.addU32Filter(st.ifindex, spec);
        if (handle === 0) state = undefined; // no echo (never seen): read the kernel next time
        added.push({ prio: spec.prio, protocol: spec.protocol, handle, classid: cls });
      }
    } catch (e) {
      // a class no filter points to would never be found by reset() or gc
      for (const f of added) {
        try {
          tc.deleteU32Filter(st.ifindex, { parent: ROOT, ...f });
        } catch {
          state = undefined;
        }
      }
      dropClasses(made);
      throw e;
    }
    for (const m of made) pending.delete(m.cls);
    if (state === st) st.byKey.set(key, [...(st.byKey.get(key) ?? []), ...added]);
  }

  const limited = (cidr: string) => (current().byKey.get(cidrIndexKey(cidr)) ?? []).length > 0;

  return {
    get reads() {
      return reads;
    },
    async reconcileInterface() {
      const ifindex = tc.ifindex(iface);
      const root = tc.qdiscs(ifindex).find((q) => q.parent === TC_H_ROOT);
      if (root && root.kind === "htb" && root.handle === ROOT) return;
      if (root && root.kind !== "noqueue") tc.deleteRootQdisc(ifindex, root.handle);
      tc.addHtbRootQdisc(ifindex, ROOT, DEFAULT_CLASS);
      state = { ifindex, byKey: new Map(), classes: new Set() }; // a new root qdisc has no classes or filters
    },
    async reconcileCIDR(cidr, egress, ingress) {
      if (limited(cidr)) return;
      addFilters(cidr, makeClasses(egress, ingress));
    },
    prepare(egress, ingress): PreparedLimit {
      let made: Array<{ dir: "src" | "dst"; cls: number }> | undefined = makeClasses(egress, ingress);
      const take = () => {
        const m = made;
        made = undefined;
        if (!m) throw new Error("this prepared limit was used already");
        return m;
      };
      return {
        async commit(cidr) {
          const m = take();
          if (limited(cidr))
            dropClasses(m); // as reconcileCIDR: an existing limit is never updated
          else addFilters(cidr, m);
        },
        async cancel() {
          if (made) dropClasses(take());
        },
      };
    },
    async reset(cidr) {
      const st = current();
      const key = cidrIndexKey(cidr);
      const found = st.byKey.get(key) ?? [];
      if (found.length === 0) throw new Error(`Failed to find cidr: ${cidr} on interface: ${iface}`);
      st.byKey.delete(key);
      for (const f of found) {
        try {
          tc.deleteU32Filter(st.ifindex, { parent: ROOT, prio: f.prio, protocol: f.protocol, handle: f.handle });
        } catch (e) {
          if (!isKernelError(e, "ENOENT")) throw e;
          state = undefined; // it was not there: something else changed cbr0, read it again next time
        }
        try {
          tc.deleteClass(st.ifindex, ROOT, f.classid);
          st.classes.delete(f.classid);
        } catch (e) {
          if (!isKernelError(e, "ENOENT")) throw e;
          state = undefined;
        }
      }
    },
    async getCIDRs() {
      return cidrsOfFilters(read(tc.ifindex(iface)).filters);
    },
    async verify(cidr, egress, ingress) {
      let ifindex: number;
      try {
        ifindex = tc.ifindex(iface);
      } catch (e) {
        if (isNotFound(e) || isKernelError(e, "ENODEV"))
          return [`${iface} is missing, and with it the limits of ${cidr}`];
        throw e;
      }
      const filters = tc.u32Filters(ifindex, ROOT);
      const classes = new Set(tc.classes(ifindex).map((c) => c.handle));
      const problems: string[] = [];
      for (const [dir, bits, what] of [
        ["dst", ingress, "ingress"],
        ["src", egress, "egress"],
      ] as const) {
        if (bits === undefined) continue;
        const want = cidrKeys(cidr, dir);
        const f = filters.find((x) => x.classid !== undefined && sameKeys(x.keys, want));
        if (!f) problems.push(`the ${what} limit of ${cidr} has no tc filter on ${iface}`);
        else if (!classes.has(f.classid!))
          problems.push(`the ${what} limit of ${cidr} has no tc class ${formatTcHandle(f.classid!)} on ${iface}`);
      }
      return problems;
    },
    async removeOrphanClasses() {
      const ifindex = tc.ifindex(iface);
      const used = new Set<number>();
      for (const f of tc.u32Filters(ifindex, ROOT)) if (f.classid !== undefined) used.add(f.classid);
      const orphans = tc
        .classes(ifindex)
        .map((c) => c.handle)
        .filter((h) => h >>> 16 === ROOT >>> 16 && (h & 0xffff) !== 0 && !used.has(h) && !pending.has(h));
      const removed: string[] = [];
      for (const h of orphans) {
        try {
          tc.deleteClass(ifindex, ROOT, h);
          removed.push(formatTcHandle(h));
        } catch (e) {
          if (!isKernelError(e, "ENOENT")) throw e;
        }
      }
      if (orphans.length) state = undefined; // read the kernel again next time
      return removed;
    },
  };
}
