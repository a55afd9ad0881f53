// nf_tables over NETLINK_NETFILTER, without an `nft` process, for the few operations that are on
// a hot path and simple to encode: whether a table exists (one GET), its chains and the keys of a
// set (dumps), and a transaction sent as one nfnetlink batch — atomic, as `nft -f -` is: all of it
// or nothing — of deletions (set elements, the rules of a chain, chains, tables) and additions
// (a chain with a comment, a rule of the expressions of nft-expr.ts, a verdict map's `jump`
// element), encoded as nft 1.0 encodes them, so that `nft list` shows the same either way. An
// `nft` process costs a spawn and a listing of the ruleset it builds its cache from (which grows
// with the number of pods); a batch costs the kernel's commit alone. The nftables port (nft.ts)
// uses this when it has a socket; everything else (tables, sets, hooks, other rules) stays with
// `nft`. Layouts: <linux/netfilter/nf_tables.h>; the socket is NetlinkSocket, the framing nfnetlink.ts.
import { loadAddon, type Addon } from "./addon.js";
import { isKernelError } from "./errors.js";
import type { NetlinkSocket } from "./netlink-socket.js";
import { encodeExprs, jumpVerdict, type NftExpr } from "./nft-expr.js";
import { NFNL_SUBSYS, nfgenmsg, nfnlBatch, nfnlType, openNfnetlink } from "./nfnetlink.js";
import { NLA_F, NLM_F, attr, concat, cstr, iterAttrs, nested, parseAttrs, readStr } from "./rtnl-codec.js";

const NFT_MSG = {
  GETTABLE: 1,
  DELTABLE: 2,
  NEWCHAIN: 3,
  GETCHAIN: 4,
  DELCHAIN: 5,
  NEWRULE: 6,
  DELRULE: 8,
  NEWSETELEM: 12,
  GETSETELEM: 13,
  DELSETELEM: 14,
} as const;
const NFTA_TABLE_NAME = 1;
const NFTA_CHAIN = { TABLE: 1, NAME: 3, USERDATA: 12 } as const;
const NFTA_RULE = { TABLE: 1, CHAIN: 2, EXPRESSIONS: 4 } as const;
const NFTA_SET_ELEM_LIST = { TABLE: 1, SET: 2, ELEMENTS: 3 } as const;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
const NFTA_DATA_VALUE = 1;
/** libnftnl's user data TLV of a chain's comment (NFTNL_UDATA_CHAIN_COMMENT). */
const UDATA_CHAIN_COMMENT = 0;

/** NFPROTO_* of nft's family keywords. */
export const NFPROTO = { inet: 1, ip: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10 } as const;
export type NftFamilyName = keyof typeof NFPROTO;

/** One deletion of a transaction, as the nft command that does the same. */
export type NftDelete =
  /** `delete element FAMILY TABLE SET { KEY }`: `key` as the kernel holds it (see nftKey), `keyText` as nft writes it ("tcp . 8080") */
  | {
      readonly op: "delElement";
      readonly family: NftFamilyName;
      readonly table: string;
      readonly set: string;
      readonly key: Uint8Array;
      readonly keyText: string;
    }
  /** `flush chain FAMILY TABLE CHAIN` */
  | { readonly op: "flushChain"; readonly family: NftFamilyName; readonly table: string; readonly chain: string }
  /** `delete chain FAMILY TABLE CHAIN` */
  | { readonly op: "delChain"; readonly family: NftFamilyName; readonly table: string; readonly chain: string }
  /** `delete table FAMILY TABLE` (and everything in it) */
  | { readonly op: "delTable"; readonly family: NftFamilyName; readonly table: string };

/** One addition of a transaction, as the nft command that does the same (see opCommand). */
export type NftAdd =
  /** `add chain FAMILY TABLE CHAIN { comment "…" ; }` (or without a comment): a regular chain, kept if it exists */
  | {
      readonly op: "addChain";
      readonly family: NftFamilyName;
      readonly table: string;
      readonly chain: string;
      readonly comment?: string;
    }
  /** `add rule FAMILY TABLE CHAIN RULE`: `rule` is the text nft would be given, `exprs` what nft compiles it to */
  | {
      readonly op: "addRule";
      readonly family: NftFamilyName;
      readonly table: string;
      readonly chain: string;
      readonly rule: string;
      readonly exprs: readonly NftExpr[];
    }
  /** `add element FAMILY TABLE MAP { KEY : jump CHAIN }`: `key` as in NftDelete's delElement */
  | {
      readonly op: "addJump";
      readonly family: NftFamilyName;
      readonly table: string;
      readonly set: string;
      readonly key: Uint8Array;
      readonly keyText: string;
      readonly chain: string;
    };

