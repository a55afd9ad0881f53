// One netlink socket bound to one netns: request/ack and dumps with sequence numbers, multi-part
// replies, NLMSG_ERROR → KernelError with the kernel's errno and extended-ack text. Synchronous
// (the addon's calls block for microseconds; a veth delete waits ~20 ms in the kernel).
import type { Addon } from "./addon.js";
import { KernelError, fromSystemError } from "./errors.js";
import { NLM_F, NLMSG, decodeError, encodeMessage, parseMessages, readI32, type NlMsg } from "./rtnl-codec.js";

export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;

/** A dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is retried this many times. */
const DUMP_ATTEMPTS = 5;

export interface NetlinkSocketOptions {
  readonly protocol?: number;
  /** Longest wait for one reply datagram; default 10 s. */
  readonly timeoutMs?: number;
}

export class NetlinkSocket {
  readonly netns: string | null;
  private fd = -1;
  private seq: number;
  private readonly protocol: number;
  private readonly timeoutMs: number;

  private readonly addon: () => Addon;

  constructor(addon: () => Addon, netns: string | null, opts: NetlinkSocketOptions = {}) {
    this.addon = addon;
    this.netns = netns;
    this.protocol = opts.protocol ?? NETLINK_ROUTE;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    // Start somewhere random so replies to an earlier process's requests can never match.
    this.seq = Math.floor(Math.random() * 0x7fffffff);
  }

  private open(): number {
    if (this.fd < 0) {
      const a = this.addon(); // a missing addon throws its own error, listing the paths tried
      try {
        this.fd = a.nlOpen(this.netns, this.protocol);
      } catch (e) {
        throw fromSystemError(`netlink socket in netns ${JSON.stringify(this.netns ?? "(self)")}`, e);
      }
    }
    return this.fd;
  }

  close(): void {
    if (this.fd >= 0) {
      const fd = this.fd;
      this.fd = -1;
      this.addon().close(fd);
    }
  }

  /**
   * Sends one request and collects the reply: for a dump (`dump` true) every message up to
   * NLMSG_DONE; otherwise any message the kernel sends before its ACK (e.g. the link of a GETLINK).
   * `op` names the operation in errors: `netlink RTM_NEWLINK veth "eth0"`.
   */
  request(type: number, flags: number, body: readonly Uint8Array[], op: string, dump = false): NlMsg[] {
    for (let attempt = 1; ; attempt++) {
      const { msgs, interrupted } = this.roundTrip(type, flags, body, op, dump);
      if (!interrupted) return msgs;
      if (attempt >= DUMP_ATTEMPTS) throw new KernelError(op, "EINTR", { extack: "dump interrupted by concurrent changes" });
    }
  }

  /** A request that returns nothing but an ACK. */
  ack(type: number, flags: number, body: readonly Uint8Array[], op: string): void {
    this.request(type, flags, body, op, false);
  }

  /** A GET with NLM_F_DUMP: every object of the type. */
  dump(type: number, body: readonly Uint8Array[], op: string): NlMsg[] {
    return this.request(type, 0, body, op, true);
  }

  private roundTrip(type: number, flags: number, body: readonly Uint8Array[], op: string, dump: boolean) {
    const fd = this.open();
    const a = this.addon();
    const seq = (this.seq = (this.seq + 1) >>> 0 || 1);
    const f = NLM_F.REQUEST | flags | (dump ? NLM_F.DUMP : NLM_F.ACK);
    const msg = encodeMessage(type, f, seq, body);
    try {
      a.nlSend(fd, msg);
    } catch (e) {
      throw fromSystemError(op, e);
    }
    const msgs: NlMsg[] = [];
    let interrupted = false;
    for (;;) {
      let buf: Buffer | null;
      try {
        buf = a.nlRecv(fd, this.timeoutMs);
      } catch (e) {
        throw fromSystemError(op, e);
      }
      if (buf === null) {
        // The reply may still arrive later; a fresh socket keeps it from being read as another's.
        this.close();
        throw new KernelError(op, "ETIMEDOUT", { extack: `no netlink reply within ${this.timeoutMs} ms` });
      }
      for (const m of parseMessages(buf)) {
        if (m.seq !== seq) continue; // a late reply to an earlier (timed out) request
        if (m.flags & NLM_F.DUMP_INTR) interrupted = true;
        switch (m.type) {
          case NLMSG.ERROR: {
            const err = decodeError(m);
            if (err.error === 0) return { msgs, interrupted };
            throw new KernelError(op, -err.error, { extack: err.extack });
          }
          case NLMSG.DONE: {
            // Since Linux 4.x a DONE may carry an error of a dump that failed part-way.
            const err = m.payload.length >= 4 ? readI32(m.payload) : 0;
            if (err < 0) throw new KernelError(op, -err);
            return { msgs, interrupted };
          }
          case NLMSG.NOOP:
          case NLMSG.OVERRUN:
            continue;
          default:
            msgs.push(m);
        }
      }
    }
  }
}
