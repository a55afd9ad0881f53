// NetlinkSocket over a scripted addon: dumps retried while interrupted (up to MAX_DUMP_ATTEMPTS),
// batches in one datagram with acks asked only for the messages that name an operation, batches
// with one result per message, the receive timeout, and nfnetlink's batch framing; rtnetlink
// batches of route/neighbour/FDB changes (net-batch.ts) in chunks.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Addon } from "./addon.js";
import { isKernelError } from "./errors.js";
import { MAX_DUMP_ATTEMPTS, NETLINK_NETFILTER, NetlinkSocket } from "./netlink-socket.js";
import { NFNL_SUBSYS, nfgenmsg, nfnlBatch, nfnlType, openNfnetlink } from "./nfnetlink.js";
import { BATCH_CHUNK, netBatch } from "./net-batch.js";
import { NLM_F, NLMSG, RTM, encodeMessage, i32, ifinfomsg, parseMessages, type NlMsg } from "./rtnl-codec.js";

const ack = (seq: number, errno = 0) => encodeMessage(NLMSG.ERROR, 0, seq, [i32(-errno), new Uint8Array(16)]);
const done = (seq: number) => encodeMessage(NLMSG.DONE, NLM_F.MULTI, seq, [i32(0)]);
const item = (seq: number, n: number, intr = false) =>
  encodeMessage(100, NLM_F.MULTI | (intr ? NLM_F.DUMP_INTR : 0), seq, [Uint8Array.of(n, 0, 0, 0)]);

/** An addon whose kernel answers each datagram with `answer` (one reply datagram per returned buffer; none: a timeout). */
function scripted(answer: (msgs: NlMsg[], datagram: number) => Uint8Array[]) {
  const sent: NlMsg[][] = [];
  const opened: number[] = [];
  const closed: number[] = [];
  const queue: Uint8Array[] = [];
  let fd = 100;
  const addon = {
    nlOpen: (_ns: string | null, protocol: number) => {
      opened.push(protocol);
      return ++fd;
    },
    nlSend(_fd: number, buf: Uint8Array) {
      const msgs = parseMessages(buf);
      sent.push(msgs);
      queue.push(...answer(msgs, sent.length));
      return buf.length;
    },
    nlRecv: () => {
      const b = queue.shift();
      return b ? Buffer.from(b) : null;
    },
    close: (f: number) => void closed.push(f),
  } as unknown as Addon;
  return { addon: () => addon, sent, opened, closed };
}

