// Connection tracking over NETLINK_NETFILTER (ctnetlink), without a `conntrack` process: one dump
// of the table, filtered here, and one delete per entry that matches — what `conntrack -D` and
// Go's netlink.ConntrackDeleteFilters do, but one dump for any number of filters and families
// instead of one process (and one dump) per port and family.
//
// A dump walks every bucket of the kernel's conntrack hash table, whatever it holds (≈13 ms for
// the 262 144 buckets here, also when it is empty): that walk is the floor of any deletion by a
// partial tuple, so callers should make one call per operation.
// Layouts: <linux/netfilter/nfnetlink_conntrack.h>; the socket is NetlinkSocket, the framing nfnetlink.ts.
import { loadAddon, type Addon } from "./addon.js";
import { isKernelError } from "./errors.js";
import { inetText } from "./inet.js";
import type { NetlinkSocket } from "./netlink-socket.js";
import { NFNL_SUBSYS, nfgenmsg, nfnlType, openNfnetlink } from "./nfnetlink.js";
import { AF, NLA_F, attr, concat, iterAttrs, parseAttrs, type NlMsg } from "./rtnl-codec.js";

const IPCTNL_MSG = { NEW: 0, GET: 1, DELETE: 2 } as const;
const CTA = { TUPLE_ORIG: 1, TUPLE_REPLY: 2, ZONE: 7, ID: 12 } as const;
const CTA_TUPLE = { IP: 1, PROTO: 2, ZONE: 3 } as const;
const CTA_IP = { V4_SRC: 1, V4_DST: 2, V6_SRC: 3, V6_DST: 4 } as const;
const CTA_PROTO = { NUM: 1, SRC_PORT: 2, DST_PORT: 3 } as const;

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export interface CtTuple {
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly srcPort?: number;
  readonly dstPort?: number;
}

/** One conntrack entry as the dump shows it (what a filter looks at). */
export interface CtEntry {
  readonly family: 4 | 6;
  readonly orig: CtTuple;
  readonly reply?: CtTuple;
}

const msgType = (m: number) => nfnlType(NFNL_SUBSYS.CTNETLINK, m);
const be16 = (b: Uint8Array) => ((b[0] ?? 0) << 8) | (b[1] ?? 0);

export function decodeTuple(b: Uint8Array): CtTuple | undefined {
  const t = parseAttrs(b);
  const ip = t.get(CTA_TUPLE.IP);
  const proto = t.get(CTA_TUPLE.PROTO);
  if (!ip || !proto) return undefined;
  const a = parseAttrs(ip);
  const src = a.get(CTA_IP.V4_SRC) ?? a.get(CTA_IP.V6_SRC);
  const dst = a.get(CTA_IP.V4_DST) ?? a.get(CTA_IP.V6_DST);
  const p = parseAttrs(proto);
  const num = p.get(CTA_PROTO.NUM);
  if (!src || !dst || !num) return undefined;
  const sp = p.get(CTA_PROTO.SRC_PORT);
  const dp = p.get(CTA_PROTO.DST_PORT);
  return {
    src: inetText(src),
    dst: inetText(dst),
    proto: num[0]!,
    ...(sp ? { srcPort: be16(sp) } : {}),
    ...(dp ? { dstPort: be16(dp) } : {}),
  };
}

/** The entry of one dump message, and the attributes that name it in a DELETE (orig tuple, zone, id). */
export function decodeEntry(m: NlMsg): { entry: CtEntry; key: Uint8Array[] } | undefined {
  const fam = m.payload[0];
  if (fam !== AF.INET && fam !== AF.INET6) return undefined;
  let orig: CtTuple | undefined;
  let reply: CtTuple | undefined;
  const key: Uint8Array[] = [];
  for (const [t, value] of iterAttrs(m.payload, 4)) {
    if (t === CTA.TUPLE_ORIG) {
      orig = decodeTuple(value);
      key.push(attr(CTA.TUPLE_ORIG | NLA_F.NESTED, value));
    } else if (t === CTA.TUPLE_REPLY) {
      reply = decodeTuple(value);
    } else if (t === CTA.ZONE || t === CTA.ID) {
      key.push(attr(t, value));
    }
  }
  if (!orig) return undefined;
  return { entry: { family: fam === AF.INET ? 4 : 6, orig, ...(reply ? { reply } : {}) }, key };
}

