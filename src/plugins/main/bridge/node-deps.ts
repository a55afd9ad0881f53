// The kernel dependencies of bridge beyond `kernel` and `exec`, for the executable and for a
// process that runs bridge in-process (the resident daemon): the nftables port, over netlink in the
// process's own netns on one socket for the life of the process (closing a NETLINK_NETFILTER
// socket can wait ≈16 ms for the RCU grace period of earlier deletions).
import { nodeNftables } from "../../../kernel/nft.js";
import type { BridgeDeps } from "./bridge.js";

export function nodeBridgeNetlinkDeps(): Pick<BridgeDeps, "nftables"> {
  return { nftables: (netns) => nodeNftables(netns) };
}
