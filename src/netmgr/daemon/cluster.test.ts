// The cluster side of `podnet node` over the fake kernel and the in-memory store: discovery, the
// VXLAN device, the block handed on, the pods' MTU, the not-ready reason while etcd is away, the
// remembered block, refusals at start, and the /metrics series.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFakeKernel } from "../../kernel/fake.js";
import {
  ClusterAgent,
  FakeRoutePort,
  KeyLayout,
  MemoryStore,
  memoryLocalState,
  silentLogger,
  systemClock,
} from "../../cluster/index.js";
import { parseNodeArgs } from "./options.js";
import { CLUSTER_STATE_FILE, ClusterStartError, prepareClusterNode } from "./cluster.js";
import { TextMetricsRegistry } from "../core/metrics.js";
import { memoryLogger } from "../core/log.js";

const keys = new KeyLayout("/podnet");

async function host(o: { defaultRoute?: boolean } = {}) {
  const k = createFakeKernel();
  const ops = k.netns(null);
  await ops.linkSetUp("lo");
  await ops.linkAddDummy("eth0", { up: true, mtu: 1500 });
  await ops.addrAdd("eth0", "192.168.10.5/24");
  if (o.defaultRoute !== false) await ops.routeAdd({ dst: "default", gw: "192.168.10.1" });
  return { k, ops };
}

const flags = (extra: string[] = []) =>
  parseNodeArgs([
    "--network-plugin=kubenet",
    "--cluster-cidr=10.200.0.0/16",
    "--etcd-endpoints=http://192.0.2.1:2379",
    "--node-name=n1",
    ...extra,
  ]).cluster!;

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "podnet-t-cluster-"));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A peer on another subnet (VXLAN from n1). */
function farPeer(store: MemoryStore, ranges: ReturnType<typeof flags>["settings"]["ranges"]) {
  return new ClusterAgent(
    {
      name: "n2",
      nodeIPs: ["192.168.20.7"],
      connected: ["192.168.20.0/24"],
      backend: "auto",
      vtep: { mac: "02:00:00:00:00:07", vni: 1, port: 4789 },
      ranges,
    },
    { store, keys, clock: systemClock, routes: new FakeRoutePort(), log: silentLogger, state: memoryLocalState() },
  );
}

