// Traffic control over rtnetlink — the subset kubenet's shaper needs, without a `tc` process:
// qdiscs (list, `htb` root add, delete), HTB classes (list, add, delete) and u32 filters (list,
// add, delete). Each operation is one netlink round trip (µs) where `tc` costs a ~5 ms spawn.
// HTB classes are sent exactly as iproute2's `tc class add … htb rate R` builds them (the same
// rate/ceil specs, buffer ticks and rate tables), so `tc class show` prints the same thing.
// Layouts: <linux/rtnetlink.h> (tcmsg), <linux/pkt_sched.h> (tc_ratespec, tc_htb_opt,
// tc_htb_glob), <linux/pkt_cls.h> (tc_u32_sel, tc_u32_key).
import { readFileSync } from "node:fs";
import { loadAddon, type Addon } from "./addon.js";
import { KernelError } from "./errors.js";
import { linkGet } from "./links.js";
import { NetlinkSocket } from "./netlink-socket.js";
import { NLM_F, attr, concat, cstr, i32, nested, parseAttrs, readStr, readU32, u32, type NlMsg } from "./rtnl-codec.js";

export const RTM_TC = {
  NEWQDISC: 36, DELQDISC: 37, GETQDISC: 38,
  NEWTCLASS: 40, DELTCLASS: 41, GETTCLASS: 42,
  NEWTFILTER: 44, DELTFILTER: 45, GETTFILTER: 46,
} as const;
export const TCA = { KIND: 1, OPTIONS: 2 } as const;
export const TCA_HTB = { PARMS: 1, INIT: 2, CTAB: 3, RTAB: 4, DIRECT_QLEN: 5, RATE64: 6, CEIL64: 7 } as const;
export const TCA_U32 = { CLASSID: 1, HASH: 2, LINK: 3, DIVISOR: 4, SEL: 5 } as const;
export const TC_H_ROOT = 0xffffffff;
export const ETH_P = { IP: 0x0800, IPV6: 0x86dd } as const;
const TC_U32_TERMINAL = 1;
const TC_LINKLAYER_ETHERNET = 1;
/** iproute2's default MTU for rate tables and buffers. */
const TC_MTU = 1600;

/** "1:" → 0x10000, "1:5" → 0x10005 (hex, as tc reads them). */
export function parseTcHandle(s: string): number {
  const m = /^([0-9a-f]{0,4}):([0-9a-f]{0,4})$/i.exec(s);
  if (!m) throw new RangeError(`invalid tc handle ${JSON.stringify(s)}`);
  return ((parseInt(m[1] || "0", 16) << 16) | parseInt(m[2] || "0", 16)) >>> 0;
}
/** 0x10005 → "1:5"; 0x10000 → "1:". */
export function formatTcHandle(h: number): string {
  const minor = h & 0xffff;
  return `${(h >>> 16).toString(16)}:${minor ? minor.toString(16) : ""}`;
}
/** A u32 filter handle as tc prints it: 0x80000800 → "800::800". */
export function formatU32Handle(h: number): string {
  const htid = h >>> 20;
  const hash = (h >>> 12) & 0xff;
  const node = h & 0xfff;
  return `${htid.toString(16)}:${hash ? hash.toString(16) : ""}:${node ? node.toString(16) : ""}`;
}

// ---- tcmsg ------------------------------------------------------------------------------------

export interface TcMsg {
  readonly ifindex: number;
  readonly handle?: number;
  readonly parent?: number;
  /** filters: prio << 16 | htons(protocol) */
  readonly info?: number;
}

export function tcmsg(h: TcMsg): Uint8Array {
  // family u8, pad u8, pad u16, ifindex i32, handle u32, parent u32, info u32
  return concat([new Uint8Array(4), i32(h.ifindex), u32(h.handle ?? 0), u32(h.parent ?? 0), u32(h.info ?? 0)]);
}

export function decodeTcMsg(p: Uint8Array): Required<TcMsg> {
  return { ifindex: readU32(p, 4) | 0, handle: readU32(p, 8), parent: readU32(p, 12), info: readU32(p, 16) };
}

const htons = (n: number) => ((n & 0xff) << 8) | ((n >>> 8) & 0xff);
/** tcm_info of a filter: TC_H_MAKE(prio << 16, htons(protocol)). */
export const filterInfo = (prio: number, protocol: number): number => ((prio << 16) | htons(protocol)) >>> 0;

// ---- HTB --------------------------------------------------------------------------------------

/** What iproute2 reads from /proc/net/psched: ticks per µs, and the clock's HZ for buffers. */
export interface Psched {
  readonly tickInUsec: number;
  readonly hz: number;
}

