// rtnetlink wire format, pure: nlmsghdr, ifinfomsg, ifaddrmsg, rtmsg, ndmsg, nested attributes, and
// the decoding of links, addresses, routes, neighbours and FDB entries into the types of types.ts.
// No I/O here; see netlink-socket.ts for the transport. Layouts are those of <linux/netlink.h>,
// <linux/rtnetlink.h>, <linux/if_link.h>, <linux/if_addr.h>, <linux/neighbour.h>; integers are in
// host byte order, addresses (and the few ports marked be16) in network order.
import { formatMac, inetText } from "./inet.js";
import type {
  Addr,
  AddrFamily,
  FdbEntry,
  Link,
  Neigh,
  OperState,
  Route,
  RouteType,
  Scope,
  VxlanInfo,
} from "./types.js";

// ---- constants ------------------------------------------------------------------------------

export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;

export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP_INTR: 0x10,
  DUMP_FILTERED: 0x20,
  // GET requests
  ROOT: 0x100,
  MATCH: 0x200,
  ATOMIC: 0x400,
  DUMP: 0x300,
  // NEW requests (same bits as ROOT/MATCH: decide "dump?" from the message type, never from flags)
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
  // NLMSG_ERROR (ack) flags
  CAPPED: 0x100,
  ACK_TLVS: 0x200,
} as const;

export const NLMSGERR_ATTR = { MSG: 1, OFFS: 2, COOKIE: 3 } as const;

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
  NEWNEIGH: 28,
  DELNEIGH: 29,
  GETNEIGH: 30,
} as const;

const RTM_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RTM).map(([k, v]) => [v, `RTM_${k}`]));
export function rtmName(type: number): string {
  return RTM_NAMES[type] ?? `RTM_${type}`;
}

export const AF = { UNSPEC: 0, INET: 2, BRIDGE: 7, INET6: 10 } as const;

export const IFF = {
  UP: 0x1,
  BROADCAST: 0x2,
  LOOPBACK: 0x8,
  POINTOPOINT: 0x10,
  RUNNING: 0x40,
  NOARP: 0x80,
  PROMISC: 0x100,
  MULTICAST: 0x1000,
  LOWER_UP: 0x10000,
} as const;

export const IFLA = {
  ADDRESS: 1,
  BROADCAST: 2,
  IFNAME: 3,
  MTU: 4,
  LINK: 5,
  QDISC: 6,
  STATS: 7,
  MASTER: 10,
  PROTINFO: 12,
  TXQLEN: 13,
  OPERSTATE: 16,
  LINKMODE: 17,
  LINKINFO: 18,
  NET_NS_PID: 19,
  IFALIAS: 20,
  AF_SPEC: 26,
  GROUP: 27,
  NET_NS_FD: 28,
  EXT_MASK: 29,
  PROMISCUITY: 30,
  LINK_NETNSID: 37,
} as const;

