// portmap as a plugin, over fakes: which commands each verb runs (and how few), what state it
// keeps, and its errors. The real-kernel behaviour is in test/e2e/portmap.test.ts.
import { describe, it, beforeEach } from "node:test";
import assert from "node:assert/strict";
import type { Conntrack, CtEntry } from "../../../kernel/conntrack.js";
import { KernelError } from "../../../kernel/errors.js";
import { ExecError, type Exec } from "../../../kernel/exec.js";
import { createNftables } from "../../../kernel/nft.js";
import type { NftNetlink, NftOp } from "../../../kernel/nft-netlink.js";
import { createFakeKernel, type FakeKernel } from "../../../kernel/fake.js";
import { createFakeExec } from "../../../kernel/testing.js";
import { invokeFuncs } from "../../../sdk/testing.js";
import { chainName } from "./nftables.js";
import { PORTMAP_ABOUT, createPortmap, type PortmapDeps } from "./portmap.js";
import { memStateFs } from "../testing.js";

const memFs = () => memStateFs();

type Handler = (argv: readonly string[], stdin: string) => string | Error;
const fakeExec = (handler: Handler) => createFakeExec().on("", handler);
const nftErr = (argv: readonly string[], text: string) => new ExecError(argv, 1, "", text);

const DATA = "/data";
const ID = "ctr1";
let kernel: FakeKernel;
let fs: ReturnType<typeof memFs>;

function deps(exec: Exec, scope = "boot1:42"): PortmapDeps {
  return {
    exec,
    nftables: () => createNftables({ exec }),
    kernel,
    fs,
    lock: async () => ({ release() {} }),
    scope: async () => scope,
    dataDir: DATA,
  };
}

