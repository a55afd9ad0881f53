import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { base32Std, HostportManager, hostportChainName, hostportRules, existingHostportRules } from "./hostport.js";
import { parseSave, splitRule } from "../../../kernel/iptables.js";
import { createFakeIPTables } from "../../../kernel/iptables-fake.js";
import { createFakeOpener } from "../../testing/fakes.js";
import type { PortMapping } from "../../core/plugin.js";

const pm = (
  hostPort: number,
  containerPort: number,
  protocol: PortMapping["protocol"] = "TCP",
  hostIP = "",
): PortMapping => ({ hostPort, containerPort, protocol, hostIP });

async function withMarkMasq(ipv6 = false) {
  const ipt = createFakeIPTables(ipv6);
  await ipt.ensureChain("nat", "KUBE-MARK-MASQ");
  return ipt;
}

describe("hostport chain names", () => {
  it("base32 is Go's StdEncoding", () => {
    assert.equal(base32Std(Buffer.from("foobar")), "MZXW6YTBOI======");
    assert.equal(base32Std(Buffer.from("f")), "MY======");
  });
  it("the kubelet's test vectors", () => {
    assert.equal(hostportChainName("abc123", pm(8080, 80, "TCP")), "KUBE-HP-62ESVQR7OOVHFKVK");
    assert.equal(hostportChainName("abc123", pm(8080, 80, "UDP", "10.1.2.3")), "KUBE-HP-DLRBWWP4KJXOPD3S");
  });
});

describe("hostport rules (golden)", () => {
  it("jump, masquerade mark for hairpin, DNAT; -d for a specific hostIP", () => {
    const ppm = { namespace: "default", name: "web", portMappings: [], hostNetwork: false, ip: "10.200.0.2" };
    const r = hostportRules("abc123", ppm, pm(8080, 80, "TCP"));
    assert.equal(r.chainLine, ":KUBE-HP-62ESVQR7OOVHFKVK - [0:0]");
    assert.deepEqual(r.rules, [
      '-I KUBE-HOSTPORTS -m comment --comment "web_default hostport 8080" -m tcp -p tcp --dport 8080 -j KUBE-HP-62ESVQR7OOVHFKVK',
      '-A KUBE-HP-62ESVQR7OOVHFKVK -m comment --comment "web_default hostport 8080" -s 10.200.0.2 -j KUBE-MARK-MASQ',
      '-A KUBE-HP-62ESVQR7OOVHFKVK -m comment --comment "web_default hostport 8080" -m tcp -p tcp -j DNAT --to-destination=10.200.0.2:80',
    ]);
    const u = hostportRules("abc123", { ...ppm, ip: "10.200.0.2" }, pm(5353, 53, "UDP", "10.1.2.3"));
    assert.match(u.rules[2]!, /-m udp -p udp -d 10.1.2.3 -j DNAT --to-destination=10.200.0.2:53$/);
  });
  it("splitRule keeps quoted comments whole", () =>
    assert.deepEqual(splitRule('-A X -m comment --comment "a b" -j Y'), [
      "-A",
      "X",
      "-m",
      "comment",
      "--comment",
      "a b",
      "-j",
      "Y",
    ]));
});

