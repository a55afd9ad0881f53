import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readlinkSync } from "node:fs";
import { localPluginHost } from "./inprocess-invoker.js";
import { workerPluginHost } from "./plugin-workers.js";
import { holdGate, testRegistry } from "../testing/registry.js";
import type { HostResponse } from "../../resident/host.js";

const REGISTRY = new URL("../testing/registry.js", import.meta.url).href;
const env = (cmd: string) => ({
  CNI_COMMAND: cmd,
  CNI_CONTAINERID: "c1",
  CNI_NETNS: "/run/netns/podnet-t-x",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin",
});
/** What a plugin process would have printed: exit code, stdout, stderr (not the host's timings). */
const printed = (r: HostResponse) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr });
/** Resolves once `cond()` holds, checking on every turn of the event loop (a test's own deadline bounds it). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 2));
}
/** inotify instances this process has open (/proc/self/fd). */
function inotifyInstances(): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === "anon_inode:inotify";
    } catch {
      return false; // the directory's own descriptor, gone by now
    }
  }).length;
}
const conf = (v: string) =>
  Buffer.from(
    JSON.stringify({
      cniVersion: v,
      name: "n",
      anotherAwesomeArg: "x",
      prevResult: { cniVersion: v, ips: [{ address: "10.200.0.2/24" }] },
    }),
  );