export interface Conntrack {
  /**
   * Deletes every entry of the given families that `match` selects, from one dump of the table;
   * returns how many went (an entry that expired meanwhile is not counted, and is no error).
   */
  deleteWhere(families: ReadonlyArray<4 | 6>, match: (e: CtEntry) => boolean): number;
  close(): void;
}

export function createConntrack(s: NetlinkSocket): Conntrack {
  return {
    deleteWhere(families, match) {
      if (families.length === 0) return 0;
      const fam = families.length === 1 ? (families[0] === 4 ? AF.INET : AF.INET6) : AF.UNSPEC;
      const msgs = s.dump(msgType(IPCTNL_MSG.GET), [nfgenmsg(fam)], "netlink IPCTNL_MSG_CT_GET (dump)");
      let deleted = 0;
      for (const m of msgs) {
        const d = decodeEntry(m);
        if (!d || !families.includes(d.entry.family) || !match(d.entry)) continue;
        try {
          s.ack(
            msgType(IPCTNL_MSG.DELETE),
            0,
            [nfgenmsg(d.entry.family === 4 ? AF.INET : AF.INET6), concat(d.key)],
            "netlink IPCTNL_MSG_CT_DELETE",
          );
          deleted++;
        } catch (e) {
          if (!isKernelError(e, "ENOENT")) throw e; // gone meanwhile
        }
      }
      return deleted;
    },
    close: () => s.close(),
  };
}

/** Conntrack on its own NETLINK_NETFILTER socket in `netns` (null: this process's), opened on first use. */
export function openConntrack(netns: string | null, addon: () => Addon = loadAddon): Conntrack {
  return createConntrack(openNfnetlink(addon, netns));
}

/** For tests: a dump message as the kernel sends one (orig and reply tuples, id). */
export function encodeEntry(e: CtEntry, id: number): Uint8Array {
  const tuple = (t: CtTuple) => {
    const ipb = (s: string) => {
      const v4 = /^\d+\.\d+\.\d+\.\d+$/.test(s);
      return v4 ? new Uint8Array(s.split(".").map(Number)) : undefined;
    };
    const src = ipb(t.src);
    const dst = ipb(t.dst);
    if (!src || !dst) throw new RangeError("encodeEntry: IPv4 only");
    const port = (n: number) => new Uint8Array([n >> 8, n & 0xff]);
    return concat([
      attr(CTA_TUPLE.IP | NLA_F.NESTED, concat([attr(CTA_IP.V4_SRC, src), attr(CTA_IP.V4_DST, dst)])),
      attr(
        CTA_TUPLE.PROTO | NLA_F.NESTED,
        concat([
          attr(CTA_PROTO.NUM, new Uint8Array([t.proto])),
          ...(t.srcPort !== undefined ? [attr(CTA_PROTO.SRC_PORT, port(t.srcPort))] : []),
          ...(t.dstPort !== undefined ? [attr(CTA_PROTO.DST_PORT, port(t.dstPort))] : []),
        ]),
      ),
    ]);
  };
  const idb = new Uint8Array([id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]);
  return concat([
    nfgenmsg(AF.INET),
    attr(CTA.TUPLE_ORIG | NLA_F.NESTED, tuple(e.orig)),
    ...(e.reply ? [attr(CTA.TUPLE_REPLY | NLA_F.NESTED, tuple(e.reply))] : []),
    attr(CTA.ID, idb),
  ]);
}

let own: Conntrack | undefined;
let ownClose: (() => void) | undefined;

/** A ctnetlink socket in this process's own netns for the life of the process (see ownNftNetlink: closing one can wait ≈16 ms); close() does nothing. */
export function ownConntrack(addon: () => Addon = loadAddon): Conntrack {
  if (!own) {
    const ct = openConntrack(null, addon);
    own = { ...ct, close: () => {} };
    ownClose = () => ct.close();
  }
  return own;
}

/** Closes the socket of ownConntrack, if open: a worker thread that ends (its descriptors are the process's). */
export function closeOwnConntrack(): void {
  const close = ownClose;
  own = undefined;
  ownClose = undefined;
  close?.();
}
