// Traffic control over rtnetlink, without a `tc` process: each operation is one netlink round
// trip (µs) where `tc` costs a ~5 ms spawn, and every message is built exactly as iproute2 6.1's tc
// builds it for the same command line, so `tc qdisc/class/filter show` cannot tell the two apart
// (the netns tests compare them). Two users:
// - kubenet's shaper (an HTB tree on cbr0): qdiscs (list, `htb` root add, delete), HTB classes
//   (list, add, delete) and u32 filters (list, add, delete);
// - the bandwidth plugin, through the tc port (tc.ts): a root tbf, an ingress qdisc, a u32
//   match-all filter whose mirred action redirects to an ifb, and their deletion (q_tbf.c,
//   q_ingress.c, f_u32.c, m_action.c, m_mirred.c); the root and ingress qdiscs of one device are
//   read with two GETs instead of a dump of every qdisc of the node.
// Layouts: <linux/rtnetlink.h> (tcmsg), <linux/pkt_sched.h> (tc_ratespec, tc_htb_opt, tc_htb_glob,
// tc_tbf_qopt), <linux/pkt_cls.h> (tc_u32_sel, tc_u32_key), <linux/tc_act/tc_mirred.h>.
import { loadAddon, type Addon } from "./addon.js";
import { KernelError, isKernelError } from "./errors.js";
import { linkGet } from "./links.js";
import { NetlinkSocket } from "./netlink-socket.js";
import { NLM_F, attr, concat, cstr, i32, nested, parseAttrs, readStr, readU32, u32, type NlMsg } from "./rtnl-codec.js";
import {
  readPsched,
  tcLine,
  xmitTime,
  type Psched,
  type Qdisc,
  type ShapingOp,
  type TbfParams,
  type TcShapingNetlink,
} from "./tc.js";

export const RTM_TC = {
  NEWQDISC: 36,
  DELQDISC: 37,
  GETQDISC: 38,
  NEWTCLASS: 40,
  DELTCLASS: 41,
  GETTCLASS: 42,
  NEWTFILTER: 44,
  DELTFILTER: 45,
  GETTFILTER: 46,
} as const;
export const TCA = { KIND: 1, OPTIONS: 2 } as const;
export const TCA_HTB = { PARMS: 1, INIT: 2, CTAB: 3, RTAB: 4, DIRECT_QLEN: 5, RATE64: 6, CEIL64: 7 } as const;
export const TCA_U32 = { CLASSID: 1, HASH: 2, LINK: 3, DIVISOR: 4, SEL: 5 } as const;
export const TC_H_ROOT = 0xffffffff;
export const TC_H_INGRESS = 0xfffffff1;
/** The ingress qdisc's handle, ffff: */
export const INGRESS_HANDLE = 0xffff0000;
/** The root tbf's handle, 1: */
export const TBF_HANDLE = 0x10000;
export const ETH_P = { IP: 0x0800, IPV6: 0x86dd } as const;
const ETH_P_ALL = 0x0003;
const TCA_TBF = { PARMS: 1, RTAB: 2, PTAB: 3, RATE64: 4, PRATE64: 5, BURST: 6 } as const;
const TCA_U32_ACT = 7;
const TCA_ACT = { KIND: 1, OPTIONS: 2 } as const;
const TCA_MIRRED_PARMS = 2;
const TCA_EGRESS_REDIR = 1;
const TC_ACT_STOLEN = 4;
const NLA_F_NESTED = 0x8000;
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
  const opt = concat([
    ratespec(p.rate, p.cellLog),
    ratespec(p.ceil, p.cellLog),
    u32(p.buffer),
    u32(p.cbuffer),
    u32(0),
    u32(0),
    u32(0),
  ]);
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

// ---- tbf and the mirred redirect ----------------------------------------------------------------

/**
 * TCA_OPTIONS of `tbf rate R burst B limit L` (R in bytes/s; no mtu, mpu, overhead, peakrate):
 * tc_tbf_qopt with the rate table tc_calc_rtable() makes for mtu 2047 (cell_log 3), TCA_TBF_BURST,
 * TCA_TBF_RATE64 from 2^32 bytes/s on.
 */
