// The nft, tc and iptables wrappers against the real tools, inside a throwaway netns: error
// classification from their real words, transactions that are all-or-nothing, parsing of their
// real output.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { nodeExec, type Exec } from "./exec.js";
import { createIptables } from "./iptables.js";
import { createNft, isNftExists, isNftNotFound } from "./nft.js";
import { createTc, tbfCommand, tbfParams } from "./tc.js";
import { netnsSkip, withTempNetns } from "./testing.js";

const inNs = (name: string): Exec => ({ run: (argv, o) => nodeExec.run(["ip", "netns", "exec", name, ...argv], o) });

describe("nft, tc and iptables in a real netns", { skip: netnsSkip() }, () => {
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
      const tc = createTc(inNs(ns.name));
      await tc.batch([tbfCommand("add", "va", tbfParams(1_000_000, 800_000)), "qdisc add dev va handle ffff: ingress"]);
      const qs = await tc.qdiscs("va");
      assert.deepEqual(qs.find((q) => q.kind === "tbf")?.options, { rate: 125_000, burst: 100_000, lat: 25_000 });
      assert.ok(qs.some((q) => q.kind === "ingress"));
      const e = await tc.batch(["qdisc add dev va handle ffff: ingress"]).catch((x: unknown) => x);
      assert.equal((e as { errno?: string }).errno, "EEXIST");
    }));

  it("iptables: restore is atomic; save is read back verbatim", () =>
    withTempNetns(async (ns) => {
      const ipt = createIptables(inNs(ns.name));
      await ipt.restore(4, "nat", ["-N CNI-X", '-A CNI-X -p tcp -m comment --comment "a \\"b\\"" -m tcp --dport 80 -j RETURN']);
      await assert.rejects(ipt.restore(4, "nat", ["-N CNI-Y", "-N CNI-X"]), /iptables-restore failed: .*Chain already exists/);
      const t = await ipt.save(4, "nat");
      assert.ok(t?.chains.has("CNI-X") && !t.chains.has("CNI-Y"));
      assert.deepEqual(t?.rules.filter((r) => r.chain === "CNI-X"), [{ chain: "CNI-X", spec: '-p tcp -m comment --comment "a \\"b\\"" -m tcp --dport 80 -j RETURN' }]);
    }));
});