/** tc_core_init() and get_hz() over the text of /proc/net/psched. */
export function parsePschedFile(text: string): Psched {
  const w = text.trim().split(/\s+/).map((x) => parseInt(x, 16));
  let [t2us, us2t, clockRes, hzField] = w as [number, number, number, number | undefined];
  if (w.length < 3 || w.slice(0, 3).some((x) => !Number.isFinite(x)) || us2t === 0) return { tickInUsec: 1, hz: 100 };
  if (clockRes === 1_000_000_000) t2us = us2t;
  const tickInUsec = (t2us / us2t) * (clockRes / 1e6);
  const hz = clockRes === 1_000_000 && hzField ? hzField : 100;
  return { tickInUsec, hz };
}

let pschedCache: Psched | undefined;
export function readPsched(): Psched {
  if (!pschedCache) {
    let text = "";
    try {
      text = readFileSync("/proc/net/psched", "utf8");
    } catch {
      // no procfs: tc's own fallbacks
    }
    pschedCache = parsePschedFile(text);
  }
  return pschedCache;
}

/** tc_calc_xmittime(): ticks to send `size` bytes at `rate` bytes/s (C's unsigned truncations kept). */
export function xmitTime(rate: number, size: number, ps: Psched): number {
  const us = Math.trunc((1e6 * size) / rate) >>> 0;
  return Math.trunc(us * ps.tickInUsec) >>> 0;
}

export interface HtbClassParams {
  /** bytes/s (64-bit in the kernel; Number is exact far beyond 1 Pbit/s) */
  readonly rate: number;
  readonly ceil: number;
  /** ticks */
  readonly buffer: number;
  readonly cbuffer: number;
  readonly cellLog: number;
}

/** What `tc class add … htb rate R` sends for a rate of R bytes/s (ceil = rate, mtu 1600, ethernet). */
export function htbClassParams(rate: number, ps: Psched = readPsched()): HtbClassParams {
  if (!(rate >= 1)) throw new RangeError(`htb rate must be at least 1 byte/s, got ${rate}`);
  let cellLog = 0;
  while (TC_MTU >> cellLog > 255) cellLog++;
  const buffer = Math.floor(rate / ps.hz) + TC_MTU;
  const t = xmitTime(rate, buffer, ps);
  return { rate, ceil: rate, buffer: t, cbuffer: t, cellLog };
}

function ratespec(rate: number, cellLog: number): Uint8Array {
  // cell_log u8, linklayer u8, overhead u16, cell_align i16, mpu u16, rate u32
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint8(0, cellLog);
  v.setUint8(1, TC_LINKLAYER_ETHERNET);
  v.setInt16(4, -1, true);
  v.setUint32(8, rate >= 2 ** 32 ? 0xffffffff : rate, true);
  return b;
}

function rateTable(rate: number, cellLog: number, ps: Psched): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 256; i++) parts.push(u32(xmitTime(rate, (i + 1) << cellLog, ps)));
  return concat(parts);
}

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

/** TCA_OPTIONS of an HTB class, as iproute2 builds it. */
export function htbClassOptions(p: HtbClassParams, ps: Psched = readPsched()): Uint8Array {
  const opt = concat([ratespec(p.rate, p.cellLog), ratespec(p.ceil, p.cellLog), u32(p.buffer), u32(p.cbuffer), u32(0), u32(0), u32(0)]);
  return nested(TCA.OPTIONS, [
    ...(p.rate >= 2 ** 32 ? [attr(TCA_HTB.RATE64, u64(p.rate))] : []),
    ...(p.ceil >= 2 ** 32 ? [attr(TCA_HTB.CEIL64, u64(p.ceil))] : []),
    attr(TCA_HTB.PARMS, opt),
    attr(TCA_HTB.RTAB, rateTable(p.rate, p.cellLog, ps)),
    attr(TCA_HTB.CTAB, rateTable(p.ceil, p.cellLog, ps)),
  ]);
}

/** TCA_OPTIONS of `qdisc add … htb default D` (r2q 10, version 3). */
export function htbQdiscOptions(defcls: number): Uint8Array {
  return nested(TCA.OPTIONS, [attr(TCA_HTB.INIT, concat([u32(3), u32(10), u32(defcls), u32(0), u32(0)]))]);
}

// ---- u32 --------------------------------------------------------------------------------------

/** One 32-bit match: `(word at off) & mask == val` (val and mask as unsigned numbers). */
export interface U32Key {
  readonly val: number;
  readonly mask: number;
  readonly off: number;
}

