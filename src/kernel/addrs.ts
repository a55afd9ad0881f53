// Address operations over rtnetlink (`ip addr`).
import { type Cidr, cidrBroadcast, ipToBytes, tryParseIPExact } from "../ip/index.js";
import { inetPrefix } from "./inet.js";
import { linkIndex, linkNames } from "./links.js";
import type { NetlinkSocket } from "./netlink-socket.js";
import {
  IFA,
  IFA_F,
  NLM_F,
  RTM,
  attr,
  concat,
  cstr,
  decodeAddr,
  familyToAf,
  ifaddrmsg,
  scopeNumber,
  u32,
  AF,
} from "./rtnl-codec.js";
import type { Addr, AddrAddOptions, AddrFamily } from "./types.js";

export function mustCidr(cidr: string, what: string): Cidr {
  const p = inetPrefix(cidr);
  if (!p) throw new RangeError(`${what}: invalid address ${JSON.stringify(cidr)}`);
  return p;
}

function op(type: "RTM_NEWADDR" | "RTM_DELADDR", cidr: string, dev: string): string {
  return `netlink ${type} ${cidr} dev ${JSON.stringify(dev)}`;
}

/** `ip addr add|replace CIDR dev NAME [nodad] [scope S] [brd B] [label L] [peer P] [noprefixroute]` */
export function addrAdd(s: NetlinkSocket, name: string, cidr: string, o: AddrAddOptions = {}, replace = false): void {
  const what = op("RTM_NEWADDR", cidr, name);
  const p = mustCidr(cidr, what);
  const index = linkIndex(s, name, what);
  let flags = 0;
  if (o.noDad) flags |= IFA_F.NODAD;
  if (o.noPrefixRoute) flags |= IFA_F.NOPREFIXROUTE;
  const family = p.ip.family;
  const bytes = ipToBytes(p.ip);
  // iproute2's default scope: host for loopback addresses, global otherwise.
  const loop = family === 4 ? bytes[0] === 127 : p.ip.value === 1n;
  const scope = o.scope !== undefined ? scopeNumber(o.scope) : loop ? 254 : 0;
  const attrs = [attr(IFA.LOCAL, bytes)];
  if (o.peer !== undefined) {
    const peer = inetPrefix(o.peer);
    if (!peer || peer.ip.family !== family) throw new RangeError(`${what}: invalid peer ${JSON.stringify(o.peer)}`);
    attrs.push(attr(IFA.ADDRESS, ipToBytes(peer.ip)));
  } else {
    attrs.push(attr(IFA.ADDRESS, bytes));
  }
  if (family === 4) {
    const brd = o.broadcast ?? true;
    if (typeof brd === "string") {
      const b = tryParseIPExact(brd);
      if (b?.family !== 4) throw new RangeError(`${what}: invalid broadcast ${JSON.stringify(brd)}`);
      attrs.push(attr(IFA.BROADCAST, ipToBytes(b)));
    } else if (brd && p.prefix < 31 && o.peer === undefined) {
      attrs.push(attr(IFA.BROADCAST, ipToBytes(cidrBroadcast(p))));
    }
  }
  if (o.label !== undefined) attrs.push(attr(IFA.LABEL, cstr(o.label)));
  if (o.validLft !== undefined || o.preferredLft !== undefined) {
    const valid = o.validLft ?? 0xffffffff;
    const pref = o.preferredLft ?? valid;
    attrs.push(attr(IFA.CACHEINFO, concat([u32(pref), u32(valid), u32(0), u32(0)])));
  }
  if (flags > 0xff) attrs.push(attr(IFA.FLAGS, u32(flags)));
  const hdr = ifaddrmsg({ family: familyToAf(family), prefixLen: p.prefix, flags, scope, index });
  s.ack(RTM.NEWADDR, NLM_F.CREATE | (replace ? NLM_F.REPLACE : NLM_F.EXCL), [hdr, ...attrs], what);
}

/** `ip addr del CIDR dev NAME` */
export function addrDel(s: NetlinkSocket, name: string, cidr: string): void {
  const what = op("RTM_DELADDR", cidr, name);
  const p = mustCidr(cidr, what);
  const index = linkIndex(s, name, what);
  const bytes = ipToBytes(p.ip);
  const hdr = ifaddrmsg({ family: familyToAf(p.ip.family), prefixLen: p.prefix, index });
  s.ack(RTM.DELADDR, 0, [hdr, attr(IFA.LOCAL, bytes), attr(IFA.ADDRESS, bytes)], what);
}

/** `ip [-4|-6] addr show [dev NAME]` */
export function addrList(s: NetlinkSocket, name?: string, family?: AddrFamily): Addr[] {
  let names: Map<number, string>;
  let only: number | undefined;
  if (name !== undefined) {
    only = linkIndex(s, name, `netlink RTM_GETADDR dev ${JSON.stringify(name)}`);
    names = new Map([[only, name]]);
  } else {
    names = linkNames(s);
  }
  const af = family === undefined ? AF.UNSPEC : familyToAf(family);
  const out: Addr[] = [];
  for (const m of s.dump(
    RTM.GETADDR,
    [ifaddrmsg({ family: af, prefixLen: 0, index: 0 })],
    "netlink RTM_GETADDR dump",
  )) {
    if (m.type !== RTM.NEWADDR) continue;
    const a = decodeAddr(m.payload, names);
    if (!a || (only !== undefined && a.ifindex !== only) || (family !== undefined && a.family !== family)) continue;
    out.push(a);
  }
  return out;
}
