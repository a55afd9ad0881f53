import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ALL_SPEC_VERSIONS, generationOf, specHas, type Result } from "../../../cni/index.js";
import { invokeFuncs, type Invocation } from "../../../sdk/testing.js";
import { BRIDGE_ABOUT, calcGateways, createBridge } from "./bridge.js";
import { harness, HOST, POD, type Harness } from "./testing.js";
import type { Nftables } from "../../../kernel/nft.js";

const ipamConf = { type: "host-local", subnet: "10.200.0.0/24" };

function conf(ver: string, extra: Record<string, unknown> = {}) {
  return { cniVersion: ver, name: "podnet-t", type: "bridge", bridge: "cni0", ipam: ipamConf, ...extra };
}

function run(h: Harness, command: string, c: Record<string, unknown>, inv: Partial<Invocation> = {}) {
  return invokeFuncs(createBridge(h.deps), BRIDGE_ABOUT, {
    command,
    conf: c,
    netns: POD,
    ifName: "eth0",
    containerID: "ctr1",
    ...inv,
  });
}

const msgOf = (out: { json: Record<string, unknown> | undefined }) => String(out.json?.["msg"]);

for (const ver of ALL_SPEC_VERSIONS) {
  describe(`[${ver}] bridge`, () => {
    it("ADD (L3, isGateway): bridge, veth on it, addresses, routes, forwarding, result", async () => {
      const h = harness();
      const out = await run(h, "ADD", conf(ver, { isGateway: true }));
      assert.equal(out.code, 0, out.stdout);
      assert.equal(out.json?.["cniVersion"], ver);
      const host = h.kernel.dump(HOST);
      assert.match(host, /^link cni0 bridge up mtu 1500 mac \S+$/m);
      assert.match(
        host,
        /^link vethaaaaaa01 veth up mtu 1500 mac \S+ master cni0 peer \/run\/netns\/podnet-t-pod\/eth0$/m,
      );
      assert.match(host, /^addr cni0 10\.200\.0\.1\/24$/m);
      assert.match(host, /^sysctl net\/ipv4\/ip_forward=1$/m);
      assert.match(host, /^sysctl net\/ipv6\/conf\/vethaaaaaa01\/accept_ra=0$/m);
      const pod = h.kernel.dump(POD);
      assert.match(pod, /^link eth0 veth up mtu 1500 mac \S+ peer \/run\/netns\/podnet-t-host\/vethaaaaaa01$/m);
      assert.match(pod, /^addr eth0 10\.200\.0\.2\/24$/m);
      assert.match(pod, /^route 0\.0\.0\.0\/0 via 10\.200\.0\.1 dev eth0$/m);
      assert.match(pod, /^sysctl net\/ipv6\/conf\/eth0\/accept_dad=0$/m);
      assert.match(pod, /^sysctl net\/ipv4\/conf\/eth0\/arp_notify=1$/m);
      const eth0Mac = h.kernel.state(POD).links.get("eth0")!.mac;
      const brMac = h.kernel.state(HOST).links.get("cni0")!.mac;
      if (generationOf(ver) === "020") {
        assert.deepEqual(out.json?.["ip4"], {
          ip: "10.200.0.2/24",
          gateway: "10.200.0.1",
          routes: [{ dst: "0.0.0.0/0" }],
        });
      } else {
        assert.deepEqual(out.json?.["interfaces"], [
          { name: "cni0", mac: brMac },
          { name: "vethaaaaaa01", mac: h.kernel.state(HOST).links.get("vethaaaaaa01")!.mac },
          { name: "eth0", mac: eth0Mac, sandbox: POD },
        ]);
        const ip = (out.json!["ips"] as Array<Record<string, unknown>>)[0]!;
        assert.equal(ip["address"], "10.200.0.2/24");
        assert.equal(ip["gateway"], "10.200.0.1");
        assert.equal(ip["interface"], 2);
        if (generationOf(ver) === "040") assert.equal(ip["version"], "4");
      }
      assert.deepEqual(
        h.ipam.calls.map((c) => c.verb),
        ["ADD"],
      );
      assert.equal(h.exec.calls.length, 0, "no iptables/nft without ipMasq/macspoofchk");
    });

    it("DEL removes the veth, releases the address and the masquerade rules; DEL again succeeds", async () => {
      const h = harness();
      const c = conf(ver, { isGateway: true, ipMasq: true });
      assert.equal((await run(h, "ADD", c)).code, 0);
      h.exec.calls.length = 0;
      const chain = "CNI-4f553fd98108e4b5634cbb1d"; // formatChainName("podnet-t", "ctr1")
      h.exec.save[4] = [
        "*nat",
        `:${chain} - [0:0]`,
        `-A POSTROUTING -s 10.200.0.2/32 -m comment --comment "name: \\"podnet-t\\" id: \\"ctr1\\"" -j ${chain}`,
        `-A ${chain} -d 10.200.0.0/24 -m comment --comment "name: \\"podnet-t\\" id: \\"ctr1\\"" -j ACCEPT`,
        "COMMIT",
      ].join("\n");
      const out = await run(h, "DEL", c);
      assert.equal(out.code, 0, out.stdout);
      assert.doesNotMatch(h.kernel.dump(HOST), /^link veth/m);
      assert.doesNotMatch(h.kernel.dump(POD), /^link eth0/m);
      assert.match(h.kernel.dump(HOST), /^addr cni0 10\.200\.0\.1\/24$/m, "the gateway address stays");
      assert.deepEqual(
        h.ipam.calls.map((c) => c.verb),
        ["ADD", "DEL"],
      );
      const restore = h.exec.calls.find((x) => x.argv[0] === "iptables-restore");
      assert.ok(restore, "iptables-restore ran");
      assert.equal(
        restore.stdin,
        `*nat\n-D POSTROUTING -s 10.200.0.2/32 -m comment --comment "name: \\"podnet-t\\" id: \\"ctr1\\"" -j ${chain}\n-F ${chain}\n-X ${chain}\nCOMMIT\n`,
      );
      h.exec.save[4] = "";
      const again = await run(h, "DEL", c);
      assert.equal(again.code, 0, again.stdout);
    });

    if (specHas(ver, "CHECK")) {
      it("CHECK passes on what ADD made and fails when it drifted", async () => {
        const h = harness();
        const c = conf(ver, { isGateway: true });
        const add = await run(h, "ADD", c);
        assert.equal(add.code, 0, add.stdout);
        const ok = await run(h, "CHECK", { ...c, prevResult: add.json });
        assert.equal(ok.code, 0, ok.stdout);
        assert.deepEqual(
          h.ipam.calls.map((x) => x.verb),
          ["ADD", "CHECK"],
        );
        await h.kernel.netns(POD).addrDel("eth0", "10.200.0.2/24");
        const bad = await run(h, "CHECK", { ...c, prevResult: add.json });
        assert.equal(bad.code, 1);
        assert.match(msgOf(bad), /Failed to match addr 10\.200\.0\.2\/24 on interface eth0/);
      });
    }
  });
}

