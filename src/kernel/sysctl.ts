// sysctl inside a netns, through the addon (which opens /proc/sys/KEY after switching into the netns:
// /proc/sys/net is per-netns, bound at open time).
import type { Addon } from "./addon.js";
import { fromSystemError } from "./errors.js";
import type { Sysctl } from "./types.js";

/** "net.ipv4.ip_forward" → "net/ipv4/ip_forward"; keys that already contain "/" are kept (they may
 * hold dotted interface names: "net/ipv4/conf/eth0.100/forwarding"). */
export function sysctlKey(key: string): string {
  const k = key.includes("/") ? key : key.replaceAll(".", "/");
  const clean = k.replace(/^\/+/, "").replace(/^proc\/sys\//, "");
  if (clean === "" || clean.split("/").some((p) => p === "" || p === "." || p === "..")) {
    throw new RangeError(`invalid sysctl key ${JSON.stringify(key)}`);
  }
  return clean;
}

function where(netns: string | null): string {
  return netns === null ? "" : ` in netns ${JSON.stringify(netns)}`;
}

export function createSysctl(addon: () => Addon): Sysctl {
  return {
    /** `ip netns exec NS sysctl -n KEY` */
    async read(netns, key) {
      const k = sysctlKey(key);
      const a = addon();
      try {
        return a.sysctlRead(netns, k).replace(/\n$/, "");
      } catch (e) {
        throw fromSystemError(`sysctl read ${k}${where(netns)}`, e);
      }
    },
    /** `ip netns exec NS sysctl -w KEY=VALUE` */
    async write(netns, key, value) {
      const k = sysctlKey(key);
      const a = addon();
      try {
        a.sysctlWrite(netns, k, value);
      } catch (e) {
        throw fromSystemError(`sysctl write ${k}=${value}${where(netns)}`, e);
      }
    },
  };
}
