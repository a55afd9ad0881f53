import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "./config.js";
import {
  chainName,
  deleteAttachment,
  elementKeyBytes,
  onlyAttachment,
  ownerComment,
  parseChainComments,
  parseElementsText,
  parseTableJson,
  planAttachment,
  renderAdd,
  renderDel,
  renderMark,
  renderSkeleton,
} from "./nftables.js";
import { commandText } from "../../../kernel/nft.js";

const owner = { network: "mynet", containerID: "abc123", ifName: "eth0" };
const prev = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "eth0", sandbox: "/run/netns/p" }],
  ips: [
    { address: "172.16.30.2/24", interface: 0 },
    { address: "fd00:200::2/64", interface: 0 },
  ],
};
const conf = (o: Record<string, unknown> = {}) =>
  parseConfig(
    {
      cniVersion: "1.0.0",
      name: "mynet",
      runtimeConfig: {
        portMappings: [
          { hostPort: 8080, containerPort: 80, protocol: "tcp" },
          { hostPort: 8043, containerPort: 443, protocol: "tcp" },
          { hostPort: 53, containerPort: 5353, protocol: "udp", hostIP: "192.0.2.1" },
        ],
      },
      prevResult: prev,
      ...o,
    },
    "1.0.0",
    "eth0",
  );

describe("nftables rendering (golden)", () => {
  const chain = chainName(owner);

  it("names the chain by a hash of network, container ID and ifname; the comment is the owner", () => {
    assert.match(chain, /^hp_[0-9a-f]{24}$/);
    assert.notEqual(chainName({ ...owner, ifName: "net1" }), chain);
    assert.equal(ownerComment(owner), "abc123 eth0 mynet");
    assert.equal(Buffer.byteLength(ownerComment({ ...owner, network: "n".repeat(300) })), 127);
  });

  it("an attachment is its chain and one map element per host port", () => {
    const plan = planAttachment(conf(), owner);
    assert.deepEqual(renderAdd(owner, plan).map(commandText), [
      `add chain inet podnet_portmap ${chain} { comment "abc123 eth0 mynet" ; }`,
      `flush chain inet podnet_portmap ${chain}`,
      `add rule inet podnet_portmap ${chain} meta nfproto ipv4 ip saddr 172.16.30.0/24 jump mark_13`,
      `add rule inet podnet_portmap ${chain} meta nfproto ipv4 ip saddr 127.0.0.0/8 jump mark_13`,
      `add rule inet podnet_portmap ${chain} meta nfproto ipv4 tcp dport 8080 dnat ip to 172.16.30.2:80`,
      `add rule inet podnet_portmap ${chain} meta nfproto ipv4 tcp dport 8043 dnat ip to 172.16.30.2:443`,
      `add rule inet podnet_portmap ${chain} meta nfproto ipv4 ip daddr 192.0.2.1 udp dport 53 dnat ip to 172.16.30.2:5353`,
      `add rule inet podnet_portmap ${chain} meta nfproto ipv6 ip6 saddr fd00:200::/64 jump mark_13`,
      `add rule inet podnet_portmap ${chain} meta nfproto ipv6 tcp dport 8080 dnat ip6 to [fd00:200::2]:80`,
      `add rule inet podnet_portmap ${chain} meta nfproto ipv6 tcp dport 8043 dnat ip6 to [fd00:200::2]:443`,
      `add element inet podnet_portmap hostports4 { tcp . 8080 : jump ${chain} }`,
      `add element inet podnet_portmap hostports4 { tcp . 8043 : jump ${chain} }`,
      `add element inet podnet_portmap hostipports4 { 192.0.2.1 . udp . 53 : jump ${chain} }`,
      `add element inet podnet_portmap hostports6 { tcp . 8080 : jump ${chain} }`,
      `add element inet podnet_portmap hostports6 { tcp . 8043 : jump ${chain} }`,
    ]);
    assert.deepEqual(renderDel(chain, plan.elements).slice(-3), [
      `delete element inet podnet_portmap hostports6 { tcp . 8043 }`,
      `flush chain inet podnet_portmap ${chain}`,
      `delete chain inet podnet_portmap ${chain}`,
    ]);
    assert.deepEqual(
      deleteAttachment(chain, plan.elements).map(commandText),
      renderDel(chain, plan.elements),
      "the same deletions, whichever way they go",
    );
  });

  it("snat off: no masquerade path; masqAll: every source; conditions go first; another mark bit", () => {
    const off = planAttachment(conf({ snat: false }), owner).rules;
    assert.ok(off.every((r) => !r.includes("mark_")));
    const all = planAttachment(conf({ masqAll: true, markMasqBit: 20 }), owner).rules;
    assert.equal(all[0], "meta nfproto ipv4 jump mark_20");
    const cond = planAttachment(conf({ conditionsV4: ["ip", "daddr", "!=", "198.51.100.0/24"] }), owner).rules;
    assert.equal(cond[2], "meta nfproto ipv4 ip daddr != 198.51.100.0/24 tcp dport 8080 dnat ip to 172.16.30.2:80");
    const withCond = planAttachment(conf({ conditionsV4: ["ip", "daddr", "!=", "198.51.100.0/24"] }), owner);
    assert.equal(withCond.exprs, undefined, "user conditions: only nft compiles them");
    assert.ok(renderAdd(owner, withCond).every((c) => typeof c === "string"));
    const plain = planAttachment(conf(), owner);
    assert.equal(plain.exprs?.length, plain.rules.length);
    assert.ok(
      renderAdd(owner, plain).every((c) => typeof c !== "string"),
      "no conditions: operations for netlink",
    );
    assert.deepEqual(renderMark(20), [
      "add chain inet podnet_portmap mark_20",
      "add rule inet podnet_portmap mark_20 meta mark set meta mark | 0x100000",
      "add rule inet podnet_portmap postrouting meta mark & 0x100000 == 0x100000 masquerade",
    ]);
  });

  it("the shared part: maps dispatched from prerouting and output for local destinations; a guard for 127/8", () => {
    const s = renderSkeleton();
    assert.ok(s.includes("add rule inet podnet_portmap prerouting fib daddr type local jump hostports"));
    assert.ok(s.includes("add rule inet podnet_portmap output fib daddr type local jump hostports"));
    assert.ok(
      s.includes(
        "add rule inet podnet_portmap hostports meta nfproto ipv4 meta l4proto { tcp, udp, sctp } ip daddr . meta l4proto . th dport vmap @hostipports4",
      ),
    );
    assert.ok(s.some((l) => l.includes("localnet_guard ip daddr 127.0.0.0/8")));
    assert.ok(
      s.every((l) => !l.startsWith("flush") && !l.startsWith("delete")),
      "making the table deletes nothing",
    );
  });

  it("an attachment whose families have no address adds nothing", () => {
    const c = parseConfig(
      {
        cniVersion: "1.0.0",
        name: "mynet",
        runtimeConfig: { portMappings: [{ hostPort: 1, containerPort: 1, hostIP: "fd00::1" }] },
        prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24" }] },
      },
      "1.0.0",
      "eth0",
    );
    assert.deepEqual(planAttachment(c, owner).elements, []);
  });
});