describe("bridge config errors name the field and the value, and touch nothing", () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["mtu", { mtu: 10 }, /^invalid bridge config: "mtu" must be 68\.\.65535, got 10$/],
    [
      "bridge name",
      { bridge: "averyveryverylongname" },
      /^invalid bridge config: "bridge" must be an interface name of 1\.\.15 bytes .*, got "averyveryverylongname"$/,
    ],
    ["vlan", { vlan: 5000 }, /^invalid bridge config: "vlan" must be 0\.\.4094, got 5000$/],
    [
      "boolean as string",
      { portIsolation: "true" },
      /^invalid bridge config: "portIsolation" must be boolean, got "true"$/,
    ],
    [
      "trunk minID",
      { vlanTrunk: [{ minID: 0, maxID: 10 }] },
      /^invalid bridge config: "vlanTrunk\.0\.minID" must be 1\.\.4094, got 0$/,
    ],
    [
      "trunk half range",
      { vlanTrunk: [{ maxID: 10 }] },
      /"vlanTrunk\[0\]" minID and maxID should be configured simultaneously, minID is missing/,
    ],
    ["trunk reversed", { vlanTrunk: [{ minID: 20, maxID: 10 }] }, /minID is greater than maxID/],
    ["vlan and trunk", { vlan: 10, vlanTrunk: [{ id: 20 }] }, /cannot set "vlan" and "vlanTrunk" at the same time/],
    [
      "ipMasqBackend",
      { ipMasqBackend: "pf" },
      /^invalid bridge config: "ipMasqBackend" must be "iptables" or "nftables", got "pf"$/,
    ],
    [
      "hairpin + promisc",
      { hairpinMode: true, promiscMode: true },
      /cannot set hairpin mode and promiscuous mode at the same time/,
    ],
    [
      "dci + ipam",
      { disableContainerInterface: true },
      /cannot use IPAM when DisableContainerInterface flag is set, got "ipam.type" "host-local"/,
    ],
    [
      "runtimeConfig.mac",
      { runtimeConfig: { mac: "zz:zz" } },
      /^invalid bridge config: "runtimeConfig\.mac" must be a MAC address like .*, got "zz:zz"$/,
    ],
    [
      "vlan gateway name",
      { bridge: "abcdefghijklm", vlan: 100, isGateway: true },
      /"abcdefghijklm\.100" .* longer than 15 bytes/,
    ],
  ];
  for (const [what, extra, re] of cases) {
    it(what, async () => {
      const h = harness();
      const out = await run(h, "ADD", conf("1.0.0", extra));
      assert.equal(out.code, 1);
      assert.equal(out.json?.["code"], 999, out.stdout); // the reference's plain errors
      assert.match(msgOf(out), re);
      assert.equal(h.kernel.dump(HOST), "link lo loopback down mtu 65536\n");
      assert.equal(h.ipam.calls.length, 0);
    });
  }

  it("an L2 config with a 0.2.0 result is refused up front", async () => {
    const h = harness();
    const out = await run(h, "ADD", { cniVersion: "0.2.0", name: "l2", type: "bridge" });
    assert.equal(out.code, 1);
    assert.match(msgOf(out), /needs cniVersion 0\.3\.0 or later, got "0\.2\.0"/);
    assert.equal(h.kernel.dump(HOST), "link lo loopback down mtu 65536\n");
  });

  it("a netns path that is not a netns", async () => {
    const h = harness();
    const out = await run(h, "ADD", conf("1.0.0"), { netns: "/tmp/nope" });
    assert.equal(out.code, 1);
    assert.equal(msgOf(out), 'failed to open netns "/tmp/nope": not a network namespace');
    assert.equal(h.ipam.calls.length, 0);
  });

  it("keys match without case and null keeps the default", async () => {
    const h = harness();
    const out = await run(h, "ADD", {
      cniVersion: "1.0.0",
      name: "n",
      type: "bridge",
      Bridge: "br7",
      ISGATEWAY: true,
      mtu: null,
      IPAM: { Type: "host-local" },
    });
    assert.equal(out.code, 0, out.stdout);
    assert.match(h.kernel.dump(HOST), /^addr br7 10\.200\.0\.1\/24$/m);
  });
});

