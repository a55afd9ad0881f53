// kubenet's traffic shaper over netlink: the same HTB tree as the `tc` shaper (shaper.ts) — root
// qdisc `htb 1: default 30`, one class `1:N htb rate R` and one u32 filter per pod address and
// direction, IPv6 at prio 2 — built without a `tc` process (a pod with both limits took 7 spawns,
// ~35 ms; here it is a handful of netlink round trips, ~1-2 ms).
//
// The kubelet listed every class and filter of cbr0 for each pod (O(pods) per pod). Here the
// filters (by address) and the class ids are read from the kernel once — at first use, after the
// root qdisc or cbr0 itself changed, and on every getCIDRs() (gc) — and then kept up to date with
// our own changes: the kernel echoes each new filter with its handle, so reset() deletes exactly
// those. Only kubenet writes cbr0's tc state; should anything else change it, the kernel's refusal
// (EEXIST for a class id, ENOENT for a filter) makes the shaper read it again.
import { isExist, isKernelError, isNotFound } from "../../../kernel/errors.js";
import { ETH_P, formatTcHandle, formatU32Handle, TC_H_ROOT, type TcNetlink, type U32Filter, type U32Key } from "../../../kernel/tc-netlink.js";
import { parseCidr } from "../../../ip/index.js";
import { cidrsOfFilters, hexCIDR, hexCIDR6Words, type PreparedLimit, type Shaper, type TcFilter } from "./shaper.js";

const ROOT = 0x10000; // "1:"
const DEFAULT_CLASS = 0x30; // `default 30` (tc reads it as hex)

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, "0");

/** A netlink u32 filter in the shape the tc-output parser gives (so shaper.ts's helpers apply). */
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

/** What findCIDRFilters matches on: the IPv4 key, or the IPv6 key words (either direction). */
export function cidrIndexKey(cidr: string): string {
  return parseCidr(cidr).network.family === 6 ? `6 ${hexCIDR6Words(cidr).join(" ")}` : `4 ${hexCIDR(cidr)}`;
}

/** The index keys a filter is found under (as findCIDRFilters would find it). */
function filterIndexKeys(f: TcFilter): string[] {
  if (f.protocol === "ipv6") return [`6 ${f.matches.map((m) => m.key).join(" ")}`];
  return f.matches.map((m) => `4 ${m.key}`);
}

/** nextClassID over class handles: the smallest "1:N" (N = 1..9999 written in decimal, read as hex by tc) not in use. */
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

export interface NetlinkShaper extends Shaper {
  /** Times the kernel's filters and classes were read in full (tests: O(1) per pod). */
  readonly reads: number;
}

const sameKeys = (a: readonly U32Key[], b: readonly U32Key[]) =>
  a.length === b.length && a.every((k, i) => k.off === b[i]!.off && k.mask >>> 0 === b[i]!.mask >>> 0 && (k.val & k.mask) >>> 0 === (b[i]!.val & b[i]!.mask) >>> 0);

export function createNetlinkShaper(tc: TcNetlink, iface: string): NetlinkShaper {
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
  function makeClasses(upload: number | undefined, download: number | undefined): Array<{ dir: "src" | "dst"; cls: number }> {
    let st = current();
    const made: Array<{ dir: "src" | "dst"; cls: number }> = [];
    try {
      for (const [dir, bits] of [["dst", download], ["src", upload]] as const) {
        if (bits === undefined) continue;
        const r = addClass(st, Math.floor(bits / 1000) * 125); // `rate floor(bits/1000)kbit`
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
        const spec = { parent: ROOT, prio: v6 ? 2 : 1, protocol: v6 ? ETH_P.IPV6 : ETH_P.IP, keys: cidrKeys(cidr, dir), classid: cls };
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
          if (limited(cidr)) dropClasses(m); // as reconcileCIDR: an existing limit is never updated
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
        if (isNotFound(e) || isKernelError(e, "ENODEV")) return [`${iface} is missing, and with it the limits of ${cidr}`];
        throw e;
      }
      const filters = tc.u32Filters(ifindex, ROOT);
      const classes = new Set(tc.classes(ifindex).map((c) => c.handle));
      const problems: string[] = [];
      for (const [dir, bits, what] of [["dst", ingress, "ingress"], ["src", egress, "egress"]] as const) {
        if (bits === undefined) continue;
        const want = cidrKeys(cidr, dir);
        const f = filters.find((x) => x.classid !== undefined && sameKeys(x.keys, want));
        if (!f) problems.push(`the ${what} limit of ${cidr} has no tc filter on ${iface}`);
        else if (!classes.has(f.classid!)) problems.push(`the ${what} limit of ${cidr} has no tc class ${formatTcHandle(f.classid!)} on ${iface}`);
      }
      return problems;
    },
    async removeOrphanClasses() {
      const ifindex = tc.ifindex(iface);
      const used = new Set<number>();
      for (const f of tc.u32Filters(ifindex, ROOT)) if (f.classid !== undefined) used.add(f.classid);
      const orphans = tc.classes(ifindex).map((c) => c.handle)
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
