// Route operations over rtnetlink (`ip route`).
import { ipToBytes, tryParseIPExact } from "../ip/index.js";
import { inetPrefix } from "./inet.js";
import { linkIndex, linkNames } from "./links.js";
import type { BatchMessage, NetlinkSocket } from "./netlink-socket.js";
import {
  NLM_F,
  RTA,
  RTPROT,
  RTAX_MTU,
  RTM,
  RTM_F_CLONED,
  RTNH_F_ONLINK,
  RT_TABLE,
  attr,
  decodeRoute,
  familyToAf,
  nested,
  routeTypeNumber,
  rtmsg,
  scopeNumber,
  u32,
} from "./rtnl-codec.js";
import type { AddrFamily, Route, RouteFilter, RouteSpec } from "./types.js";

type Mode = "add" | "replace" | "del";

/** "default" / "0.0.0.0/0" / "10.0.0.0/8" → family, bytes, prefix length. */
export function parseDst(dst: string, family: AddrFamily | undefined, what: string) {
  if (dst === "default") {
    // like `ip route`: IPv4 unless a family (or an IPv6 gateway) says otherwise
    const f = family ?? 4;
    return { family: f, bytes: new Uint8Array(f === 4 ? 4 : 16), prefixLen: 0 };
  }
  const p = inetPrefix(dst);
  if (!p) throw new RangeError(`${what}: invalid destination ${JSON.stringify(dst)}`);
  if (family && p.ip.family !== family) throw new RangeError(`${what}: destination ${dst} is not IPv${family}`);
  return { family: p.ip.family, bytes: ipToBytes(p.ip), prefixLen: p.prefix };
}

/** Human-readable `ip route` arguments, for error messages. */
export function describeRoute(r: RouteSpec): string {
  const parts = [r.type && r.type !== "unicast" ? `${r.type} ${r.dst}` : r.dst];
  if (r.gw) parts.push(`via ${r.gw}`);
  if (r.dev) parts.push(`dev ${JSON.stringify(r.dev)}`);
  if (r.table !== undefined) parts.push(`table ${r.table}`);
  if (r.metric !== undefined) parts.push(`metric ${r.metric}`);
  if (r.protocol !== undefined) parts.push(`proto ${r.protocol}`);
  if (r.onlink) parts.push("onlink");
  return parts.join(" ");
}

/** A link's index by name, for a message being encoded (`what` names it in errors). */
export type IndexOf = (name: string, what: string) => number;

/** Encodes RTM_NEWROUTE / RTM_DELROUTE with iproute2's defaults for scope, table and type. */
export function routeMessage(
  s: NetlinkSocket,
  r: RouteSpec,
  mode: Mode,
  what: string,
  indexOf: IndexOf = (n, w) => linkIndex(s, n, w),
): Uint8Array[] {
  const gw = r.gw !== undefined ? tryParseIPExact(r.gw) : undefined;
  if (r.gw !== undefined && !gw) throw new RangeError(`${what}: invalid gateway ${JSON.stringify(r.gw)}`);
  const dst = parseDst(r.dst, r.family ?? gw?.family, what);
  if (gw && gw.family !== dst.family)
    throw new RangeError(`${what}: gateway ${r.gw} and destination ${r.dst} differ in family`);
  const type = routeTypeNumber(r.type ?? "unicast");
  const table = r.table ?? RT_TABLE.MAIN;
  let scope: number;
  if (r.scope !== undefined) scope = scopeNumber(r.scope);
  else if (mode === "del")
    scope = 255; // RT_SCOPE_NOWHERE: match any scope
  else if (type === 2 /* local */ || type === 10 /* nat */) scope = 254;
  else if (type === 3 || type === 4 || type === 5) scope = 253;
  else if (type === 1 && !gw && r.dev !== undefined) scope = 253;
  else scope = 0;
  const attrs: Uint8Array[] = [];
  if (dst.prefixLen > 0) attrs.push(attr(RTA.DST, dst.bytes));
  if (gw) attrs.push(attr(RTA.GATEWAY, ipToBytes(gw)));
  if (r.dev !== undefined) attrs.push(attr(RTA.OIF, u32(indexOf(r.dev, what))));
  if (r.src !== undefined) {
    const src = tryParseIPExact(r.src);
    if (!src || src.family !== dst.family) throw new RangeError(`${what}: invalid src ${JSON.stringify(r.src)}`);
    attrs.push(attr(RTA.PREFSRC, ipToBytes(src)));
  }
  if (r.metric !== undefined) attrs.push(attr(RTA.PRIORITY, u32(r.metric)));
  if (table >= 256) attrs.push(attr(RTA.TABLE, u32(table)));
  if (r.mtu !== undefined) attrs.push(nested(RTA.METRICS, [attr(RTAX_MTU, u32(r.mtu))]));
  const hdr = rtmsg({
    family: familyToAf(dst.family),
    dstLen: dst.prefixLen,
    table: table < 256 ? table : RT_TABLE.UNSPEC,
    protocol: r.protocol ?? (mode === "del" ? 0 : RTPROT.BOOT),
    scope,
    type: mode === "del" && r.type === undefined ? 0 : type,
    flags: r.onlink ? RTNH_F_ONLINK : 0,
  });
  return [hdr, ...attrs];
}

