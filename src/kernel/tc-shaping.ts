// Token-bucket shaping over rtnetlink, without a `tc` process: the operations the bandwidth plugin
// makes (a root tbf, an ingress qdisc, a u32 match-all filter whose mirred action redirects to an
// ifb, and their deletion), each one netlink round trip instead of a ~5 ms `tc` spawn, and the
// root and ingress qdiscs of one device read with two GETs instead of a dump of every qdisc of
// the node. Each operation is also rendered as the `tc -batch` line that does the same thing, and
// the messages are built exactly as iproute2 6.1's tc builds them for that line (q_tbf.c,
// q_ingress.c, f_u32.c, m_action.c, m_mirred.c), so `tc qdisc show` / `tc filter show` cannot
// tell the two apart (the netns test compares them).
// Layouts: <linux/pkt_sched.h> (tc_tbf_qopt, tc_ratespec), <linux/pkt_cls.h>, <linux/tc_act/tc_mirred.h>.
import { loadAddon, type Addon } from "./addon.js";
import { KernelError, isKernelError } from "./errors.js";
import { linkGet } from "./links.js";
import { NetlinkSocket } from "./netlink-socket.js";
import { NLM_F, attr, concat, cstr, nested, parseAttrs, readStr, u32, type NlMsg } from "./rtnl-codec.js";
import type { Qdisc, TbfParams } from "./tc.js";
import { RTM_TC, TCA, TCA_U32, TC_H_ROOT, decodeTcMsg, filterInfo, formatTcHandle, tcmsg, u32Sel } from "./tc-netlink.js";

export const TC_H_INGRESS = 0xfffffff1;
/** The ingress qdisc's handle, ffff: */
export const INGRESS_HANDLE = 0xffff0000;
/** The root tbf's handle, 1: */
export const TBF_HANDLE = 0x10000;
const ETH_P_ALL = 0x0003;
const TCA_TBF = { PARMS: 1, RTAB: 2, PTAB: 3, RATE64: 4, PRATE64: 5, BURST: 6 } as const;
const TCA_U32_ACT = 7;
const TCA_ACT = { KIND: 1, OPTIONS: 2 } as const;
const TCA_MIRRED_PARMS = 2;
const TCA_EGRESS_REDIR = 1;
const TC_ACT_STOLEN = 4;
const NLA_F_NESTED = 0x8000;
const TC_LINKLAYER_ETHERNET = 1;

/** One shaping change on a device: what the bandwidth plugin adds to, and removes from, a veth and an ifb. */
export type ShapingOp =
  /** `qdisc add|replace dev DEV root handle 1: tbf rate …bps burst … limit …` */
  | { readonly op: "tbf"; readonly mode: "add" | "replace"; readonly dev: string; readonly params: TbfParams }
  /** `qdisc add dev DEV handle ffff: ingress` */
  | { readonly op: "ingress"; readonly dev: string }
  /** `filter add dev DEV parent ffff: protocol all prio 1 u32 match u32 0 0 classid 1:1 action mirred egress redirect dev TO` */
  | { readonly op: "redirect"; readonly dev: string; readonly to: string }
  /** `filter del dev DEV parent ffff: protocol all prio 1 u32` */
  | { readonly op: "unredirect"; readonly dev: string }
  /** `qdisc del dev DEV root` */
  | { readonly op: "delRoot"; readonly dev: string }
  /** `qdisc del dev DEV ingress` */
  | { readonly op: "delIngress"; readonly dev: string };