describe("reading the table back", () => {
  it("parses nft -j output: map keys and their jump targets, the hp_ chains", () => {
    const v = parseTableJson([
      { metainfo: {} },
      { table: { family: "inet", name: "podnet_portmap" } },
      { map: { name: "hostports4", elem: [[{ concat: ["tcp", 8080] }, { jump: { target: "hp_a" } }]] } },
      { map: { name: "hostipports6", elem: [[{ concat: ["fd00::1", "udp", 53] }, { jump: { target: "hp_b" } }]] } },
      { map: { name: "hostports6" } },
      { chain: { name: "hp_a" } },
      { chain: { name: "prerouting" } },
    ]);
    assert.deepEqual([...v.maps.get("hostports4")!], [["tcp . 8080", "hp_a"]]);
    assert.deepEqual([...v.maps.get("hostipports6")!], [["fd00::1 . udp . 53", "hp_b"]]);
    assert.deepEqual([...v.chains], ["hp_a"]);
  });

  it("the table holds only one attachment (or none): then it can go whole", () => {
    const mine = [
      { map: "hostports4", key: "tcp . 8080" },
      { map: "hostipports6", key: "fd00::1 . udp . 53" },
    ] as const;
    const sets = (extra: Uint8Array[] = []) =>
      new Map([
        ["hostports4", [elementKeyBytes(mine[0]), ...extra]],
        ["hostipports6", [elementKeyBytes(mine[1])]],
        ["hostports6", []],
      ]);
    const table = (chains: string[], extra?: Uint8Array[]) => ({
      chains: ["prerouting", "hostports", "mark_13", ...chains],
      sets: sets(extra),
    });
    assert.equal(onlyAttachment(table(["hp_a"]), "hp_a", mine), true);
    assert.equal(onlyAttachment(table([]), "hp_a", mine), true, "its chain gone already");
    assert.equal(onlyAttachment(table(["hp_a", "hp_b"]), "hp_a", mine), false, "another attachment's chain");
    assert.equal(
      onlyAttachment(table(["hp_a"], [elementKeyBytes({ map: "hostports4", key: "udp . 53" })]), "hp_a", mine),
      false,
      "another element",
    );
    assert.equal(onlyAttachment(table(["hp_a"]), undefined, []), false);
    assert.equal(
      onlyAttachment({ chains: ["prerouting"], sets: new Map([["hostports4", []]]) }, undefined, []),
      true,
      "empty",
    );
  });

  it("parses `nft get element` and chain comments from nft's text", () => {
    const got = parseElementsText(`table inet podnet_portmap {
	map hostports4 {
		type inet_proto . inet_service : verdict
		elements = { tcp . 8080 : jump hp_a,
			     udp . 53 : jump hp_b }
	}
}`);
    assert.deepEqual(
      [...got],
      [
        ["tcp . 8080", "hp_a"],
        ["udp . 53", "hp_b"],
      ],
    );
    const comments = parseChainComments(`table inet podnet_portmap {
	chain hp_a {
		comment "c1 eth0 net"
		meta nfproto ipv4 tcp dport 8080 dnat ip to 10.0.0.2:80
	}
}`);
    assert.equal(comments.get("hp_a"), "c1 eth0 net");
  });
});