describe("NetlinkSocket", () => {
  it(`retries a dump interrupted by a change, at most MAX_DUMP_ATTEMPTS (${MAX_DUMP_ATTEMPTS}) times in all`, () => {
    const k = scripted(([m], n) => [item(m!.seq, n, n < 3), done(m!.seq)]);
    const s = new NetlinkSocket(k.addon, null);
    const got = s.dump(100, [], "netlink TEST dump");
    assert.equal(k.sent.length, 3, "two interrupted dumps, then a clean one");
    assert.deepEqual(
      got.map((m) => m.payload[0]),
      [3],
    );
    assert.equal(k.sent[0]![0]!.flags & NLM_F.DUMP, NLM_F.DUMP);

    const always = scripted(([m]) => [item(m!.seq, 1, true), done(m!.seq)]);
    assert.throws(
      () => new NetlinkSocket(always.addon, null).dump(100, [], "netlink TEST dump"),
      (e) => isKernelError(e, "EINTR"),
    );
    assert.equal(always.sent.length, MAX_DUMP_ATTEMPTS);
  });

  it("a batch is one datagram; only messages with an op ask for an ack; the first error is thrown once all are answered", () => {
    const k = scripted((msgs) => [
      concatAll(msgs.filter((m) => m.flags & NLM_F.ACK).map((m, i) => ack(m.seq, i === 1 ? 2 /* ENOENT */ : 0))),
    ]);
    const s = new NetlinkSocket(k.addon, null, { protocol: NETLINK_NETFILTER });
    assert.throws(
      () =>
        s.batch(
          [
            { type: 0x10, body: [] },
            { type: 1, body: [], op: "first" },
            { type: 2, body: [], op: "second" },
            { type: 3, body: [], op: "third" },
            { type: 0x11, body: [] },
          ],
          "TEST batch",
        ),
      (e) => isKernelError(e, "ENOENT") && e.op === "second",
    );
    assert.equal(k.sent.length, 1, "one datagram");
    assert.deepEqual(
      k.sent[0]!.map((m) => [m.type, (m.flags & NLM_F.ACK) !== 0]),
      [
        [0x10, false],
        [1, true],
        [2, true],
        [3, true],
        [0x11, false],
      ],
    );
    assert.deepEqual(k.opened, [NETLINK_NETFILTER]);
  });

  it("batchEach: one datagram, only the last message asks for an ack, failures answered in order, one result per message", () => {
    // as rtnetlink answers: an error for each refused message, an ack only where NLM_F_ACK asks
    const refused: Record<number, number> = { 1: 17 /* EEXIST */, 3: 3 /* ESRCH */ };
    const k = scripted((msgs) => [
      concatAll(msgs.flatMap((m, i) => (refused[i] || m.flags & NLM_F.ACK ? [ack(m.seq, refused[i] ?? 0)] : []))),
    ]);
    const s = new NetlinkSocket(k.addon, null);
    const r = s.batchEach(
      [
        { type: 24, body: [], op: "first" },
        { type: 24, body: [], op: "second" },
        { type: 25, body: [] },
        { type: 25, body: [], op: "fourth" },
      ],
      "TEST batch",
    );
    assert.equal(k.sent.length, 1, "one datagram");
    assert.deepEqual(
      k.sent[0]!.map((m) => (m.flags & NLM_F.ACK) !== 0),
      [false, false, false, true],
    );
    assert.deepEqual(
      r.map((e) => e && [e.errno, e.op]),
      [undefined, ["EEXIST", "second"], undefined, ["ESRCH", "fourth"]],
    );
    // the last one applied: its ack ends the batch
    const ok = scripted((msgs) => [
      concatAll(msgs.flatMap((m, i) => (i === 0 ? [ack(m.seq, 22)] : m.flags & NLM_F.ACK ? [ack(m.seq)] : []))),
    ]);
    const r2 = new NetlinkSocket(ok.addon, null).batchEach(
      [
        { type: 24, body: [] },
        { type: 24, body: [] },
      ],
      "TEST batch",
    );
    assert.deepEqual(
      r2.map((e) => e && [e.errno, e.op]),
      [["EINVAL", "TEST batch #0"], undefined],
    );
    assert.deepEqual(s.batchEach([], "nothing"), []);
    assert.equal(k.sent.length, 1, "an empty batch sends nothing");
  });

  it("an error to the batch's framing fails it at once", () => {
    const k = scripted(([begin]) => [ack(begin!.seq, 22 /* EINVAL */)]);
    const s = new NetlinkSocket(k.addon, null);
    assert.throws(
      () =>
        s.batch(
          [
            { type: 0x10, body: [] },
            { type: 1, body: [], op: "first" },
            { type: 0x11, body: [] },
          ],
          "TEST batch",
        ),
      (e) => isKernelError(e, "EINVAL") && e.op === "TEST batch",
    );
  });

  it("no reply within the timeout: ETIMEDOUT, and a fresh socket for the next request", () => {
    let silent = true;
    const k = scripted(([m]) => (silent ? [] : [ack(m!.seq)]));
    const s = new NetlinkSocket(k.addon, null, { timeoutMs: 5 });
    assert.throws(
      () => s.ack(1, 0, [], "netlink TEST"),
      (e) => isKernelError(e, "ETIMEDOUT") && /no netlink reply within 5 ms/.test(e.extack),
    );
    assert.deepEqual(k.closed, [101]);
    silent = false;
    s.ack(1, 0, [], "netlink TEST");
    assert.equal(k.opened.length, 2);
  });
});