export const IFLA_INFO = { KIND: 1, DATA: 2, XSTATS: 3, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;
export const VETH_INFO_PEER = 1;
/** IFLA_INFO_DATA of a vxlan link (<linux/if_link.h>); PORT is be16. */
export const IFLA_VXLAN = {
  ID: 1,
  GROUP: 2,
  LINK: 3,
  LOCAL: 4,
  TTL: 5,
  TOS: 6,
  LEARNING: 7,
  AGEING: 8,
  PORT: 15,
  GROUP6: 16,
  LOCAL6: 17,
} as const;
/** The UDP port of a vxlan link when none is given: IANA's VXLAN port (Linux's own default is 8472). */
export const VXLAN_DEFAULT_PORT = 4789;
export const IFLA_BR = { VLAN_FILTERING: 7 } as const;
export const IFLA_BRPORT = {
  STATE: 1,
  PRIORITY: 2,
  COST: 3,
  MODE: 4,
  GUARD: 5,
  PROTECT: 6,
  FAST_LEAVE: 7,
  LEARNING: 8,
} as const;
export const IFLA_BRIDGE = { FLAGS: 0, MODE: 1, VLAN_INFO: 2 } as const;
export const BRIDGE_FLAGS = { MASTER: 1, SELF: 2 } as const;
export const BRIDGE_VLAN_INFO = { MASTER: 1, PVID: 2, UNTAGGED: 4 } as const;
export const RTEXT_FILTER = { VF: 1, BRVLAN: 2, BRVLAN_COMPRESSED: 4, SKIP_STATS: 8 } as const;

export const IFA = {
  ADDRESS: 1,
  LOCAL: 2,
  LABEL: 3,
  BROADCAST: 4,
  ANYCAST: 5,
  CACHEINFO: 6,
  MULTICAST: 7,
  FLAGS: 8,
} as const;
export const IFA_F = {
  SECONDARY: 0x1,
  NODAD: 0x2,
  OPTIMISTIC: 0x4,
  DADFAILED: 0x8,
  HOMEADDRESS: 0x10,
  DEPRECATED: 0x20,
  TENTATIVE: 0x40,
  PERMANENT: 0x80,
  MANAGETEMPADDR: 0x100,
  NOPREFIXROUTE: 0x200,
} as const;

export const RTA = {
  DST: 1,
  SRC: 2,
  IIF: 3,
  OIF: 4,
  GATEWAY: 5,
  PRIORITY: 6,
  PREFSRC: 7,
  METRICS: 8,
  MULTIPATH: 9,
  FLOW: 11,
  CACHEINFO: 12,
  TABLE: 15,
  MARK: 16,
  PREF: 20,
} as const;
export const RTAX_MTU = 2;
export const RTNH_F_ONLINK = 4;
export const RTM_F_CLONED = 0x200;

/** ndmsg attributes (<linux/neighbour.h>); NDA_PORT is be16. */
export const NDA = {
  DST: 1,
  LLADDR: 2,
  CACHEINFO: 3,
  PROBES: 4,
  VLAN: 5,
  PORT: 6,
  VNI: 7,
  IFINDEX: 8,
  MASTER: 9,
  LINK_NETNSID: 10,
  SRC_VNI: 11,
  PROTOCOL: 12,
} as const;
/** ndm_state bits. */
export const NUD = {
  INCOMPLETE: 0x01,
  REACHABLE: 0x02,
  STALE: 0x04,
  DELAY: 0x08,
  PROBE: 0x10,
  FAILED: 0x20,
  NOARP: 0x40,
  PERMANENT: 0x80,
} as const;
/** ndm_flags bits. */
export const NTF = {
  USE: 0x01,
  SELF: 0x02,
  MASTER: 0x04,
  PROXY: 0x08,
  EXT_LEARNED: 0x10,
  OFFLOADED: 0x20,
  STICKY: 0x40,
  ROUTER: 0x80,
} as const;

/** rtm_protocol values (`/etc/iproute2/rt_protos`). */
export const RTPROT = { UNSPEC: 0, REDIRECT: 1, KERNEL: 2, BOOT: 3, STATIC: 4, RA: 9, DHCP: 16 } as const;
/** Routing tables. */
export const RT_TABLE = { UNSPEC: 0, DEFAULT: 253, MAIN: 254, LOCAL: 255 } as const;

const SCOPES: Record<string, number> = { universe: 0, site: 200, link: 253, host: 254, nowhere: 255 };
const SCOPE_NAMES: Record<number, Scope> = { 0: "universe", 200: "site", 253: "link", 254: "host", 255: "nowhere" };
export function scopeNumber(s: Scope): number {
  return typeof s === "number" ? s : SCOPES[s]!;
}
export function scopeName(n: number): Scope {
  return SCOPE_NAMES[n] ?? n;
}

const RTN_TYPES = [
  "unspec",
  "unicast",
  "local",
  "broadcast",
  "anycast",
  "multicast",
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
  "nat",
] as const;
export function routeTypeNumber(t: RouteType): number {
  if (typeof t === "number") return t;
  const i = (RTN_TYPES as readonly string[]).indexOf(t);
  if (i < 1) throw new RangeError(`unknown route type "${t}"`);
  return i;
}
export function routeTypeName(n: number): RouteType {
  return n >= 1 && n < RTN_TYPES.length ? (RTN_TYPES[n] as RouteType) : n;
}

const OPERSTATES: readonly OperState[] = [
  "unknown",
  "notpresent",
  "down",
  "lowerlayerdown",
  "testing",
  "dormant",
  "up",
];

export function familyToAf(f: AddrFamily): number {
  return f === 4 ? AF.INET : AF.INET6;
}

// ---- host byte order --------------------------------------------------------------------------

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function u8(n: number): Uint8Array {
  return Uint8Array.of(n & 0xff);
}
export function u16(n: number): Uint8Array {
  const b = new Uint8Array(2);
  view(b).setUint16(0, n, LE);
  return b;
}
export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  view(b).setUint32(0, n >>> 0, LE);
  return b;
}
export function i32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  view(b).setInt32(0, n, LE);
  return b;
}
/** NUL-terminated string. */
export function cstr(s: string): Uint8Array {
  const b = new Uint8Array(Buffer.byteLength(s) + 1);
  Buffer.from(b.buffer, b.byteOffset, b.length).write(s);
  return b;
}