export function u32Sel(keys: readonly U32Key[], terminal: boolean): Uint8Array {
  // flags u8, offshift u8, nkeys u8, pad u8, offmask be16, off u16, offoff i16, hoff i16, hmask be32
  const head = new Uint8Array(16);
  head[0] = terminal ? TC_U32_TERMINAL : 0;
  head[2] = keys.length;
  const ks = keys.map((k) => {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    v.setUint32(0, k.mask >>> 0, false);
    v.setUint32(4, (k.val & k.mask) >>> 0, false);
    v.setInt32(8, k.off, true);
    return b;
  });
  return concat([head, ...ks]);
}

export function decodeU32Sel(b: Uint8Array): { keys: U32Key[]; terminal: boolean } {
  const n = b[2] ?? 0;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const keys: U32Key[] = [];
  for (let i = 0; i < n && 16 + 16 * (i + 1) <= b.length; i++) {
    const o = 16 + 16 * i;
    keys.push({ mask: v.getUint32(o, false), val: v.getUint32(o + 4, false), off: v.getInt32(o + 8, true) });
  }
  return { keys, terminal: ((b[0] ?? 0) & TC_U32_TERMINAL) !== 0 };
}

// ---- objects ----------------------------------------------------------------------------------

export interface TcObject {
  readonly kind: string;
  readonly handle: number;
  readonly parent: number;
}

export interface U32Filter {
  /** ETH_P_* */
  readonly protocol: number;
  readonly prio: number;
  readonly handle: number;
  readonly classid?: number;
  readonly keys: readonly U32Key[];
}

export interface U32FilterSpec {
  readonly parent: number;
  readonly prio: number;
  readonly protocol: number;
  readonly keys: readonly U32Key[];
  readonly classid: number;
}

/** A device by name, or by ifindex (saves the name lookup when one operation makes several calls). */
export type TcDev = string | number;

/** The tc operations kubenet's shaper needs, on devices in one netns. Synchronous. */
export interface TcNetlink {
  /** The device's ifindex (ENODEV when there is none). */
  ifindex(dev: string): number;
  /** `tc qdisc show dev DEV` */
  qdiscs(dev: TcDev): TcObject[];
  /** `tc qdisc add dev DEV root handle H htb default D` */
  addHtbRootQdisc(dev: TcDev, handle: number, defcls: number): void;
  /** `tc qdisc delete dev DEV root handle H` */
  deleteRootQdisc(dev: TcDev, handle: number): void;
  /** `tc class show dev DEV` */
  classes(dev: TcDev): TcObject[];
  /** `tc class add dev DEV parent P classid C htb rate R` (R in bytes/s) */
  addHtbClass(dev: TcDev, parent: number, classid: number, rate: number): void;
  /** `tc class del dev DEV parent P classid C` */
  deleteClass(dev: TcDev, parent: number, classid: number): void;
  /** `tc filter show dev DEV parent P`: the u32 filters with a key node (hash tables left out). */
  u32Filters(dev: TcDev, parent: number): U32Filter[];
  /** `tc -echo filter add dev DEV protocol X parent P prio N u32 match … flowid C`: the new filter's handle. */
  addU32Filter(dev: TcDev, f: U32FilterSpec): number;
  /** `tc filter del dev DEV parent P proto X prio N handle H u32` */
  deleteU32Filter(dev: TcDev, f: { parent: number; prio: number; protocol: number; handle: number }): void;
  close(): void;
}

function decodeObject(m: NlMsg): TcObject & { ifindex: number; info: number; attrs: Map<number, Uint8Array> } {
  const h = decodeTcMsg(m.payload);
  const attrs = parseAttrs(m.payload, 20);
  const kind = attrs.get(TCA.KIND);
  return { ...h, kind: kind ? readStr(kind) : "", attrs };
}

