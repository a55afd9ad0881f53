// `podnet demo` — the README's main command — as CI runs it: every check passes and nothing is
// left behind, also when it is interrupted half-way.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { demoLeftovers, haveRoot, interruptDemo, nodeEnv, orphanedDemoProbes } from "./sandbox.js";
import { PODNET_BIN } from "../../src/netmgr/testing/daemon.js";

const skip = haveRoot() ? false : "needs root (network namespaces)";

describe("podnet demo", { skip }, () => {
  it("all checks pass, with measured numbers, and the sandbox is gone afterwards", () => {
    const r = spawnSync(process.execPath, [PODNET_BIN, "demo", "--no-color"], {
      env: nodeEnv(),
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const id = /podnet-demo-([0-9a-f]{6})/.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    assert.match(r.stdout, /POD\s+IP\s+HOSTPORTS\s+LIMITS\s+NETNS\s+SETUP/);
    assert.match(r.stdout, /default\/web\s+10\.200\.0\.\d+\s+8080→80\/tcp/);
    assert.match(r.stdout, /✓ node → hostPort\s+10\.200\.255\.1:8080 → web:80 answered "hello from web"/);
    assert.match(r.stdout, /✓ shaped → api\s+node → api [\d.]+Mbit\/s measured, limit 10Mbit\/s/);
    assert.match(r.stdout, /(\d+)\/\1 checks passed/);
    assert.doesNotMatch(r.stdout, /✗/);
    assert.deepEqual(demoLeftovers(id), []);
    assert.deepEqual(orphanedDemoProbes(), [], "no probe process outlives the demo");
    const pods = [...r.stdout.matchAll(/podnet-[0-9a-f]{12}/g)].map((m) => m[0]);
    assert.equal(pods.length, 3, r.stdout);
    assert.deepEqual(
      pods.filter((n) => existsSync(`/run/netns/${n}`)),
      [],
      "no pod namespace of the demo is left",
    );
  });

  it("Ctrl-C half-way cleans up too", async () => {
    const { code, out } = await interruptDemo(PODNET_BIN, ["--no-color"], "Checks", 30_000);
    assert.equal(code, 130, out);
    assert.match(out, /SIGINT: cleaning up/);
    const id = /podnet-demo-([0-9a-f]{6})/.exec(out)?.[1];
    assert.ok(id);
    assert.deepEqual(demoLeftovers(id), []);
    assert.deepEqual(orphanedDemoProbes(), [], "no probe process outlives the demo");
    const pods = [...out.matchAll(/podnet-[0-9a-f]{12}/g)].map((m) => m[0]);
    assert.ok(pods.length >= 3, out);
    assert.deepEqual(
      pods.filter((n) => existsSync(`/run/netns/${n}`)),
      [],
      "pod namespaces removed",
    );
  });
});
