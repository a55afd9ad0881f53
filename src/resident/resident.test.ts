import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { nodeRawExec } from "../kernel/exec.js";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "node:net";
import { about as sampleAbout, samplePlugin } from "../plugins/sample/sample.js";
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, ProtocolError } from "./protocol.js";
import { serveResident, stateless, type ServeStats } from "./server.js";

const RESIDENT = new URL("../../../build/resident", import.meta.url).pathname;

describe("resident protocol", () => {
  it("round-trips requests and responses, including '=' in values and binary stdin", () => {
    const req = { plugin: "bridge", env: { CNI_COMMAND: "ADD", CNI_ARGS: "A=1;B=2", EMPTY: "" }, stdin: Buffer.from([0, 1, 2, 255]) };
    assert.deepEqual(decodeRequest(encodeRequest(req)), req);
    const res = { code: 1, stdout: '{"code":7}', stderr: "log ✓\n" };
    assert.deepEqual(decodeResponse(encodeResponse(res)), res);
  });
  it("rejects bad magic, truncation and trailing bytes", () => {
    const good = encodeRequest({ plugin: "x", env: {}, stdin: Buffer.alloc(0) });
    assert.throws(() => decodeRequest(Buffer.from("XXXX")), ProtocolError);
    assert.throws(() => decodeRequest(good.subarray(0, good.length - 2)), /truncated request/);
    assert.throws(() => decodeRequest(Buffer.concat([good, Buffer.from("z")])), /1 trailing bytes/);
  });
});

describe("launcher ↔ daemon", { skip: !existsSync(join(RESIDENT, "sample")) && "build/resident not built" }, () => {
  let dir = "";
  let server: Server | undefined;
  const stats: ServeStats = { calls: 0, errors: 0 };
  const sock = () => join(dir, "cni.sock");
  const conf = (ver: string) =>
    JSON.stringify({ cniVersion: ver, name: "n", anotherAwesomeArg: "x", prevResult: { cniVersion: ver, ips: [{ address: "10.200.0.2/24" }] } });
  const run = (env: Record<string, string>, stdin: string) => {
    const e: NodeJS.ProcessEnv = { PATH: process.env["PATH"], PODNET_CNI_SOCKET: sock(), CNI_CONTAINERID: "c1", CNI_NETNS: "/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: "/opt/cni/bin", ...env };
    // Asynchronously: the daemon answering it runs in this very process.
    return nodeRawExec.run(join(RESIDENT, "sample"), [], { env: e, stdin, timeoutMs: 10_000 }).then((r) => ({
      status: r.code,
      stdout: r.stdout.toString(),
      stderr: r.stderr.toString(),
    }));
  };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "podnet-t-resident-"));
    server = await serveResident(sock(), new Map([["sample", stateless(samplePlugin, sampleAbout)]]), { stats });
  });
  after(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("ADD through the daemon prints the result and exits 0", async () => {
    const r = await run({ CNI_COMMAND: "ADD" }, conf("1.0.0"));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { cniVersion: "1.0.0", ips: [{ address: "10.200.0.2/24" }], dns: {} });
    assert.equal(stats.calls, 1, "answered by the daemon, not the fallback");
  });
  it("errors keep their code and exit status", async () => {
    const r = await run({ CNI_COMMAND: "ADD" }, JSON.stringify({ cniVersion: "1.0.0", name: "n", anotherAwesomeArg: "" }));
    assert.equal(r.status, 1);
    assert.equal(JSON.parse(r.stdout).code, 7);
    assert.equal(stats.errors, 1);
  });
  it("without a daemon the launcher falls back to the Node plugin", async () => {
    const calls = stats.calls;
    const r = await run({ CNI_COMMAND: "ADD", PODNET_CNI_SOCKET: join(dir, "nobody.sock") }, conf("0.4.0"));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(JSON.parse(r.stdout).cniVersion, "0.4.0");
    assert.equal(stats.calls, calls, "the daemon was not asked");
  });
});
