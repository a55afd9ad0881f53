import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseSave } from "../../../kernel/iptables.js";
import { formatComment } from "../../utils.js";
import {
  commentForInstance,
  hashForInstance,
  iptablesRules,
  renderIptablesFastSetup,
  renderIptablesFastTeardown,
  renderIptablesSetup,
  renderIptablesTeardown,
  renderNftSetup,
  setupIPMasq,
  teardownIPMasq,
} from "./ipmasq.js";
import { parseVlanShow } from "./port.js";
import { parseBridgeNat, renderSpoofCheckSetup, renderSpoofCheckTeardown } from "./spoofcheck.js";
import { fakeExec } from "./testing.js";
import { ExecError } from "../../../kernel/exec.js";

const t = { network: "mynet", ifName: "eth0", containerID: "abc123" };
const CHAIN = "CNI-70a29d9dc18bc4d652ea5d59";
const K = '-m comment --comment "name: \\"mynet\\" id: \\"abc123\\""';

describe("hashed names", () => {
  it("nftables instance hash and comment", () => {
    assert.equal(hashForInstance(t), "d23676b4f2d9fe04-ebce0e3dd4dafae3");
    assert.equal(commentForInstance(t), "d23676b4f2d9fe04-ebce0e3dd4dafae3, net: mynet, if: eth0, id: abc123");
    const long = commentForInstance({ ...t, containerID: "c".repeat(200) });
    assert.equal(long.length, 128);
  });
});

