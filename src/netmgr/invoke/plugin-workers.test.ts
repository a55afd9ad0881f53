import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { localPluginHost } from "./inprocess-invoker.js";
import { workerPluginHost } from "./plugin-workers.js";
import { testRegistry } from "../testing/registry.js";

const REGISTRY = new URL("../testing/registry.js", import.meta.url).href;
const env = (cmd: string) => ({ CNI_COMMAND: cmd, CNI_CONTAINERID: "c1", CNI_NETNS: "/run/netns/podnet-t-x", CNI_IFNAME: "eth0", CNI_PATH: "/opt/cni/bin" });
const conf = (v: string) => Buffer.from(JSON.stringify({ cniVersion: v, name: "n", anotherAwesomeArg: "x", prevResult: { cniVersion: v, ips: [{ address: "10.200.0.2/24" }] } }));

describe("plugin worker pool", () => {
  const logs: string[] = [];
  const host = workerPluginHost({ size: 2, registryModule: REGISTRY, registryExport: "testRegistry", plugins: ["sample", "hang", "crash", "chatty"], log: (m) => logs.push(m) });
  after(() => host.close());

  it("answers exactly as the same registry on this thread does", async () => {
    const local = localPluginHost(testRegistry(() => {}));
    for (const [cmd, v] of [["ADD", "1.0.0"], ["ADD", "0.4.0"], ["DEL", "1.1.0"], ["VERSION", "1.1.0"], ["ADD", "0.1.0"]] as const) {
      const req = { plugin: "sample", env: env(cmd), stdin: conf(v) };
      assert.deepEqual(await host.call(req), await local.call(req), `${cmd} ${v}`);
    }
    const bad = await host.call({ plugin: "sample", env: env("ADD"), stdin: Buffer.from("{") });
    assert.equal(bad.code, 1);
    assert.equal(JSON.parse(bad.stdout).code, 6);
  });

  it("serves the names it was given; plugin log lines reach the daemon's log", async () => {
    assert.equal(host.has("sample"), true);
    assert.equal(host.has("bridge"), false);
    const r = await host.call({ plugin: "chatty", env: env("ADD"), stdin: Buffer.from('{"cniVersion":"1.0.0","name":"n"}') });
    assert.equal(r.code, 0, r.stdout);
    for (let i = 0; i < 50 && !logs.includes("chatty ADD c1"); i++) await new Promise((res) => setTimeout(res, 10));
    assert.ok(logs.includes("chatty ADD c1"), JSON.stringify(logs));
  });

  it("calls overlap on different workers", async () => {
    await host.warm?.();
    assert.equal(host.workers, 2);
    const hung = host.call({ plugin: "hang", env: env("ADD"), stdin: conf("1.0.0") }, { timeoutMs: 300 });
    const t0 = performance.now();
    const r = await host.call({ plugin: "sample", env: env("ADD"), stdin: conf("1.0.0") });
    assert.equal(r.code, 0);
    assert.ok(performance.now() - t0 < 250, "answered while the other worker was busy");
    assert.equal((await hung).timedOut, true);
  });

  it("a call that times out takes its worker down; the next call gets a fresh one", async () => {
    const r = await host.call({ plugin: "hang", env: env("ADD"), stdin: conf("1.0.0") }, { timeoutMs: 50 });
    assert.deepEqual(r, { code: 1, stdout: "", stderr: "", timedOut: true });
    const ok = await host.call({ plugin: "sample", env: env("ADD"), stdin: conf("1.0.0") });
    assert.equal(ok.code, 0);
  });

  it("a worker that dies fails only its own call", async () => {
    const r = await host.call({ plugin: "crash", env: env("ADD"), stdin: Buffer.from('{"cniVersion":"1.0.0","name":"n"}') });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /podnet plugin worker stopped: exit code 3/);
    assert.equal((await host.call({ plugin: "sample", env: env("ADD"), stdin: conf("1.0.0") })).code, 0);
  });

  it("after close() nothing runs", async () => {
    const h = workerPluginHost({ size: 1, registryModule: REGISTRY, registryExport: "testRegistry", plugins: ["sample"] });
    const pending = h.call({ plugin: "sample", env: env("ADD"), stdin: conf("1.0.0") });
    await h.close();
    const r = await pending;
    assert.ok(r.code === 0 || /closing/.test(r.stderr));
    assert.match((await h.call({ plugin: "sample", env: env("ADD"), stdin: conf("1.0.0") })).stderr, /closed/);
    assert.equal(h.workers, 0);
  });
});

describe("the default worker registry", () => {
  it("loads podnet's plugins in a worker thread (VERSION needs no kernel)", async () => {
    const h = workerPluginHost({ size: 1 });
    try {
      for (const p of ["loopback", "bridge", "host-local"]) {
        const r = await h.call({ plugin: p, env: { CNI_COMMAND: "VERSION" }, stdin: Buffer.from('{"cniVersion":"1.1.0"}') });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.ok(JSON.parse(r.stdout).supportedVersions.includes("0.1.0"), p);
      }
    } finally {
      await h.close();
    }
  });
});