export function readU16(b: Uint8Array, off = 0): number {
  return view(b).getUint16(off, LE);
}
export function readU32(b: Uint8Array, off = 0): number {
  return view(b).getUint32(off, LE);
}
/** A 16-bit integer in network byte order (ports). */
export function be16(n: number): Uint8Array {
  return Uint8Array.of((n >> 8) & 0xff, n & 0xff);
}
export function readBe16(b: Uint8Array, off = 0): number {
  return (b[off]! << 8) | b[off + 1]!;
}
export function readI32(b: Uint8Array, off = 0): number {
  return view(b).getInt32(off, LE);
}
/** A NUL-terminated (or not) string attribute. */
export function readStr(b: Uint8Array): string {
  const nul = b.indexOf(0);
  const s = nul < 0 ? b : b.subarray(0, nul);
  return Buffer.from(s.buffer, s.byteOffset, s.length).toString("utf8");
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const align4 = (n: number) => (n + 3) & ~3;

// ---- attributes -------------------------------------------------------------------------------

/** Flag bits of an attribute's type (<linux/netlink.h>). */
export const NLA_F = { NESTED: 0x8000, NET_BYTEORDER: 0x4000 } as const;
const NLA_TYPE_MASK = ~(NLA_F.NESTED | NLA_F.NET_BYTEORDER) & 0xffff;

/** One rtattr/nlattr: {len u16, type u16, payload, padding to 4}. */
export function attr(type: number, payload: Uint8Array): Uint8Array {
  const len = 4 + payload.length;
  const b = new Uint8Array(align4(len));
  const v = view(b);
  v.setUint16(0, len, LE);
  v.setUint16(2, type, LE);
  b.set(payload, 4);
  return b;
}

/** A nested attribute (without NLA_F_NESTED, as Go's netlink and older iproute2 send them). */
export function nested(type: number, children: readonly Uint8Array[]): Uint8Array {
  return attr(type, concat(children));
}

/** Attributes by type; the last occurrence wins. Type bits NLA_F_NESTED/NET_BYTEORDER are masked. */
export function parseAttrs(b: Uint8Array, off = 0): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  const v = view(b);
  while (off + 4 <= b.length) {
    const len = v.getUint16(off, LE);
    if (len < 4 || off + len > b.length) break;
    m.set(v.getUint16(off + 2, LE) & NLA_TYPE_MASK, b.subarray(off + 4, off + len));
    off += align4(len);
  }
  return m;
}

/** Attributes in order (for repeated types). */
export function* iterAttrs(b: Uint8Array, off = 0): Generator<[number, Uint8Array]> {
  while (off + 4 <= b.length) {
    const len = readU16(b, off);
    const type = readU16(b, off + 2) & NLA_TYPE_MASK;
    if (len < 4 || off + len > b.length) return;
    yield [type, b.subarray(off + 4, off + len)];
    off += align4(len);
  }
}

// ---- messages ---------------------------------------------------------------------------------

export const NLMSG_HDRLEN = 16;

export interface NlMsg {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid: number;
  /** Everything after the 16-byte header. */
  readonly payload: Uint8Array;
}