describe("iptables masquerade", () => {
  it("rules per family, in iptables-save's spelling", () => {
    assert.deepEqual(iptablesRules(4, ["10.200.0.5/24", "fd00:200::5/64"], CHAIN, formatComment("mynet", "abc123")), [
      `-A ${CHAIN} -d 10.200.0.0/24 ${K} -j ACCEPT`,
      `-A ${CHAIN} ! -d 224.0.0.0/4 ${K} -j MASQUERADE`,
      `-A POSTROUTING -s 10.200.0.5/32 ${K} -j ${CHAIN}`,
    ]);
    assert.deepEqual(iptablesRules(6, ["10.200.0.5/24", "fd00:200:0::5/64"], CHAIN, formatComment("mynet", "abc123")), [
      `-A ${CHAIN} -d fd00:200::/64 ${K} -j ACCEPT`,
      `-A ${CHAIN} ! -d ff00::/8 ${K} -j MASQUERADE`,
      `-A POSTROUTING -s fd00:200::5/128 ${K} -j ${CHAIN}`,
    ]);
  });

  it("setup adds only what is missing (append-unique) and declares the chain only when new", () => {
    const rules = iptablesRules(4, ["10.200.0.5/24"], CHAIN, formatComment("mynet", "abc123"));
    assert.equal(
      renderIptablesSetup(parseSave("", "nat"), rules, CHAIN),
      `*nat\n:${CHAIN} - [0:0]\n${rules[0]}\n${rules[1]}\n${rules[2]}\nCOMMIT\n`,
    );
    const saved = `# Generated\n*nat\n:POSTROUTING ACCEPT [0:0]\n:${CHAIN} - [0:0]\n${rules[2]}\n${rules[0]}\nCOMMIT\n`;
    assert.equal(renderIptablesSetup(parseSave(saved, "nat"), rules, CHAIN), `*nat\n${rules[1]}\nCOMMIT\n`);
    assert.equal(renderIptablesSetup(parseSave(`${saved}*nat\n${rules[1]}\n`, "nat"), rules, CHAIN), undefined);
  });

  it("teardown removes every jump to the chain (old -s A/P form too), then the chain", () => {
    const saved = [
      "*filter",
      `-A FORWARD -j ${CHAIN}`,
      "COMMIT",
      "*nat",
      ":POSTROUTING ACCEPT [0:0]",
      `:${CHAIN} - [0:0]`,
      `-A POSTROUTING -s 10.200.0.5/32 ${K} -j ${CHAIN}`,
      `-A POSTROUTING -s 10.200.0.0/24 ${K} -j ${CHAIN}`,
      `-A POSTROUTING -s 10.200.0.9/32 -j CNI-other`,
      `-A ${CHAIN} -d 10.200.0.0/24 ${K} -j ACCEPT`,
      "COMMIT",
    ].join("\n");
    assert.equal(
      renderIptablesTeardown(parseSave(saved, "nat"), CHAIN),
      `*nat\n-D POSTROUTING -s 10.200.0.5/32 ${K} -j ${CHAIN}\n-D POSTROUTING -s 10.200.0.0/24 ${K} -j ${CHAIN}\n-F ${CHAIN}\n-X ${CHAIN}\nCOMMIT\n`,
    );
    assert.equal(
      renderIptablesTeardown(parseSave("*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n", "nat"), CHAIN),
      undefined,
    );
  });

  it("fast setup: one transaction that creates the chain with -N (golden text)", () => {
    const rules = iptablesRules(4, ["10.200.0.5/24"], CHAIN, formatComment("mynet", "abc123"));
    assert.equal(
      renderIptablesFastSetup(rules, CHAIN),
      [
        "*nat",
        `-N ${CHAIN}`,
        `-A ${CHAIN} -d 10.200.0.0/24 ${K} -j ACCEPT`,
        `-A ${CHAIN} ! -d 224.0.0.0/4 ${K} -j MASQUERADE`,
        `-A POSTROUTING -s 10.200.0.5/32 ${K} -j ${CHAIN}`,
        "COMMIT",
        "",
      ].join("\n"),
    );
  });

  it("fast teardown: the jumps of the known addresses, then the chain (golden text)", () => {
    const c = formatComment("mynet", "abc123");
    assert.equal(
      renderIptablesFastTeardown(4, ["10.200.0.5/24", "10.200.1.7/24", "fd00:200::5/64"], CHAIN, c),
      [
        "*nat",
        `-D POSTROUTING -s 10.200.0.5/32 ${K} -j ${CHAIN}`,
        `-D POSTROUTING -s 10.200.1.7/32 ${K} -j ${CHAIN}`,
        `-F ${CHAIN}`,
        `-X ${CHAIN}`,
        "COMMIT",
        "",
      ].join("\n"),
    );
    assert.equal(renderIptablesFastTeardown(6, ["10.200.0.5/24"], CHAIN, c), undefined);
  });

  it("setup is one iptables-restore per family of the pod's addresses, no listing", async () => {
    const exec = fakeExec();
    await setupIPMasq(exec, "iptables", ["10.200.0.5/24", "fd00:200::5/64"], t);
    assert.deepEqual(exec.calls.map((c) => c.argv.join(" ")).sort(), [
      "ip6tables-restore -w --noflush",
      "iptables-restore -w --noflush",
    ]);
    assert.match(exec.calls.find((c) => c.argv[0] === "ip6tables-restore")!.stdin, /^\*nat\n-N CNI-/);
    const v4only = fakeExec();
    await setupIPMasq(v4only, "iptables", ["10.200.0.5/24"], t);
    assert.deepEqual(
      v4only.calls.map((c) => c.argv.join(" ")),
      ["iptables-restore -w --noflush"],
      "no IPv6 address: no ip6tables",
    );
  });

  it("setup falls back to append-unique against iptables-save when the fast transaction fails", async () => {
    const exec = fakeExec();
    const rules = iptablesRules(4, ["10.200.0.5/24"], CHAIN, formatComment("mynet", "abc123"));
    exec.save[4] = `*nat\n:POSTROUTING ACCEPT [0:0]\n:${CHAIN} - [0:0]\n${rules[0]}\nCOMMIT\n`;
    let first = true;
    const run = exec.run;
    exec.run = async (argv, o) => {
      const out = await run(argv, o);
      if (argv[0] === "iptables-restore" && first) {
        first = false;
        throw new ExecError(argv, 1, "", "iptables-restore: line 2 failed: Chain already exists.");
      }
      return out;
    };
    await setupIPMasq(exec, "iptables", ["10.200.0.5/24"], t);
    assert.deepEqual(
      exec.calls.map((c) => c.argv.join(" ")),
      ["iptables-restore -w --noflush", "iptables-save -t nat", "iptables-restore -w --noflush"],
    );
    assert.equal(exec.calls[2]!.stdin, `*nat\n${rules[1]}\n${rules[2]}\nCOMMIT\n`);
  });

  it("teardown with addresses: one transaction; when it fails, the listing finds every jump", async () => {
    const exec = fakeExec();
    await teardownIPMasq(exec, t, [4], ["10.200.0.5/24"]);
    assert.deepEqual(
      exec.calls.map((c) => c.argv.join(" ")).filter((c) => !c.startsWith("nft")),
      ["iptables-restore -w --noflush"],
    );
    const slow = fakeExec();
    slow.save[4] = `*nat\n:POSTROUTING ACCEPT [0:0]\n:${CHAIN} - [0:0]\n-A POSTROUTING -s 10.200.0.0/24 ${K} -j ${CHAIN}\nCOMMIT\n`;
    let failed = false;
    const run = slow.run;
    slow.run = async (argv, o) => {
      const out = await run(argv, o);
      if (argv[0] === "iptables-restore" && !failed) {
        failed = true;
        throw new ExecError(argv, 1, "", "iptables-restore: line 2 failed");
      }
      return out;
    };
    await teardownIPMasq(slow, t, [4], ["10.200.0.5/24"]);
    const ipt = slow.calls.filter((c) => !c.argv[0]!.startsWith("nft"));
    assert.deepEqual(
      ipt.map((c) => c.argv.join(" ")),
      ["iptables-restore -w --noflush", "iptables-save -t nat", "iptables-restore -w --noflush"],
    );
    assert.equal(
      ipt[2]!.stdin,
      `*nat\n-D POSTROUTING -s 10.200.0.0/24 ${K} -j ${CHAIN}\n-F ${CHAIN}\n-X ${CHAIN}\nCOMMIT\n`,
    );
  });

  it("the default backend is iptables, nftables when iptables is not installed", async () => {
    const exec = fakeExec();
    for (const tool of ["iptables-save", "iptables-restore", "ip6tables-save", "ip6tables-restore"])
      exec.missing.add(tool);
    await setupIPMasq(exec, undefined, ["10.200.0.5/24"], t);
    assert.ok(exec.calls.some((c) => c.argv.join(" ") === "nft -f -"));
    // Found out by trying the fast transaction once, with no listing after it.
    assert.ok(!exec.calls.some((c) => c.argv[0] === "iptables-save"));
  });

  it("teardown reports a failing backend that is installed", async () => {
    const exec = fakeExec();
    exec.save[4] = `*nat\n:${CHAIN} - [0:0]\nCOMMIT\n`;
    exec.failOn = /^iptables-restore/;
    await assert.rejects(teardownIPMasq(exec, t), /^failed to tear down IP masquerade: iptables: /);
  });
});

