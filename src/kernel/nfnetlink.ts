// nfnetlink (<linux/netfilter/nfnetlink.h>): what every netfilter subsystem shares on a
// NETLINK_NETFILTER socket — a message type of (subsystem << 8 | message), the nfgenmsg header
// before the attributes — and the batches of the transactional subsystems (nf_tables): BATCH_BEGIN,
// the messages, BATCH_END, in one datagram, applied by the kernel all or nothing. nf_tables
// (nft-netlink.ts) and ctnetlink (conntrack.ts) are built on it; the socket is NetlinkSocket.
import type { Addon } from "./addon.js";
import { NETLINK_NETFILTER, NetlinkSocket, type NetlinkSocketOptions } from "./netlink-socket.js";
import { AF } from "./rtnl-codec.js";

export const NFNL_SUBSYS = { CTNETLINK: 1, NFTABLES: 10 } as const;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFNETLINK_V0 = 0;

/** struct nfgenmsg: family u8 (AF_* / NFPROTO_*), version u8, res_id be16. */
export const nfgenmsg = (family: number, resId = 0): Uint8Array =>
  new Uint8Array([family, NFNETLINK_V0, resId >> 8, resId & 0xff]);

/** A subsystem's message type. */
export const nfnlType = (subsys: number, msg: number): number => (subsys << 8) | msg;

/** A NETLINK_NETFILTER socket in `netns` (null: this process's), opened on first use. */
export function openNfnetlink(
  addon: () => Addon,
  netns: string | null,
  opts: Omit<NetlinkSocketOptions, "protocol"> = {},
): NetlinkSocket {
  return new NetlinkSocket(addon, netns, { ...opts, protocol: NETLINK_NETFILTER });
}

export interface NfnlMessage {
  /** nfnlType(subsystem, message) */
  readonly type: number;
  /** nfgenmsg and the attributes. */
  readonly body: readonly Uint8Array[];
  /** Names the message in its error. */
  readonly op: string;
}

/**
 * One transaction of a subsystem: its messages between BATCH_BEGIN and BATCH_END. Every message
 * is acked; the first failure is thrown (a KernelError naming its message), and then the kernel
 * changed nothing.
 */
export function nfnlBatch(s: NetlinkSocket, subsys: number, msgs: readonly NfnlMessage[], op: string): void {
  if (msgs.length === 0) return;
  const framing = [nfgenmsg(AF.UNSPEC, subsys)];
  s.batch([{ type: NFNL_MSG_BATCH_BEGIN, body: framing }, ...msgs, { type: NFNL_MSG_BATCH_END, body: framing }], op);
}
