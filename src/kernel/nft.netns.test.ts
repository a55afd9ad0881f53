// The nft and tc wrappers against the real tools, inside a throwaway netns: error
// classification from their real words, transactions that are all-or-nothing, parsing of their
// real output. (iptables: iptables.netns.test.ts.)
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { nodeExec, type Exec } from "./exec.js";
import { createNft, isNftExists, isNftNotFound } from "./nft.js";
import { createTc, tbfParams } from "./tc.js";
import { netnsSkip, withTempNetns } from "./testing.js";

const inNs = (name: string): Exec => ({ run: (argv, o) => nodeExec.run(["ip", "netns", "exec", name, ...argv], o) });

describe("nft and tc in a real netns", { skip: netnsSkip() }, () => {
  it("nft: a failed transaction changes nothing; EEXIST and ENOENT are classified", () =>
    withTempNetns(async (ns) => {
      const nft = createNft(inNs(ns.name));
      await nft.apply(["add table inet t", "add map inet t m { type inet_proto . inet_service : verdict ; }", "add chain inet t c", "add element inet t m { tcp . 80 : jump c }"]);
      const before = await nft.run(["list", "ruleset"]);
      const e = await nft.apply(["add chain inet t d", "add element inet t m { tcp . 80 : jump d }"]).catch((x: unknown) => x);
      assert.ok(isNftExists(e), String(e));
      assert.equal((e as { command?: string }).command, "add element inet t m { tcp . 80 : jump d }");
      assert.equal(await nft.run(["list", "ruleset"]), before, "all or nothing");
      assert.ok(isNftNotFound(await nft.run(["list", "table", "inet", "nope"]).catch((x: unknown) => x)));
      const json = await nft.json(["list", "map", "inet", "t", "m"]);
      assert.ok(json.some((o) => "map" in o));
    }));

  it("tc: one batch sets up a tbf; -json reads it back with Go's numbers", () =>
    withTempNetns(async (ns) => {
      await ns.ops.linkAddVeth("va", "vb", { up: true });
      const tc = createTc({ exec: inNs(ns.name) });
      await tc.apply([{ op: "tbf", mode: "add", dev: "va", params: tbfParams(1_000_000, 800_000) }, { op: "ingress", dev: "va" }]);
      const qs = await tc.qdiscs("va");
      assert.deepEqual(qs.find((q) => q.kind === "tbf")?.options, { rate: 125_000, burst: 100_000, lat: 25_000 });
      assert.ok(qs.some((q) => q.kind === "ingress"));
      const e = await tc.apply([{ op: "ingress", dev: "va" }]).catch((x: unknown) => x);
      assert.equal((e as { errno?: string }).errno, "EEXIST");
    }));
});
