// Neighbour and forwarding-database operations over rtnetlink (`ip neigh`, `bridge fdb`), as
// VXLAN overlays program them (flannel's vxlan backend): a permanent ARP/NDP entry for a remote
// VTEP address, and a vxlan device's own FDB entry (AF_BRIDGE, NTF_SELF) mapping a remote VTEP MAC
// to the underlay address it is reached at.
import { ipToBytes, tryParseIPExact } from "../ip/index.js";
import { parseMac } from "./inet.js";
import { linkIndex, linkNames } from "./links.js";
import type { BatchMessage, NetlinkSocket } from "./netlink-socket.js";
import type { IndexOf } from "./routes.js";
import {
  AF,
  NDA,
  NLM_F,
  NTF,
  NUD,
  RTM,
  attr,
  decodeFdb,
  decodeNeigh,
  familyToAf,
  ifinfomsg,
  ndmsg,
  u32,
} from "./rtnl-codec.js";
import type { AddrFamily, FdbDelSpec, FdbEntry, FdbFilter, FdbSpec, Neigh, NeighFilter, NeighSpec } from "./types.js";

function mustMac(mac: string, what: string): Uint8Array {
  const b = parseMac(mac);
  if (b?.length !== 6) throw new RangeError(`${what}: invalid MAC address ${JSON.stringify(mac)}`);
  return b;
}

function mustIP(ip: string, field: string, what: string) {
  const a = typeof ip === "string" ? tryParseIPExact(ip) : undefined;
  if (!a) throw new RangeError(`${what}: invalid ${field} ${JSON.stringify(ip)}`);
  return a;
}

type Msg = BatchMessage & { op: string };

/** `ip neigh replace IP lladdr MAC dev DEV nud permanent`, or `ip neigh del IP dev DEV`. */
export function neighRequest(
  s: NetlinkSocket,
  n: NeighSpec | Pick<NeighSpec, "dev" | "ip">,
  mode: "replace" | "del",
  indexOf: IndexOf = (d, w) => linkIndex(s, d, w),
): Msg {
  const add = mode === "replace";
  const mac = add ? (n as NeighSpec).mac : undefined;
  const what = add
    ? `netlink RTM_NEWNEIGH ${n.ip} lladdr ${mac} dev ${JSON.stringify(n.dev)} nud permanent`
    : `netlink RTM_DELNEIGH ${n.ip} dev ${JSON.stringify(n.dev)}`;
  const ip = mustIP(n.ip, "address", what);
  const macBytes = add ? mustMac(mac!, what) : undefined;
  const index = indexOf(n.dev, what);
  const hdr = ndmsg({ family: familyToAf(ip.family), index, state: add ? NUD.PERMANENT : 0 });
  const body = [hdr, attr(NDA.DST, ipToBytes(ip))];
  if (macBytes) body.push(attr(NDA.LLADDR, macBytes));
  return { type: add ? RTM.NEWNEIGH : RTM.DELNEIGH, flags: add ? NLM_F.CREATE | NLM_F.REPLACE : 0, body, op: what };
}

/** `bridge fdb replace MAC dev DEV dst ADDR self permanent`, or `bridge fdb del MAC dev DEV [dst ADDR] self`. */
export function fdbRequest(
  s: NetlinkSocket,
  f: FdbSpec | FdbDelSpec,
  mode: "replace" | "del",
  indexOf: IndexOf = (d, w) => linkIndex(s, d, w),
): Msg {
  const add = mode === "replace";
  const dst = f.dst !== undefined ? ` dst ${f.dst}` : "";
  const what = add
    ? `netlink RTM_NEWNEIGH fdb ${f.mac} dev ${JSON.stringify(f.dev)}${dst} self permanent`
    : `netlink RTM_DELNEIGH fdb ${f.mac} dev ${JSON.stringify(f.dev)}${dst} self`;
  const mac = mustMac(f.mac, what);
  if (add && f.dst === undefined) throw new RangeError(`${what}: dst is required`);
  const ip = f.dst !== undefined ? mustIP(f.dst, "dst", what) : undefined;
  const index = indexOf(f.dev, what);
  const hdr = ndmsg({ family: AF.BRIDGE, index, state: add ? NUD.PERMANENT : 0, flags: NTF.SELF });
  const body = [hdr, attr(NDA.LLADDR, mac)];
  if (ip) body.push(attr(NDA.DST, ipToBytes(ip)));
  return { type: add ? RTM.NEWNEIGH : RTM.DELNEIGH, flags: add ? NLM_F.CREATE | NLM_F.REPLACE : 0, body, op: what };
}