describe("HostportManager over fakes", () => {
  const web = (ip = "10.200.0.2") => ({
    namespace: "default",
    name: "web",
    portMappings: [pm(8080, 80), pm(5353, 53, "UDP"), pm(0, 9000), pm(9999, 99, "SCTP")],
    hostNetwork: false,
    ip,
  });

  it("add: chains and jumps, ports held (not SCTP), UDP conntrack cleared after the rules", async () => {
    const ipt = await withMarkMasq();
    const op = createFakeOpener();
    const cleared: number[] = [];
    const m = new HostportManager({
      iptables: ipt,
      openPort: op.open,
      clearConntrack: async (p) => void cleared.push(p),
    });
    await m.add("abc123", web(), "cbr0");
    assert.deepEqual([...op.held].sort(), ["4/tcp//8080", "4/udp//5353"]);
    assert.deepEqual(cleared, [5353]);
    const rules = ipt.rules("nat");
    assert.ok(
      rules.includes(
        '-A OUTPUT -m comment --comment "kube hostport portals" -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS',
      ),
    );
    assert.ok(
      rules.includes(
        '-A PREROUTING -m comment --comment "kube hostport portals" -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS',
      ),
    );
    assert.ok(
      rules.includes(
        '-A POSTROUTING -m comment --comment "SNAT for localhost access to hostports" -o cbr0 -s 127.0.0.0/8 -j MASQUERADE',
      ),
    );
    assert.equal(rules.filter((r) => r.startsWith("-A KUBE-HOSTPORTS")).length, 3);
    // a second pod's rules go first (-I), the first pod's stay
    await m.add("def456", { ...web("10.200.0.3"), name: "web2", portMappings: [pm(8081, 80)] }, "cbr0");
    assert.match(ipt.rules("nat").find((r) => r.startsWith("-A KUBE-HOSTPORTS"))!, /web2_default hostport 8081/);
    assert.equal(ipt.rules("nat").filter((r) => r.startsWith("-A KUBE-HOSTPORTS")).length, 4);
  });

  it("a taken port fails naming the port and the pod, and leaves nothing open or written", async () => {
    const ipt = await withMarkMasq();
    const op = createFakeOpener();
    op.taken.add(5353);
    const m = new HostportManager({ iptables: ipt, openPort: op.open });
    await assert.rejects(
      m.add("abc123", web(), "cbr0"),
      /^Error: cannot open hostport 5353 for pod web_default: listen udp4 :5353: bind: address already in use$/,
    );
    assert.deepEqual([...op.held], []);
    assert.equal(ipt.restores.length, 0);
  });

  it("a failed restore closes the ports it opened", async () => {
    const ipt = createFakeIPTables(); // no KUBE-MARK-MASQ: the restore fails as iptables-restore would
    const op = createFakeOpener();
    const m = new HostportManager({ iptables: ipt, openPort: op.open });
    await assert.rejects(m.add("abc123", web(), "cbr0"), /failed to execute iptables-restore: .*KUBE-MARK-MASQ/);
    assert.deepEqual([...op.held], []);
  });

  it("remove works without the pod IP and deletes exactly its chains", async () => {
    const ipt = await withMarkMasq();
    const op = createFakeOpener();
    const m = new HostportManager({ iptables: ipt, openPort: op.open });
    await m.add("abc123", web(), "cbr0");
    await m.add("def456", { ...web("10.200.0.3"), name: "web2", portMappings: [pm(8081, 80)] }, "cbr0");
    await m.remove("abc123", { ...web(), ip: "" });
    const left = existingHostportRules(await ipt.save("nat"));
    assert.deepEqual(
      [...left.chains.keys()].sort(),
      ["KUBE-HOSTPORTS", hostportChainName("def456", pm(8081, 80))].sort(),
    );
    assert.equal(left.rules.filter((r) => r.includes("web_default")).length, 0);
    assert.deepEqual([...op.held], ["4/tcp//8081"]);
    await m.remove("abc123", { ...web(), ip: "" }); // twice is fine
  });

  it("IPv6: its own manager, family mismatch is an error, localhost is ::1", async () => {
    const ipt6 = await withMarkMasq(true);
    const m6 = new HostportManager({ iptables: ipt6, openPort: createFakeOpener().open });
    await assert.rejects(m6.add("x", web(), "cbr0"), /HostPortManager IP family mismatch: 10.200.0.2/);
    await m6.add("x", web("fd00:200::2"), "cbr0");
    assert.ok(ipt6.rules("nat").some((r) => r.includes("-s ::1/128")));
    assert.ok(ipt6.rules("nat").some((r) => r.includes("--to-destination=[fd00:200::2]:80")));
  });

  it("removeStaleChains keeps the given chains only", async () => {
    const ipt = await withMarkMasq();
    const m = new HostportManager({ iptables: ipt, openPort: createFakeOpener().open });
    await m.add("abc123", web(), "cbr0");
    const keep = new Set([hostportChainName("abc123", pm(8080, 80))]);
    const removed = await m.removeStaleChains(keep);
    assert.equal(removed.length, 2); // the UDP and the SCTP mapping
    assert.deepEqual(
      [...existingHostportRules(await ipt.save("nat")).chains.keys()].sort(),
      ["KUBE-HOSTPORTS", ...keep].sort(),
    );
  });
});

