import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { KernelError } from "./errors.js";
import { ExecError, type Exec } from "./exec.js";
import {
  classifyNftError,
  createNftables,
  isNftExists,
  isNftNotFound,
  nftString,
  tableOfJson,
  type NftCommand,
} from "./nft.js";
import { nftKey, type NftDelete, type NftNetlink, type NftOp } from "./nft-netlink.js";
import { createFakeExec } from "./testing.js";

const stderrExists = `/dev/stdin:3:1-60: Error: Could not process rule: File exists
add element inet podnet_portmap hostports4 { tcp . 8080 : jump hp_1 }
^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
`;

describe("nft errors", () => {
  it("classifies the first Error line and keeps the failing command", () => {
    const c = classifyNftError(stderrExists);
    assert.equal(c.errno, "EEXIST");
    assert.equal(c.command, "add element inet podnet_portmap hostports4 { tcp . 8080 : jump hp_1 }");
    assert.equal(classifyNftError("Error: No such file or directory\nlist table inet x\n     ^^^\n").errno, "ENOENT");
    assert.equal(classifyNftError("Error: Could not process rule: Device or resource busy\n").errno, "EBUSY");
    assert.equal(classifyNftError("/dev/stdin:1:5-7: Error: syntax error, unexpected junk\n").errno, "EINVAL");
    assert.equal(classifyNftError("").errno, "UNKNOWN");
  });

  it("apply() sends one `nft -f -` with the commands; failures become NftError", async () => {
    const exec = createFakeExec().on("", (_argv, stdin) =>
      stdin.includes("8080") ? { code: 1, stderr: stderrExists } : "",
    );
    const calls = exec.calls;
    const nft = createNftables({ exec });
    await nft.apply([]);
    assert.equal(calls.length, 0, "an empty transaction runs nothing");
    await nft.apply(["add table inet t", "add chain inet t c"]);
    assert.deepEqual(calls[0], { argv: ["nft", "-f", "-"], stdin: "add table inet t\nadd chain inet t c\n" });
    const err = await nft.apply(["add element inet t m { tcp . 8080 : jump c }"]).catch((e: unknown) => e);
    assert.ok(isNftExists(err));
    assert.ok(!isNftNotFound(err));
    assert.match((err as Error).message, /File exists \(in "add element inet podnet_portmap hostports4/);
  });

  it("json() returns the nftables array", async () => {
    const nft = createNftables({
      exec: { run: async () => '{"nftables": [{"metainfo": {}}, {"table": {"name": "t"}}]}' },
    });
    assert.deepEqual(await nft.json(["list", "table", "inet", "t"]), [{ metainfo: {} }, { table: { name: "t" } }]);
  });

  it("reads a table from nft -j: its chains, and set keys as the kernel holds them", () => {
    const t = tableOfJson(
      [
        { table: { family: "inet", name: "t" } },
        {
          map: {
            name: "m4",
            type: ["inet_proto", "inet_service"],
            elem: [[{ concat: ["tcp", 8080] }, { jump: { target: "c" } }]],
          },
        },
        {
          map: {
            name: "mip",
            type: ["ipv4_addr", "inet_proto", "inet_service"],
            elem: [[{ concat: ["10.0.0.1", "udp", 53] }, { jump: { target: "c" } }]],
          },
        },
        { set: { name: "odd", type: "mark", elem: [1] } },
        { chain: { name: "c" } },
      ],
      ["m4", "mip", "odd", "none"],
    );
    assert.deepEqual(t.chains, ["c"]);
    const hex = (name: string) => t.sets.get(name)?.map((k) => Buffer.from(k).toString("hex"));
    assert.deepEqual(hex("m4"), ["060000001f900000"]);
    assert.deepEqual(hex("mip"), ["0a0000011100000000350000"]);
    assert.deepEqual(hex("odd"), [""], "a key of a type it cannot encode matches nothing");
    assert.equal(t.sets.has("none"), false);
  });

  it("quotes comments without letting a quote end them", () => {
    assert.equal(nftString('ab "c"\n'), '"ab _c__"');
  });
});

describe("the nftables port", () => {
  const del = (keyText: string, port: number): NftDelete => ({
    op: "delElement",
    family: "inet",
    table: "t",
    set: "m",
    key: nftKey([new Uint8Array([6]), new Uint8Array([port >> 8, port & 0xff])]),
    keyText,
  });
  const tx: NftCommand[] = [
    del("tcp . 80", 80),
    { op: "flushChain", family: "inet", table: "t", chain: "c" },
    { op: "delChain", family: "inet", table: "t", chain: "c" },
  ];
  function setup(answer: (d: readonly NftOp[]) => void) {
    const batches: string[][] = [];
    const exec = createFakeExec();
    const netlink = (): NftNetlink => ({
      tableExists: () => true,
      chains: () => ["c"],
      setKeys: (_f, _t, s) => (s === "m" ? [tx[0] as NftDelete].map((d) => (d as { key: Uint8Array }).key) : undefined),
      apply: (d) => {
        batches.push(d.map((x) => x.op));
        answer(d);
      },
      close: () => {},
    });
    return { calls: exec.calls, batches, nft: createNftables({ exec, netlink }) };
  }

  it("deletions go over netlink as one batch; a transaction with text goes through `nft -f -`", async () => {
    const t = setup(() => {});
    await t.nft.apply(tx);
    assert.deepEqual(t.batches, [["delElement", "flushChain", "delChain"]]);
    assert.deepEqual(t.calls, []);
    await t.nft.apply([...tx, "add chain inet t d"]);
    assert.deepEqual(t.calls, [
      {
        argv: ["nft", "-f", "-"],
        stdin:
          "delete element inet t m { tcp . 80 }\nflush chain inet t c\ndelete chain inet t c\nadd chain inet t d\n",
      },
    ]);
    assert.deepEqual(await t.nft.table("inet", "t", ["m", "x"]), {
      chains: ["c"],
      sets: new Map([["m", [(tx[0] as { key: Uint8Array }).key]]]),
    });
  });

  it("the kernel's refusal is an NftError naming the command; no socket: the same transaction through nft", async () => {
    const refused = setup(() => {
      throw new KernelError("nft delete element inet t m { tcp . 80 }", "ENOENT");
    });
    const e = await refused.nft.apply(tx).catch((x: unknown) => x);
    assert.ok(isNftNotFound(e), String(e));
    assert.equal((e as { command?: string }).command, "delete element inet t m { tcp . 80 }");
    assert.deepEqual(refused.calls, [], "not tried again through nft");
    const noSocket = setup(() => {
      throw new KernelError('netlink (netfilter) socket in netns "/x"', "EPROTONOSUPPORT");
    });
    await noSocket.nft.apply(tx);
    assert.deepEqual(
      noSocket.calls.map((c) => c.argv.join(" ")),
      ["nft -f -"],
    );
  });

  it("without netlink, reads go through nft: a missing table is false / undefined", async () => {
    const exec: Exec = {
      run: async (argv) =>
        Promise.reject(new ExecError(argv, 1, "", "Error: No such file or directory\nlist table inet t\n")),
    };
    const nft = createNftables({ exec });
    assert.equal(await nft.tableExists("inet", "t"), false);
    assert.equal(await nft.table("inet", "t", []), undefined);
  });
});
