// ctnetlink against the real kernel, with the `conntrack` tool as the oracle: entries it inserts
// are found by our dump, and exactly the ones a filter selects are deleted.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeEntry, encodeEntry, IPPROTO_UDP, openConntrack } from "./conntrack.js";
import { netnsSkip, withTempNetns } from "./testing.js";

describe("conntrack codec", () => {
  it("decodes the tuples of a dump message and keeps the attributes that name the entry", () => {
    const e = {
      family: 4 as const,
      orig: { src: "10.200.0.9", dst: "10.200.0.1", proto: 17, srcPort: 4000, dstPort: 53 },
      reply: { src: "10.200.1.5", dst: "10.200.0.9", proto: 17, srcPort: 53, dstPort: 4000 },
    };
    const d = decodeEntry({ type: 0x100, flags: 2, seq: 1, pid: 0, payload: encodeEntry(e, 7) });
    assert.deepEqual(d?.entry, e);
    assert.equal(d?.key.length, 2, "orig tuple and id");
  });
});

describe("conntrack over netlink (real kernel)", { skip: netnsSkip() }, () => {
  it("deletes exactly the UDP entries a filter selects, from one dump", () =>
    withTempNetns(async (ns) => {
      const insert = (sport: number, dport: number, replySrc: string) =>
        ns.exec(
          "conntrack",
          "-I",
          "-p",
          "udp",
          "-s",
          "10.200.0.9",
          "-d",
          "10.200.0.1",
          "--sport",
          String(sport),
          "--dport",
          String(dport),
          "-r",
          replySrc,
          "-q",
          "10.200.0.9",
          "--reply-port-src",
          String(dport),
          "--reply-port-dst",
          String(sport),
          "--timeout",
          "100",
        );
      await insert(4000, 53, "10.200.1.5"); // to host port 53, DNATed to the pod
      await insert(4001, 53, "10.200.0.1"); // to host port 53, answered by the node itself
      await insert(4002, 54, "10.200.1.5"); // another port
      const list = async () =>
        (await ns.exec("conntrack", "-L").catch(() => ""))
          .split("\n")
          .filter((l) => l.startsWith("udp"))
          .map((l) => /sport=(\d+)/.exec(l)![1])
          .sort();
      assert.deepEqual(await list(), ["4000", "4001", "4002"]);
      const ct = openConntrack(ns.path);
      try {
        // DEL's filter: port 53, answered by the pod.
        const n = ct.deleteWhere(
          [4],
          (e) => e.orig.proto === IPPROTO_UDP && e.orig.dstPort === 53 && e.reply?.src === "10.200.1.5",
        );
        assert.equal(n, 1);
        assert.deepEqual(await list(), ["4001", "4002"]);
        // ADD's filter: port 53, whoever answers; both families in one dump.
        assert.equal(
          ct.deleteWhere([4, 6], (e) => e.orig.proto === IPPROTO_UDP && e.orig.dstPort === 53),
          1,
        );
        assert.deepEqual(await list(), ["4002"]);
        assert.equal(
          ct.deleteWhere([6], () => true),
          0,
          "no IPv6 entries",
        );
      } finally {
        ct.close();
      }
    }));
});
