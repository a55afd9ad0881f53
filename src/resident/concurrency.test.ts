// The resident server with its calls on worker threads (as `podnet resident` runs it): a call held
// in its thread does not hold up the others; calls of one attachment keep their order; a call whose
// launcher goes away while it waits is skipped. The "hold" plugin of the test registry blocks its
// whole thread (Atomics.wait), as a synchronous netlink call waiting in the kernel does, until the
// test releases it.
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { UnixListener } from "../kernel/unix-listener.js";
import { workerPluginHost } from "../netmgr/invoke/plugin-workers.js";
import { holdGate } from "../netmgr/testing/registry.js";
import { decodeResponse, encodeRequest, type LaunchResponse } from "./protocol.js";
import { attachmentKey, newServeStats, serveResident, type ServeStats } from "./server.js";

const REGISTRY = new URL("../netmgr/testing/registry.js", import.meta.url).href;
const conf = JSON.stringify({
  cniVersion: "1.0.0",
  name: "n",
  anotherAwesomeArg: "x",
  prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.200.0.2/24" }] },
});
const env = (cmd: string, id: string) => ({
  CNI_COMMAND: cmd,
  CNI_CONTAINERID: id,
  CNI_NETNS: "/run/netns/podnet-t-x",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin",
});
const request = (plugin: string, cmd: string, id: string) =>
  encodeRequest({ plugin, cwd: "/", env: env(cmd, id), stdin: Buffer.from(conf) });

/** Sends a request as a launcher does (then shuts down its side); resolves with the answer. */
function call(path: string, bytes: Buffer): { answer: Promise<LaunchResponse>; socket: Socket } {
  const s = connect({ path, allowHalfOpen: true });
  const answer = new Promise<LaunchResponse>((resolve, reject) => {
    const got: Buffer[] = [];
    s.on("data", (c: Buffer) => got.push(c));
    s.on("end", () => {
      s.destroy();
      resolve(decodeResponse(Buffer.concat(got)));
    });
    s.on("error", reject);
  });
  s.end(bytes);
  return { answer, socket: s };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 2));
}

describe("attachmentKey", () => {
  it("is the plugin, container ID and interface; calls without a container have none", () => {
    const req = (e: Record<string, string>) => ({ plugin: "bridge", env: e, stdin: Buffer.alloc(0) });
    assert.equal(attachmentKey(req({ CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0" })), "bridge\0c1\0eth0");
    assert.notEqual(
      attachmentKey(req({ CNI_CONTAINERID: "c1", CNI_IFNAME: "eth1" })),
      attachmentKey(req({ CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0" })),
    );
    assert.notEqual(
      attachmentKey({ ...req({ CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0" }), plugin: "host-local" }),
      "bridge\0c1\0eth0",
    );
    assert.equal(attachmentKey(req({ CNI_COMMAND: "VERSION" })), undefined);
  });
});

// A deadline per test: what must not happen (a call waiting for a held one) would otherwise hang.
describe("resident server on worker threads", { timeout: 20_000 }, () => {
  let dir = "";
  let server: UnixListener | undefined;
  let gate = holdGate();
  let stats: ServeStats = newServeStats();
  const logs: string[] = [];
  let host: ReturnType<typeof workerPluginHost> | undefined;
  const sock = () => join(dir, "cni.sock");

  async function start(size: number): Promise<void> {
    gate = holdGate();
    stats = newServeStats();
    host = workerPluginHost({
      size,
      stallMs: 60_000,
      registryModule: REGISTRY,
      registryExport: "testRegistry",
      registryArg: gate.buffer,
      plugins: ["sample", "hold", "chatty"],
      log: (m) => logs.push(m),
    });
    await host.warm?.();
    server = await serveResident(sock(), host, { stats });
  }
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "podnet-t-resident-par-"));
  });
  afterEach(async () => {
    gate.release();
    await server?.close();
    await host?.close();
    server = undefined;
    host = undefined;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a call held in the kernel does not stop another pod's call from completing", async () => {
    await start(2);
    let heldAnswered = false;
    const held = call(sock(), request("hold", "ADD", "pod-a"));
    void held.answer.then(() => (heldAnswered = true));
    await until(() => gate.entered() === 1);
    const other = await call(sock(), request("sample", "ADD", "pod-b")).answer;
    assert.equal(other.code, 0, other.stdout);
    assert.equal(heldAnswered, false, "pod-b was answered while pod-a's call was still held in its thread");
    gate.release();
    const r = await held.answer;
    assert.equal(r.code, 0, r.stdout);
    assert.equal(stats.calls, 2);
  });

  it("calls of one attachment keep their order: a DEL sent during its ADD runs after it, though a worker is free", async () => {
    await start(2);
    const order: string[] = [];
    const add = call(sock(), request("hold", "ADD", "pod-a"));
    void add.answer.then(() => order.push("ADD"));
    await until(() => gate.entered() === 1);
    const del = call(sock(), request("hold", "DEL", "pod-a"));
    void del.answer.then(() => order.push("DEL"));
    // Another attachment goes by on the free worker meanwhile: the DEL is waiting for its ADD, not for a worker.
    const other = await call(sock(), request("hold", "DEL", "pod-b")).answer;
    assert.equal(other.code, 0, other.stdout);
    assert.equal(gate.deleted(), 1, "only pod-b's DEL ran: pod-a's, sent before it, waits for pod-a's ADD");
    assert.deepEqual(order, []);
    gate.release();
    const [a, d] = await Promise.all([add.answer, del.answer]);
    assert.equal(a.code, 0, a.stdout);
    assert.equal(d.code, 0, d.stdout);
    assert.deepEqual(order, ["ADD", "DEL"]);
    assert.equal(gate.deleted(), 2);
  });

  it("a call whose launcher goes away while it waits for a worker is skipped, not run", async () => {
    await start(1);
    const held = call(sock(), request("hold", "ADD", "pod-a"));
    await until(() => gate.entered() === 1);
    const gone = call(sock(), request("chatty", "ADD", "pod-gone"));
    gone.answer.catch(() => {});
    await until(() => host!.queued === 1);
    gone.socket.destroy(); // the launcher timed out, or was killed
    const kept = call(sock(), request("chatty", "ADD", "pod-kept"));
    await until(() => host!.queued === 2);
    gate.release();
    assert.equal((await held.answer).code, 0);
    const k = await kept.answer;
    assert.equal(k.code, 0, k.stdout);
    assert.equal(stats.skipped, 1);
    assert.equal(stats.calls, 2);
    await until(() => logs.includes("chatty ADD pod-kept"));
    assert.equal(
      logs.includes("chatty ADD pod-gone"),
      false,
      "the plugin never ran for the call whose launcher had gone",
    );
  });
});