/** The whole request of `ip route add|replace|del …`, ready to send alone or in a batch. */
export function routeRequest(
  s: NetlinkSocket,
  r: RouteSpec,
  mode: Mode,
  indexOf?: IndexOf,
): BatchMessage & { op: string } {
  const type = mode === "del" ? RTM.DELROUTE : RTM.NEWROUTE;
  const what = `netlink ${mode === "del" ? "RTM_DELROUTE" : "RTM_NEWROUTE"} ${describeRoute(r)}`;
  const body = routeMessage(s, r, mode, what, indexOf);
  const flags = mode === "add" ? NLM_F.CREATE | NLM_F.EXCL : mode === "replace" ? NLM_F.CREATE | NLM_F.REPLACE : 0;
  return { type, flags, body, op: what };
}

/** `ip route add|replace|del …` */
export function routeModify(s: NetlinkSocket, r: RouteSpec, mode: Mode): void {
  const m = routeRequest(s, r, mode);
  s.ack(m.type, m.flags ?? 0, m.body, m.op);
}

/** `ip [-4|-6] route show [table T] [dev D] [proto P] [exact DST]` */
export function routeList(s: NetlinkSocket, f: RouteFilter = {}): Route[] {
  const table = f.table ?? RT_TABLE.MAIN;
  const families: AddrFamily[] = f.family ? [f.family] : [4, 6];
  if (f.dst !== undefined && f.dst !== "default") parseDst(f.dst, undefined, "netlink RTM_GETROUTE");
  const names = linkNames(s);
  const devIndex = f.dev !== undefined ? ([...names].find(([, n]) => n === f.dev)?.[0] ?? -1) : undefined;
  const typeNum = f.type !== undefined ? routeTypeNumber(f.type) : undefined;
  const out: Route[] = [];
  for (const fam of families) {
    for (const m of s.dump(RTM.GETROUTE, [rtmsg({ family: familyToAf(fam) })], `netlink RTM_GETROUTE dump ipv${fam}`)) {
      if (m.type !== RTM.NEWROUTE) continue;
      const r = decodeRoute(m.payload, names);
      if (!r || r.flags & RTM_F_CLONED) continue;
      if (table !== 0 && r.table !== table) continue;
      if (devIndex !== undefined && r.ifindex !== devIndex) continue;
      if (f.protocol !== undefined && r.protocol !== f.protocol) continue;
      if (typeNum !== undefined && routeTypeNumber(r.type) !== typeNum) continue;
      if (f.dst !== undefined && !sameDst(r, f.dst)) continue;
      out.push(r);
    }
  }
  return out;
}

function sameDst(r: Route, dst: string): boolean {
  if (dst === "default") return r.dst === (r.family === 4 ? "0.0.0.0/0" : "::/0");
  const p = inetPrefix(dst);
  const q = inetPrefix(r.dst);
  return !!p && !!q && p.ip.family === q.ip.family && p.prefix === q.prefix && p.ip.value === q.ip.value;
}