describe("plugin worker pool", () => {
  const logs: string[] = [];
  const host = workerPluginHost({
    size: 2,
    registryModule: REGISTRY,
    registryExport: "testRegistry",
    plugins: ["sample", "hang", "crash", "chatty"],
    log: (m) => logs.push(m),
  });
  after(() => host.close());

  it("answers exactly as the same registry on this thread does", async () => {
    const local = localPluginHost(testRegistry(() => {}));
    for (const [cmd, v] of [
      ["ADD", "1.0.0"],
      ["ADD", "0.4.0"],
      ["DEL", "1.1.0"],
      ["VERSION", "1.1.0"],
      ["ADD", "0.1.0"],
    ] as const) {
      const req = { plugin: "sample", env: env(cmd), stdin: conf(v) };
      assert.deepEqual(printed(await host.call(req)), printed(await local.call(req)), `${cmd} ${v}`);
    }
    const bad = await host.call({ plugin: "sample", env: env("ADD"), stdin: Buffer.from("{") });
    assert.equal(bad.code, 1);
    assert.equal(JSON.parse(bad.stdout).code, 6);
  });

  it("serves the names it was given; plugin log lines reach the daemon's log", async () => {
    assert.equal(host.has("sample"), true);
    assert.equal(host.has("bridge"), false);
    const r = await host.call({
      plugin: "chatty",
      env: env("ADD"),
      stdin: Buffer.from('{"cniVersion":"1.0.0","name":"n"}'),
    });
    assert.equal(r.code, 0, r.stdout);
    for (let i = 0; i < 50 && !logs.includes("chatty ADD c1"); i++) await new Promise((res) => setTimeout(res, 10));
    assert.ok(logs.includes("chatty ADD c1"), JSON.stringify(logs));
  });

  it("a call blocked in its thread (as in a kernel wait) does not stop another call from completing", async () => {
    const gate = holdGate();
    const h = workerPluginHost({
      size: 2,
      registryModule: REGISTRY,
      registryExport: "testRegistry",
      registryArg: gate.buffer,
      plugins: ["sample", "hold"],
    });
    try {
      let held = false;
      const blocked = h.call({ plugin: "hold", env: env("ADD"), stdin: conf("1.0.0") }).then((r) => {
        held = true;
        return r;
      });
      await until(() => gate.entered() === 1);
      const other = await h.call({ plugin: "sample", env: env("ADD"), stdin: conf("1.0.0") });
      assert.equal(other.code, 0, other.stdout);
      assert.equal(held, false, "answered while the first call was still held in its thread");
      gate.release();
      const r = await blocked;
      assert.equal(r.code, 0, r.stdout);
      assert.deepEqual(JSON.parse(r.stdout).ips, [{ address: "10.200.0.8/24" }]);
    } finally {
      gate.release();
      await h.close();
    }
  });

  it("calls beyond the free workers wait in arrival order; one whose caller has gone by then is skipped, not run", async () => {
    const gate = holdGate();
    const h = workerPluginHost({
      size: 1,
      stallMs: 60_000,
      registryModule: REGISTRY,
      registryExport: "testRegistry",
      registryArg: gate.buffer,
      plugins: ["sample", "hold"],
    });
    try {
      const first = h.call({ plugin: "hold", env: env("ADD"), stdin: conf("1.0.0") });
      await until(() => gate.entered() === 1);
      let asked = 0;
      const order: string[] = [];
      const gone = h
        .call(
          { plugin: "sample", env: env("ADD"), stdin: conf("1.0.0") },
          {
            stillWanted: () => {
              asked++;
              return false;
            },
          },
        )
        .then((r) => {
          order.push("gone");
          return r;
        });
      const wanted = h
        .call({ plugin: "sample", env: env("DEL"), stdin: conf("1.0.0") }, { stillWanted: () => true })
        .then((r) => {
          order.push("wanted");
          return r;
        });
      assert.equal(h.queued, 2, "both wait: the only worker is held");
      assert.equal(asked, 0, "not asked before a worker is free");
      gate.release();
      assert.equal((await first).code, 0);
      const g = await gone;
      assert.equal(g.skipped, true);
      assert.equal(asked, 1);
      const w = await wanted;
      assert.equal(w.code, 0, w.stdout);
      assert.equal(w.skipped, undefined);
      assert.deepEqual(order, ["gone", "wanted"]);
    } finally {
      gate.release();
      await h.close();
    }
  });

  it("a call that waits while every worker stays busy gets an extra worker (calls may wait on calls), which ends afterwards", async () => {
    const gate = holdGate();
    const logs: string[] = [];
    const h = workerPluginHost({
      size: 1,
      stallMs: 20,
      registryModule: REGISTRY,
      registryExport: "testRegistry",
      registryArg: gate.buffer,
      plugins: ["sample", "hold"],
      log: (m) => logs.push(m),
    });
    try {
      const first = h.call({ plugin: "hold", env: env("ADD"), stdin: conf("1.0.0") });
      await until(() => gate.entered() === 1);
      const second = await h.call({ plugin: "sample", env: env("ADD"), stdin: conf("1.0.0") });
      assert.equal(second.code, 0, "answered by an extra worker while the only regular one is held");
      assert.ok(
        logs.some((l) => /all 1 busy .* starting one more/.test(l)),
        JSON.stringify(logs),
      );
      assert.equal(h.workers, 1, "the extra worker ended when it found nothing more to do");
      gate.release();
      assert.equal((await first).code, 0);
    } finally {
      gate.release();
      await h.close();
    }
  });

  it("workers that end (an extra one gone idle, then the pool closing) leave none of their descriptors open", async () => {
    // Each thread of watchingRegistry holds an inotify instance, as the daemons' registry does for
    // host-local's store cache: the process's, so a thread that is only terminated leaves it open.
    const gate = holdGate();
    const before = inotifyInstances();
    const h = workerPluginHost({
      size: 1,
      stallMs: 20,
      registryModule: REGISTRY,
      registryExport: "watchingRegistry",
      registryArg: gate.buffer,
      plugins: ["sample", "hold"],
    });
    try {
      await h.warm?.();
      assert.equal(inotifyInstances(), before + 1, "the regular worker's own instance");
      const first = h.call({ plugin: "hold", env: env("ADD"), stdin: conf("1.0.0") });
      await until(() => gate.entered() === 1);
      const second = await h.call({ plugin: "sample", env: env("ADD"), stdin: conf("1.0.0") });
      assert.equal(second.code, 0, "answered by an extra worker while the only regular one is held");
      assert.equal(h.workers, 1, "the extra worker is out of the pool");
      gate.release();
      assert.equal((await first).code, 0);
    } finally {
      gate.release();
      await h.close();
    }
    assert.equal(inotifyInstances(), before, "every worker closed its inotify instance before it ended");
  });

  it("a call that times out while waiting for a worker is answered timedOut and never runs", async () => {
    const gate = holdGate();
    const h = workerPluginHost({
      size: 1,
      stallMs: 60_000,
      registryModule: REGISTRY,
      registryExport: "testRegistry",
      registryArg: gate.buffer,
      plugins: ["sample", "hold"],
    });
    try {
      const first = h.call({ plugin: "hold", env: env("ADD"), stdin: conf("1.0.0") });
      await until(() => gate.entered() === 1);
      let asked = false;
      const r = await h.call(
        { plugin: "sample", env: env("ADD"), stdin: conf("1.0.0") },
        { timeoutMs: 30, stillWanted: () => (asked = true) },
      );
      assert.equal(r.timedOut, true);
      assert.equal(h.queued, 0);
      gate.release();
      assert.equal((await first).code, 0, "the worker that ran the other call was not touched");
      assert.equal(asked, false, "never taken by a worker");
    } finally {
      gate.release();
      await h.close();
    }
  });

  it("a call that times out takes its worker down; the next call gets a fresh one", async () => {
    const r = await host.call({ plugin: "hang", env: env("ADD"), stdin: conf("1.0.0") }, { timeoutMs: 50 });
    assert.deepEqual(printed(r), { code: 1, stdout: "", stderr: "" });
    assert.equal(r.timedOut, true);
    const ok = await host.call({ plugin: "sample", env: env("ADD"), stdin: conf("1.0.0") });
    assert.equal(ok.code, 0);
  });

  it("a worker that dies fails only its own call", async () => {
    const r = await host.call({
      plugin: "crash",
      env: env("ADD"),
      stdin: Buffer.from('{"cniVersion":"1.0.0","name":"n"}'),
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /podnet plugin worker stopped: exit code 3/);
    assert.equal((await host.call({ plugin: "sample", env: env("ADD"), stdin: conf("1.0.0") })).code, 0);
  });

  it("after close() nothing runs", async () => {
    const h = workerPluginHost({
      size: 1,
      registryModule: REGISTRY,
      registryExport: "testRegistry",
      plugins: ["sample"],
    });
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
        const r = await h.call({
          plugin: p,
          env: { CNI_COMMAND: "VERSION" },
          stdin: Buffer.from('{"cniVersion":"1.1.0"}'),
        });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.ok(JSON.parse(r.stdout).supportedVersions.includes("0.1.0"), p);
      }
    } finally {
      await h.close();
    }
  });
});
