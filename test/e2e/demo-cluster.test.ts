// `podnet demo --nodes 3`: a cluster in a sandbox (three nodes on one segment, a throw-away etcd);
// every check passes and nothing is left behind, also when it is interrupted half-way.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { demoLeftovers, haveRoot, interruptDemo, nodeEnv, orphanedDemoProbes } from "./sandbox.js";
import { PODNET_BIN } from "../../src/netmgr/testing/daemon.js";
import { etcdAvailable } from "../../src/cluster/testing-etcd.js";

const skip = !haveRoot()
  ? "needs root (network namespaces)"
  : !etcdAvailable()
    ? "needs etcd (scripts/setup.sh installs etcd-server)"
    : false;

describe("podnet demo --nodes 3", { skip }, () => {
  it("three nodes get their blocks and routes, pods ping across nodes, a node is removed, the sandbox is gone afterwards", () => {
    const r = spawnSync(process.execPath, [PODNET_BIN, "demo", "--nodes", "3", "--no-color"], {
      env: nodeEnv(),
      encoding: "utf8",
      timeout: 90_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const id = /podnet-demo-([0-9a-f]{6})-sw/.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    assert.match(r.stdout, /NODE\s+NETNS\s+NODE IP\s+BLOCK\s+ROUTES TO PEERS/);
    for (const n of ["n1", "n2", "n3"])
      assert.match(
        r.stdout,
        new RegExp(
          `${n}\\s+podnet-demo-${id}-${n}\\s+10\\.200\\.255\\.\\d\\s+10\\.200\\.\\d+\\.0/24\\s+n\\d host-gw, n\\d host-gw`,
        ),
      );
    assert.match(r.stdout, /✓ pod on n1 → other nodes\s+ping n2 [\d.]+ ms, n3 [\d.]+ ms/);
    assert.match(
      r.stdout,
      /✓ no SNAT between pods\s+n2's pod saw the connection from (10\.200\.\d+\.\d+) \(n1's pod: \1\)/,
    );
    assert.match(
      r.stdout,
      /✓ remove-node\s+podnet cluster remove-node n3: 10\.200\.\d+\.0\/24 freed, its routes gone from n1, n2/,
    );
    assert.match(r.stdout, /(\d+)\/\1 checks passed/);
    assert.doesNotMatch(r.stdout, /✗/);
    assert.deepEqual(demoLeftovers(id), []);
    assert.deepEqual(orphanedDemoProbes(), [], "no probe process outlives the demo");
    const pods = [...r.stdout.matchAll(/podnet-[0-9a-f]{12}/g)].map((m) => m[0]);
    assert.equal(pods.length, 3, r.stdout);
    assert.deepEqual(
      pods.filter((n) => existsSync(`/run/netns/${n}`)),
      [],
    );
  });

  it("Ctrl-C half-way cleans up too", async () => {
    const { code, out } = await interruptDemo(PODNET_BIN, ["--nodes", "3", "--no-color"], "Pods", 60_000);
    assert.equal(code, 130, out);
    assert.match(out, /SIGINT: cleaning up/);
    const id = /podnet-demo-([0-9a-f]{6})-sw/.exec(out)?.[1];
    assert.ok(id, out);
    assert.deepEqual(demoLeftovers(id), []);
    assert.deepEqual(orphanedDemoProbes(), [], "no probe process outlives the demo");
    const pods = [...out.matchAll(/podnet-[0-9a-f]{12}/g)].map((m) => m[0]);
    assert.deepEqual(
      pods.filter((n) => existsSync(`/run/netns/${n}`)),
      [],
      "pod namespaces removed",
    );
  });
});
