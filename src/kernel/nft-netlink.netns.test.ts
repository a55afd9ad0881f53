// nf_tables deletions over netlink against the real kernel, with `nft list` as the oracle:
// elements of concatenated-key maps (the layout portmap uses), a chain's rules and the chain go
// in one atomic batch; a batch with one missing object changes nothing and says ENOENT.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isKernelError } from "./errors.js";
import { nftKey, openNftNetlink, type NftDelete } from "./nft-netlink.js";
import { netnsSkip, withTempNetns } from "./testing.js";

const port = (n: number) => new Uint8Array([n >> 8, n & 0xff]);
const proto = (p: number) => new Uint8Array([p]);

describe("nft key encoding", () => {
  it("pads each field of a concatenation to 4 bytes", () => {
    assert.deepEqual([...nftKey([proto(6), port(8080)])], [6, 0, 0, 0, 0x1f, 0x90, 0, 0]);
    assert.deepEqual(
      [...nftKey([new Uint8Array([10, 0, 0, 1]), proto(17), port(53)])],
      [10, 0, 0, 1, 17, 0, 0, 0, 0, 53, 0, 0],
    );
  });
});

describe("nf_tables over netlink (real kernel)", { skip: netnsSkip() }, () => {
  it("deletes elements, flushes and deletes a chain in one batch; all or nothing", () =>
    withTempNetns(async (ns) => {
      const T = "inet pt_nl";
      await ns.exec(
        "sh",
        "-c",
        `nft -f - <<'EOF'
add table ${T}
add map ${T} hp4 { type inet_proto . inet_service : verdict ; }
add map ${T} hip4 { type ipv4_addr . inet_proto . inet_service : verdict ; }
add map ${T} hip6 { type ipv6_addr . inet_proto . inet_service : verdict ; }
add chain ${T} hp_a
add rule ${T} hp_a meta nfproto ipv4 tcp dport 8080 dnat ip to 10.200.0.5:80
add rule ${T} hp_a meta nfproto ipv4 udp dport 53 dnat ip to 10.200.0.5:53
add chain ${T} hp_b
add rule ${T} hp_b meta nfproto ipv4 tcp dport 8081 dnat ip to 10.200.0.6:80
add element ${T} hp4 { tcp . 8080 : jump hp_a, udp . 53 : jump hp_a, tcp . 8081 : jump hp_b }
add element ${T} hip4 { 10.200.9.1 . tcp . 9090 : jump hp_a }
add element ${T} hip6 { fd00:200::1 . tcp . 9090 : jump hp_a }
EOF`,
      );
      const nl = openNftNetlink(ns.path);
      try {
        assert.equal(nl.tableExists("inet", "pt_nl"), true);
        assert.deepEqual(nl.chains("inet", "pt_nl").sort(), ["hp_a", "hp_b"]);
        assert.deepEqual(nl.chains("inet", "pt_none"), []);
        assert.deepEqual(
          nl
            .setKeys("inet", "pt_nl", "hp4")!
            .map((k) => Buffer.from(k).toString("hex"))
            .sort(),
          ["060000001f900000", "060000001f910000", "1100000000350000"],
        );
        assert.equal(nl.setKeys("inet", "pt_nl", "nope"), undefined);
        assert.equal(nl.tableExists("inet", "pt_none"), false);
        assert.equal(nl.tableExists("ip", "pt_nl"), false);
        const base = { family: "inet", table: "pt_nl" } as const;
        const delA: NftDelete[] = [
          { ...base, op: "delElement", set: "hp4", key: nftKey([proto(6), port(8080)]), keyText: "tcp . 8080" },
          { ...base, op: "delElement", set: "hp4", key: nftKey([proto(17), port(53)]), keyText: "udp . 53" },
          {
            ...base,
            op: "delElement",
            set: "hip4",
            key: nftKey([new Uint8Array([10, 200, 9, 1]), proto(6), port(9090)]),
            keyText: "10.200.9.1 . tcp . 9090",
          },
          {
            ...base,
            op: "delElement",
            set: "hip6",
            key: nftKey([new Uint8Array([0xfd, 0, 2, 0, ...new Array<number>(11).fill(0), 1]), proto(6), port(9090)]),
            keyText: "fd00:200::1 . tcp . 9090",
          },
          { ...base, op: "flushChain", chain: "hp_a" },
          { ...base, op: "delChain", chain: "hp_a" },
        ];
        // One missing element: ENOENT, and nothing of the batch happened.
        const before = await ns.exec("nft", "list", "table", "inet", "pt_nl");
        assert.throws(
          () =>
            nl.apply([
              ...delA.slice(0, 2),
              { ...base, op: "delElement", set: "hp4", key: nftKey([proto(6), port(1)]), keyText: "tcp . 1" },
            ]),
          (e) => isKernelError(e, "ENOENT"),
        );
        assert.equal(await ns.exec("nft", "list", "table", "inet", "pt_nl"), before);
        // A chain still jumped to: EBUSY, nothing changed.
        assert.throws(
          () =>
            nl.apply([
              { ...base, op: "flushChain", chain: "hp_b" },
              { ...base, op: "delChain", chain: "hp_b" },
            ]),
          (e) => isKernelError(e, "EBUSY"),
        );
        assert.equal(await ns.exec("nft", "list", "table", "inet", "pt_nl"), before);
        nl.apply(delA);
        const after = await ns.exec("nft", "list", "table", "inet", "pt_nl");
        assert.doesNotMatch(after, /hp_a|8080|9090|53 :/);
        assert.match(after, /tcp \. 8081 : jump hp_b/);
        assert.match(after, /chain hp_b \{/);
        nl.apply([{ ...base, op: "delTable" }]);
        assert.equal(nl.tableExists("inet", "pt_nl"), false);
        assert.doesNotMatch(await ns.exec("nft", "list", "ruleset"), /pt_nl/);
      } finally {
        nl.close();
      }
    }));
});
