// iptables against the real tools in a throwaway netns: what ruleText renders is byte for byte what
// iptables-save prints (comments with parentheses, blanks, quotes, backslashes), splitRule reads
// it back to the same arguments, restores are all or nothing, and the fake answers the same
// payloads with the same error class and exit statuses.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { nodeExec, type Exec } from "./exec.js";
import {
  IptablesError,
  createIPTables,
  restoreInput,
  ruleLine,
  ruleText,
  splitRule,
  type IPTables,
} from "./iptables.js";
import { createFakeIPTables } from "./iptables-fake.js";
import { netnsSkip, withTempNetns } from "./testing.js";

const inNs = (name: string): Exec => ({ run: (argv, o) => nodeExec.run(["ip", "netns", "exec", name, ...argv], o) });

const TRICKY = [
  "a(b)",
  "a b",
  'say "hi"',
  "it's",
  "back\\slash",
  "plain",
  "x-y_Z9",
  "a.b",
  "10.0.0.0/8",
  "a:b,c",
  "",
  "tab\there",
  'dnat name: "net" id: "c1"',
];

describe("iptables in a real netns", { skip: netnsSkip() }, () => {
  it("rule text is byte for byte iptables-save's, for tricky comments too", () =>
    withTempNetns(async (ns) => {
      for (const ipv6 of [false, true]) {
        const ipt = createIPTables(inNs(ns.name), ipv6);
        const fake = createFakeIPTables(ipv6);
        const src = ipv6 ? "fd00:200::/48" : "10.200.0.0/16";
        const rules = TRICKY.map((c, i) => [
          "-s",
          src,
          "-p",
          "tcp",
          "-m",
          "tcp",
          "--dport",
          String(8000 + i),
          "-m",
          "comment",
          "--comment",
          c,
          "-j",
          "RETURN",
        ]);
        const lines = ["-N PT-Q", ...rules.map((r) => `-A PT-Q ${ruleText(r)}`)];
        await ipt.restore(restoreInput("nat", lines));
        await fake.restore(restoreInput("nat", lines));
        const saved = (await ipt.save("nat")).rules.filter((r) => r.chain === "PT-Q");
        assert.deepEqual(
          saved.map((r) => r.spec),
          rules.map(ruleText),
          `iptables-save (IPv${ipv6 ? 6 : 4}) prints what ruleText renders`,
        );
        assert.deepEqual(
          saved.map((r) => splitRule(r.spec)),
          rules,
          "and splitRule reads it back",
        );
        assert.deepEqual(
          (await fake.save("nat")).rules.filter((r) => r.chain === "PT-Q").map(ruleLine),
          saved.map(ruleLine),
          "the fake holds the same text",
        );
        // iptables' own comparison finds them from the arguments alone
        for (const r of rules) assert.equal(await ipt.hasRule("nat", "PT-Q", r), true, r[11]);
      }
    }));

  it("ensure-chain and ensure-rule as the kubelet's; restores all or nothing; the fake fails the same way", () =>
    withTempNetns(async (ns) => {
      const real = createIPTables(inNs(ns.name));
      const fake = createFakeIPTables();
      for (const ipt of [real, fake] as IPTables[]) {
        const which = ipt === real ? "real" : "fake";
        assert.equal(await ipt.ensureChain("nat", "PT-A"), false, which);
        assert.equal(await ipt.ensureChain("nat", "PT-A"), true, which);
        const args = [
          "-m",
          "comment",
          "--comment",
          "kube hostport portals",
          "-m",
          "addrtype",
          "--dst-type",
          "LOCAL",
          "-j",
          "PT-A",
        ];
        assert.equal(await ipt.ensureRule("append", "nat", "OUTPUT", args), false, which);
        assert.equal(await ipt.ensureRule("append", "nat", "OUTPUT", args), true, which);
        await ipt.restore(
          restoreInput("nat", [
            "-N PT-X",
            '-A PT-X -p tcp -m comment --comment "a \\"b\\"" -m tcp --dport 80 -j RETURN',
          ]),
        );
        const before = await ipt.save("nat");
        const fails = async (lines: string[], exitCode: number) => {
          const e = await ipt.restore(restoreInput("nat", lines)).then(
            () => undefined,
            (x: unknown) => x,
          );
          assert.ok(e instanceof IptablesError, `${which}: ${String(e)}`);
          assert.equal(e.exitCode, exitCode, `${which}: ${e.message}`);
          assert.deepEqual(await ipt.save("nat"), before, `${which}: nothing changed`);
          return e.message;
        };
        assert.match(
          await fails(["-N PT-Y", "-N PT-X"], 1),
          /^iptables-restore failed: .*line 3 failed: Chain already exists/,
        );
        assert.match(await fails(["-A PT-NONE -j RETURN"], 1), /No chain\/target\/match by that name/);
        assert.match(await fails(["-X PT-A"], 4), /CHAIN_DEL failed \(Device or resource busy\): chain PT-A/); // OUTPUT jumps to it
        assert.match(await fails(["-X PT-X"], 4), /CHAIN_DEL failed \(Device or resource busy\): chain PT-X/); // not empty
        const t = await ipt.save("nat");
        assert.ok(t.chains.has("PT-X") && !t.chains.has("PT-Y"), which);
        assert.deepEqual(
          t.rules.filter((r) => r.chain === "PT-X"),
          [{ chain: "PT-X", spec: '-p tcp -m comment --comment "a \\"b\\"" -m tcp --dport 80 -j RETURN' }],
          which,
        );
        await ipt.deleteRule("nat", "OUTPUT", args);
        await ipt.restore(restoreInput("nat", ["-F PT-X", "-X PT-X", "-X PT-A"]));
        assert.equal((await ipt.save("nat")).chains.has("PT-A"), false, which);
      }
    }));
});