describe("netBatch (rtnetlink changes)", () => {
  /** A kernel that knows one link (index 7, "vx0"), acks every change, and refuses the ones whose sequence `refuse` picks. */
  function kernel(refuse: (n: number) => number = () => 0) {
    let n = 0;
    return scripted((msgs) => {
      if (msgs.length === 1 && msgs[0]!.type === RTM.GETLINK) {
        return [concatAll([encodeMessage(RTM.NEWLINK, 0, msgs[0]!.seq, [ifinfomsg({ index: 7 })]), ack(msgs[0]!.seq)])];
      }
      return [
        concatAll(
          msgs.flatMap((m) => {
            const errno = refuse(n++);
            return errno || m.flags & NLM_F.ACK ? [ack(m.seq, errno)] : [];
          }),
        ),
      ];
    });
  }

  it(`sends chunks of at most BATCH_CHUNK (${BATCH_CHUNK}) messages, looks each link up once, maps each result to its change`, () => {
    const k = kernel((n) => (n === 3 ? 17 : 0));
    const s = new NetlinkSocket(k.addon, null);
    const r = netBatch(
      s,
      [
        { op: "fdbReplace", fdb: { dev: "vx0", mac: "0e:00:00:00:00:02", dst: "192.168.20.3" } },
        { op: "neighReplace", neigh: { dev: "vx0", ip: "10.200.2.0", mac: "0e:00:00:00:00:02" } },
        {
          op: "routeReplace",
          route: { dst: "10.200.2.0/24", gw: "10.200.2.0", dev: "vx0", onlink: true, protocol: 152 },
        },
        { op: "routeAdd", route: { dst: "10.200.3.0/24", gw: "bad" } },
        { op: "routeAdd", route: { dst: "10.200.4.0/24", gw: "192.168.10.4", protocol: 152 } },
        { op: "routeDel", route: { dst: "10.200.5.0/24", protocol: 152 } },
      ],
      2,
    );
    const getlinks = k.sent.filter((d) => d[0]!.type === RTM.GETLINK);
    assert.equal(getlinks.length, 1, "vx0 looked up once");
    const batches = k.sent.filter((d) => d[0]!.type !== RTM.GETLINK);
    assert.deepEqual(
      batches.map((d) => d.map((m) => m.type)),
      [[RTM.NEWNEIGH, RTM.NEWNEIGH], [RTM.NEWROUTE, RTM.NEWROUTE], [RTM.DELROUTE]],
    );
    assert.deepEqual(
      r.map((e) => e?.name),
      [undefined, undefined, undefined, "RangeError", "KernelError", undefined],
    );
    assert.match(
      r[4]!.message,
      /^netlink RTM_NEWROUTE 10\.200\.4\.0\/24 via 192\.168\.10\.4 proto 152: File exists \(EEXIST\)/,
    );
    assert.match(r[3]!.message, /invalid gateway "bad"/);
    // FDB entries are AF_BRIDGE with NTF_SELF; neighbours AF_INET; both create-or-replace
    const [fdb, neigh] = batches[0]!;
    assert.deepEqual([fdb!.payload[0], fdb!.payload[10], neigh!.payload[0]], [7, 2, 2]);
    assert.equal(fdb!.flags & (NLM_F.CREATE | NLM_F.REPLACE), NLM_F.CREATE | NLM_F.REPLACE);
  });

  it("a missing link fails every change that names it, with one lookup", () => {
    const k = scripted((msgs) => [
      concatAll(
        msgs.filter((m) => m.flags & NLM_F.ACK).map((m) => ack(m.seq, m.type === RTM.GETLINK ? 19 /* ENODEV */ : 0)),
      ),
    ]);
    const s = new NetlinkSocket(k.addon, null);
    const r = netBatch(s, [
      { op: "neighDel", neigh: { dev: "gone0", ip: "10.200.2.0" } },
      { op: "fdbDel", fdb: { dev: "gone0", mac: "0e:00:00:00:00:02" } },
      { op: "routeDel", route: { dst: "10.200.5.0/24", protocol: 152 } },
    ]);
    assert.deepEqual(
      r.map((e) => e && (e as { errno?: string }).errno),
      ["ENODEV", "ENODEV", undefined],
    );
    assert.equal(k.sent.filter((d) => d[0]!.type === RTM.GETLINK).length, 1);
  });
});

describe("nfnetlink", () => {
  it("frames a subsystem's transaction with BATCH_BEGIN/END carrying the subsystem in res_id", () => {
    const k = scripted((msgs) => [concatAll(msgs.filter((m) => m.flags & NLM_F.ACK).map((m) => ack(m.seq)))]);
    const s = openNfnetlink(k.addon, null);
    nfnlBatch(
      s,
      NFNL_SUBSYS.NFTABLES,
      [{ type: nfnlType(NFNL_SUBSYS.NFTABLES, 8), body: [nfgenmsg(1)], op: "nft flush chain inet t c" }],
      "nft transaction",
    );
    const [d] = k.sent;
    assert.deepEqual(
      d!.map((m) => m.type),
      [0x10, 0x0a08, 0x11],
    );
    assert.deepEqual(
      [...d![0]!.payload],
      [0, 0, 0, 10],
      "nfgenmsg: AF_UNSPEC, NFNETLINK_V0, res_id NFNL_SUBSYS_NFTABLES",
    );
    assert.deepEqual([...d![1]!.payload], [1, 0, 0, 0]);
    assert.deepEqual(k.opened, [NETLINK_NETFILTER]);
    nfnlBatch(s, NFNL_SUBSYS.NFTABLES, [], "nothing");
    assert.equal(k.sent.length, 1, "an empty transaction sends nothing");
  });
});

function concatAll(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}