const prev = (ips: string[] = ["10.200.0.5/24", "fd00:200::5/64"]) => ({
  cniVersion: "1.0.0",
  interfaces: [{ name: "cni0" }, { name: "veth1" }, { name: "eth0", sandbox: "/run/netns/p" }],
  ips: ips.map((address) => ({ address, interface: 2 })),
});
const conf = (
  mappings: unknown[] = [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
  o: Record<string, unknown> = {},
) => ({
  cniVersion: "1.0.0",
  name: "net",
  type: "portmap",
  runtimeConfig: { portMappings: mappings },
  prevResult: prev(),
  ...o,
});
const run = (
  exec: Exec,
  command: string,
  c: unknown,
  extra: { scope?: string; ifName?: string; containerID?: string } = {},
) =>
  invokeFuncs(createPortmap(deps(exec, extra.scope)), PORTMAP_ABOUT, {
    command,
    conf: c as Record<string, unknown>,
    containerID: extra.containerID ?? ID,
    ifName: extra.ifName ?? "eth0",
  });
const stateFile = `${DATA}/net/${ID}-eth0`;
const chain = chainName({ network: "net", containerID: ID, ifName: "eth0" });

beforeEach(async () => {
  kernel = createFakeKernel();
  fs = memFs();
  const host = kernel.netns(null);
  await host.linkAddBridge("cni0", { up: true });
  await host.addrAdd("cni0", "10.200.0.1/24");
});

describe("portmap ADD", () => {
  it("no mappings: prevResult through, nothing run", async () => {
    const exec = fakeExec(() => "");
    const r = await run(exec, "ADD", conf([]));
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(r.json?.["ips"], prev().ips);
    assert.equal(exec.calls.length, 0);
  });

  it("not chained: Go's error", async () => {
    const r = await run(
      fakeExec(() => ""),
      "ADD",
      { ...conf(), prevResult: undefined },
    );
    assert.equal(r.code, 1);
    assert.match(r.stdout, /must be called as chained plugin/);
  });

  it("table there: one `nft -f -` with the pod's chain and elements; state written; route_localnet on the pod's interface", async () => {
    const exec = fakeExec(() => "");
    const r = await run(exec, "ADD", conf());
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(exec.lines(), ["nft -f -"]);
    assert.match(
      exec.calls[0]!.stdin,
      new RegExp(`^add chain inet podnet_portmap ${chain} \\{ comment "ctr1 eth0 net" ; \\}\n`),
    );
    assert.match(exec.calls[0]!.stdin, /add element inet podnet_portmap hostports4 \{ tcp \. 8080 : jump hp_/);
    assert.match(exec.calls[0]!.stdin, /add element inet podnet_portmap hostports6 \{ tcp \. 8080 : jump hp_/);
    const st = JSON.parse(fs.files.get(stateFile)!) as Record<string, unknown>;
    assert.equal(st["backend"], "nftables");
    assert.equal(st["chain"], chain);
    assert.deepEqual(st["elements"], [
      { map: "hostports4", key: "tcp . 8080" },
      { map: "hostports6", key: "tcp . 8080" },
    ]);
    assert.equal(await kernel.sysctl.read(null, "net/ipv4/conf/cni0/route_localnet"), "1");
  });

  it("first pod: the table and the mark chain are made in a second transaction", async () => {
    let first = true;
    const exec = fakeExec((argv, stdin) => {
      if (argv[1] === "-f" && first) {
        first = false;
        return nftErr(argv, `Error: Could not process rule: No such file or directory\n${stdin.split("\n")[0]}\n^^^\n`);
      }
      if (argv[1] === "list") return nftErr(argv, "Error: No such file or directory\n");
      return "";
    });
    const r = await run(exec, "ADD", conf());
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(exec.lines(), ["nft -f -", "nft list chain inet podnet_portmap postrouting", "nft -f -"]);
    const full = exec.calls[2]!.stdin;
    assert.match(full, /^add table inet podnet_portmap/);
    assert.match(full, /add rule inet podnet_portmap postrouting meta mark & 0x2000 == 0x2000 masquerade/);
    assert.ok(full.endsWith(exec.calls[0]!.stdin), "then the same pod commands");
  });

  it("a host port another pod holds: an error naming it, and no state left", async () => {
    const other = "hp_000000000000000000000000";
    const exec = fakeExec((argv) => {
      if (argv[1] === "-f")
        return nftErr(
          argv,
          `/dev/stdin:9:1-5: Error: Could not process rule: File exists\nadd element inet podnet_portmap hostports4 { tcp . 8080 : jump ${chain} }\n^^^^^\n`,
        );
      if (argv[1] === "get")
        return `table inet podnet_portmap {\n\tmap hostports4 {\n\t\telements = { tcp . 8080 : jump ${other} }\n\t}\n}\n`;
      if (argv[1] === "list")
        return `table inet podnet_portmap {\n\tchain ${other} {\n\t\tcomment "ctr9 eth0 net"\n\t}\n}\n`;
      return "";
    });
    const r = await run(exec, "ADD", conf());
    assert.equal(r.code, 1);
    assert.equal(
      (r.json as { msg: string }).msg,
      'host port 8080/tcp (IPv4) is already mapped by container ctr9 (eth0, network "net"); nothing was changed',
    );
    assert.equal(fs.files.has(stateFile), false);
  });

  it("UDP mappings: stale conntrack entries are deleted per family after the rules are in", async () => {
    const exec = fakeExec((argv) =>
      argv[0] === "conntrack"
        ? nftErr(argv, "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n")
        : "",
    );
    const r = await run(exec, "ADD", conf([{ hostPort: 53, containerPort: 5353, protocol: "udp" }]));
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(exec.lines(), [
      "nft -f -",
      "conntrack -D -p udp --orig-port-dst 53 -f ipv4",
      "conntrack -D -p udp --orig-port-dst 53 -f ipv6",
    ]);
  });

  it("UDP mappings over netlink: one walk of the conntrack table for every family, no process; DEL only the pod's flows", async () => {
    const exec = fakeExec(() => "");
    const walks: Array<{ families: ReadonlyArray<4 | 6>; match: (e: CtEntry) => boolean }> = [];
    let closed = 0;
    const ct = (): Conntrack => ({
      deleteWhere: (families, match) => {
        walks.push({ families, match });
        return 0;
      },
      close: () => void closed++,
    });
    const mappings = [
      { hostPort: 53, containerPort: 5353, protocol: "udp" },
      { hostPort: 54, containerPort: 5354, protocol: "udp" },
      { hostPort: 8080, containerPort: 80, protocol: "tcp" },
    ];
    const inv = (command: string) =>
      invokeFuncs(createPortmap({ ...deps(exec), conntrack: ct }), PORTMAP_ABOUT, {
        command,
        conf: conf(mappings),
        containerID: ID,
        ifName: "eth0",
      });
    assert.equal((await inv("ADD")).code, 0);
    assert.deepEqual(exec.lines(), ["nft -f -"]);
    assert.equal(walks.length, 1);
    assert.deepEqual(walks[0]!.families, [4, 6]);
    const udp = (family: 4 | 6, dport: number, replySrc: string, proto = 17): CtEntry => ({
      family,
      orig: { src: "192.0.2.9", dst: "192.0.2.1", proto, srcPort: 4000, dstPort: dport },
      reply: { src: replySrc, dst: "192.0.2.9", proto, srcPort: dport, dstPort: 4000 },
    });
    const add = walks[0]!.match;
    assert.equal(add(udp(4, 53, "192.0.2.1")), true, "ADD: any flow to the host port");
    assert.equal(add(udp(6, 54, "fd00:200::9")), true);
    assert.equal(add(udp(4, 8080, "192.0.2.1")), false, "not a UDP mapping");
    assert.equal(add(udp(4, 53, "192.0.2.1", 6)), false, "TCP");
    assert.equal((await inv("DEL")).code, 0);
    const del = walks[1]!.match;
    assert.equal(del(udp(4, 53, "10.200.0.5")), true, "DEL: answered by this pod");
    assert.equal(del(udp(6, 54, "fd00:200::5")), true);
    assert.equal(del(udp(4, 53, "10.200.0.6")), false, "another pod");
    assert.equal(closed, 2);
    assert.ok(!exec.lines().some((l) => l.startsWith("conntrack")));
  });

  it("ADD and DEL walk the conntrack table after releasing the lock: other pods' portmap calls never wait for the walk", async () => {
    const exec = fakeExec(() => "");
    const events: string[] = [];
    let held = false;
    const lock = async () => {
      events.push("lock");
      held = true;
      return {
        release: () => {
          held = false;
          events.push("unlock");
        },
      };
    };
    const ct = (): Conntrack => ({
      deleteWhere: () => {
        events.push(held ? "walk while locked" : "walk");
        return 0;
      },
      close() {},
    });
    const mappings = [{ hostPort: 53, containerPort: 5353, protocol: "udp" }];
    const inv = (command: string) =>
      invokeFuncs(createPortmap({ ...deps(exec), lock, conntrack: ct }), PORTMAP_ABOUT, {
        command,
        conf: conf(mappings),
        containerID: ID,
        ifName: "eth0",
      });
    assert.equal((await inv("ADD")).code, 0);
    assert.equal((await inv("DEL")).code, 0);
    assert.deepEqual(events, ["lock", "unlock", "walk", "lock", "unlock", "walk"]);
  });

  it("the iptables backend: one iptables-save and one iptables-restore per family", async () => {
    const exec = fakeExec((argv) =>
      argv[0]!.endsWith("-save")
        ? "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
        : "",
    );
    const r = await run(exec, "ADD", conf(undefined, { externalSetMarkChain: "KUBE-MARK-MASQ" }));
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(exec.lines(), [
      "iptables-save -t nat",
      "ip6tables-save -t nat",
      "iptables-restore -w --noflush",
      "ip6tables-restore -w --noflush",
    ]);
    assert.match(
      exec.calls[2]!.stdin,
      /-A CNI-DN-[0-9a-f]{21} -s 10\.200\.0\.0\/24 -p tcp -m tcp --dport 8080 -j KUBE-MARK-MASQ/,
    );
    assert.doesNotMatch(exec.calls[2]!.stdin, /CNI-HOSTPORT-SETMARK/);
  });
});

describe("portmap DEL", () => {
  it("no state and no mappings (most pods): nothing run", async () => {
    const exec = fakeExec(() => "");
    const r = await run(exec, "DEL", conf([]));
    assert.equal(r.code, 0, r.stdout);
    assert.equal(exec.calls.length, 0);
  });

  it("the last attachment, from its state alone (no mappings, no prevResult): one listing, then one transaction removes the table", async () => {
    await run(
      fakeExec(() => ""),
      "ADD",
      conf(),
    );
    const listing = (chains: string[]) =>
      JSON.stringify({
        nftables: [
          {
            map: {
              name: "hostports4",
              type: ["inet_proto", "inet_service"],
              elem: [[{ concat: ["tcp", 8080] }, { jump: { target: chain } }]],
            },
          },
          {
            map: {
              name: "hostports6",
              type: ["inet_proto", "inet_service"],
              elem: [[{ concat: ["tcp", 8080] }, { jump: { target: chain } }]],
            },
          },
          ...["prerouting", "hostports", ...chains].map((name) => ({ chain: { name } })),
        ],
      });
    const exec = fakeExec((argv) => (argv[1] === "-j" ? listing([chain]) : ""));
    const r = await run(exec, "DEL", { ...conf([]), prevResult: undefined });
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(exec.lines(), ["nft -j list table inet podnet_portmap", "nft -f -"]);
    assert.equal(exec.calls[1]!.stdin, "delete table inet podnet_portmap\n");
    assert.equal(fs.files.has(stateFile), false);
    // Something else in the table (the chain of an attachment whose state is lost): only this attachment's part goes.
    await run(
      fakeExec(() => ""),
      "ADD",
      conf(),
    );
    const other = fakeExec((argv) => (argv[1] === "-j" ? listing([chain, "hp_another0000000000000000"]) : ""));
    assert.equal((await run(other, "DEL", { ...conf([]), prevResult: undefined })).code, 0);
    assert.deepEqual(other.lines(), ["nft -j list table inet podnet_portmap", "nft -f -"]);
    assert.equal(
      other.calls[1]!.stdin,
      [
        "delete element inet podnet_portmap hostports4 { tcp . 8080 }",
        "delete element inet podnet_portmap hostports6 { tcp . 8080 }",
        `flush chain inet podnet_portmap ${chain}`,
        `delete chain inet podnet_portmap ${chain}`,
        "",
      ].join("\n"),
    );
    assert.equal(fs.files.has(stateFile), false);
  });

  it("another attachment keeps the table; its elements are not touched", async () => {
    await run(
      fakeExec(() => ""),
      "ADD",
      conf(),
    );
    const net1 = { ...prev(["10.200.1.5/24"]), interfaces: [{ name: "net1", sandbox: "/run/netns/p" }] };
    await run(
      fakeExec(() => ""),
      "ADD",
      {
        ...conf([{ hostPort: 9090, containerPort: 80 }]),
        prevResult: { ...net1, ips: [{ address: "10.200.1.5/24", interface: 0 }] },
      },
      { ifName: "net1" },
    );
    assert.ok(fs.files.has(`${DATA}/net/${ID}-net1`));
    const exec = fakeExec(() => "");
    await run(exec, "DEL", conf([]));
    assert.deepEqual(exec.lines(), ["nft -f -"]);
    assert.doesNotMatch(exec.calls[0]!.stdin, /9090/);
  });

  it("state from another boot: removed, nothing run", async () => {
    await run(
      fakeExec(() => ""),
      "ADD",
      conf(),
    );
    const exec = fakeExec(() => "");
    const r = await run(exec, "DEL", conf([]), { scope: "boot2:42" });
    assert.equal(r.code, 0, r.stdout);
    assert.equal(exec.calls.length, 0);
    assert.equal(fs.files.has(stateFile), false);
  });

  it("elements already gone: the table is read and exactly what jumps to the chain is removed", async () => {
    await run(
      fakeExec(() => ""),
      "ADD",
      conf(),
    );
    let n = 0;
    const exec = fakeExec((argv) => {
      if (argv[1] === "-f" && n++ === 0)
        return nftErr(
          argv,
          "Error: Could not process rule: No such file or directory\ndelete element inet podnet_portmap hostports4 { tcp . 8080 }\n",
        );
      if (argv[1] === "-j")
        return JSON.stringify({
          nftables: [
            { map: { name: "hostports4", elem: [[{ concat: ["tcp", 9] }, { jump: { target: chain } }]] } },
            { chain: { name: chain } },
          ],
        });
      return "";
    });
    const r = await run(exec, "DEL", conf([]));
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(exec.lines(), [
      "nft -j list table inet podnet_portmap",
      "nft -f -",
      "nft -j list table inet podnet_portmap",
      "nft -f -",
    ]);
    assert.equal(
      exec.calls[3]!.stdin,
      `delete element inet podnet_portmap hostports4 { tcp . 9 }\nflush chain inet podnet_portmap ${chain}\ndelete chain inet podnet_portmap ${chain}\n`,
    );
  });

  it("over netlink: the state's elements and chain in one batch, no nft process; something gone: the listing decides", async () => {
    await run(
      fakeExec(() => ""),
      "ADD",
      conf([
        { hostPort: 8080, containerPort: 80 },
        { hostIP: "10.200.9.1", hostPort: 53, containerPort: 53, protocol: "udp" },
      ]),
    );
    const batches: NftOp[][] = [];
    let fail: string | undefined;
    let closed = 0;
    const nl = (): NftNetlink => ({
      tableExists: () => true,
      chains: () => [chain, "hp_another0000000000000000"], // another attachment, whose state is lost: the table stays
      setKeys: () => [],
      apply: (d) => {
        batches.push([...d]);
        if (fail) throw new KernelError("nft transaction", fail);
      },
      close: () => void closed++,
    });
    const exec = fakeExec((argv) =>
      argv[1] === "-j" ? JSON.stringify({ nftables: [{ chain: { name: chain } }] }) : "",
    );
    const del = () =>
      invokeFuncs(
        createPortmap({
          ...deps(exec),
          nftables: () => createNftables({ exec, netlink: nl }),
          conntrack: () => ({ deleteWhere: () => 0, close() {} }),
        }),
        PORTMAP_ABOUT,
        { command: "DEL", conf: conf([]), containerID: ID, ifName: "eth0" },
      );
    assert.equal((await del()).code, 0);
    assert.equal(exec.calls.length, 0, "no nft, no conntrack process");
    assert.deepEqual(
      batches[0]!.map((d) =>
        d.op === "delElement"
          ? `${d.op} ${d.set} ${Buffer.from(d.key).toString("hex")}`
          : d.op === "delTable"
            ? d.op
            : `${d.op} ${d.chain}`,
      ),
      [
        "delElement hostports4 060000001f900000",
        "delElement hostipports4 0ac809011100000000350000",
        "delElement hostports6 060000001f900000",
        `flushChain ${chain}`,
        `delChain ${chain}`,
      ],
    );
    assert.equal(closed, 1);
    assert.equal(fs.files.has(stateFile), false);
    // Again, with an element already gone: ENOENT, then the table is read and what is left goes through nft.
    await run(
      fakeExec(() => ""),
      "ADD",
      conf(),
    );
    fail = "ENOENT";
    assert.equal((await del()).code, 0);
    assert.deepEqual(exec.lines(), ["nft -j list table inet podnet_portmap", "nft -f -"]);
    assert.equal(
      exec.calls[1]!.stdin,
      `flush chain inet podnet_portmap ${chain}\ndelete chain inet podnet_portmap ${chain}\n`,
    );
  });

  it("over netlink, the last attachment with nothing else in the table: one transaction deletes the table", async () => {
    await run(
      fakeExec(() => ""),
      "ADD",
      conf(),
    );
    const mine = [[6, 0x1f90]].map(([p, port]) => new Uint8Array([p!, 0, 0, 0, port! >> 8, port! & 0xff, 0, 0]));
    const batches: string[][] = [];
    let other: Uint8Array | undefined;
    const nl = (): NftNetlink => ({
      tableExists: () => true,
      chains: () => ["prerouting", "hostports", "mark_13", chain],
      setKeys: (_f, _t, set) =>
        set === "hostports4" || set === "hostports6" ? [...mine, ...(other ? [other] : [])] : [],
      apply: (d) => void batches.push(d.map((x) => x.op)),
      close: () => {},
    });
    const exec = fakeExec(() => "");
    const del = () =>
      invokeFuncs(
        createPortmap({ ...deps(exec), nftables: () => createNftables({ exec, netlink: nl }) }),
        PORTMAP_ABOUT,
        { command: "DEL", conf: conf([]), containerID: ID, ifName: "eth0" },
      );
    assert.equal((await del()).code, 0);
    assert.deepEqual(batches, [["delTable"]]);
    assert.equal(exec.calls.length, 0);
    assert.equal(fs.files.has(stateFile), false);
    // An element that is not this attachment's (lost state): the ordinary transaction, and the table stays.
    await run(
      fakeExec(() => ""),
      "ADD",
      conf(),
    );
    other = new Uint8Array([17, 0, 0, 0, 0, 53, 0, 0]);
    batches.length = 0;
    assert.equal((await del()).code, 0);
    assert.deepEqual(batches, [["delElement", "delElement", "flushChain", "delChain"]]);
  });

  it("no state but mappings (Go's rules, or lost state): cleaned by identity in both backends", async () => {
    const exec = fakeExec((argv) => {
      if (argv[1] === "-j") return nftErr(argv, "Error: No such file or directory\n");
      if (argv[0] === "iptables-save") return `*nat\n:CNI-HOSTPORT-DNAT - [0:0]\n:CNI-DN-x - [0:0]\nCOMMIT\n`;
      if (argv[0] === "ip6tables-save") return "*nat\nCOMMIT\n";
      return "";
    });
    const r = await run(exec, "DEL", conf());
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(exec.lines(), [
      "nft -j list table inet podnet_portmap",
      "iptables-save -t nat",
      "ip6tables-save -t nat",
    ]);
  });
});

describe("portmap CHECK", () => {
  it("an IPv4-only pod is checked in IPv4 only (Go's fails, plugins#819)", async () => {
    const exec = fakeExec((argv) => {
      if (argv[1] === "-j")
        return JSON.stringify({
          nftables: [
            { chain: { name: chain } },
            { rule: { expr: [{ match: {} }, { dnat: { addr: "10.200.0.5", port: 80 } }] } },
          ],
        });
      if (argv[1] === "get") return `elements = { tcp . 8080 : jump ${chain} }`;
      return "";
    });
    const r = await run(exec, "CHECK", { ...conf(), prevResult: prev(["10.200.0.5/24"]) });
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(exec.lines(), [
      `nft -j list chain inet podnet_portmap ${chain}`,
      "nft get element inet podnet_portmap hostports4 { tcp . 8080 }",
    ]);
  });

  it("fails when an element jumps elsewhere, or without prevResult", async () => {
    const exec = fakeExec((argv) => {
      if (argv[1] === "-j") return JSON.stringify({ nftables: [{ rule: { expr: [{ dnat: {} }] } }] });
      if (argv[1] === "get") return "elements = { tcp . 8080 : jump hp_other }";
      return "";
    });
    const r = await run(exec, "CHECK", { ...conf(), prevResult: prev(["10.200.0.5/24"]) });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /host port 8080\/tcp \(IPv4\) jumps to hp_other/);
    assert.match(
      (await run(exec, "CHECK", { ...conf(), prevResult: undefined })).stdout,
      /Required prevResult missing/,
    );
  });
});

describe("portmap GC", () => {
  it("removes the attachments of this network that are not valid", async () => {
    await run(
      fakeExec(() => ""),
      "ADD",
      conf(),
      { containerID: "keep" },
    );
    await run(
      fakeExec(() => ""),
      "ADD",
      conf([{ hostPort: 9090, containerPort: 80 }]),
      { containerID: "gone" },
    );
    const exec = fakeExec((argv) => (argv[1] === "-j" ? '{"nftables": []}' : ""));
    const r = await invokeFuncs(createPortmap(deps(exec)), PORTMAP_ABOUT, {
      command: "GC",
      conf: {
        cniVersion: "1.1.0",
        name: "net",
        type: "portmap",
        "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }],
      },
    });
    assert.equal(r.code, 0, r.stdout);
    assert.match(exec.calls[0]!.stdin, /delete element inet podnet_portmap hostports4 \{ tcp \. 9090 \}/);
    assert.ok(fs.files.has(`${DATA}/net/keep-eth0`));
    assert.ok(!fs.files.has(`${DATA}/net/gone-eth0`));
  });
});
