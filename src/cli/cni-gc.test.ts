// `podnet cni gc` over a real CniRuntime whose plugins are a fake exec acting on temp stores.
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { parseConfList, type NetworkConfigList } from "../cni/index.js";
import type { ExecResult, RawExec } from "../kernel/exec.js";
import { CniRuntime } from "../libcni/api.js";
import { heldByPlugins, parseAttachmentArg, parseAttachmentsJson, runGc, ValidAttachmentsError } from "./cni-gc.js";

let root = "";
let data = "";
let pm = "";
let list: NetworkConfigList;
let calls: string[] = [];

const ok = (stdout = ""): ExecResult => ({
  code: 0,
  signal: null,
  stdout: Buffer.from(stdout),
  stderr: Buffer.alloc(0),
  timedOut: false,
});
const lease = (ip: string, owner: string) => writeFileSync(join(data, "gcnet", ip), owner);
const pmState = (cid: string) =>
  writeFileSync(
    join(pm, "gcnet", `${cid}-eth0`),
    JSON.stringify({ version: 1, network: "gcnet", containerID: cid, ifName: "eth0" }),
  );

/** bridge (with host-local) and portmap as their GC and DEL act on the stores. */
const exec: RawExec = {
  async run(file, _args, o = {}) {
    const env = o.env ?? {};
    const cmd = env["CNI_COMMAND"];
    const type = basename(file);
    calls.push(`${cmd} ${type}${env["CNI_CONTAINERID"] ? ` ${env["CNI_CONTAINERID"]}` : ""}`);
    const req = JSON.parse(String(o.stdin ?? "{}")) as Record<string, unknown>;
    const valid = new Set(
      ((req["cni.dev/valid-attachments"] ?? []) as Array<{ containerID: string; ifname: string }>).map(
        (a) => `${a.containerID}\r\n${a.ifname}`,
      ),
    );
    const dir = type === "bridge" ? join(data, "gcnet") : join(pm, "gcnet");
    if (cmd === "DEL") {
      for (const f of readdirSync(dir))
        if (readFileSync(join(dir, f), "utf8").includes(String(env["CNI_CONTAINERID"]))) unlinkSync(join(dir, f));
    }
    if (cmd === "GC" && type === "bridge") {
      for (const f of readdirSync(dir))
        if (/^\d/.test(f) && !valid.has(readFileSync(join(dir, f), "utf8"))) unlinkSync(join(dir, f));
    }
    if (cmd === "GC" && type === "portmap") {
      for (const f of readdirSync(dir)) {
        const s = JSON.parse(readFileSync(join(dir, f), "utf8")) as { containerID: string };
        if (!valid.has(`${s.containerID}\r\neth0`)) unlinkSync(join(dir, f));
      }
    }
    return ok();
  },
};

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "podnet-t-gc-"));
  data = join(root, "networks");
  pm = join(root, "portmap");
  mkdirSync(join(data, "gcnet"), { recursive: true });
  mkdirSync(join(pm, "gcnet"), { recursive: true });
  mkdirSync(join(root, "bin"));
  for (const p of ["bridge", "portmap"]) writeFileSync(join(root, "bin", p), "");
  list = parseConfList(
    JSON.stringify({
      cniVersion: "1.1.0",
      name: "gcnet",
      plugins: [
        { type: "bridge", ipam: { type: "host-local", subnet: "10.200.0.0/24", dataDir: data } },
        { type: "portmap", capabilities: { portMappings: true }, dataDir: pm },
      ],
    }),
  );
  calls = [];
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const runtime = () =>
  new CniRuntime({ path: [join(root, "bin")], cacheDir: join(root, "cache"), exec, netnsExists: () => true });
const cacheEntry = (rtm: CniRuntime, id: string) =>
  rtm.cache.write(
    {
      containerID: id,
      network: "gcnet",
      ifName: "eth0",
      config: list.bytes,
      netns: `/run/netns/${id}`,
      cniArgs: [],
      capabilityArgs: {},
    },
    { cniVersion: "1.1.0", ips: [] },
  );

