// bridge's dependencies from the node: the kernel, processes, IPAM delegation (podnet's host-local
// in-process, anything else exec'd) and the nftables port — over netlink in the process's own netns
// on one socket for the life of the process (closing a NETLINK_NETFILTER socket can wait ≈16 ms for
// the RCU grace period of earlier deletions).
import { findInPath } from "../../../libcni/find.js";
import { nodeNftables } from "../../../kernel/nft.js";
import { nodeHostLocalDeps } from "../../ipam/host-local/node-deps.js";
import { netnsOf, pathsOf, type NodeEnv } from "../../node-env.js";
import type { BridgeDeps } from "./bridge.js";
import { createIpamDelegate } from "./ipam.js";

export type BridgeEnv = Pick<
  NodeEnv,
  "kernel" | "exec" | "rawExec" | "storeFs" | "lock" | "isPodnetPlugin" | "at" | "log"
>;

export function nodeBridgeDeps(env: BridgeEnv): BridgeDeps {
  const at = pathsOf(env);
  const log = env.log;
  return {
    kernel: env.kernel,
    exec: env.exec,
    ipam: createIpamDelegate({
      exec: env.rawExec,
      hostLocal: nodeHostLocalDeps(env),
      isPodnetPlugin: env.isPodnetPlugin,
      find: (name, dirs) => findInPath(name, dirs.map(at)),
    }),
    nftables: (netns) => nodeNftables(netnsOf(env, netns), env.exec),
    // bridge ends its messages with a newline
    ...(log ? { log: (m: string) => log(m.replace(/\n$/, "")) } : {}),
  };
}
