// nf_tables rule expressions (<linux/netfilter/nf_tables.h>): the few a rule of ours is made of,
// their netlink encoding, and the statements they come from, compiled exactly as nft 1.0 compiles
// them in an inet table (what `nft --debug=netlink` prints), so that a rule sent over netlink
// (nft-netlink.ts) lists the same as the rule text applied with `nft -f`:
//   meta nfproto ipv4            meta load nfproto → reg 1; cmp eq reg 1 0x02
//   ip saddr 10.0.0.0/24         payload load 3b @ network + 12; cmp (a byte-aligned prefix loads its bytes only)
//   ip saddr 10.0.16.0/20        payload load 4b; bitwise & mask ^ 0; cmp (any other prefix, /0 included)
//   ip daddr 10.0.0.1            payload load 4b @ network + 16; cmp
//   tcp dport 80                 meta load l4proto; cmp 6; payload load 2b @ transport + 2; cmp
//   jump CHAIN                   immediate reg 0 (verdict) jump CHAIN
//   dnat ip to 10.0.0.2:80       immediate reg 1 addr; immediate reg 2 port; nat dnat ip addr_min 1 proto_min 2 flags 0x2
// Numbers are big-endian (nft writes them with htonl); nested attributes carry NLA_F_NESTED.
import { ipToBytes, type Cidr, type IP } from "../ip/index.js";
import { NLA_F, attr, concat, cstr } from "./rtnl-codec.js";

/** An nf_tables register: 0 is the verdict, 1.. the 16-byte data registers (NFT_REG_1 …). */
type Reg = 0 | 1 | 2;

export type NftExpr =
  | { readonly expr: "meta"; readonly key: "nfproto" | "l4proto"; readonly dreg: Reg }
  /** `cmp eq` */
  | { readonly expr: "cmp"; readonly sreg: Reg; readonly data: Uint8Array }
  | {
      readonly expr: "payload";
      readonly base: "network" | "transport";
      readonly offset: number;
      readonly len: number;
      readonly dreg: Reg;
    }
  /** `reg = (reg & mask) ^ 0` */
  | { readonly expr: "bitwise"; readonly reg: Reg; readonly mask: Uint8Array }
  | { readonly expr: "immediate"; readonly dreg: Reg; readonly data: Uint8Array }
  /** `immediate reg 0 jump -> CHAIN` */
  | { readonly expr: "jump"; readonly chain: string }
  /** `nat dnat ip|ip6 addr_min reg A proto_min reg P flags 0x2` */
  | { readonly expr: "dnat"; readonly family: 4 | 6; readonly addrReg: Reg; readonly protoReg: Reg };

const NFTA_LIST_ELEM = 1;
const NFTA_EXPR = { NAME: 1, DATA: 2 } as const;
const NFTA_DATA = { VALUE: 1, VERDICT: 2 } as const;
const NFTA_VERDICT = { CODE: 1, CHAIN: 2 } as const;
const NFT_JUMP = -3;
const NFTA_META = { DREG: 1, KEY: 2 } as const;
const NFT_META_KEY = { nfproto: 15, l4proto: 16 } as const;
const NFTA_CMP = { SREG: 1, OP: 2, DATA: 3 } as const;
const NFT_CMP_EQ = 0;
const NFTA_PAYLOAD = { DREG: 1, BASE: 2, OFFSET: 3, LEN: 4 } as const;
const NFT_PAYLOAD_BASE = { network: 1, transport: 2 } as const;
const NFTA_BITWISE = { SREG: 1, DREG: 2, LEN: 3, MASK: 4, XOR: 5 } as const;
const NFTA_IMMEDIATE = { DREG: 1, DATA: 2 } as const;
const NFTA_NAT = { TYPE: 1, FAMILY: 2, REG_ADDR_MIN: 3, REG_PROTO_MIN: 5, FLAGS: 7 } as const;
const NFT_NAT_DNAT = 1;
const NF_NAT_RANGE_PROTO_SPECIFIED = 2;
const NFPROTO_IPV4 = 2;
const NFPROTO_IPV6 = 10;

/** A 32-bit number in network byte order, as nft writes every number attribute. */
function be32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n);
  return b;
}

const nest = (type: number, children: readonly Uint8Array[]) => attr(type | NLA_F.NESTED, concat(children));
const value = (type: number, data: Uint8Array) => nest(type, [attr(NFTA_DATA.VALUE, data)]);

/** NFTA_DATA_VERDICT of `jump CHAIN` (also the data of a verdict map's element). */
export function jumpVerdict(type: number, chain: string): Uint8Array {
  return nest(type, [
    nest(NFTA_DATA.VERDICT, [attr(NFTA_VERDICT.CODE, be32(NFT_JUMP)), attr(NFTA_VERDICT.CHAIN, cstr(chain))]),
  ]);
}

