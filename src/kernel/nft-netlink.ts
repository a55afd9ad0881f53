// nf_tables over NETLINK_NETFILTER, without an `nft` process, for the few operations that are on
// a hot path and simple to encode: whether a table exists (one GET), and a transaction of
// deletions (set elements, the rules of a chain, chains) sent as one nfnetlink batch — atomic, as
// `nft -f -` is: all of it or nothing. An `nft` process costs a spawn and a listing of the
// ruleset it builds its cache from (which grows with the number of pods); a batch costs the
// kernel's commit alone. Everything else (rules, which need expressions) stays with `nft`.
// Layouts: <linux/netfilter/nfnetlink.h>, <linux/netfilter/nf_tables.h>.
import { loadAddon, type Addon } from "./addon.js";
import { KernelError, fromSystemError } from "./errors.js";
import { NLM_F, NLMSG, attr, concat, cstr, decodeError, encodeMessage, iterAttrs, nested, parseAttrs, parseMessages, readI32, readStr } from "./rtnl-codec.js";

const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NETLINK_NETFILTER = 12;
const NFT_MSG = { GETTABLE: 1, DELTABLE: 2, NEWCHAIN: 3, GETCHAIN: 4, DELCHAIN: 5, DELRULE: 8, NEWSETELEM: 12, GETSETELEM: 13, DELSETELEM: 14 } as const;
const NFTA_TABLE_NAME = 1;
const NFTA_CHAIN = { TABLE: 1, NAME: 3 } as const;
const NFTA_RULE = { TABLE: 1, CHAIN: 2 } as const;
const NFTA_SET_ELEM_LIST = { TABLE: 1, SET: 2, ELEMENTS: 3 } as const;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_DATA_VALUE = 1;
const NLA_F_NESTED = 0x8000;

/** NFPROTO_* of nft's family keywords. */
export const NFPROTO = { inet: 1, ip: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10 } as const;
export type NftFamilyName = keyof typeof NFPROTO;

/** One deletion of a transaction, as the nft command that does the same. */
export type NftDelete =
  /** `delete element FAMILY TABLE SET { KEY }` (KEY encoded: see nftKey) */
  | { readonly op: "delElement"; readonly family: NftFamilyName; readonly table: string; readonly set: string; readonly key: Uint8Array }
  /** `flush chain FAMILY TABLE CHAIN` */
  | { readonly op: "flushChain"; readonly family: NftFamilyName; readonly table: string; readonly chain: string }
  /** `delete chain FAMILY TABLE CHAIN` */
  | { readonly op: "delChain"; readonly family: NftFamilyName; readonly table: string; readonly chain: string }
  /** `delete table FAMILY TABLE` (and everything in it) */
  | { readonly op: "delTable"; readonly family: NftFamilyName; readonly table: string };

/** A set key: the concatenation of its fields, each padded to 4 bytes (as nft's `a . b . c`). */
export function nftKey(fields: readonly Uint8Array[]): Uint8Array {
  return concat(fields.map((f) => (f.length % 4 === 0 ? f : concat([f, new Uint8Array(4 - (f.length % 4))]))));
}

/** nfgenmsg: family u8, version u8 (NFNETLINK_V0), res_id be16. */
const nfgenmsg = (family: number, resId = 0) => new Uint8Array([family, 0, resId >> 8, resId & 0xff]);
const nftType = (m: number) => (NFNL_SUBSYS_NFTABLES << 8) | m;

/** The body of one deletion's message (after nfgenmsg), and its type. */
export function encodeDelete(d: NftDelete): { type: number; body: Uint8Array[] } {
  const fam = nfgenmsg(NFPROTO[d.family]);
  switch (d.op) {
    case "delElement":
      return {
        type: nftType(NFT_MSG.DELSETELEM),
        body: [
          fam,
          attr(NFTA_SET_ELEM_LIST.TABLE, cstr(d.table)),
          attr(NFTA_SET_ELEM_LIST.SET, cstr(d.set)),
          nested(NFTA_SET_ELEM_LIST.ELEMENTS | NLA_F_NESTED, [
            nested(NFTA_LIST_ELEM | NLA_F_NESTED, [nested(NFTA_SET_ELEM_KEY | NLA_F_NESTED, [attr(NFTA_DATA_VALUE, d.key)])]),
          ]),
        ],
      };
    case "flushChain":
      return { type: nftType(NFT_MSG.DELRULE), body: [fam, attr(NFTA_RULE.TABLE, cstr(d.table)), attr(NFTA_RULE.CHAIN, cstr(d.chain))] };
    case "delChain":
      return { type: nftType(NFT_MSG.DELCHAIN), body: [fam, attr(NFTA_CHAIN.TABLE, cstr(d.table)), attr(NFTA_CHAIN.NAME, cstr(d.chain))] };
    case "delTable":
      return { type: nftType(NFT_MSG.DELTABLE), body: [fam, attr(NFTA_TABLE_NAME, cstr(d.table))] };
  }
}