describe("podnet node's cluster side", () => {
  it("discovers the node IP, makes the VXLAN device, joins, hands the block on; a VXLAN peer lowers the pods' MTU and gets its routes", () =>
    withDir(async (dir) => {
      const { ops } = await host();
      const store = new MemoryStore();
      const c = flags();
      const node = await prepareClusterNode(c, {
        ops,
        log: memoryLogger(),
        stateDir: dir,
        podLinks: ["cbr0"],
        store: { store, keys },
      });
      const peer = farPeer(store, c.settings.ranges);
      try {
        assert.deepEqual(node.nodeIPs, ["192.168.10.5"]);
        assert.equal(node.vxlan?.name, "podnet.vxlan");
        assert.equal(node.vxlan?.mtu, 1450);
        const handed: string[][] = [];
        await node.start((b) => handed.push([...b]));
        assert.deepEqual(handed, [["10.200.0.0/24"]]);
        assert.equal(node.notReadyReason(), undefined);
        await until("the VTEP address on the VXLAN device", async () =>
          (await ops.addrList("podnet.vxlan")).some((a) => a.cidr === "10.200.0.0/32"),
        );
        assert.equal(node.podMtu(1500), 1500, "no VXLAN peer yet");
        await peer.start();
        await until("the peer's routes", () => node.agent.peersInPlace === 1);
        assert.equal(node.podMtu(1500), 1450);
        const routes = await ops.routeList({ protocol: 152 });
        assert.deepEqual(
          routes.map((r) => [r.dst, r.gw, r.dev]),
          [["10.200.1.0/24", "10.200.1.0", "podnet.vxlan"]],
        );
        const st = node.status();
        assert.equal(st["node"], "n1");
        assert.deepEqual(st["clusterCIDRs"], ["10.200.0.0/16"]);
        assert.deepEqual(
          (st["peers"] as Array<{ name: string; mode: string; routesInPlace: boolean }>).map((p) => [
            p.name,
            p.mode,
            p.routesInPlace,
          ]),
          [["n2", "vxlan", true]],
        );
        const reg = new TextMetricsRegistry();
        node.registerMetrics(reg);
        const text = await reg.render();
        for (const series of [
          "podnet_cluster_nodes_known 2",
          "podnet_cluster_etcd_errors_total 0",
          "podnet_cluster_watch_restarts_total 0",
          "podnet_cluster_route_programming_duration_seconds_count",
        ])
          assert.ok(text.includes(series), series);
        assert.match(text, /# TYPE podnet_cluster_route_programming_duration_seconds histogram/);
      } finally {
        await peer.stop();
        await node.close();
      }
    }));

  it("etcd unreachable and no block remembered: serves not ready, saying why, and gets its block once etcd answers", () =>
    withDir(async (dir) => {
      const { ops } = await host();
      const store = new MemoryStore();
      store.setAvailable(false);
      const node = await prepareClusterNode(flags(), {
        ops,
        log: memoryLogger(),
        stateDir: dir,
        podLinks: ["cbr0"],
        store: { store, keys },
        joinWaitMs: 300,
      });
      try {
        const handed: string[][] = [];
        await node.start((b) => handed.push([...b]));
        assert.deepEqual(handed, []);
        assert.match(
          node.notReadyReason() ?? "",
          /^waiting for this node's pod CIDR from the cluster \(.*unavailable.*\); retrying$/,
        );
        store.setAvailable(true);
        await until("the block", () => handed.length === 1, 10_000);
        assert.deepEqual(handed, [["10.200.0.0/24"]]);
        assert.equal(node.notReadyReason(), undefined);
      } finally {
        await node.close();
      }
    }));

  it("etcd unreachable with a remembered block: starts with it at once", () =>
    withDir(async (dir) => {
      const { ops } = await host();
      writeFileSync(join(dir, CLUSTER_STATE_FILE), JSON.stringify({ name: "n1", podCIDRs: ["10.200.9.0/24"] }));
      const store = new MemoryStore();
      store.setAvailable(false);
      const node = await prepareClusterNode(flags(), {
        ops,
        log: memoryLogger(),
        stateDir: dir,
        podLinks: ["cbr0"],
        store: { store, keys },
        joinWaitMs: 300,
      });
      try {
        const handed: string[][] = [];
        await node.start((b) => handed.push([...b]));
        assert.deepEqual(handed, [["10.200.9.0/24"]]);
        assert.equal(node.notReadyReason(), undefined);
        assert.equal(node.agent.phase, "provisional");
      } finally {
        await node.close();
      }
    }));

  it("refuses at start: a --pod-cidr another node holds (naming it), a node IP of no interface, no default route without --node-ip", () =>
    withDir(async (dir) => {
      const { ops } = await host();
      const store = new MemoryStore();
      const c = flags();
      const other = farPeer(store, c.settings.ranges);
      await other.start();
      try {
        const node = await prepareClusterNode(flags(["--pod-cidr=10.200.0.0/24"]), {
          ops,
          log: memoryLogger(),
          stateDir: dir,
          podLinks: ["cbr0"],
          store: { store, keys },
        });
        try {
          await assert.rejects(
            node.start(() => {}),
            (e: Error) =>
              e instanceof ClusterStartError &&
              /--pod-cidr 10\.200\.0\.0\/24 overlaps a block of another node: node "n2" holds 10\.200\.0\.0\/24/.test(
                e.message,
              ),
          );
        } finally {
          await node.close();
        }
      } finally {
        await other.stop();
      }
      await assert.rejects(
        prepareClusterNode(flags(["--node-ip=192.168.99.1"]), {
          ops,
          log: memoryLogger(),
          stateDir: dir,
          podLinks: [],
          store: { store, keys },
        }),
        (e: Error) =>
          e instanceof ClusterStartError &&
          /--node-ip: 192\.168\.99\.1 is not an address of any interface/.test(e.message),
      );
      const bare = await host({ defaultRoute: false });
      await assert.rejects(
        prepareClusterNode(flags(), {
          ops: bare.ops,
          log: memoryLogger(),
          stateDir: dir,
          podLinks: [],
          store: { store, keys },
        }),
        /--node-ip: this node has no route to the Internet to take its address from; pass --node-ip/,
      );
    }));
});
