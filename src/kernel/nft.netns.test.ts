// The nft and tc wrappers against the real tools, inside a throwaway netns: error
// classification from their real words, transactions that are all-or-nothing, parsing of their
// real output. (iptables: iptables.netns.test.ts.)
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { nodeExec, type Exec } from "./exec.js";
import { createNftables, isNftExists, isNftNotFound } from "./nft.js";
import { nftKey, openNftNetlink, type NftDelete } from "./nft-netlink.js";
import { createTc, tbfParams } from "./tc.js";
import { netnsSkip, withTempNetns } from "./testing.js";

const inNs = (name: string): Exec => ({ run: (argv, o) => nodeExec.run(["ip", "netns", "exec", name, ...argv], o) });

describe("nft and tc in a real netns", { skip: netnsSkip() }, () => {
  it("nft: a failed transaction changes nothing; EEXIST and ENOENT are classified", () =>
    withTempNetns(async (ns) => {
      const nft = createNftables({ exec: inNs(ns.name) });
      await nft.apply([
        "add table inet t",
        "add map inet t m { type inet_proto . inet_service : verdict ; }",
        "add chain inet t c",
        "add element inet t m { tcp . 80 : jump c }",
      ]);
      const before = await nft.run(["list", "ruleset"]);
      const e = await nft
        .apply(["add chain inet t d", "add element inet t m { tcp . 80 : jump d }"])
        .catch((x: unknown) => x);
      assert.ok(isNftExists(e), String(e));
      assert.equal((e as { command?: string }).command, "add element inet t m { tcp . 80 : jump d }");
      assert.equal(await nft.run(["list", "ruleset"]), before, "all or nothing");
      assert.ok(isNftNotFound(await nft.run(["list", "table", "inet", "nope"]).catch((x: unknown) => x)));
      const json = await nft.json(["list", "map", "inet", "t", "m"]);
      assert.ok(json.some((o) => "map" in o));
    }));

  it("the port: a deletion reads the same through nft and over netlink; both see the same table", () =>
    withTempNetns(async (ns) => {
      const text = createNftables({ exec: inNs(ns.name) });
      const nl = createNftables({ exec: inNs(ns.name), netlink: () => openNftNetlink(ns.path) });
      try {
        await text.apply([
          "add table inet t",
          "add map inet t m { type ipv4_addr . inet_proto . inet_service : verdict ; }",
          "add chain inet t c",
          "add element inet t m { 10.200.0.1 . tcp . 80 : jump c, 10.200.0.2 . udp . 53 : jump c }",
        ]);
        const el = (ip: number, proto: number, port: number, keyText: string): NftDelete => ({
          op: "delElement",
          family: "inet",
          table: "t",
          set: "m",
          key: nftKey([
            new Uint8Array([10, 200, 0, ip]),
            new Uint8Array([proto]),
            new Uint8Array([port >> 8, port & 0xff]),
          ]),
          keyText,
        });
        const a = el(1, 6, 80, "10.200.0.1 . tcp . 80");
        const b = el(2, 17, 53, "10.200.0.2 . udp . 53");
        const hex = (k: Uint8Array) => Buffer.from(k).toString("hex");
        for (const port of [text, nl])
          assert.deepEqual(
            (await port.table("inet", "t", ["m"]))?.sets.get("m")?.map(hex).sort(),
            [a, b].map((d) => hex((d as { key: Uint8Array }).key)).sort(),
          );
        await text.apply([a]);
        await nl.apply([b]);
        for (const port of [text, nl]) assert.deepEqual((await port.table("inet", "t", ["m"]))?.sets.get("m"), []);
        const gone = await nl.apply([b]).catch((x: unknown) => x);
        assert.ok(isNftNotFound(gone), String(gone));
        await nl.apply([{ op: "delTable", family: "inet", table: "t" }]);
        assert.equal(await text.tableExists("inet", "t"), false);
      } finally {
        nl.close();
      }
    }));

  it("tc: one batch sets up a tbf; -json reads it back with Go's numbers", () =>
    withTempNetns(async (ns) => {
      await ns.ops.linkAddVeth("va", "vb", { up: true });
      const tc = createTc({ exec: inNs(ns.name) });
      await tc.apply([
        { op: "tbf", mode: "add", dev: "va", params: tbfParams(1_000_000, 800_000) },
        { op: "ingress", dev: "va" },
      ]);
      const qs = await tc.qdiscs("va");
      assert.deepEqual(qs.find((q) => q.kind === "tbf")?.options, { rate: 125_000, burst: 100_000, lat: 25_000 });
      assert.ok(qs.some((q) => q.kind === "ingress"));
      const e = await tc.apply([{ op: "ingress", dev: "va" }]).catch((x: unknown) => x);
      assert.equal((e as { errno?: string }).errno, "EEXIST");
    }));
});