export function createTcNetlink(s: NetlinkSocket): TcNetlink {
  const lookup = (dev: string, op: string): number => {
    const l = linkGet(s, dev);
    if (!l) throw new KernelError(`${op} dev ${JSON.stringify(dev)}`, "ENODEV");
    return l.index;
  };
  const ifindex = (dev: TcDev, op: string): number => (typeof dev === "number" ? dev : lookup(dev, op));
  const name = (type: string, dev: TcDev, what: string) => `netlink ${type} dev ${typeof dev === "number" ? `#${dev}` : JSON.stringify(dev)}${what ? ` ${what}` : ""}`;
  return {
    ifindex: (dev) => lookup(dev, "netlink RTM_GETLINK"),
    qdiscs(dev) {
      const idx = ifindex(dev, "netlink RTM_GETQDISC");
      return s.dump(RTM_TC.GETQDISC, [tcmsg({ ifindex: idx })], name("RTM_GETQDISC", dev, "")).map(decodeObject).filter((o) => o.ifindex === idx)
        .map(({ kind, handle, parent }) => ({ kind, handle, parent }));
    },
    addHtbRootQdisc(dev, handle, defcls) {
      const op = name("RTM_NEWQDISC", dev, `root handle ${formatTcHandle(handle)} htb`);
      s.ack(RTM_TC.NEWQDISC, NLM_F.CREATE | NLM_F.EXCL, [tcmsg({ ifindex: ifindex(dev, op), handle, parent: TC_H_ROOT }), attr(TCA.KIND, cstr("htb")), htbQdiscOptions(defcls)], op);
    },
    deleteRootQdisc(dev, handle) {
      const op = name("RTM_DELQDISC", dev, `root handle ${formatTcHandle(handle)}`);
      s.ack(RTM_TC.DELQDISC, 0, [tcmsg({ ifindex: ifindex(dev, op), handle, parent: TC_H_ROOT })], op);
    },
    classes(dev) {
      const idx = ifindex(dev, "netlink RTM_GETTCLASS");
      return s.dump(RTM_TC.GETTCLASS, [tcmsg({ ifindex: idx })], name("RTM_GETTCLASS", dev, "")).map(decodeObject).filter((o) => o.ifindex === idx)
        .map(({ kind, handle, parent }) => ({ kind, handle, parent }));
    },
    addHtbClass(dev, parent, classid, rate) {
      const op = name("RTM_NEWTCLASS", dev, `classid ${formatTcHandle(classid)} htb rate ${rate}bps`);
      const ps = readPsched();
      s.ack(RTM_TC.NEWTCLASS, NLM_F.CREATE | NLM_F.EXCL, [
        tcmsg({ ifindex: ifindex(dev, op), handle: classid, parent }),
        attr(TCA.KIND, cstr("htb")),
        htbClassOptions(htbClassParams(rate, ps), ps),
      ], op);
    },
    deleteClass(dev, parent, classid) {
      const op = name("RTM_DELTCLASS", dev, `classid ${formatTcHandle(classid)}`);
      s.ack(RTM_TC.DELTCLASS, 0, [tcmsg({ ifindex: ifindex(dev, op), handle: classid, parent })], op);
    },
    u32Filters(dev, parent) {
      const idx = ifindex(dev, "netlink RTM_GETTFILTER");
      const out: U32Filter[] = [];
      for (const m of s.dump(RTM_TC.GETTFILTER, [tcmsg({ ifindex: idx, parent })], name("RTM_GETTFILTER", dev, ""))) {
        const o = decodeObject(m);
        if (o.ifindex !== idx || o.kind !== "u32" || (o.handle & 0xfff) === 0) continue;
        const opts = o.attrs.get(TCA.OPTIONS);
        const a = opts ? parseAttrs(opts) : new Map<number, Uint8Array>();
        const sel = a.get(TCA_U32.SEL);
        const cls = a.get(TCA_U32.CLASSID);
        out.push({
          protocol: htons(o.info & 0xffff),
          prio: o.info >>> 16,
          handle: o.handle,
          ...(cls ? { classid: readU32(cls) } : {}),
          keys: sel ? decodeU32Sel(sel).keys : [],
        });
      }
      return out;
    },
    addU32Filter(dev, f) {
      const op = name("RTM_NEWTFILTER", dev, `prio ${f.prio} u32 flowid ${formatTcHandle(f.classid)}`);
      // NLM_F_ECHO: the kernel sends the new filter back (before the ACK), with the handle it chose
      const msgs = s.request(RTM_TC.NEWTFILTER, NLM_F.CREATE | NLM_F.EXCL | NLM_F.ECHO, [
        tcmsg({ ifindex: ifindex(dev, op), parent: f.parent, info: filterInfo(f.prio, f.protocol) }),
        attr(TCA.KIND, cstr("u32")),
        nested(TCA.OPTIONS, [attr(TCA_U32.CLASSID, u32(f.classid)), attr(TCA_U32.SEL, u32Sel(f.keys, true))]),
      ], op);
      const echo = msgs.find((m) => m.type === RTM_TC.NEWTFILTER);
      return echo ? decodeTcMsg(echo.payload).handle : 0;
    },
    deleteU32Filter(dev, f) {
      const op = name("RTM_DELTFILTER", dev, `prio ${f.prio} handle ${formatU32Handle(f.handle)} u32`);
      s.ack(RTM_TC.DELTFILTER, 0, [tcmsg({ ifindex: ifindex(dev, op), handle: f.handle, parent: f.parent, info: filterInfo(f.prio, f.protocol) }), attr(TCA.KIND, cstr("u32"))], op);
    },
    close() {
      s.close();
    },
  };
}

/** A TcNetlink on its own socket in `netns` (null: this process's), opened on first use. */
export function openTcNetlink(netns: string | null = null, addon: () => Addon = loadAddon): TcNetlink {
  return createTcNetlink(new NetlinkSocket(addon, netns));
}