/** The keys (NFTA_DATA_VALUE bytes) of a NEWSETELEM message's elements. */
export function decodeSetElemKeys(payload: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const list = parseAttrs(payload, 4).get(NFTA_SET_ELEM_LIST.ELEMENTS);
  if (!list) return out;
  for (const [t, el] of iterAttrs(list)) {
    if (t !== NFTA_LIST_ELEM) continue;
    const key = parseAttrs(el).get(NFTA_SET_ELEM_KEY);
    const value = key ? parseAttrs(key).get(NFTA_DATA_VALUE) : undefined;
    if (value) out.push(value);
  }
  return out;
}

/** The nft command of a deletion (for messages). */
export function describeDelete(d: NftDelete): string {
  if (d.op === "delElement") return `delete element ${d.family} ${d.table} ${d.set} { 0x${Buffer.from(d.key).toString("hex")} }`;
  if (d.op === "delTable") return `delete table ${d.family} ${d.table}`;
  return `${d.op === "flushChain" ? "flush" : "delete"} chain ${d.family} ${d.table} ${d.chain}`;
}

export interface NftNetlink {
  /** `nft list table FAMILY NAME` succeeds. */
  tableExists(family: NftFamilyName, name: string): boolean;
  /** The chains of a table, by name ([] when there is no such table). */
  chains(family: NftFamilyName, table: string): string[];
  /** The keys of a set's (or map's) elements, as the kernel holds them; undefined when there is no such set. */
  setKeys(family: NftFamilyName, table: string, set: string): Uint8Array[] | undefined;
  /**
   * One atomic transaction (an nfnetlink batch). Throws a KernelError with the kernel's errno
   * (ENOENT: something is not there; EBUSY: a chain still in use), naming the failing deletion;
   * then nothing was changed.
   */
  apply(deletes: readonly NftDelete[]): void;
  close(): void;
}

export interface NftNetlinkOptions {
  /** Longest wait for one reply datagram; default 10 s. */
  readonly timeoutMs?: number;
}