describe("nftables masquerade", () => {
  it("one transaction: table, chains, postrouting rules, stale rules out, one rule per address", () => {
    assert.equal(
      renderNftSetup(["10.200.0.5/24", "fd00:200::5/64"], t, [12]),
      [
        'add table inet cni_plugins_masquerade { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }',
        'add chain inet cni_plugins_masquerade masq_checks { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }',
        "add chain inet cni_plugins_masquerade postrouting { type nat hook postrouting priority srcnat ; }",
        "flush chain inet cni_plugins_masquerade postrouting",
        "add rule inet cni_plugins_masquerade postrouting ip daddr == 224.0.0.0/4 return",
        "add rule inet cni_plugins_masquerade postrouting ip6 daddr == ff00::/8 return",
        "add rule inet cni_plugins_masquerade postrouting goto masq_checks",
        "delete rule inet cni_plugins_masquerade masq_checks handle 12",
        'add rule inet cni_plugins_masquerade masq_checks ip saddr == 10.200.0.5 ip daddr != 10.200.0.0/24 masquerade comment "d23676b4f2d9fe04-ebce0e3dd4dafae3, net: mynet, if: eth0, id: abc123"',
        'add rule inet cni_plugins_masquerade masq_checks ip6 saddr == fd00:200::5 ip6 daddr != fd00:200::/64 masquerade comment "d23676b4f2d9fe04-ebce0e3dd4dafae3, net: mynet, if: eth0, id: abc123"',
        "",
      ].join("\n"),
    );
  });

  it("teardown deletes the rules whose comment starts with the instance hash", async () => {
    const exec = fakeExec();
    exec.save[4] = "";
    exec.nftList = JSON.stringify({
      nftables: [
        { metainfo: {} },
        { chain: { family: "inet", table: "cni_plugins_masquerade", name: "masq_checks", handle: 2 } },
        {
          rule: {
            chain: "masq_checks",
            handle: 5,
            comment: "d23676b4f2d9fe04-ebce0e3dd4dafae3, net: mynet, if: eth0, id: abc123",
          },
        },
        {
          rule: {
            chain: "masq_checks",
            handle: 6,
            comment: "d23676b4f2d9fe04-0000000000000000, net: mynet, if: eth0, id: other",
          },
        },
      ],
    });
    await teardownIPMasq(exec, t);
    const tx = exec.calls.find((c) => c.argv.join(" ") === "nft -f -");
    assert.equal(tx?.stdin, "delete rule inet cni_plugins_masquerade masq_checks handle 5\n");
  });
});

