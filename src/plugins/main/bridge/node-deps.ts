// The kernel dependencies of bridge beyond `kernel` and `exec`, for the executable and for a
// process that runs bridge in-process (the resident daemon): nf_tables over netlink, in the
// process's own netns on one socket for the life of the process (closing a NETLINK_NETFILTER
// socket can wait ≈16 ms for the RCU grace period of earlier deletions).
import { openNftNetlink, ownNftNetlink } from "../../../kernel/nft-netlink.js";
import type { BridgeDeps } from "./bridge.js";

export function nodeBridgeNetlinkDeps(): Pick<BridgeDeps, "nftNetlink"> {
  return { nftNetlink: (netns) => (netns === null ? ownNftNetlink() : openNftNetlink(netns)) };
}