export function openNftNetlink(netns: string | null, addon: () => Addon = loadAddon, opts: NftNetlinkOptions = {}): NftNetlink {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let fd = -1;
  let seq = Math.floor(Math.random() * 0x3fffffff) + 1;
  const open = (): number => {
    if (fd < 0) {
      try {
        fd = addon().nlOpen(netns, NETLINK_NETFILTER);
      } catch (e) {
        throw fromSystemError(`netlink (netfilter) socket in netns ${JSON.stringify(netns ?? "(self)")}`, e);
      }
    }
    return fd;
  };
  const close = () => {
    if (fd >= 0) {
      const f = fd;
      fd = -1;
      addon().close(f);
    }
  };
  /** One datagram of replies; on a timeout the socket is closed, so a late answer is never read as another request's. */
  const recv = (a: Addon, f: number, op: string): Buffer => {
    let d: Buffer | null;
    try {
      d = a.nlRecv(f, timeoutMs);
    } catch (e) {
      throw fromSystemError(op, e);
    }
    if (d === null) {
      close();
      throw new KernelError(op, "ETIMEDOUT", { extack: `no netlink reply within ${timeoutMs} ms` });
    }
    return d;
  };
  /**
   * Sends `buf` (one or more messages) in one datagram and waits for an NLMSG_ERROR (ack or
   * error) to each of `acked` (sequence numbers); an error to one of `framing` (the batch's
   * begin and end, which ask for no ack) fails the whole exchange. Returns the other messages
   * answering `acked`. Anything else (a late answer to an earlier request) is skipped.
   */
  const exchange = (buf: Uint8Array, acked: ReadonlyMap<number, string>, op: string, framing: ReadonlySet<number> = new Set()): Array<{ type: number; seq: number; payload: Uint8Array }> => {
    const f = open();
    const a = addon();
    try {
      a.nlSend(f, buf);
    } catch (e) {
      throw fromSystemError(op, e);
    }
    const pending = new Set(acked.keys());
    const out: Array<{ type: number; seq: number; payload: Uint8Array }> = [];
    let first: KernelError | undefined;
    while (pending.size > 0) {
      const d = recv(a, f, op);
      for (const m of parseMessages(d)) {
        if (m.type === NLMSG.ERROR) {
          const err = decodeError(m);
          if (!pending.has(m.seq)) {
            // An error to the batch's begin or end: the batch failed as a whole.
            if (framing.has(m.seq) && err.error !== 0) throw new KernelError(op, -err.error, { extack: err.extack });
            continue;
          }
          pending.delete(m.seq);
          if (err.error !== 0) first ??= new KernelError(acked.get(m.seq) ?? op, -err.error, { extack: err.extack });
        } else if (acked.has(m.seq)) {
          out.push({ type: m.type, seq: m.seq, payload: m.payload });
        }
      }
    }
    if (first) throw first;
    return out;
  };
  const next = () => (seq = (seq + 1) >>> 0 || 1);
  /** A GET with NLM_F_DUMP: every message up to NLMSG_DONE (retried when interrupted by a change). */
  const dump = (type: number, body: Uint8Array[], op: string): Uint8Array[] => {
    for (let attempt = 1; ; attempt++) {
      const s = next();
      const f = open();
      const a = addon();
      try {
        a.nlSend(f, encodeMessage(type, NLM_F.REQUEST | NLM_F.DUMP, s, body));
      } catch (e) {
        throw fromSystemError(op, e);
      }
      const out: Uint8Array[] = [];
      let interrupted = false;
      for (let done = false; !done; ) {
        const d = recv(a, f, op);
        for (const m of parseMessages(d)) {
          if (m.seq !== s) continue;
          if (m.flags & NLM_F.DUMP_INTR) interrupted = true;
          if (m.type === NLMSG.ERROR) {
            const err = decodeError(m);
            if (err.error !== 0) throw new KernelError(op, -err.error, { extack: err.extack });
            done = true;
          } else if (m.type === NLMSG.DONE) {
            const err = m.payload.length >= 4 ? readI32(m.payload) : 0;
            if (err < 0) throw new KernelError(op, -err);
            done = true;
          } else {
            out.push(m.payload);
          }
        }
      }
      if (!interrupted) return out;
      if (attempt >= 5) throw new KernelError(op, "EINTR", { extack: "dump interrupted by concurrent changes" });
    }
  };
  return {
    chains(family, table) {
      const op = `netlink NFT_MSG_GETCHAIN ${family} ${table}`;
      const out: string[] = [];
      for (const p of dump(nftType(NFT_MSG.GETCHAIN), [nfgenmsg(NFPROTO[family]), attr(NFTA_CHAIN.TABLE, cstr(table))], op)) {
        const a = parseAttrs(p, 4);
        const t = a.get(NFTA_CHAIN.TABLE);
        const n = a.get(NFTA_CHAIN.NAME);
        if (t && n && readStr(t) === table) out.push(readStr(n));
      }
      return out;
    },
    setKeys(family, table, set) {
      const op = `netlink NFT_MSG_GETSETELEM ${family} ${table} ${set}`;
      try {
        return dump(nftType(NFT_MSG.GETSETELEM), [nfgenmsg(NFPROTO[family]), attr(NFTA_SET_ELEM_LIST.TABLE, cstr(table)), attr(NFTA_SET_ELEM_LIST.SET, cstr(set))], op).flatMap(decodeSetElemKeys);
      } catch (e) {
        if (e instanceof KernelError && e.errno === "ENOENT") return undefined;
        throw e;
      }
    },
    tableExists(family, name) {
      const s = next();
      const op = `netlink NFT_MSG_GETTABLE ${family} ${name}`;
      const msg = encodeMessage(nftType(NFT_MSG.GETTABLE), NLM_F.REQUEST | NLM_F.ACK, s, [nfgenmsg(NFPROTO[family]), attr(NFTA_TABLE_NAME, cstr(name))]);
      try {
        exchange(msg, new Map([[s, op]]), op);
        return true;
      } catch (e) {
        if (e instanceof KernelError && e.errno === "ENOENT") return false;
        throw e;
      }
    },
    apply(deletes) {
      if (deletes.length === 0) return;
      const parts: Uint8Array[] = [];
      const acked = new Map<number, string>();
      const hdr = nfgenmsg(0, NFNL_SUBSYS_NFTABLES);
      const begin = next();
      parts.push(encodeMessage(NFNL_MSG_BATCH_BEGIN, NLM_F.REQUEST, begin, [hdr]));
      for (const d of deletes) {
        const s = next();
        const { type, body } = encodeDelete(d);
        parts.push(encodeMessage(type, NLM_F.REQUEST | NLM_F.ACK, s, body));
        acked.set(s, `nft ${describeDelete(d)}`);
      }
      const end = next();
      parts.push(encodeMessage(NFNL_MSG_BATCH_END, NLM_F.REQUEST, end, [hdr]));
      exchange(concat(parts), acked, `nft transaction of ${deletes.length} deletions`, new Set([begin, end]));
    },
    close,
  };
}

let own: NftNetlink | undefined;

/**
 * A socket in this process's own netns for the life of the process; its close() does nothing.
 * Closing a NETLINK_NETFILTER socket waits for the RCU grace period of any nf_tables deletion
 * still being released (nf_tables flushes its destroy work when a socket goes away, ≈16 ms): a
 * socket that stays open lets that period pass in the background.
 */
export function ownNftNetlink(addon: () => Addon = loadAddon): NftNetlink {
  if (!own) {
    const nl = openNftNetlink(null, addon);
    own = { ...nl, close: () => {} };
  }
  return own;
}
