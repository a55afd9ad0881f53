// flock-based locks: in-process queueing, shared/exclusive, and interop with flock(1) (what Go's
// host-local does on the same file). Needs the addon, not root.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import { isKernelError } from "./errors.js";
import { createKernel } from "./kernel.js";

const hasFlock = spawnSync("flock", ["--version"]).status === 0;

describe("lock", () => {
  it("queues a second exclusive holder in the same process until release", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-lock-"));
    try {
      const k = createKernel();
      const a = await k.lock(join(dir, "lock"));
      let got = false;
      const b = k.lock(join(dir, "lock")).then((l) => {
        got = true;
        return l;
      });
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(got, false);
      await a.release();
      const lb = await b;
      assert.equal(got, true);
      await lb.release();
      await lb.release(); // idempotent
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("locks <dir>/lock when given a directory, like Go's disk.NewFileLock", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-lock-"));
    try {
      const l = await createKernel().lock(dir);
      assert.equal(l.path, join(dir, "lock"));
      assert.ok(existsSync(join(dir, "lock")));
      await l.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("shares LOCK_SH, refuses with EAGAIN when non-blocking, times out with ETIMEDOUT", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-lock-"));
    const p = join(dir, "lock");
    try {
      const k = createKernel();
      const s1 = await k.lock(p, { shared: true });
      const s2 = await k.lock(p, { shared: true });
      await assert.rejects(k.lock(p, { nonBlocking: true }), (e) => isKernelError(e, "EAGAIN"));
      await assert.rejects(k.lock(p, { timeoutMs: 30 }), (e) => isKernelError(e, "ETIMEDOUT"));
      await s1.release();
      await s2.release();
      const x = await k.lock(p, { nonBlocking: true });
      await x.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("excludes another process using flock(1) on the same file", {
    skip: !hasFlock && "flock(1) not installed",
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-lock-"));
    const p = join(dir, "lock");
    try {
      const l = await createKernel().lock(p);
      assert.equal(spawnSync("flock", ["-n", p, "true"]).status, 1);
      await l.release();
      assert.equal(spawnSync("flock", ["-n", p, "true"]).status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("excludes another thread of this process: each lock() opens the file anew, and flock belongs to the open file description", async () => {
    // The resident daemon runs plugin calls on worker threads: host-local's and portmap's locks
    // must exclude between them exactly as between processes.
    const dir = mkdtempSync(join(tmpdir(), "podnet-lock-"));
    const p = join(dir, "lock");
    const inThread = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const code = `
          const { parentPort, workerData } = require("node:worker_threads");
          import(workerData.kernel).then(async ({ createKernel }) => {
            try {
              const l = await createKernel().lock(workerData.path, { nonBlocking: true });
              await l.release();
              parentPort.postMessage("got it");
            } catch (e) {
              parentPort.postMessage(e.errno ?? e.message);
            }
          });`;
        const w = new Worker(code, {
          eval: true,
          workerData: { kernel: new URL("./kernel.js", import.meta.url).href, path: p },
        });
        w.once("message", (m: string) => {
          resolve(m);
          void w.terminate();
        });
        w.once("error", reject);
      });
    try {
      const held = await createKernel().lock(p);
      assert.equal(await inThread(), "EAGAIN", "refused while this thread holds it");
      await held.release();
      assert.equal(await inThread(), "got it");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