/** The `tc -batch` line of an operation. */
export function tcLine(o: ShapingOp): string {
  switch (o.op) {
    case "tbf": {
      const p = o.params;
      return `qdisc ${o.mode} dev ${o.dev} root handle 1: tbf rate ${p.rateBytes}bps burst ${p.burstBytes} limit ${p.limitBytes}`;
    }
    case "ingress":
      return `qdisc add dev ${o.dev} handle ffff: ingress`;
    case "redirect":
      return `filter add dev ${o.dev} parent ffff: protocol all prio 1 u32 match u32 0 0 classid 1:1 action mirred egress redirect dev ${o.to}`;
    case "unredirect":
      return `filter del dev ${o.dev} parent ffff: protocol all prio 1 u32`;
    case "delRoot":
      return `qdisc del dev ${o.dev} root`;
    case "delIngress":
      return `qdisc del dev ${o.dev} ingress`;
  }
}

// ---- tbf as iproute2 builds it --------------------------------------------------------------

/** tc_calc_xmittime(): psched ticks to send `size` bytes at `rate` bytes/s (C's unsigned truncations kept). */
export function tcXmitTime(rate: number, size: number, tickInUsec: number): number {
  const time = Math.trunc(1e6 * (size / rate)) >>> 0; // unsigned int parameter of tc_core_time2tick
  return Math.trunc(time * tickInUsec) >>> 0;
}

/**
 * TCA_OPTIONS of `tbf rate R burst B limit L` (R in bytes/s; no mtu, mpu, overhead, peakrate):
 * tc_tbf_qopt with the rate table tc_calc_rtable() makes for mtu 2047 (cell_log 3), TCA_TBF_BURST,
 * TCA_TBF_RATE64 from 2^32 bytes/s on.
 */
export function tbfOptions(p: TbfParams, tickInUsec: number): Uint8Array {
  const rate64 = p.rateBytes;
  const rate32 = rate64 >= 2 ** 32 ? 0xffffffff : rate64;
  const cellLog = 3;
  const rtab: Uint8Array[] = [];
  for (let i = 0; i < 256; i++) rtab.push(u32(tcXmitTime(rate32, (i + 1) << cellLog, tickInUsec)));
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
  const qopt = concat([ratespec(rate32, true), ratespec(0, false), u32(p.limitBytes), u32(tcXmitTime(rate32, p.burstBytes, tickInUsec)), u32(0)]);
  const r64 = new Uint8Array(8);
  new DataView(r64.buffer).setBigUint64(0, BigInt(rate64), true);
  return nested(TCA.OPTIONS, [
    attr(TCA_TBF.PARMS, qopt),
    attr(TCA_TBF.BURST, u32(p.burstBytes)),
    ...(rate64 >= 2 ** 32 ? [attr(TCA_TBF.RATE64, r64)] : []),
    attr(TCA_TBF.RTAB, concat(rtab)),
  ]);
}

/** TCA_OPTIONS of `u32 match u32 0 0 classid 1:1 action mirred egress redirect dev <ifindex>`. */
export function redirectOptions(toIfindex: number): Uint8Array {
  // tc_mirred: tc_gen (index u32, capab u32, action i32, refcnt i32, bindcnt i32), eaction i32, ifindex u32
  const mirred = concat([u32(0), u32(0), u32(TC_ACT_STOLEN), u32(0), u32(0), u32(TCA_EGRESS_REDIR), u32(toIfindex)]);
  const action = nested(1, [attr(TCA_ACT.KIND, cstr("mirred")), nested(TCA_ACT.OPTIONS | NLA_F_NESTED, [attr(TCA_MIRRED_PARMS, mirred)])]);
  return nested(TCA.OPTIONS, [
    attr(TCA_U32.CLASSID, u32(0x10001)),
    nested(TCA_U32_ACT, [action]),
    attr(TCA_U32.SEL, u32Sel([{ val: 0, mask: 0, off: 0 }], true)),
  ]);
}

// ---- the operations -------------------------------------------------------------------------

export interface TcShaping {
  /** The root and ingress qdiscs of `dev`, as `tc qdisc show dev DEV` lists them (a built-in noqueue root too). */
  qdiscs(dev: string): Qdisc[];
  /** The operations in order; the first failure throws (a KernelError), unless `force`: then each is tried and the first error is thrown at the end. */
  apply(ops: readonly ShapingOp[], opts?: { force?: boolean }): void;
  close(): void;
}