describe("valid attachments", () => {
  it("CONTAINERID/IFNAME, checked as libcni checks them", () => {
    assert.deepEqual(parseAttachmentArg("abc123/eth0"), { containerID: "abc123", ifname: "eth0" });
    assert.throws(() => parseAttachmentArg("abc123"), /want CONTAINERID\/IFNAME/);
    assert.throws(() => parseAttachmentArg("abc/eth0/x"), ValidAttachmentsError);
    assert.throws(() => parseAttachmentArg("a b/eth0"), /invalid characters in containerID/);
  });
  it("the spec's JSON list", () => {
    assert.deepEqual(parseAttachmentsJson('[{"containerID":"c1","ifname":"eth0"}]', "f"), [
      { containerID: "c1", ifname: "eth0" },
    ]);
    assert.throws(() => parseAttachmentsJson('{"containerID":"c1"}', "f"), /f: want a JSON list/);
    assert.throws(
      () => parseAttachmentsJson('[{"containerID":"c1"}]', "f"),
      /f\[0\]: want \{"containerID": string, "ifname": string\}/,
    );
    assert.throws(() => parseAttachmentsJson("[", "f"), /f: not JSON/);
  });
});

describe("podnet cni gc", () => {
  beforeEach(() => {
    lease("10.200.0.2", "keep\r\neth0");
    lease("10.200.0.3", "gone\r\neth0");
    lease("10.200.0.4", "orphan\r\neth0"); // no cache entry: only the plugins' GC finds it
    writeFileSync(join(data, "gcnet", "last_reserved_ip.0"), "10.200.0.4");
    pmState("keep");
    pmState("gone");
  });

  it("reads what podnet's plugins hold from their stores", async () => {
    const held = await heldByPlugins(list);
    assert.deepEqual(held.map((h) => `${h.plugin} ${h.what} ${h.containerID}/${h.ifname}`).sort(), [
      "host-local 10.200.0.2 keep/eth0",
      "host-local 10.200.0.3 gone/eth0",
      "host-local 10.200.0.4 orphan/eth0",
      "portmap state gone/eth0",
      "portmap state keep/eth0",
    ]);
  });

  it("--dry-run says what would go and changes nothing", async () => {
    const rtm = runtime();
    cacheEntry(rtm, "keep");
    cacheEntry(rtm, "gone");
    const out: string[] = [];
    const errors = await runGc(rtm, list, {
      valid: [{ containerID: "keep", ifname: "eth0" }],
      dryRun: true,
      out: (l) => out.push(l),
    });
    assert.equal(errors, 0);
    assert.deepEqual(out, [
      "would delete attachment gone/eth0 (netns /run/netns/gone): DEL through the chain",
      "would release host-local: 10.200.0.3 (gone/eth0)",
      "would release host-local: 10.200.0.4 (orphan/eth0)",
      "would release portmap: the state of gone/eth0",
      "would run GC on bridge, portmap with 1 valid attachment",
    ]);
    assert.deepEqual(calls, []);
    assert.equal(rtm.getCachedAttachments().length, 2);
    assert.equal(readdirSync(join(data, "gcnet")).length, 4);
  });

  it("keeps the valid attachments, DELs the others, runs the plugins' GC, and prints what went", async () => {
    const rtm = runtime();
    cacheEntry(rtm, "keep");
    cacheEntry(rtm, "gone");
    const out: string[] = [];
    const errors = await runGc(rtm, list, {
      valid: [{ containerID: "keep", ifname: "eth0" }],
      dryRun: false,
      out: (l) => out.push(l),
    });
    assert.equal(errors, 0);
    assert.deepEqual(calls, ["DEL portmap gone", "DEL bridge gone", "GC bridge", "GC portmap"]);
    assert.deepEqual(out, [
      "deleted attachment gone/eth0 (netns /run/netns/gone): DEL through the chain",
      "GC bridge: ok",
      "GC portmap: ok",
      "released host-local: 10.200.0.3 (gone/eth0)",
      "released host-local: 10.200.0.4 (orphan/eth0)",
      "released portmap: the state of gone/eth0",
    ]);
    assert.deepEqual(
      rtm.getCachedAttachments().map((a) => a.containerID),
      ["keep"],
    );
    assert.deepEqual(readdirSync(join(data, "gcnet")).sort(), ["10.200.0.2", "last_reserved_ip.0"]);
    assert.ok(existsSync(join(pm, "gcnet", "keep-eth0")));
  });

  it("with no valid attachment (--all) everything goes", async () => {
    const rtm = runtime();
    cacheEntry(rtm, "keep");
    const out: string[] = [];
    await runGc(rtm, list, { valid: [], dryRun: false, out: (l) => out.push(l) });
    assert.ok(out.includes("deleted attachment keep/eth0 (netns /run/netns/keep): DEL through the chain"));
    assert.deepEqual(readdirSync(join(data, "gcnet")), ["last_reserved_ip.0"]);
  });
});
