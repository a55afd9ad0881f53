// Reading a pod's addresses from inside its netns (the kubelet's nsenter + `ip -o addr show dev eth0
// scope global` helper, over netlink here): the first global address of each family, IPv4 first.
import type { NetOps } from "../../kernel/types.js";
import { DEFAULT_INTERFACE_NAME } from "../core/plugin.js";

export async function readPodIPs(ops: NetOps, ifName: string = DEFAULT_INTERFACE_NAME): Promise<string[]> {
  const addrs = await ops.addrList(ifName);
  const out: string[] = [];
  for (const family of [4, 6] as const) {
    const a = addrs.find((x) => x.family === family && x.scope === "universe" && !x.dadFailed);
    if (a) out.push(a.address);
  }
  return out;
}
