// The nftables backend's ADD against the real kernel, two ways: the attachment's chain, rules and
// map elements as text through `nft -f` in one netns, and as one nfnetlink batch (nft-expr.ts,
// nft-netlink.ts) in another. `nft list`, `nft -j list` and the kernel's own dump of the rules
// (GETRULE, byte for byte) must be the same, for IPv4, IPv6, dual-stack, snat on/off, masqAll,
// host-IP mappings, prefixes on and off byte boundaries, tcp/udp/sctp. A key held by another
// attachment still fails the whole batch with the conflict error naming the holder.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CniError } from "../../../cni/index.js";
import { loadAddon } from "../../../kernel/addon.js";
import { nodeExec, type Exec } from "../../../kernel/exec.js";
import { createNftables, type Nftables } from "../../../kernel/nft.js";
import { openNftNetlink } from "../../../kernel/nft-netlink.js";
import { NFNL_SUBSYS, nfgenmsg, nfnlType, openNfnetlink } from "../../../kernel/nfnetlink.js";
import { attr, cstr, iterAttrs } from "../../../kernel/rtnl-codec.js";
import { netnsSkip, withTempNetns, type TempNetns } from "../../../kernel/testing.js";
import { parseConfig } from "./config.js";
import { TABLE, chainName, nftForward, planAttachment, renderAdd } from "./nftables.js";

const NFTA_RULE_HANDLE = 3;
const NFTA_RULE_POSITION = 6;
const inNs = (name: string): Exec => ({ run: (argv, o) => nodeExec.run(["ip", "netns", "exec", name, ...argv], o) });

const conf = (ips: string[], portMappings: unknown[], o: Record<string, unknown> = {}) =>
  parseConfig(
    {
      cniVersion: "1.0.0",
      name: "mynet",
      runtimeConfig: { portMappings },
      prevResult: {
        cniVersion: "1.0.0",
        interfaces: [{ name: "eth0", sandbox: "/run/netns/p" }],
        ips: ips.map((address) => ({ address, interface: 0 })),
      },
      ...o,
    },
    "1.0.0",
    "eth0",
  );

const mixed = [
  { hostPort: 8080, containerPort: 80, protocol: "tcp" },
  { hostPort: 5353, containerPort: 53, protocol: "udp" },
  { hostPort: 9999, containerPort: 9999, protocol: "sctp" },
];
const PLANS: Array<[string, ReturnType<typeof conf>]> = [
  [
    "IPv4, tcp/udp/sctp, a host-IP mapping",
    conf(["10.200.1.5/24"], [...mixed, { hostPort: 53, containerPort: 53, protocol: "udp", hostIP: "10.200.0.1" }]),
  ],
  [
    "IPv6 /64 with a host-IP mapping",
    conf(["fd00:200::5/64"], [...mixed, { hostPort: 443, containerPort: 8443, hostIP: "fd00:200::1" }]),
  ],
  [
    "dual-stack, host IPs of each family",
    conf(
      ["10.200.1.5/24", "fd00:200::5/64"],
      [
        ...mixed,
        { hostPort: 81, containerPort: 80, hostIP: "10.200.0.1" },
        { hostPort: 81, containerPort: 80, hostIP: "fd00:200::1" },
        { hostPort: 82, containerPort: 80, hostIP: "0.0.0.0" },
      ],
    ),
  ],
  ["prefixes off byte boundaries (/20, /60)", conf(["10.200.17.5/20", "fd00:200::5/60"], mixed)],
  ["host routes (/32, /128)", conf(["10.200.1.5/32", "fd00:200::5/128"], mixed)],
  ["snat off", conf(["10.200.1.5/24", "fd00:200::5/64"], mixed, { snat: false })],
  ["masqAll, another mark bit", conf(["10.200.1.5/24", "fd00:200::5/64"], mixed, { masqAll: true, markMasqBit: 20 })],
];

/**
 * The kernel's rules of a chain (GETRULE dump), without the nfgenmsg (its res_id is the ruleset's
 * generation) and the handle and position attributes (handles count every rule a transaction
 * made, including those of a batch the kernel replayed after loading a module).
 */
