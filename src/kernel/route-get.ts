// `ip route get ADDRESS` over rtnetlink: the kernel's own route lookup (policy rules, every table,
// as Go's netlink.RouteGet), answering with the output device, the source address it would use and
// the next hop — one round trip, where listing the routes and their devices costs a dump of each
// (the links' one grows with the pods of the node).
import { loadAddon, type Addon } from "./addon.js";
import { isKernelError } from "./errors.js";
import { ipToBytes, tryParseIPExact } from "../ip/index.js";
import { inetText } from "./inet.js";
import { linkGetByIndex } from "./links.js";
import { NetlinkSocket } from "./netlink-socket.js";
import { AF, type NlMsg, RTA, RTM, attr, decodeRtMsg, parseAttrs, readU32, rtmsg } from "./rtnl-codec.js";
import type { RouteLookup } from "./types.js";

/** `ip route get ADDRESS`; undefined when the kernel has no route to it. */
export function routeGet(s: NetlinkSocket, address: string): RouteLookup | undefined {
  const ip = typeof address === "string" ? tryParseIPExact(address) : undefined;
  if (!ip) throw new RangeError(`route get: invalid address ${JSON.stringify(address)}`);
  const v4 = ip.family === 4;
  const op = `netlink RTM_GETROUTE ${address}`;
  let msgs: NlMsg[];
  try {
    msgs = s.request(
      RTM.GETROUTE,
      0,
      [rtmsg({ family: v4 ? AF.INET : AF.INET6, dstLen: v4 ? 32 : 128 }), attr(RTA.DST, ipToBytes(ip))],
      op,
    );
  } catch (e) {
    if (isKernelError(e, "ENETUNREACH", "EHOSTUNREACH", "ENOENT")) return undefined;
    throw e;
  }
  const m = msgs.find((x) => x.type === RTM.NEWROUTE);
  if (!m || m.payload.length < 12) return undefined;
  const a = parseAttrs(m.payload, 12);
  const oif = a.get(RTA.OIF);
  if (!oif || oif.length < 4) return undefined;
  const ifindex = readU32(oif);
  const src = a.get(RTA.PREFSRC);
  const gw = a.get(RTA.GATEWAY);
  const table = a.get(RTA.TABLE);
  return {
    dev: linkGetByIndex(s, ifindex)?.name ?? "",
    ifindex,
    ...(src && (src.length === 4 || src.length === 16) ? { src: inetText(src) } : {}),
    ...(gw && (gw.length === 4 || gw.length === 16) ? { gw: inetText(gw) } : {}),
    table: table && table.length >= 4 ? readU32(table) : decodeRtMsg(m.payload).table,
  };
}

export interface RouteGet {
  /** The device the kernel would send a packet to `address` through; undefined when it has no route. */
  outputDevice(address: string): string | undefined;
  close(): void;
}

export function createRouteGet(s: NetlinkSocket): RouteGet {
  return {
    outputDevice: (address) => routeGet(s, address)?.dev || undefined,
    close: () => s.close(),
  };
}

/** RouteGet on its own socket in `netns` (null: this process's), opened on first use. */
export function openRouteGet(netns: string | null, addon: () => Addon = loadAddon): RouteGet {
  return createRouteGet(new NetlinkSocket(addon, netns));
}