describe("bridge ADD that fails half-way leaves nothing behind", () => {
  it("masquerade setup fails: veth gone, IPAM released, partial rules torn down", async () => {
    const h = harness();
    h.exec.failOn = /^iptables-restore/;
    const out = await run(h, "ADD", conf("1.0.0", { isGateway: true, ipMasq: true }));
    assert.equal(out.code, 1);
    assert.match(msgOf(out), /^failed to set up IP masquerade \(iptables\): /);
    assert.doesNotMatch(h.kernel.dump(HOST), /^link veth/m);
    assert.doesNotMatch(h.kernel.dump(POD), /^link eth0/m);
    assert.deepEqual(
      h.ipam.calls.map((c) => c.verb),
      ["ADD", "DEL"],
    );
    // teardown looked in both backends
    assert.ok(
      h.exec.calls.some((c) => c.argv.join(" ") === "nft -j list chain inet cni_plugins_masquerade masq_checks"),
    );
  });

  it("an address that cannot be added: veth gone, IPAM released", async () => {
    const h = harness();
    h.kernel.failOn(/ip addr add 10\.200\.0\.2\/24 dev eth0/, "EACCES");
    const out = await run(h, "ADD", conf("1.0.0"));
    assert.equal(out.code, 1);
    assert.match(msgOf(out), /^failed to add IP addr 10\.200\.0\.2\/24 to "eth0": /);
    assert.doesNotMatch(h.kernel.dump(HOST), /^link veth/m);
    assert.deepEqual(
      h.ipam.calls.map((c) => c.verb),
      ["ADD", "DEL"],
    );
  });

  it("IPAM returns no IP: veth gone, IPAM released", async () => {
    const h = harness();
    h.ipam.next = { cniVersion: "1.1.0" };
    const out = await run(h, "ADD", conf("1.0.0"));
    assert.equal(out.code, 1);
    assert.equal(msgOf(out), "IPAM plugin returned missing IP config");
    assert.doesNotMatch(h.kernel.dump(HOST), /^link veth/m);
    assert.deepEqual(
      h.ipam.calls.map((c) => c.verb),
      ["ADD", "DEL"],
    );
  });

  it("spoof check set up, then IPAM fails: spoof check torn down, veth gone", async () => {
    const h = harness();
    h.ipam.failOn.add("ADD");
    h.exec.nftList = JSON.stringify({
      nftables: [
        { chain: { family: "bridge", table: "nat", name: "PREROUTING", handle: 1 } },
        { chain: { family: "bridge", table: "nat", name: "cni-br-iface-ctr1-eth0", handle: 2 } },
        { chain: { family: "bridge", table: "nat", name: "cni-br-iface-ctr1-eth0-mac", handle: 3 } },
        { rule: { family: "bridge", table: "nat", chain: "PREROUTING", handle: 7, comment: "macspoofchk-ctr1-eth0" } },
      ],
    });
    const out = await run(h, "ADD", conf("1.0.0", { macspoofchk: true }));
    assert.equal(out.code, 1);
    const applied = h.exec.calls.filter((c) => c.argv.join(" ") === "nft -f -").map((c) => c.stdin);
    assert.equal(applied.length, 2);
    assert.match(
      applied[0]!,
      /add rule bridge nat PREROUTING iifname "vethaaaaaa01" jump cni-br-iface-ctr1-eth0 comment "macspoofchk-ctr1-eth0"/,
    );
    assert.match(applied[0]!, /add rule bridge nat cni-br-iface-ctr1-eth0-mac ether saddr [0-9a-f:]{17} return/);
    assert.equal(
      applied[1],
      "delete rule bridge nat PREROUTING handle 7\ndelete chain bridge nat cni-br-iface-ctr1-eth0\ndelete chain bridge nat cni-br-iface-ctr1-eth0-mac\n",
    );
    assert.doesNotMatch(h.kernel.dump(HOST), /^link veth/m);
  });
});