function ruleBytes(ns: TempNetns, chain: string): string[] {
  const s = openNfnetlink(loadAddon, ns.path);
  try {
    return s
      .dump(
        nfnlType(NFNL_SUBSYS.NFTABLES, 7 /* NFT_MSG_GETRULE */),
        [nfgenmsg(1 /* inet */), attr(1, cstr(TABLE)), attr(2, cstr(chain))],
        "GETRULE",
      )
      .map((m) =>
        [...iterAttrs(m.payload.subarray(4))]
          .filter(([t]) => t !== NFTA_RULE_HANDLE && t !== NFTA_RULE_POSITION)
          .map(([t, v]) => `${t}:${Buffer.from(v).toString("hex")}`)
          .join(" "),
      );
  } finally {
    s.close();
  }
}

/** `nft -j list table` without handles, its objects sorted. */
async function tableJson(nft: Nftables): Promise<string[]> {
  const objs = await nft.json(["list", "table", "inet", TABLE]);
  return objs.map((o) => JSON.stringify(o, (k, v) => (k === "handle" ? undefined : v))).sort();
}

describe("portmap nftables ADD: nft -f and netlink make the same table (real kernel)", { skip: netnsSkip() }, () => {
  const owner = { network: "mynet", containerID: "ctr-1", ifName: "eth0" };
  for (const [name, c] of PLANS) {
    it(name, () =>
      withTempNetns((a) =>
        withTempNetns(async (b) => {
          const plan = planAttachment(c, owner);
          assert.ok(plan.exprs, "no user conditions: the rules compile to expressions");
          const add = renderAdd(owner, plan);
          assert.ok(add.every((x) => typeof x !== "string"));
          const viaText = createNftables({ exec: inNs(a.name) });
          const spawned: string[][] = [];
          const execB = inNs(b.name);
          const viaNl = createNftables({
            exec: {
              run: (argv, o) => {
                spawned.push([...argv]);
                return execB.run(argv, o);
              },
            },
            netlink: () => openNftNetlink(b.path),
          });
          try {
            // The first ADD makes the shared table (through nft) and retries; the second finds it and
            // is the attachment's transaction alone — through nft in a, as one batch in b.
            const other = { ...owner, containerID: "ctr-0" };
            const first = conf(["10.200.1.9/24", "fd00:200::9/64"], [{ hostPort: 1, containerPort: 1 }], {
              masqAll: c.masqAll,
              markMasqBit: c.markMasqBit,
            });
            await nftForward(viaText, first, other);
            await nftForward(viaNl, first, other);
            await nftForward(viaText, c, owner);
            spawned.length = 0;
            await nftForward(viaNl, c, owner);
            assert.deepEqual(spawned, [], "the attachment's ADD is one netlink batch, no nft process");
            assert.deepEqual(ruleBytes(b, plan.chain), ruleBytes(a, plan.chain), "the kernel holds the same rules");
            assert.equal(ruleBytes(b, plan.chain).length, plan.rules.length);
            assert.deepEqual(await tableJson(viaNl), await tableJson(viaText));
            const list = await viaNl.run(["list", "table", "inet", TABLE]);
            assert.equal(list, await viaText.run(["list", "table", "inet", TABLE]));
            assert.match(list, /comment "ctr-1 eth0 mynet"/);
            // Again (a retried ADD): the chain is rebuilt, nothing doubles.
            await nftForward(viaNl, c, owner);
            assert.deepEqual(ruleBytes(b, plan.chain), ruleBytes(a, plan.chain));
          } finally {
            viaNl.close();
          }
        }),
      ),
    );
  }

  it("a host port held by another attachment: the batch fails whole, naming the holder", () =>
    withTempNetns(async (ns) => {
      const nft = createNftables({ exec: inNs(ns.name), netlink: () => openNftNetlink(ns.path) });
      try {
        const holder = { network: "mynet", containerID: "holder", ifName: "eth0" };
        await nftForward(nft, conf(["10.200.1.5/24"], [{ hostPort: 8080, containerPort: 80 }]), holder);
        const before = await nft.run(["list", "ruleset"]);
        const late = { network: "mynet", containerID: "late", ifName: "eth0" };
        const e = await nftForward(
          nft,
          conf(
            ["10.200.1.6/24"],
            [
              { hostPort: 9090, containerPort: 90 },
              { hostPort: 8080, containerPort: 80 },
            ],
          ),
          late,
        ).catch((x: unknown) => x);
        assert.ok(e instanceof CniError, String(e));
        assert.match(
          e.message,
          /host port 8080\/tcp \(IPv4\) is already mapped by container holder \(eth0, network "mynet"\)/,
        );
        assert.equal(await nft.run(["list", "ruleset"]), before, "nothing was changed");
        assert.ok(!before.includes(chainName(late)));
      } finally {
        nft.close();
      }
    }));
});