/** One command of a transaction the port may send over netlink. */
export type NftOp = NftAdd | NftDelete;

/** A string as an nft quoted literal (comments). nft has no escapes: `"` and newlines are replaced. */
export function nftString(s: string): string {
  return `"${nftStringValue(s)}"`;
}
const nftStringValue = (s: string) => s.replace(/["\\\n\r]/g, "_");

/** A set key: the concatenation of its fields, each padded to 4 bytes (as nft's `a . b . c`). */
export function nftKey(fields: readonly Uint8Array[]): Uint8Array {
  return concat(fields.map((f) => (f.length % 4 === 0 ? f : concat([f, new Uint8Array(4 - (f.length % 4))]))));
}

const nftType = (m: number) => nfnlType(NFNL_SUBSYS.NFTABLES, m);
const isDelete = (o: NftOp): o is NftDelete =>
  o.op === "delElement" || o.op === "flushChain" || o.op === "delChain" || o.op === "delTable";

/** The attributes of a one-element set element list: the table, the set, the key and what else the element holds. */
function setElement(table: string, set: string, key: Uint8Array, extra: Uint8Array[] = []): Uint8Array[] {
  return [
    attr(NFTA_SET_ELEM_LIST.TABLE, cstr(table)),
    attr(NFTA_SET_ELEM_LIST.SET, cstr(set)),
    nested(NFTA_SET_ELEM_LIST.ELEMENTS | NLA_F.NESTED, [
      nested(NFTA_LIST_ELEM | NLA_F.NESTED, [
        nested(NFTA_SET_ELEM_KEY | NLA_F.NESTED, [attr(NFTA_DATA_VALUE, key)]),
        ...extra,
      ]),
    ]),
  ];
}

/** The body of one deletion's message (after nfgenmsg), and its type. */
export function encodeDelete(d: NftDelete): { type: number; body: Uint8Array[] } {
  const fam = nfgenmsg(NFPROTO[d.family]);
  switch (d.op) {
    case "delElement":
      return {
        type: nftType(NFT_MSG.DELSETELEM),
        body: [fam, ...setElement(d.table, d.set, d.key)],
      };
    case "flushChain":
      return {
        type: nftType(NFT_MSG.DELRULE),
        body: [fam, attr(NFTA_RULE.TABLE, cstr(d.table)), attr(NFTA_RULE.CHAIN, cstr(d.chain))],
      };
    case "delChain":
      return {
        type: nftType(NFT_MSG.DELCHAIN),
        body: [fam, attr(NFTA_CHAIN.TABLE, cstr(d.table)), attr(NFTA_CHAIN.NAME, cstr(d.chain))],
      };
    case "delTable":
      return { type: nftType(NFT_MSG.DELTABLE), body: [fam, attr(NFTA_TABLE_NAME, cstr(d.table))] };
  }
}

/** The body of one addition's message (after nfgenmsg), its type and flags (those of nft's `add`). */
export function encodeAdd(a: NftAdd): { type: number; flags: number; body: Uint8Array[] } {
  const fam = nfgenmsg(NFPROTO[a.family]);
  switch (a.op) {
    case "addChain": {
      const body = [fam, attr(NFTA_CHAIN.TABLE, cstr(a.table)), attr(NFTA_CHAIN.NAME, cstr(a.chain))];
      if (a.comment !== undefined) {
        const text = cstr(nftStringValue(a.comment));
        if (text.length > 255) throw new RangeError(`nft: comment of chain ${a.chain} is longer than 254 bytes`);
        body.push(attr(NFTA_CHAIN.USERDATA, concat([Uint8Array.of(UDATA_CHAIN_COMMENT, text.length), text])));
      }
      return { type: nftType(NFT_MSG.NEWCHAIN), flags: NLM_F.CREATE, body };
    }
    case "addRule":
      return {
        type: nftType(NFT_MSG.NEWRULE),
        flags: NLM_F.CREATE | NLM_F.APPEND,
        body: [
          fam,
          attr(NFTA_RULE.TABLE, cstr(a.table)),
          attr(NFTA_RULE.CHAIN, cstr(a.chain)),
          encodeExprs(NFTA_RULE.EXPRESSIONS, a.exprs),
        ],
      };
    case "addJump":
      return {
        type: nftType(NFT_MSG.NEWSETELEM),
        flags: NLM_F.CREATE,
        body: [fam, ...setElement(a.table, a.set, a.key, [jumpVerdict(NFTA_SET_ELEM_DATA, a.chain)])],
      };
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

/** The nft command that does what an operation does. */
export function opCommand(d: NftOp): string {
  const t = `${d.family} ${d.table}`;
  if (d.op === "addChain")
    return `add chain ${t} ${d.chain}${d.comment === undefined ? "" : ` { comment ${nftString(d.comment)} ; }`}`;
  if (d.op === "addRule") return `add rule ${t} ${d.chain} ${d.rule}`;
  if (d.op === "addJump") return `add element ${t} ${d.set} { ${d.keyText} : jump ${d.chain} }`;
  if (d.op === "delElement") return `delete element ${d.family} ${d.table} ${d.set} { ${d.keyText} }`;
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
   * (ENOENT: something is not there; EBUSY: a chain still in use; EEXIST: a map key held with
   * another verdict), its op "nft " + the failing operation's command; then nothing was changed.
   */
  apply(ops: readonly NftOp[]): void;
  close(): void;
}

export interface NftNetlinkOptions {
  /** Longest wait for one reply datagram; default 10 s. */
  readonly timeoutMs?: number;
}

export function createNftNetlink(s: NetlinkSocket): NftNetlink {
  return {
    chains(family, table) {
      const op = `netlink NFT_MSG_GETCHAIN ${family} ${table}`;
      const out: string[] = [];
      for (const m of s.dump(
        nftType(NFT_MSG.GETCHAIN),
        [nfgenmsg(NFPROTO[family]), attr(NFTA_CHAIN.TABLE, cstr(table))],
        op,
      )) {
        const a = parseAttrs(m.payload, 4);
        const t = a.get(NFTA_CHAIN.TABLE);
        const n = a.get(NFTA_CHAIN.NAME);
        if (t && n && readStr(t) === table) out.push(readStr(n));
      }
      return out;
    },
    setKeys(family, table, set) {
      const op = `netlink NFT_MSG_GETSETELEM ${family} ${table} ${set}`;
      const body = [
        nfgenmsg(NFPROTO[family]),
        attr(NFTA_SET_ELEM_LIST.TABLE, cstr(table)),
        attr(NFTA_SET_ELEM_LIST.SET, cstr(set)),
      ];
      try {
        return s.dump(nftType(NFT_MSG.GETSETELEM), body, op).flatMap((m) => decodeSetElemKeys(m.payload));
      } catch (e) {
        if (isKernelError(e, "ENOENT")) return undefined;
        throw e;
      }
    },
    tableExists(family, name) {
      try {
        s.request(
          nftType(NFT_MSG.GETTABLE),
          0,
          [nfgenmsg(NFPROTO[family]), attr(NFTA_TABLE_NAME, cstr(name))],
          `netlink NFT_MSG_GETTABLE ${family} ${name}`,
        );
        return true;
      } catch (e) {
        if (isKernelError(e, "ENOENT")) return false;
        throw e;
      }
    },
    apply(ops) {
      const msgs = ops.map((d) => ({ ...(isDelete(d) ? encodeDelete(d) : encodeAdd(d)), op: `nft ${opCommand(d)}` }));
      nfnlBatch(s, NFNL_SUBSYS.NFTABLES, msgs, `nft transaction of ${ops.length} commands`);
    },
    close: () => s.close(),
  };
}

/** nf_tables on its own NETLINK_NETFILTER socket in `netns` (null: this process's), opened on first use. */
export function openNftNetlink(
  netns: string | null,
  addon: () => Addon = loadAddon,
  opts: NftNetlinkOptions = {},
): NftNetlink {
  return createNftNetlink(openNfnetlink(addon, netns, opts));
}

let own: NftNetlink | undefined;
let ownClose: (() => void) | undefined;

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
    ownClose = () => nl.close();
  }
  return own;
}

/** Closes the socket of ownNftNetlink, if open: a worker thread that ends (its descriptors are the process's). */
export function closeOwnNftNetlink(): void {
  const close = ownClose;
  own = undefined;
  ownClose = undefined;
  close?.();
}