function toQdisc(m: NlMsg): Qdisc | undefined {
  const h = decodeTcMsg(m.payload);
  const kind = parseAttrs(m.payload, 20).get(TCA.KIND);
  if (!kind) return undefined;
  return { kind: readStr(kind), handle: formatTcHandle(h.handle), ...(h.parent === TC_H_ROOT ? { root: true } : { parent: formatTcHandle(h.parent) }) };
}

export function createTcShaping(s: NetlinkSocket, tickInUsec: () => number): TcShaping {
  const lookup = (dev: string, op: string): number => {
    const l = linkGet(s, dev);
    if (!l) throw new KernelError(`${op}: no device ${JSON.stringify(dev)}`, "ENODEV");
    return l.index;
  };
  /** Names looked up once per apply() (a batch names the same two devices again and again). */
  let known = new Map<string, number>();
  const ifindex = (dev: string, op: string): number => {
    let i = known.get(dev);
    if (i === undefined) known.set(dev, (i = lookup(dev, op)));
    return i;
  };
  const one = (o: ShapingOp): void => {
    const op = `netlink: tc ${tcLine(o)}`;
    const idx = ifindex(o.dev, op);
    switch (o.op) {
      case "tbf": {
        const flags = NLM_F.CREATE | (o.mode === "add" ? NLM_F.EXCL : NLM_F.REPLACE);
        s.ack(RTM_TC.NEWQDISC, flags, [tcmsg({ ifindex: idx, handle: TBF_HANDLE, parent: TC_H_ROOT }), attr(TCA.KIND, cstr("tbf")), tbfOptions(o.params, tickInUsec())], op);
        return;
      }
      case "ingress":
        s.ack(RTM_TC.NEWQDISC, NLM_F.CREATE | NLM_F.EXCL, [tcmsg({ ifindex: idx, handle: INGRESS_HANDLE, parent: TC_H_INGRESS }), attr(TCA.KIND, cstr("ingress")), attr(TCA.OPTIONS, new Uint8Array(0))], op);
        return;
      case "redirect":
        s.ack(RTM_TC.NEWTFILTER, NLM_F.CREATE | NLM_F.EXCL, [
          tcmsg({ ifindex: idx, parent: INGRESS_HANDLE, info: filterInfo(1, ETH_P_ALL) }),
          attr(TCA.KIND, cstr("u32")),
          redirectOptions(ifindex(o.to, op)),
        ], op);
        return;
      case "unredirect":
        s.ack(RTM_TC.DELTFILTER, 0, [tcmsg({ ifindex: idx, parent: INGRESS_HANDLE, info: filterInfo(1, ETH_P_ALL) }), attr(TCA.KIND, cstr("u32"))], op);
        return;
      case "delRoot":
        s.ack(RTM_TC.DELQDISC, 0, [tcmsg({ ifindex: idx, parent: TC_H_ROOT })], op);
        return;
      case "delIngress":
        s.ack(RTM_TC.DELQDISC, 0, [tcmsg({ ifindex: idx, parent: TC_H_INGRESS })], op);
        return;
    }
  };
  return {
    qdiscs(dev) {
      const op = `netlink RTM_GETQDISC dev ${JSON.stringify(dev)}`;
      const idx = lookup(dev, op);
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
    apply(ops, o = {}) {
      known = new Map();
      let first: unknown;
      for (const x of ops) {
        try {
          one(x);
        } catch (e) {
          if (!o.force) throw e;
          first ??= e;
        }
      }
      if (first !== undefined) throw first;
    },
    close: () => s.close(),
  };
}

/** TcShaping on its own socket in `netns` (null: this process's), opened on first use. */
export function openTcShaping(netns: string | null, tickInUsec: () => number, addon: () => Addon = loadAddon): TcShaping {
  return createTcShaping(new NetlinkSocket(addon, netns), tickInUsec);
}