/** nlmsghdr + body (fixed header struct followed by attributes). */
export function encodeMessage(
  type: number,
  flags: number,
  seq: number,
  body: readonly Uint8Array[],
  pid = 0,
): Uint8Array {
  const payload = concat(body);
  const b = new Uint8Array(NLMSG_HDRLEN + payload.length);
  const v = view(b);
  v.setUint32(0, b.length, LE);
  v.setUint16(4, type, LE);
  v.setUint16(6, flags, LE);
  v.setUint32(8, seq >>> 0, LE);
  v.setUint32(12, pid >>> 0, LE);
  b.set(payload, NLMSG_HDRLEN);
  return b;
}

/** Splits one received datagram into messages. */
export function parseMessages(b: Uint8Array): NlMsg[] {
  const out: NlMsg[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= b.length) {
    const len = readU32(b, off);
    if (len < NLMSG_HDRLEN || off + len > b.length) break;
    out.push({
      type: readU16(b, off + 4),
      flags: readU16(b, off + 6),
      seq: readU32(b, off + 8),
      pid: readU32(b, off + 12),
      payload: b.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

export interface NlError {
  /** Negative errno, or 0 for an ACK. */
  readonly error: number;
  readonly extack: string;
  /** NLMSGERR_ATTR_OFFS: byte offset of the offending attribute in our request. */
  readonly offset?: number;
}

/** Decodes an NLMSG_ERROR payload, including extended-ack TLVs. */
export function decodeError(m: NlMsg): NlError {
  const p = m.payload;
  const error = p.length >= 4 ? readI32(p, 0) : -5;
  let extack = "";
  let offset: number | undefined;
  if (m.flags & NLM_F.ACK_TLVS && p.length >= 4 + NLMSG_HDRLEN) {
    const origLen = readU32(p, 4);
    const tlvOff = 4 + (m.flags & NLM_F.CAPPED ? NLMSG_HDRLEN : align4(origLen));
    const a = parseAttrs(p, tlvOff);
    const msg = a.get(NLMSGERR_ATTR.MSG);
    if (msg) extack = readStr(msg);
    const offs = a.get(NLMSGERR_ATTR.OFFS);
    if (offs && offs.length >= 4) offset = readU32(offs);
  }
  return { error, extack, ...(offset !== undefined ? { offset } : {}) };
}

// ---- fixed headers ----------------------------------------------------------------------------

export interface IfInfoMsg {
  family?: number;
  type?: number;
  index?: number;
  flags?: number;
  change?: number;
}

/** struct ifinfomsg (16 bytes). */
export function ifinfomsg(h: IfInfoMsg = {}): Uint8Array {
  const b = new Uint8Array(16);
  const v = view(b);
  v.setUint8(0, h.family ?? AF.UNSPEC);
  v.setUint16(2, h.type ?? 0, LE);
  v.setInt32(4, h.index ?? 0, LE);
  v.setUint32(8, h.flags ?? 0, LE);
  v.setUint32(12, h.change ?? 0, LE);
  return b;
}

export function decodeIfInfoMsg(p: Uint8Array): Required<IfInfoMsg> {
  const v = view(p);
  return {
    family: v.getUint8(0),
    type: v.getUint16(2, LE),
    index: v.getInt32(4, LE),
    flags: v.getUint32(8, LE),
    change: v.getUint32(12, LE),
  };
}

export interface IfAddrMsg {
  family: number;
  prefixLen: number;
  flags?: number;
  scope?: number;
  index: number;
}

/** struct ifaddrmsg (8 bytes). */
export function ifaddrmsg(h: IfAddrMsg): Uint8Array {
  const b = new Uint8Array(8);
  const v = view(b);
  v.setUint8(0, h.family);
  v.setUint8(1, h.prefixLen);
  v.setUint8(2, (h.flags ?? 0) & 0xff);
  v.setUint8(3, h.scope ?? 0);
  v.setUint32(4, h.index, LE);
  return b;
}

export function decodeIfAddrMsg(p: Uint8Array): Required<IfAddrMsg> {
  const v = view(p);
  return {
    family: v.getUint8(0),
    prefixLen: v.getUint8(1),
    flags: v.getUint8(2),
    scope: v.getUint8(3),
    index: v.getUint32(4, LE),
  };
}

export interface RtMsg {
  family: number;
  dstLen?: number;
  srcLen?: number;
  tos?: number;
  table?: number;
  protocol?: number;
  scope?: number;
  type?: number;
  flags?: number;
}

/** struct rtmsg (12 bytes). */
export function rtmsg(h: RtMsg): Uint8Array {
  const b = new Uint8Array(12);
  const v = view(b);
  v.setUint8(0, h.family);
  v.setUint8(1, h.dstLen ?? 0);
  v.setUint8(2, h.srcLen ?? 0);
  v.setUint8(3, h.tos ?? 0);
  v.setUint8(4, h.table ?? 0);
  v.setUint8(5, h.protocol ?? 0);
  v.setUint8(6, h.scope ?? 0);
  v.setUint8(7, h.type ?? 0);
  v.setUint32(8, h.flags ?? 0, LE);
  return b;
}

export function decodeRtMsg(p: Uint8Array): Required<RtMsg> {
  const v = view(p);
  return {
    family: v.getUint8(0),
    dstLen: v.getUint8(1),
    srcLen: v.getUint8(2),
    tos: v.getUint8(3),
    table: v.getUint8(4),
    protocol: v.getUint8(5),
    scope: v.getUint8(6),
    type: v.getUint8(7),
    flags: v.getUint32(8, LE),
  };
}

export interface NdMsg {
  family: number;
  index: number;
  state?: number;
  flags?: number;
  type?: number;
}

/** struct ndmsg (12 bytes). */
export function ndmsg(h: NdMsg): Uint8Array {
  const b = new Uint8Array(12);
  const v = view(b);
  v.setUint8(0, h.family);
  v.setInt32(4, h.index, LE);
  v.setUint16(8, h.state ?? 0, LE);
  v.setUint8(10, h.flags ?? 0);
  v.setUint8(11, h.type ?? 0);
  return b;
}

export function decodeNdMsg(p: Uint8Array): Required<NdMsg> {
  const v = view(p);
  return {
    family: v.getUint8(0),
    index: v.getInt32(4, LE),
    state: v.getUint16(8, LE),
    flags: v.getUint8(10),
    type: v.getUint8(11),
  };
}

// ---- decoding into the public types -----------------------------------------------------------

/** RTM_NEWLINK payload → Link. */
export function decodeLink(p: Uint8Array): Link {
  const h = decodeIfInfoMsg(p);
  const a = parseAttrs(p, 16);
  const u32a = (t: number) => {
    const x = a.get(t);
    return x && x.length >= 4 ? readU32(x) : undefined;
  };
  let kind: string | undefined;
  let slaveKind: string | undefined;
  let hairpin: boolean | undefined;
  let learning: boolean | undefined;
  let vlanFiltering: boolean | undefined;
  let vxlan: VxlanInfo | undefined;
  const li = a.get(IFLA.LINKINFO);
  if (li) {
    const info = parseAttrs(li);
    const k = info.get(IFLA_INFO.KIND);
    if (k) kind = readStr(k);
    const sk = info.get(IFLA_INFO.SLAVE_KIND);
    if (sk) slaveKind = readStr(sk);
    const data = info.get(IFLA_INFO.DATA);
    if (data && kind === "bridge") {
      const vf = parseAttrs(data).get(IFLA_BR.VLAN_FILTERING);
      if (vf) vlanFiltering = vf[0] === 1;
    }
    if (data && kind === "vxlan") vxlan = decodeVxlanData(data);
    const sdata = info.get(IFLA_INFO.SLAVE_DATA);
    if (sdata && slaveKind === "bridge") {
      const s = parseAttrs(sdata);
      const mode = s.get(IFLA_BRPORT.MODE);
      if (mode) hairpin = mode[0] === 1;
      const learn = s.get(IFLA_BRPORT.LEARNING);
      if (learn) learning = learn[0] === 1;
    }
  }
  if (!kind) kind = h.flags & IFF.LOOPBACK ? "loopback" : "device";
  const macB = a.get(IFLA.ADDRESS);
  const op = a.get(IFLA.OPERSTATE);
  const alias = a.get(IFLA.IFALIAS);
  const master = u32a(IFLA.MASTER);
  const link = u32a(IFLA.LINK);
  const nsid = a.get(IFLA.LINK_NETNSID);
  return {
    name: readStr(a.get(IFLA.IFNAME) ?? new Uint8Array()),
    index: h.index,
    kind,
    mtu: u32a(IFLA.MTU) ?? 0,
    mac: macB ? formatMac(macB) : "",
    up: (h.flags & IFF.UP) !== 0,
    operstate: OPERSTATES[op?.[0] ?? 0] ?? "unknown",
    flags: h.flags,
    promisc: (h.flags & IFF.PROMISC) !== 0,
    txQLen: u32a(IFLA.TXQLEN) ?? 0,
    ...(master ? { masterIndex: master } : {}),
    ...(link !== undefined && (link !== h.index || nsid) ? { linkIndex: link } : {}),
    ...(nsid && nsid.length >= 4 ? { linkNetnsId: readI32(nsid) } : {}),
    ...(slaveKind ? { slaveKind } : {}),
    ...(hairpin !== undefined ? { hairpin } : {}),
    ...(learning !== undefined ? { learning } : {}),
    ...(vlanFiltering !== undefined ? { vlanFiltering } : {}),
    ...(vxlan ? { vxlan } : {}),
    ...(alias && alias.length > 1 ? { alias: readStr(alias) } : {}),
  };
}

/** IFLA_INFO_DATA of a vxlan link → VxlanInfo. */
export function decodeVxlanData(data: Uint8Array): VxlanInfo {
  const d = parseAttrs(data);
  const id = d.get(IFLA_VXLAN.ID);
  const local = d.get(IFLA_VXLAN.LOCAL) ?? d.get(IFLA_VXLAN.LOCAL6);
  const link = d.get(IFLA_VXLAN.LINK);
  const port = d.get(IFLA_VXLAN.PORT);
  const learning = d.get(IFLA_VXLAN.LEARNING);
  return {
    vni: id && id.length >= 4 ? readU32(id) : 0,
    ...(local && (local.length === 4 || local.length === 16) && local.some((x) => x !== 0)
      ? { local: inetText(local) }
      : {}),
    ...(link && link.length >= 4 && readU32(link) !== 0 ? { underlayIndex: readU32(link) } : {}),
    port: port && port.length >= 2 ? readBe16(port) : 0,
    learning: learning ? learning[0] === 1 : false,
  };
}

/** RTM_NEWNEIGH payload (AF_INET/AF_INET6) → Neigh; undefined for other families or without NDA_DST. */
export function decodeNeigh(p: Uint8Array, names: ReadonlyMap<number, string>): Neigh | undefined {
  if (p.length < 12) return undefined;
  const h = decodeNdMsg(p);
  if (h.family !== AF.INET && h.family !== AF.INET6) return undefined;
  const a = parseAttrs(p, 12);
  const dst = a.get(NDA.DST);
  if (!dst || (dst.length !== 4 && dst.length !== 16)) return undefined;
  const ll = a.get(NDA.LLADDR);
  return {
    dev: names.get(h.index) ?? "",
    ifindex: h.index,
    family: h.family === AF.INET ? 4 : 6,
    ip: inetText(dst),
    ...(ll && ll.length > 0 ? { mac: formatMac(ll) } : {}),
    state: h.state,
    permanent: (h.state & NUD.PERMANENT) !== 0,
    flags: h.flags,
  };
}

/** RTM_NEWNEIGH payload (AF_BRIDGE) → FdbEntry; undefined for other families or without a MAC. */
export function decodeFdb(p: Uint8Array, names: ReadonlyMap<number, string>): FdbEntry | undefined {
  if (p.length < 12) return undefined;
  const h = decodeNdMsg(p);
  if (h.family !== AF.BRIDGE) return undefined;
  const a = parseAttrs(p, 12);
  const ll = a.get(NDA.LLADDR);
  if (ll?.length !== 6) return undefined;
  const dst = a.get(NDA.DST);
  const vni = a.get(NDA.VNI);
  const port = a.get(NDA.PORT);
  const vlan = a.get(NDA.VLAN);
  const master = a.get(NDA.MASTER);
  return {
    dev: names.get(h.index) ?? "",
    ifindex: h.index,
    mac: formatMac(ll),
    ...(dst && (dst.length === 4 || dst.length === 16) ? { dst: inetText(dst) } : {}),
    ...(vni && vni.length >= 4 ? { vni: readU32(vni) } : {}),
    ...(port && port.length >= 2 ? { port: readBe16(port) } : {}),
    ...(vlan && vlan.length >= 2 ? { vlan: readU16(vlan) } : {}),
    ...(master && master.length >= 4 ? { masterIndex: readU32(master) } : {}),
    state: h.state,
    permanent: (h.state & NUD.PERMANENT) !== 0,
    self: (h.flags & NTF.SELF) !== 0,
    flags: h.flags,
  };
}

/** RTM_NEWADDR payload → Addr (dev name resolved by the caller's map). */
export function decodeAddr(p: Uint8Array, names: ReadonlyMap<number, string>): Addr | undefined {
  const h = decodeIfAddrMsg(p);
  if (h.family !== AF.INET && h.family !== AF.INET6) return undefined;
  const family: AddrFamily = h.family === AF.INET ? 4 : 6;
  const a = parseAttrs(p, 8);
  const local = a.get(IFA.LOCAL);
  const address = a.get(IFA.ADDRESS);
  const main = local ?? address;
  if (!main) return undefined;
  const flagsAttr = a.get(IFA.FLAGS);
  const flags = flagsAttr && flagsAttr.length >= 4 ? readU32(flagsAttr) : h.flags;
  const ip = inetText(main);
  const peer = local && address && inetText(address) !== ip ? inetText(address) : undefined;
  const brd = a.get(IFA.BROADCAST);
  const label = a.get(IFA.LABEL);
  return {
    dev: names.get(h.index) ?? "",
    ifindex: h.index,
    family,
    address: ip,
    prefixLen: h.prefixLen,
    cidr: `${ip}/${h.prefixLen}`,
    ...(peer ? { peer } : {}),
    ...(brd ? { broadcast: inetText(brd) } : {}),
    ...(label ? { label: readStr(label) } : {}),
    scope: scopeName(h.scope),
    flags,
    permanent: (flags & IFA_F.PERMANENT) !== 0,
    tentative: (flags & IFA_F.TENTATIVE) !== 0,
    dadFailed: (flags & IFA_F.DADFAILED) !== 0,
    noDad: (flags & IFA_F.NODAD) !== 0,
  };
}

/** RTM_NEWROUTE payload → Route (undefined for families other than IPv4/IPv6). */
export function decodeRoute(p: Uint8Array, names: ReadonlyMap<number, string>): Route | undefined {
  const h = decodeRtMsg(p);
  if (h.family !== AF.INET && h.family !== AF.INET6) return undefined;
  const family: AddrFamily = h.family === AF.INET ? 4 : 6;
  const a = parseAttrs(p, 12);
  const dstB = a.get(RTA.DST) ?? new Uint8Array(family === 4 ? 4 : 16);
  const gw = a.get(RTA.GATEWAY);
  const oif = a.get(RTA.OIF);
  const table = a.get(RTA.TABLE);
  const prefsrc = a.get(RTA.PREFSRC);
  const prio = a.get(RTA.PRIORITY);
  let mtu: number | undefined;
  const metrics = a.get(RTA.METRICS);
  if (metrics) {
    const m = parseAttrs(metrics).get(RTAX_MTU);
    if (m && m.length >= 4) mtu = readU32(m);
  }
  const ifindex = oif && oif.length >= 4 ? readU32(oif) : undefined;
  return {
    family,
    dst: `${inetText(dstB)}/${h.dstLen}`,
    ...(gw ? { gw: inetText(gw) } : {}),
    ...(ifindex !== undefined ? { dev: names.get(ifindex) ?? "", ifindex } : {}),
    scope: scopeName(h.scope),
    table: table && table.length >= 4 ? readU32(table) : h.table,
    protocol: h.protocol,
    ...(prefsrc ? { src: inetText(prefsrc) } : {}),
    ...(prio && prio.length >= 4 ? { metric: readU32(prio) } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
    type: routeTypeName(h.type),
    flags: h.flags,
  };
}