describe("bridge features", () => {
  it("veth name collision: a taken random name is retried", async () => {
    const h = harness();
    await h.kernel.netns(HOST).linkAddVeth("vethaaaaaa01", "x1");
    const out = await run(h, "ADD", conf("1.0.0"));
    assert.equal(out.code, 0, out.stdout);
    assert.match(h.kernel.dump(HOST), /^link vethaaaaaa02 veth up .* master cni0/m);
  });

  it("an existing container interface is an error and is left alone", async () => {
    const h = harness();
    await h.kernel.netns(POD).linkAddVeth("eth0", "x1");
    const out = await run(h, "ADD", conf("1.0.0"));
    assert.equal(out.code, 1);
    assert.equal(msgOf(out), 'container veth name ("eth0") peer provided ("vethaaaaaa01") already exists');
    assert.match(h.kernel.dump(POD), /^link eth0 veth/m);
    assert.equal(h.ipam.calls.length, 0);
  });

  it("a link with the bridge's name that is not a bridge", async () => {
    const h = harness();
    await h.kernel.netns(HOST).linkAddVeth("cni0", "x1");
    const out = await run(h, "ADD", conf("1.0.0"));
    assert.equal(out.code, 1);
    assert.equal(msgOf(out), 'failed to create bridge "cni0": "cni0" already exists but is not a bridge');
  });

  it("mtu, hairpin, promisc and MAC precedence (CNI_ARGS < args.cni < runtimeConfig)", async () => {
    const h = harness();
    const c = conf("1.0.0", {
      mtu: 9000,
      hairpinMode: true,
      args: { cni: { mac: "0a:58:00:00:00:02" } },
      runtimeConfig: { mac: "0A:58:00:00:00:03" },
    });
    const out = await run(h, "ADD", c, { args: "IgnoreUnknown=1;K8S_POD_NAME=x;MAC=0a:58:00:00:00:01" });
    assert.equal(out.code, 0, out.stdout);
    assert.match(h.kernel.dump(POD), /^link eth0 veth up mtu 9000 mac 0a:58:00:00:00:03 /m);
    assert.match(h.kernel.dump(HOST), /^link cni0 bridge up mtu 9000 /m);
    assert.match(h.kernel.dump(HOST), /^link vethaaaaaa01 veth up mtu 9000 .* master cni0 hairpin /m);
    const h2 = harness();
    assert.equal(
      (await run(h2, "ADD", conf("1.0.0", { promiscMode: true }), { args: "MAC=0a:58:00:00:00:01;K8S_POD_NAME=x" }))
        .code,
      0,
    );
    assert.match(h2.kernel.dump(POD), /^link eth0 veth up mtu 1500 mac 0a:58:00:00:00:01 /m);
    assert.match(h2.kernel.dump(HOST), /^link cni0 bridge up .* promisc/m);
  });

  it("isDefaultGateway adds a default route with the gateway once per family", async () => {
    const h = harness();
    h.ipam.next = {
      cniVersion: "1.1.0",
      ips: [
        { address: "10.200.0.5/24", gateway: "10.200.0.1" },
        { address: "fd00:200::5/64", gateway: "fd00:200::1" },
      ],
    };
    const out = await run(h, "ADD", conf("1.0.0", { isDefaultGateway: true }));
    assert.equal(out.code, 0, out.stdout);
    assert.deepEqual(out.json?.["routes"], [
      { dst: "0.0.0.0/0", gw: "10.200.0.1" },
      { dst: "::/0", gw: "fd00:200::1" },
    ]);
    const pod = h.kernel.dump(POD);
    assert.match(pod, /^route 0\.0\.0\.0\/0 via 10\.200\.0\.1 dev eth0$/m);
    assert.match(pod, /^route ::\/0 via fd00:200::1 dev eth0$/m);
    assert.match(pod, /^sysctl net\/ipv6\/conf\/eth0\/keep_addr_on_down=1$/m);
    const host = h.kernel.dump(HOST);
    assert.match(host, /^addr cni0 10\.200\.0\.1\/24$/m);
    assert.match(host, /^addr cni0 fd00:200::1\/64$/m);
    assert.match(host, /^sysctl net\/ipv6\/conf\/all\/forwarding=1$/m);
  });

  it("forceAddress replaces a conflicting bridge address; without it ADD fails and undoes", async () => {
    const h = harness();
    await h.kernel.netns(HOST).linkAddBridge("cni0");
    await h.kernel.netns(HOST).addrAdd("cni0", "10.99.0.1/16");
    const out = await run(h, "ADD", conf("1.0.0", { isGateway: true }));
    assert.equal(out.code, 1);
    assert.equal(
      msgOf(out),
      'failed to set bridge addr: "cni0" already has an IP address different from 10.200.0.1/24',
    );
    assert.doesNotMatch(h.kernel.dump(HOST), /^link veth/m);
    const forced = await run(h, "ADD", conf("1.0.0", { isGateway: true, forceAddress: true }));
    assert.equal(forced.code, 0, forced.stdout);
    assert.match(h.kernel.dump(HOST), /^addr cni0 10\.200\.0\.1\/24$/m);
    assert.doesNotMatch(h.kernel.dump(HOST), /10\.99\.0\.1/);
  });

  it("the result's dns is the config's, never IPAM's (v1.1.1; IPAM's dns came with v1.2.0)", async () => {
    const h = harness();
    h.ipam.next = {
      cniVersion: "1.1.0",
      ips: [{ address: "10.200.0.5/24", gateway: "10.200.0.1" }],
      dns: { nameservers: ["10.200.0.53"] },
    };
    const out = await run(
      h,
      "ADD",
      conf("1.0.0", { dns: { nameservers: ["10.96.0.10"], search: ["svc.cluster.local"] } }),
    );
    assert.deepEqual(out.json?.["dns"], { nameservers: ["10.96.0.10"], search: ["svc.cluster.local"] });
    const h2 = harness();
    h2.ipam.next = h.ipam.next;
    const out2 = await run(h2, "ADD", conf("1.0.0", { dns: {} }));
    assert.deepEqual(out2.json?.["dns"], {});
  });

  it("vlan: filtering bridge, access port with PVID; preserveDefaultVlan=false lists the port's VLANs to remove them", async () => {
    const h = harness();
    const out = await run(h, "ADD", conf("1.0.0", { vlan: 100, preserveDefaultVlan: false }));
    assert.equal(out.code, 0, out.stdout);
    const host = h.kernel.dump(HOST);
    assert.match(host, /^link cni0 bridge up .*vlan_filtering/m);
    assert.match(host, /^link vethaaaaaa01 veth up .* vlan 100 pvid untagged$/m);
    assert.deepEqual(h.port.calls, ["vlan show vethaaaaaa01"]);
  });

  it("vlanTrunk: tagged VLANs plus native VLAN 1; default VLAN kept by default", async () => {
    const h = harness();
    const out = await run(
      h,
      "ADD",
      conf("1.0.0", { vlanTrunk: [{ minID: 101, maxID: 103 }, { id: 200 }, { id: 102 }] }),
    );
    assert.equal(out.code, 0, out.stdout);
    assert.match(
      h.kernel.dump(HOST),
      /^link vethaaaaaa01 veth up .* vlan 1 pvid untagged vlan 101 vlan 102 vlan 103 vlan 200$/m,
    );
    assert.deepEqual(h.port.calls, []);
  });

  it("vlan + isGateway: the gateway lives on the <bridge>.<vlan> veth, an access port of the VLAN", async () => {
    const h = harness();
    const out = await run(h, "ADD", conf("1.0.0", { vlan: 100, isGateway: true }));
    assert.equal(out.code, 0, out.stdout);
    const host = h.kernel.dump(HOST);
    assert.match(host, /^addr cni0\.100 10\.200\.0\.1\/24$/m);
    assert.match(host, /^link cni0\.100 veth up .* peer \/run\/netns\/podnet-t-host\/vethaaaaaa02$/m);
    assert.match(host, /^link vethaaaaaa02 veth up .* master cni0 .*vlan 100 pvid untagged$/m);
    const ifs = out.json?.["interfaces"] as Array<Record<string, unknown>>;
    assert.deepEqual(
      ifs.map((i) => i["name"]),
      ["cni0", "vethaaaaaa01", "eth0", "cni0.100"],
    );
  });

  it("portIsolation sets the isolated flag on the host port", async () => {
    const h = harness();
    assert.equal((await run(h, "ADD", conf("1.0.0", { portIsolation: true }))).code, 0);
    assert.deepEqual(h.port.calls, ["isolated vethaaaaaa01 on"]);
  });

  it("L2 (no ipam): container end up, no addresses, no IPAM; CHECK does not call IPAM", async () => {
    const h = harness();
    const c = { cniVersion: "1.0.0", name: "l2", type: "bridge", bridge: "br-l2" };
    const out = await run(h, "ADD", c);
    assert.equal(out.code, 0, out.stdout);
    assert.equal(out.json?.["ips"], undefined);
    assert.match(h.kernel.dump(POD), /^link eth0 veth up/m);
    assert.doesNotMatch(h.kernel.dump(POD), /^addr eth0/m);
    const chk = await run(h, "CHECK", { ...c, prevResult: out.json });
    assert.equal(chk.code, 0, chk.stdout);
    assert.equal(h.ipam.calls.length, 0);
  });

  it("disableContainerInterface leaves the container end down and does not wait for the port", async () => {
    const h = harness();
    const out = await run(h, "ADD", {
      cniVersion: "1.0.0",
      name: "l2",
      type: "bridge",
      disableContainerInterface: true,
    });
    assert.equal(out.code, 0, out.stdout);
    assert.match(h.kernel.dump(POD), /^link eth0 veth down/m);
  });

  it("ipMasq with the nftables backend: one transaction, comment with the instance hash", async () => {
    const h = harness();
    const out = await run(h, "ADD", conf("1.0.0", { ipMasq: true, ipMasqBackend: "nftables" }));
    assert.equal(out.code, 0, out.stdout);
    const tx = h.exec.calls.find((c) => c.argv.join(" ") === "nft -f -");
    assert.ok(tx);
    assert.match(
      tx.stdin,
      /^add rule inet cni_plugins_masquerade masq_checks ip saddr == 10\.200\.0\.2 ip daddr != 10\.200\.0\.0\/24 masquerade comment "[0-9a-f]{16}-[0-9a-f]{16}, net: podnet-t, if: eth0, id: ctr1"$/m,
    );
  });

  it("DEL without netns, and DEL of a vanished netns, still release IPAM and masquerade", async () => {
    for (const netns of ["", "/run/netns/podnet-t-gone"]) {
      const h = harness();
      const out = await run(h, "DEL", conf("1.0.0", { ipMasq: true }), { netns });
      assert.equal(out.code, 0, out.stdout);
      assert.deepEqual(
        h.ipam.calls.map((c) => c.verb),
        ["DEL"],
      );
      assert.ok(h.exec.calls.some((c) => c.argv.join(" ") === "iptables-save -t nat"));
      assert.ok(h.exec.calls.some((c) => c.argv.join(" ") === "ip6tables-save -t nat"));
    }
  });

  it("DEL keeps going when IPAM fails and reports IPAM's error", async () => {
    const h = harness();
    assert.equal((await run(h, "ADD", conf("1.0.0", { ipMasq: true }))).code, 0);
    h.ipam.failOn.add("DEL");
    const out = await run(h, "DEL", conf("1.0.0", { ipMasq: true }));
    assert.equal(out.code, 1);
    assert.equal(msgOf(out), "ipam DEL failed");
    assert.doesNotMatch(h.kernel.dump(HOST), /^link veth/m);
    // The masquerade went in one transaction from the link's addresses, without a listing.
    const del = h.exec.calls.filter((c) => c.argv[0] === "iptables-restore").at(-1);
    assert.match(
      del?.stdin ?? "",
      /^\*nat\n-D POSTROUTING -s 10\.200\.0\.2\/32 .*\n-F CNI-[0-9a-f]{24}\n-X CNI-[0-9a-f]{24}\nCOMMIT\n$/,
      "masquerade teardown still ran",
    );
    assert.ok(!h.exec.calls.some((c) => c.argv[0] === "iptables-save"));
    // The link had IPv4 addresses only: ip6tables was not consulted.
    assert.ok(!h.exec.calls.some((c) => c.argv[0]?.startsWith("ip6tables")));
  });

  it("DEL asks netlink whether the nftables masquerade table exists before running nft", async () => {
    for (const exists of [false, true]) {
      const h = harness();
      assert.equal((await run(h, "ADD", conf("1.0.0", { ipMasq: true }))).code, 0);
      const asked: string[] = [];
      const nftables = (): Pick<Nftables, "tableExists" | "close"> => ({
        tableExists: async (f, t) => {
          asked.push(`${f} ${t}`);
          return exists;
        },
        close: () => {},
      });
      const plugin = createBridge({ ...h.deps, nftables });
      const out = await invokeFuncs(plugin, BRIDGE_ABOUT, {
        command: "DEL",
        conf: conf("1.0.0", { ipMasq: true }),
        netns: POD,
        ifName: "eth0",
        containerID: "ctr1",
      });
      assert.equal(out.code, 0, out.stdout);
      assert.deepEqual(asked, ["inet cni_plugins_masquerade"]);
      assert.equal(
        h.exec.calls.some((c) => c.argv[0] === "nft"),
        exists,
        `table there: ${exists}`,
      );
    }
  });

  it("masquerade teardown ignores a backend whose tool is not installed", async () => {
    const h = harness();
    h.exec.missing.add("nft");
    const out = await run(h, "DEL", conf("1.0.0", { ipMasq: true }));
    assert.equal(out.code, 0, out.stdout);
  });

  it("DEL of a config that went bad after ADD still cleans up (bad fields are only logged)", async () => {
    const h = harness();
    assert.equal((await run(h, "ADD", conf("1.0.0", { ipMasq: true }))).code, 0);
    const out = await run(h, "DEL", conf("1.0.0", { ipMasq: true, mtu: 10, bridge: "a-name-far-too-long" }));
    assert.equal(out.code, 0, out.stdout);
    assert.doesNotMatch(h.kernel.dump(HOST), /^link veth/m);
    assert.deepEqual(
      h.ipam.calls.map((c) => c.verb),
      ["ADD", "DEL"],
    );
    assert.ok(h.exec.calls.some((c) => c.argv[0] === "iptables-restore" && /^-X CNI-/m.test(c.stdin)));
    assert.match(
      h.logs.join(""),
      /^bridge DEL: invalid bridge config: "bridge" must be an interface name .*; cleaning up/,
    );
  });

  it("STATUS and GC go to IPAM; L2 STATUS succeeds without it", async () => {
    const h = harness();
    assert.equal((await run(h, "STATUS", conf("1.1.0"))).code, 0);
    assert.equal((await run(h, "GC", conf("1.1.0"))).code, 0);
    assert.equal((await run(h, "STATUS", { cniVersion: "1.1.0", name: "l2", type: "bridge" })).code, 0);
    assert.deepEqual(
      h.ipam.calls.map((c) => c.verb),
      ["STATUS", "GC"],
    );
    h.ipam.failOn.add("STATUS");
    assert.equal((await run(h, "STATUS", conf("1.1.0"))).code, 1);
  });

  it("CHECK: mismatching MAC, missing bridge, wrong sandbox", async () => {
    const h = harness();
    const c = conf("1.0.0", { isGateway: true });
    const add = await run(h, "ADD", c);
    const prev = add.json as unknown as Result;
    const withIfs = (f: (i: NonNullable<Result["interfaces"]>) => void) => {
      const p = structuredClone(prev);
      f(p.interfaces!);
      return { ...c, prevResult: p };
    };
    let out = await run(
      h,
      "CHECK",
      withIfs((i) => (i[2]!.mac = "0a:00:00:00:00:01")),
    );
    assert.match(msgOf(out), /^Interface eth0 Mac 0a:00:00:00:00:01 doesn't match container Mac: /);
    out = await run(
      h,
      "CHECK",
      withIfs((i) => (i[1]!.mac = "0a:00:00:00:00:01")),
    );
    assert.equal(msgOf(out), "Interface vethaaaaaa01 Mac doesn't match: 0a:00:00:00:00:01 not found");
    out = await run(
      h,
      "CHECK",
      withIfs((i) => (i[2]!.sandbox = "/run/netns/other")),
    );
    assert.equal(msgOf(out), `Sandbox in prevResult /run/netns/other doesn't match configured netns: ${POD}`);
    out = await run(
      h,
      "CHECK",
      withIfs((i) => i.splice(1, 1)),
    );
    assert.equal(msgOf(out), "CNI veth created for bridge cni0 was not found");
    out = await run(h, "CHECK", c);
    assert.equal(msgOf(out), "Required prevResult missing");
  });
});

describe("calcGateways", () => {
  it("computes missing gateways, puts every IP on interface 2, adds default routes once per family", () => {
    const r: Result = {
      cniVersion: "1.1.0",
      ips: [
        { address: "10.200.3.7/24" },
        { address: "10.200.4.7/24", gateway: "10.200.4.254" },
        { address: "fd00:200::7/64" },
      ],
      routes: [{ dst: "::/0" }],
    };
    const { v4, v6 } = calcGateways(r, { isGateway: true, isDefaultGateway: true });
    assert.deepEqual(r.ips, [
      { address: "10.200.3.7/24", gateway: "10.200.3.1", interface: 2 },
      { address: "10.200.4.7/24", gateway: "10.200.4.254", interface: 2 },
      { address: "fd00:200::7/64", gateway: "fd00:200::1", interface: 2 },
    ]);
    // An IPAM default route without a gateway does not count.
    assert.deepEqual(r.routes, [
      { dst: "::/0" },
      { dst: "0.0.0.0/0", gw: "10.200.3.1" },
      { dst: "::/0", gw: "fd00:200::1" },
    ]);
    assert.deepEqual(v4.gws, ["10.200.3.1/24", "10.200.4.254/24"]);
    assert.deepEqual(v6.gws, ["fd00:200::1/64"]);
  });

  it("leaves gateways alone without isGateway, and keeps an IPAM default route with a gateway", () => {
    const r: Result = {
      cniVersion: "1.1.0",
      ips: [{ address: "10.200.3.7/24" }],
      routes: [{ dst: "0.0.0.0/0", gw: "10.200.3.9" }],
    };
    const { v4 } = calcGateways(r, { isGateway: false, isDefaultGateway: false });
    assert.deepEqual(r.ips, [{ address: "10.200.3.7/24", interface: 2 }]);
    assert.deepEqual(v4.gws, []);
    const r2: Result = {
      cniVersion: "1.1.0",
      ips: [{ address: "10.200.3.7/24" }],
      routes: [{ dst: "0.0.0.0/0", gw: "10.200.3.9" }],
    };
    calcGateways(r2, { isGateway: true, isDefaultGateway: true });
    assert.deepEqual(r2.routes, [{ dst: "0.0.0.0/0", gw: "10.200.3.9" }]);
  });
});
