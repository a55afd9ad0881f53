// One netlink socket bound to one netns, for any netlink protocol (NETLINK_ROUTE for rtnetlink,
// NETLINK_NETFILTER for nf_tables and conntrack): request/ack, dumps, and batches of several
// messages in one datagram, with sequence numbers, multi-part replies, a receive timeout, and
// NLMSG_ERROR → KernelError with the kernel's errno and extended-ack text. Synchronous (the addon's
// calls block for microseconds; a veth delete waits ~20 ms in the kernel).
import type { Addon } from "./addon.js";
import { KernelError, fromSystemError } from "./errors.js";
import { NLM_F, NLMSG, concat, decodeError, encodeMessage, parseMessages, readI32, type NlMsg } from "./rtnl-codec.js";

export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;

/**
 * A dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is tried this many times in all
 * (containernetworking/plugins pkg/netlinksafe: maxAttempts), then fails with EINTR.
 */
export const MAX_DUMP_ATTEMPTS = 5;

export interface NetlinkSocketOptions {
  /** NETLINK_ROUTE (default) or NETLINK_NETFILTER. */
  readonly protocol?: number;
  /** Longest wait for one reply datagram; default 10 s. */
  readonly timeoutMs?: number;
}

/** One message of a batch. */
export interface BatchMessage {
  readonly type: number;
  readonly flags?: number;
  readonly body: readonly Uint8Array[];
  /**
   * Names the message in its error (`nft delete chain inet t c`), and asks for its ack. Without it
   * the message is framing (an nfnetlink batch's begin or end): the kernel answers it only when
   * it fails, and then the whole batch fails.
   */
  readonly op?: string;
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
        const what = this.protocol === NETLINK_NETFILTER ? "netlink (netfilter) socket" : "netlink socket";
        throw fromSystemError(`${what} in netns ${JSON.stringify(this.netns ?? "(self)")}`, e);
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

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  /** Sends one datagram (one message, or a batch of them). */
  private send(buf: Uint8Array, op: string): void {
    const fd = this.open();
    try {
      this.addon().nlSend(fd, buf);
    } catch (e) {
      throw fromSystemError(op, e);
    }
  }

  /** The messages of the next reply datagram; on a timeout the socket is closed, so a late answer is never read as another request's. */
  private receive(op: string): NlMsg[] {
    let buf: Buffer | null;
    try {
      buf = this.addon().nlRecv(this.open(), this.timeoutMs);
    } catch (e) {
      throw fromSystemError(op, e);
    }
    if (buf === null) {
      // The reply may still arrive later; a fresh socket keeps it from being read as another's.
      this.close();
      throw new KernelError(op, "ETIMEDOUT", { extack: `no netlink reply within ${this.timeoutMs} ms` });
    }
    return parseMessages(buf);
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
      if (attempt >= MAX_DUMP_ATTEMPTS)
        throw new KernelError(op, "EINTR", { extack: "dump interrupted by concurrent changes" });
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

  /**
   * Sends `msgs` in one datagram and waits for the answer to each message that has an `op`: its
   * ack, or its error. When every one is answered, the first error (if any) is thrown, naming its
   * message; an error to a message without `op` (the batch's framing) is thrown at once. Replies
   * other than acks and errors are returned (in order).
   */
  batch(msgs: readonly BatchMessage[], op: string): NlMsg[] {
    if (msgs.length === 0) return [];
    const acked = new Map<number, string>();
    const framing = new Set<number>();
    const parts = msgs.map((m) => {
      const seq = this.nextSeq();
      if (m.op === undefined) framing.add(seq);
      else acked.set(seq, m.op);
      return encodeMessage(m.type, NLM_F.REQUEST | (m.flags ?? 0) | (m.op === undefined ? 0 : NLM_F.ACK), seq, m.body);
    });
    this.send(concat(parts), op);
    const pending = new Set(acked.keys());
    const out: NlMsg[] = [];
    let first: KernelError | undefined;
    while (pending.size > 0) {
      for (const m of this.receive(op)) {
        if (m.type === NLMSG.ERROR) {
          const err = decodeError(m);
          if (!pending.has(m.seq)) {
            if (framing.has(m.seq) && err.error !== 0) throw new KernelError(op, -err.error, { extack: err.extack });
            continue; // a late answer to an earlier request
          }
          pending.delete(m.seq);
          if (err.error !== 0) first ??= new KernelError(acked.get(m.seq)!, -err.error, { extack: err.extack });
        } else if (acked.has(m.seq)) {
          out.push(m);
        }
      }
    }
    if (first) throw first;
    return out;
  }

  /**
   * Sends `msgs` in one datagram and returns one slot per message: undefined when the kernel
   * applied it, else its KernelError (named by the message's `op`, or `op #i`). rtnetlink handles
   * the messages of a datagram one by one, in order, a refused one not stopping the others, and
   * answers a message without NLM_F_ACK only when it fails: so only the last asks for an ack, and
   * its answer, queued after every other, says the batch is done. A whole batch costs one send
   * and one receive per failure plus one — not a receive per message. Nothing is thrown but
   * transport errors. Every message must be well-formed (a malformed length stops the kernel's
   * loop silently: the ack never comes, and the batch fails with ETIMEDOUT).
   */
  batchEach(msgs: readonly BatchMessage[], op: string): Array<KernelError | undefined> {
    const errors: Array<KernelError | undefined> = new Array(msgs.length).fill(undefined);
    if (msgs.length === 0) return errors;
    const index = new Map<number, number>();
    let last = 0;
    const parts = msgs.map((m, i) => {
      last = this.nextSeq();
      index.set(last, i);
      return encodeMessage(
        m.type,
        NLM_F.REQUEST | (m.flags ?? 0) | (i === msgs.length - 1 ? NLM_F.ACK : 0),
        last,
        m.body,
      );
    });
    this.send(concat(parts), op);
    for (let done = false; !done; ) {
      for (const m of this.receive(op)) {
        const i = m.type === NLMSG.ERROR ? index.get(m.seq) : undefined;
        if (i === undefined) continue; // a late answer to an earlier request
        const err = decodeError(m);
        if (err.error !== 0)
          errors[i] = new KernelError(msgs[i]!.op ?? `${op} #${i}`, -err.error, { extack: err.extack });
        if (m.seq === last) done = true;
      }
    }
    return errors;
  }

  private roundTrip(type: number, flags: number, body: readonly Uint8Array[], op: string, dump: boolean) {
    const seq = this.nextSeq();
    const f = NLM_F.REQUEST | flags | (dump ? NLM_F.DUMP : NLM_F.ACK);
    this.send(encodeMessage(type, f, seq, body), op);
    const msgs: NlMsg[] = [];
    let interrupted = false;
    for (;;) {
      for (const m of this.receive(op)) {
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