describe("mac spoof check", () => {
  it("renders Go's table, chains and rules in one transaction", () => {
    assert.equal(
      renderSpoofCheckSetup("veth1234abcd", "0a:58:0a:c8:00:02", "abc123-eth0"),
      [
        "add table bridge nat",
        "add chain bridge nat PREROUTING { type filter hook prerouting priority -300 ; policy accept ; }",
        "add chain bridge nat cni-br-iface-abc123-eth0",
        "add chain bridge nat cni-br-iface-abc123-eth0-mac",
        "flush chain bridge nat cni-br-iface-abc123-eth0",
        "flush chain bridge nat cni-br-iface-abc123-eth0-mac",
        'add rule bridge nat PREROUTING iifname "veth1234abcd" jump cni-br-iface-abc123-eth0 comment "macspoofchk-abc123-eth0"',
        'add rule bridge nat cni-br-iface-abc123-eth0 jump cni-br-iface-abc123-eth0-mac comment "macspoofchk-abc123-eth0"',
        'add rule bridge nat cni-br-iface-abc123-eth0-mac ether saddr 0a:58:0a:c8:00:02 return comment "macspoofchk-abc123-eth0"',
        'add rule bridge nat cni-br-iface-abc123-eth0-mac drop comment "macspoofchk-abc123-eth0"',
        "",
      ].join("\n"),
    );
  });

  it("teardown touches only this attachment's rule and chains", () => {
    const listing = parseBridgeNat(
      JSON.stringify({
        nftables: [
          { chain: { name: "PREROUTING" } },
          { chain: { name: "cni-br-iface-abc123-eth0" } },
          { rule: { chain: "PREROUTING", handle: 3, comment: "macspoofchk-other-eth0" } },
          { rule: { chain: "PREROUTING", handle: 4, comment: "macspoofchk-abc123-eth0" } },
        ],
      }),
    );
    assert.equal(
      renderSpoofCheckTeardown(listing, "abc123-eth0"),
      "delete rule bridge nat PREROUTING handle 4\ndelete chain bridge nat cni-br-iface-abc123-eth0\n",
    );
    assert.equal(renderSpoofCheckTeardown(listing, "nope-eth0"), undefined);
  });
});

describe("helpers", () => {
  it("parseVlanShow", () => {
    const json = JSON.stringify([
      {
        ifname: "veth1",
        vlans: [
          { vlan: 1, flags: ["PVID", "Egress Untagged"] },
          { vlan: 10, vlanEnd: 12 },
        ],
      },
      { ifname: "veth2", vlans: [{ vlan: 5 }] },
    ]);
    assert.deepEqual(parseVlanShow(json, "veth1"), [1, 10, 11, 12]);
    assert.deepEqual(parseVlanShow("", "veth1"), []);
  });
});