export function tbfOptions(p: TbfParams, ps: Psched = readPsched()): Uint8Array {
  const rate64 = p.rateBytes;
  const rate32 = rate64 >= 2 ** 32 ? 0xffffffff : rate64;
  const cellLog = 3;
  const rtab: Uint8Array[] = [];
  for (let i = 0; i < 256; i++) rtab.push(u32(xmitTime(rate32, (i + 1) << cellLog, ps)));
  // tc_ratespec: cell_log u8, linklayer u8, overhead u16, cell_align i16, mpu u16, rate u32
  const ratespec = (rate: number, withTable: boolean) => {
    const b = new Uint8Array(12);
    const v = new DataView(b.buffer);
    if (withTable) {
      v.setUint8(0, cellLog);
      v.setUint8(1, TC_LINKLAYER_ETHERNET);
      v.setInt16(4, -1, true);
    }
    v.setUint32(8, rate, true);
    return b;
  };
  // tc_tbf_qopt: rate, peakrate, limit u32, buffer u32, mtu u32
  const qopt = concat([
    ratespec(rate32, true),
    ratespec(0, false),
    u32(p.limitBytes),
    u32(xmitTime(rate32, p.burstBytes, ps)),
    u32(0),
  ]);
  return nested(TCA.OPTIONS, [
    attr(TCA_TBF.PARMS, qopt),
    attr(TCA_TBF.BURST, u32(p.burstBytes)),
    ...(rate64 >= 2 ** 32 ? [attr(TCA_TBF.RATE64, u64(rate64))] : []),
    attr(TCA_TBF.RTAB, concat(rtab)),
  ]);
}