function send(s: NetlinkSocket, m: Msg): void {
  s.ack(m.type, m.flags ?? 0, m.body, m.op);
}

/** `ip neigh replace IP lladdr MAC dev DEV nud permanent` */
export function neighReplace(s: NetlinkSocket, n: NeighSpec): void {
  send(s, neighRequest(s, n, "replace"));
}

/** `ip neigh del IP dev DEV` (ENOENT when absent) */
export function neighDel(s: NetlinkSocket, n: Pick<NeighSpec, "dev" | "ip">): void {
  send(s, neighRequest(s, n, "del"));
}

/** `bridge fdb replace MAC dev DEV dst ADDR self permanent` */
export function fdbReplace(s: NetlinkSocket, f: FdbSpec): void {
  send(s, fdbRequest(s, f, "replace"));
}

/** `bridge fdb del MAC dev DEV [dst ADDR] self` (ENOENT when absent) */
export function fdbDel(s: NetlinkSocket, f: FdbDelSpec): void {
  send(s, fdbRequest(s, f, "del"));
}

/** `ip [-4|-6] neigh show nud all [dev DEV]` (the kernel filters by device; proxy entries are not listed) */
export function neighList(s: NetlinkSocket, f: NeighFilter = {}): Neigh[] {
  const names = linkNames(s);
  let only: number | undefined;
  if (f.dev !== undefined) {
    only = [...names].find(([, n]) => n === f.dev)?.[0];
    if (only === undefined) return [];
  }
  const families: AddrFamily[] = f.family ? [f.family] : [4, 6];
  const out: Neigh[] = [];
  for (const fam of families) {
    const body = [ndmsg({ family: familyToAf(fam), index: 0 })];
    if (only !== undefined) body.push(attr(NDA.IFINDEX, u32(only)));
    for (const m of s.dump(RTM.GETNEIGH, body, `netlink RTM_GETNEIGH dump ipv${fam}`)) {
      if (m.type !== RTM.NEWNEIGH) continue;
      const n = decodeNeigh(m.payload, names);
      if (!n || (only !== undefined && n.ifindex !== only) || n.family !== fam) continue;
      out.push(n);
    }
  }
  return out;
}

/** `bridge fdb show [brport DEV]` */
export function fdbList(s: NetlinkSocket, f: FdbFilter = {}): FdbEntry[] {
  const names = linkNames(s);
  let only = 0;
  if (f.dev !== undefined) {
    const i = [...names].find(([, n]) => n === f.dev)?.[0];
    if (i === undefined) return [];
    only = i;
  }
  // An ifinfomsg (not an ndmsg): its ifi_index is the "brport" filter of rtnl_fdb_dump.
  const out: FdbEntry[] = [];
  for (const m of s.dump(
    RTM.GETNEIGH,
    [ifinfomsg({ family: AF.BRIDGE, index: only })],
    "netlink RTM_GETNEIGH dump bridge",
  )) {
    if (m.type !== RTM.NEWNEIGH) continue;
    const e = decodeFdb(m.payload, names);
    if (!e || (only !== 0 && e.ifindex !== only)) continue;
    out.push(e);
  }
  return out;
}