function exprData(e: NftExpr): { name: string; data: Uint8Array[] } {
  switch (e.expr) {
    case "meta":
      return {
        name: "meta",
        data: [attr(NFTA_META.KEY, be32(NFT_META_KEY[e.key])), attr(NFTA_META.DREG, be32(e.dreg))],
      };
    case "cmp":
      return {
        name: "cmp",
        data: [attr(NFTA_CMP.SREG, be32(e.sreg)), attr(NFTA_CMP.OP, be32(NFT_CMP_EQ)), value(NFTA_CMP.DATA, e.data)],
      };
    case "payload":
      return {
        name: "payload",
        data: [
          attr(NFTA_PAYLOAD.DREG, be32(e.dreg)),
          attr(NFTA_PAYLOAD.BASE, be32(NFT_PAYLOAD_BASE[e.base])),
          attr(NFTA_PAYLOAD.OFFSET, be32(e.offset)),
          attr(NFTA_PAYLOAD.LEN, be32(e.len)),
        ],
      };
    case "bitwise":
      return {
        name: "bitwise",
        data: [
          attr(NFTA_BITWISE.SREG, be32(e.reg)),
          attr(NFTA_BITWISE.DREG, be32(e.reg)),
          attr(NFTA_BITWISE.LEN, be32(e.mask.length)),
          value(NFTA_BITWISE.MASK, e.mask),
          value(NFTA_BITWISE.XOR, new Uint8Array(e.mask.length)),
        ],
      };
    case "immediate":
      return { name: "immediate", data: [attr(NFTA_IMMEDIATE.DREG, be32(e.dreg)), value(NFTA_IMMEDIATE.DATA, e.data)] };
    case "jump":
      return {
        name: "immediate",
        data: [attr(NFTA_IMMEDIATE.DREG, be32(0)), jumpVerdict(NFTA_IMMEDIATE.DATA, e.chain)],
      };
    case "dnat":
      return {
        name: "nat",
        data: [
          attr(NFTA_NAT.TYPE, be32(NFT_NAT_DNAT)),
          attr(NFTA_NAT.FAMILY, be32(e.family === 4 ? NFPROTO_IPV4 : NFPROTO_IPV6)),
          attr(NFTA_NAT.REG_ADDR_MIN, be32(e.addrReg)),
          attr(NFTA_NAT.REG_PROTO_MIN, be32(e.protoReg)),
          attr(NFTA_NAT.FLAGS, be32(NF_NAT_RANGE_PROTO_SPECIFIED)),
        ],
      };
  }
}

/** NFTA_RULE_EXPRESSIONS of a rule: one NFTA_LIST_ELEM {name, data} per expression. */
export function encodeExprs(type: number, exprs: readonly NftExpr[]): Uint8Array {
  return nest(
    type,
    exprs.map((e) => {
      const { name, data } = exprData(e);
      return nest(NFTA_LIST_ELEM, [attr(NFTA_EXPR.NAME, cstr(name)), nest(NFTA_EXPR.DATA, data)]);
    }),
  );
}

// ---- statements, as nft 1.0 compiles them in an inet table ----------------------------------------

const IP_HEADER = { 4: { saddr: 12, daddr: 16 }, 6: { saddr: 8, daddr: 24 } } as const;
const L4PROTO = { tcp: 6, udp: 17, sctp: 132 } as const;
export type NftL4Proto = keyof typeof L4PROTO;

/** `meta nfproto ipv4|ipv6` */
export const matchNfproto = (family: 4 | 6): NftExpr[] => [
  { expr: "meta", key: "nfproto", dreg: 1 },
  { expr: "cmp", sreg: 1, data: Uint8Array.of(family === 4 ? NFPROTO_IPV4 : NFPROTO_IPV6) },
];

/** `ip|ip6 saddr|daddr NET`: a host address compares the whole address, a byte-aligned prefix its bytes, any other a masked address. */
export function matchAddr(field: "saddr" | "daddr", net: Cidr): NftExpr[] {
  const bytes = ipToBytes(net.network);
  const offset = IP_HEADER[net.network.family][field];
  const whole = bytes.length * 8;
  if (net.prefix === whole || (net.prefix > 0 && net.prefix % 8 === 0)) {
    const len = net.prefix / 8;
    return [
      { expr: "payload", base: "network", offset, len, dreg: 1 },
      { expr: "cmp", sreg: 1, data: bytes.subarray(0, len) },
    ];
  }
  const mask = new Uint8Array(bytes.length);
  for (let i = 0; i < mask.length; i++) mask[i] = 0xff & ~(0xff >> Math.max(0, Math.min(8, net.prefix - i * 8)));
  return [
    { expr: "payload", base: "network", offset, len: bytes.length, dreg: 1 },
    { expr: "bitwise", reg: 1, mask },
    { expr: "cmp", sreg: 1, data: bytes },
  ];
}

/** `tcp|udp|sctp dport N` (in an inet table nft puts `meta l4proto P` before it). */
export const matchDport = (proto: NftL4Proto, port: number): NftExpr[] => [
  { expr: "meta", key: "l4proto", dreg: 1 },
  { expr: "cmp", sreg: 1, data: Uint8Array.of(L4PROTO[proto]) },
  { expr: "payload", base: "transport", offset: 2, len: 2, dreg: 1 },
  { expr: "cmp", sreg: 1, data: Uint8Array.of(port >> 8, port & 0xff) },
];

/** `jump CHAIN` */
export const jumpTo = (chain: string): NftExpr[] => [{ expr: "jump", chain }];

/** `dnat ip to ADDR:PORT` / `dnat ip6 to [ADDR]:PORT` */
export const dnatTo = (ip: IP, port: number): NftExpr[] => [
  { expr: "immediate", dreg: 1, data: ipToBytes(ip) },
  { expr: "immediate", dreg: 2, data: Uint8Array.of(port >> 8, port & 0xff) },
  { expr: "dnat", family: ip.family, addrReg: 1, protoReg: 2 },
];