/** TCA_OPTIONS of `u32 match u32 0 0 classid 1:1 action mirred egress redirect dev <ifindex>`. */
export function redirectOptions(toIfindex: number): Uint8Array {
  // tc_mirred: tc_gen (index u32, capab u32, action i32, refcnt i32, bindcnt i32), eaction i32, ifindex u32
  const mirred = concat([u32(0), u32(0), u32(TC_ACT_STOLEN), u32(0), u32(0), u32(TCA_EGRESS_REDIR), u32(toIfindex)]);
  const action = nested(1, [
    attr(TCA_ACT.KIND, cstr("mirred")),
    nested(TCA_ACT.OPTIONS | NLA_F_NESTED, [attr(TCA_MIRRED_PARMS, mirred)]),
  ]);
  return nested(TCA.OPTIONS, [
    attr(TCA_U32.CLASSID, u32(0x10001)),
    nested(TCA_U32_ACT, [action]),
    attr(TCA_U32.SEL, u32Sel([{ val: 0, mask: 0, off: 0 }], true)),
  ]);
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

/** The tc operations kubenet's shaper needs, on devices in one netns. Synchronous; KernelErrors. */
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

/** One socket's tc: kubenet's HTB operations and the tc port's shaping operations. */
export type TcNetlinkSocket = TcNetlink & TcShapingNetlink;

function decodeObject(m: NlMsg): TcObject & { ifindex: number; info: number; attrs: Map<number, Uint8Array> } {
  const h = decodeTcMsg(m.payload);
  const attrs = parseAttrs(m.payload, 20);
  const kind = attrs.get(TCA.KIND);
  return { ...h, kind: kind ? readStr(kind) : "", attrs };
}

function toQdisc(m: NlMsg): Qdisc | undefined {
  const h = decodeTcMsg(m.payload);
  const kind = parseAttrs(m.payload, 20).get(TCA.KIND);
  if (!kind) return undefined;
  return {
    kind: readStr(kind),
    handle: formatTcHandle(h.handle),
    ...(h.parent === TC_H_ROOT ? { root: true } : { parent: formatTcHandle(h.parent) }),
  };
}

export function createTcNetlink(s: NetlinkSocket): TcNetlinkSocket {
  const lookup = (dev: string, op: string): number => {
    const l = linkGet(s, dev);
    if (!l) throw new KernelError(`${op} dev ${JSON.stringify(dev)}`, "ENODEV");
    return l.index;
  };
  const ifindex = (dev: TcDev, op: string): number => (typeof dev === "number" ? dev : lookup(dev, op));
  const name = (type: string, dev: TcDev, what: string) =>
    `netlink ${type} dev ${typeof dev === "number" ? `#${dev}` : JSON.stringify(dev)}${what ? ` ${what}` : ""}`;
  return {
    ifindex: (dev) => lookup(dev, "netlink RTM_GETLINK"),
    qdiscs(dev) {
      const idx = ifindex(dev, "netlink RTM_GETQDISC");
      return s
        .dump(RTM_TC.GETQDISC, [tcmsg({ ifindex: idx })], name("RTM_GETQDISC", dev, ""))
        .map(decodeObject)
        .filter((o) => o.ifindex === idx)
        .map(({ kind, handle, parent }) => ({ kind, handle, parent }));
    },
    addHtbRootQdisc(dev, handle, defcls) {
      const op = name("RTM_NEWQDISC", dev, `root handle ${formatTcHandle(handle)} htb`);
      s.ack(
        RTM_TC.NEWQDISC,
        NLM_F.CREATE | NLM_F.EXCL,
        [
          tcmsg({ ifindex: ifindex(dev, op), handle, parent: TC_H_ROOT }),
          attr(TCA.KIND, cstr("htb")),
          htbQdiscOptions(defcls),
        ],
        op,
      );
    },
    deleteRootQdisc(dev, handle) {
      const op = name("RTM_DELQDISC", dev, `root handle ${formatTcHandle(handle)}`);
      s.ack(RTM_TC.DELQDISC, 0, [tcmsg({ ifindex: ifindex(dev, op), handle, parent: TC_H_ROOT })], op);
    },
    classes(dev) {
      const idx = ifindex(dev, "netlink RTM_GETTCLASS");
      return s
        .dump(RTM_TC.GETTCLASS, [tcmsg({ ifindex: idx })], name("RTM_GETTCLASS", dev, ""))
        .map(decodeObject)
        .filter((o) => o.ifindex === idx)
        .map(({ kind, handle, parent }) => ({ kind, handle, parent }));
    },
    addHtbClass(dev, parent, classid, rate) {
      const op = name("RTM_NEWTCLASS", dev, `classid ${formatTcHandle(classid)} htb rate ${rate}bps`);
      const ps = readPsched();
      s.ack(
        RTM_TC.NEWTCLASS,
        NLM_F.CREATE | NLM_F.EXCL,
        [
          tcmsg({ ifindex: ifindex(dev, op), handle: classid, parent }),
          attr(TCA.KIND, cstr("htb")),
          htbClassOptions(htbClassParams(rate, ps), ps),
        ],
        op,
      );
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
      const msgs = s.request(
        RTM_TC.NEWTFILTER,
        NLM_F.CREATE | NLM_F.EXCL | NLM_F.ECHO,
        [
          tcmsg({ ifindex: ifindex(dev, op), parent: f.parent, info: filterInfo(f.prio, f.protocol) }),
          attr(TCA.KIND, cstr("u32")),
          nested(TCA.OPTIONS, [attr(TCA_U32.CLASSID, u32(f.classid)), attr(TCA_U32.SEL, u32Sel(f.keys, true))]),
        ],
        op,
      );
      const echo = msgs.find((m) => m.type === RTM_TC.NEWTFILTER);
      return echo ? decodeTcMsg(echo.payload).handle : 0;
    },
    deleteU32Filter(dev, f) {
      const op = name("RTM_DELTFILTER", dev, `prio ${f.prio} handle ${formatU32Handle(f.handle)} u32`);
      s.ack(
        RTM_TC.DELTFILTER,
        0,
        [
          tcmsg({
            ifindex: ifindex(dev, op),
            handle: f.handle,
            parent: f.parent,
            info: filterInfo(f.prio, f.protocol),
          }),
          attr(TCA.KIND, cstr("u32")),
        ],
        op,
      );
    },
    shapingQdiscs(dev) {
      const op = `netlink RTM_GETQDISC dev ${JSON.stringify(dev)}`;
      const idx = ifindex(dev, op);
      const out: Qdisc[] = [];
      for (const parent of [TC_H_ROOT, TC_H_INGRESS]) {
        let msgs: NlMsg[];
        try {
          // A qdisc GET answers only with NLM_F_ECHO (tc_get_qdisc → qdisc_notify).
          msgs = s.request(RTM_TC.GETQDISC, NLM_F.ECHO, [tcmsg({ ifindex: idx, parent })], op);
        } catch (e) {
          if (isKernelError(e, "ENOENT", "EINVAL")) continue; // none there
          throw e;
        }
        for (const m of msgs) {
          const q = m.type === RTM_TC.NEWQDISC ? toQdisc(m) : undefined;
          if (q && decodeTcMsg(m.payload).ifindex === idx) out.push(q);
        }
      }
      return out;
    },
    shape(ops, o = {}) {
      // names looked up once per call (a list names the same two devices again and again)
      const known = new Map<string, number>();
      const dev = (d: string, op: string): number => {
        let i = known.get(d);
        if (i === undefined) {
          i = ifindex(d, op);
          known.set(d, i);
        }
        return i;
      };
      let first: unknown;
      for (const x of ops) {
        try {
          shapeOne(x, dev);
        } catch (e) {
          if (!o.force) throw e;
          first ??= e;
        }
      }
      if (first !== undefined) throw first;
    },
    close() {
      s.close();
    },
  };

  function shapeOne(o: ShapingOp, dev: (d: string, op: string) => number): void {
    const op = `netlink: tc ${tcLine(o)}`;
    const idx = dev(o.dev, op);
    switch (o.op) {
      case "tbf": {
        const flags = NLM_F.CREATE | (o.mode === "add" ? NLM_F.EXCL : NLM_F.REPLACE);
        s.ack(
          RTM_TC.NEWQDISC,
          flags,
          [
            tcmsg({ ifindex: idx, handle: TBF_HANDLE, parent: TC_H_ROOT }),
            attr(TCA.KIND, cstr("tbf")),
            tbfOptions(o.params),
          ],
          op,
        );
        return;
      }
      case "ingress":
        s.ack(
          RTM_TC.NEWQDISC,
          NLM_F.CREATE | NLM_F.EXCL,
          [
            tcmsg({ ifindex: idx, handle: INGRESS_HANDLE, parent: TC_H_INGRESS }),
            attr(TCA.KIND, cstr("ingress")),
            attr(TCA.OPTIONS, new Uint8Array(0)),
          ],
          op,
        );
        return;
      case "redirect":
        s.ack(
          RTM_TC.NEWTFILTER,
          NLM_F.CREATE | NLM_F.EXCL,
          [
            tcmsg({ ifindex: idx, parent: INGRESS_HANDLE, info: filterInfo(1, ETH_P_ALL) }),
            attr(TCA.KIND, cstr("u32")),
            redirectOptions(dev(o.to, op)),
          ],
          op,
        );
        return;
      case "unredirect":
        s.ack(
          RTM_TC.DELTFILTER,
          0,
          [
            tcmsg({ ifindex: idx, parent: INGRESS_HANDLE, info: filterInfo(1, ETH_P_ALL) }),
            attr(TCA.KIND, cstr("u32")),
          ],
          op,
        );
        return;
      case "delRoot":
        s.ack(RTM_TC.DELQDISC, 0, [tcmsg({ ifindex: idx, parent: TC_H_ROOT })], op);
        return;
      case "delIngress":
        s.ack(RTM_TC.DELQDISC, 0, [tcmsg({ ifindex: idx, parent: TC_H_INGRESS })], op);
        return;
    }
  }
}

/** tc on its own netlink socket in `netns` (null: this process's), opened on first use. */
export function openTcNetlink(netns: string | null = null, addon: () => Addon = loadAddon): TcNetlinkSocket {
  return createTcNetlink(new NetlinkSocket(addon, netns));
}
