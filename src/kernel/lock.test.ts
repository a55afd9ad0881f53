// flock-based locks: in-process queueing, shared/exclusive, and interop with flock(1) (what Go's
// host-local does on the same file). Needs the addon, not root.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
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

  it("excludes another process using flock(1) on the same file", { skip: !hasFlock && "flock(1) not installed" }, async () => {
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
});