describe("hostport chains already in place", () => {
  it("are recognised in iptables-save output (as iptables prints them), so Add skips the -C round trips", async () => {
    const text = [
      "*nat",
      ":PREROUTING ACCEPT [0:0]",
      ":KUBE-HOSTPORTS - [0:0]",
      '-A PREROUTING -m comment --comment "kube hostport portals" -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS',
      '-A OUTPUT -m comment --comment "kube hostport portals" -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS',
      '-A POSTROUTING -s 127.0.0.0/8 -o cbr0 -m comment --comment "SNAT for localhost access to hostports" -j MASQUERADE',
      "COMMIT",
    ].join("\n");
    const { hostportChainsPresent } = await import("./hostport.js");
    const save = parseSave(text, "nat");
    assert.equal(hostportChainsPresent(save, "cbr0"), true);
    assert.equal(hostportChainsPresent(save, "cni0"), false);
    assert.equal(hostportChainsPresent(parseSave(text.replace(/-A OUTPUT.*\n/, ""), "nat"), "cbr0"), false);
  });
});

describe("one restore per pod operation", () => {
  const web = (id: string, port: number, ip = "10.200.0.2") => ({
    id,
    ppm: { namespace: "default", name: `web-${id}`, portMappings: [pm(port, 80)], hostNetwork: false, ip },
  });
  async function counted() {
    const ipt = await withMarkMasq();
    let saves = 0;
    const save = ipt.save.bind(ipt);
    ipt.save = (t) => {
      saves++;
      return save(t);
    };
    return { ipt, saves: () => saves };
  }

  it("after the first add, adds and removes are one restore each and never list the table", async () => {
    const { ipt, saves } = await counted();
    const m = new HostportManager({ iptables: ipt, openPort: createFakeOpener().open });
    await m.add("a", web("a", 8080).ppm, "cbr0");
    assert.deepEqual(m.counts, { fast: 0, full: 1 });
    const before = { saves: saves(), restores: ipt.restores.length };
    for (let i = 0; i < 10; i++) await m.add(`p${i}`, web(`p${i}`, 9000 + i, `10.200.0.${10 + i}`).ppm, "cbr0");
    for (let i = 0; i < 10; i += 2) await m.remove(`p${i}`, { ...web(`p${i}`, 9000 + i).ppm, ip: "" });
    assert.equal(saves(), before.saves, "no iptables-save");
    assert.equal(ipt.restores.length, before.restores + 15, "one restore per operation");
    assert.deepEqual(m.counts, { fast: 15, full: 1 });
    assert.match(
      ipt.restores.at(-1)!,
      /^\*nat\n:KUBE-HP-\w+ - \[0:0\]\n-D KUBE-HOSTPORTS -m comment --comment "web-p8_default hostport 9008" .* -j KUBE-HP-\w+\n-X KUBE-HP-\w+\nCOMMIT\n$/,
    );
    // the table is exactly what the kubelet's way produces: newest jump first, each chain once
    const jumps = ipt.rules("nat").filter((r) => r.startsWith("-A KUBE-HOSTPORTS"));
    assert.deepEqual(
      jumps.map((r) => /hostport (\d+)/.exec(r)![1]),
      ["9009", "9007", "9005", "9003", "9001", "8080"],
    );
    const left = existingHostportRules(await ipt.save("nat"));
    assert.equal([...left.chains.keys()].filter((c) => c.startsWith("KUBE-HP-")).length, 6);
  });

  it("a repeated add of the same pod rewrites its chains without a second jump", async () => {
    const { ipt } = await counted();
    const m = new HostportManager({ iptables: ipt, openPort: createFakeOpener().open });
    await m.add("a", web("a", 8080).ppm, "cbr0");
    await m.add("b", web("b", 8081, "10.200.0.3").ppm, "cbr0");
    await m.add("b", web("b", 8081, "10.200.0.3").ppm, "cbr0");
    assert.equal(
      ipt.rules("nat").filter((r) => r.includes("hostport 8081") && r.startsWith("-A KUBE-HOSTPORTS")).length,
      1,
    );
    assert.equal(ipt.rules("nat").filter((r) => r.includes("--to-destination=10.200.0.3:80")).length, 1);
  });

  it("a table changed behind its back: the one-restore operation fails and is redone the kubelet's way", async () => {
    const { ipt, saves } = await counted();
    const m = new HostportManager({ iptables: ipt, openPort: createFakeOpener().open });
    await m.add("a", web("a", 8080).ppm, "cbr0");
    await m.add("b", web("b", 8081, "10.200.0.3").ppm, "cbr0");
    // someone deletes b's jump by hand, then flushes KUBE-HOSTPORTS away entirely
    ipt.tables.get("nat")!.set(
      "KUBE-HOSTPORTS",
      ipt.tables
        .get("nat")!
        .get("KUBE-HOSTPORTS")!
        .filter((r) => !r.includes("8081")),
    );
    const s0 = saves();
    await m.remove("b", { ...web("b", 8081).ppm, ip: "" });
    assert.equal(saves(), s0 + 1, "redone from iptables-save");
    assert.equal(ipt.rules("nat").filter((r) => r.includes("8081")).length, 0);
    ipt.tables.get("nat")!.delete("KUBE-HOSTPORTS");
    await m.add("c", web("c", 8082, "10.200.0.4").ppm, "cbr0");
    assert.ok(
      ipt.rules("nat").some((r) => r.startsWith("-A KUBE-HOSTPORTS") && r.includes("8082")),
      "KUBE-HOSTPORTS is re-created",
    );
    assert.deepEqual(m.counts, { fast: 1, full: 3 });
  });

  it("prepareAdd: a restore started early is committed by the next add, or cancelled", async () => {
    const { ipt } = await counted();
    const m = new HostportManager({ iptables: ipt, openPort: createFakeOpener().open });
    assert.equal(m.prepareAdd("cbr0"), undefined, "the first add reads the table first");
    await m.add("a", web("a", 8080).ppm, "cbr0");
    const p = m.prepareAdd("cbr0");
    assert.ok(p);
    await m.add("b", web("b", 8081, "10.200.0.3").ppm, "cbr0", p);
    assert.deepEqual(ipt.started, ["committed"]);
    await m.add("c", { ...web("c", 0).ppm, portMappings: [] }, "cbr0", m.prepareAdd("cbr0"));
    assert.deepEqual(ipt.started, ["committed", "cancelled"], "nothing to add: the early restore is ended empty");
    const op = createFakeOpener();
    op.taken.add(9999);
    const m2 = new HostportManager({ iptables: ipt, openPort: op.open });
    await m2.add("x", web("x", 9998, "10.200.0.8").ppm, "cbr0");
    await assert.rejects(
      m2.add("y", web("y", 9999, "10.200.0.9").ppm, "cbr0", m2.prepareAdd("cbr0")),
      /cannot open hostport 9999/,
    );
    assert.equal(ipt.started.at(-1), "cancelled");
    assert.equal(m.prepareAdd("cni0"), undefined, "another NAT interface's chains were never ensured");
  });
});
