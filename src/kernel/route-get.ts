// `ip route get ADDRESS` over rtnetlink: the kernel's own route lookup (policy rules, every table,
// as Go's netlink.RouteGet), answering with the output device — one round trip, where listing the
// routes and their devices costs a dump of each (the links' one grows with the pods of the node).
import { loadAddon, type Addon } from "./addon.js";
import { isKernelError } from "./errors.js";
import { ipToBytes, tryParseIPExact } from "../ip/index.js";
import { linkGetByIndex } from "./links.js";
import { NetlinkSocket } from "./netlink-socket.js";
import { AF, RTA, RTM, attr, parseAttrs, readU32, rtmsg } from "./rtnl-codec.js";

export interface RouteGet {
  /** The device the kernel would send a packet to `address` through; undefined when it has no route. */
  outputDevice(address: string): string | undefined;
  close(): void;
}

export function createRouteGet(s: NetlinkSocket): RouteGet {
  return {
    outputDevice(address) {
      const ip = tryParseIPExact(address);
      if (!ip) throw new RangeError(`route get: invalid address ${JSON.stringify(address)}`);
      const v4 = ip.family === 4;
      const op = `netlink RTM_GETROUTE ${address}`;
      let msgs;
      try {
        msgs = s.request(RTM.GETROUTE, 0, [rtmsg({ family: v4 ? AF.INET : AF.INET6, dstLen: v4 ? 32 : 128 }), attr(RTA.DST, ipToBytes(ip))], op);
      } catch (e) {
        if (isKernelError(e, "ENETUNREACH", "EHOSTUNREACH", "ENOENT")) return undefined;
        throw e;
      }
      const m = msgs.find((x) => x.type === RTM.NEWROUTE);
      const oif = m ? parseAttrs(m.payload, 12).get(RTA.OIF) : undefined;
      return oif ? linkGetByIndex(s, readU32(oif))?.name : undefined;
    },
    close: () => s.close(),
  };
}

/** RouteGet on its own socket in `netns` (null: this process's), opened on first use. */
export function openRouteGet(netns: string | null, addon: () => Addon = loadAddon): RouteGet {
  return createRouteGet(new NetlinkSocket(addon, netns));
}
