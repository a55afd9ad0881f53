#!/usr/bin/env node
// Cluster benchmark: N simulated nodes — the real ClusterAgent (allocation, heartbeats, the node
// watch, route planning and diffing), a route port that keeps nothing in the process (the kernel's
// side: bench/cluster-routes.mjs) — against one real local etcd (Debian's etcd-server) in a
// sandbox namespace, serving on a unix socket.
//   1. all N nodes start at once: time until every node has a block;
//   2. time until every node has every other node's routes in place;
//   3. one more node joins: time until all N have its routes;
//   4. etcd requests and bytes per node, memory per node, etcd's own CPU and memory.
// --clients says how the simulated nodes reach etcd:
//   per-node (default)  each node its own etcd client, gRPC connection and watch, as N real nodes:
//                       etcd's load is real, but the client side of N machines (N² watch events
//                       through gRPC) lands on this one process;
//   shared              one client and one node watch per --group nodes (default 50), fanned out in-process
//                       (fanout-store.ts): every node still does its own allocation, record
//                       decoding, route planning and diffing, and etcd sees every node's requests,
//                       but only one watcher (its fan-out cost is measured by per-node);
//   shared-connection   each node its own client and watch over one HTTP/2 connection.
// --workers W spreads the simulated nodes over W worker threads (default: one per CPU): the N
// machines' client side is N CPUs' work, and one thread would measure this process, not podnet.
// The report separates this process's CPU time from etcd's.
// Usage: sudo node bench/cluster.mjs [--nodes 1000] [--clients per-node|shared|shared-connection] [--group 50] [--workers W] [--vxlan-share 0.1] [--disk]
import { createServer, connect } from "node:net";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { ROOT, fmt } from "./lib.mjs";

const dist = (p) => import(join(ROOT, "dist/src/cluster", p));
const now = () => performance.now();

if (isMainThread) await main();
else await simulate(workerData);

async function main() {
  // A thousand agents keep ~1 GB of live heap (each node's view of every other): a larger young
  // generation cuts the garbage collector's share roughly in half (the workers get it too).
  if (!process.execArgv.some((a) => a.startsWith("--max-semi-space-size"))) {
    const r = spawnSync(
      process.execPath,
      ["--expose-gc", "--max-semi-space-size=64", new URL(import.meta.url).pathname, ...process.argv.slice(2)],
      { stdio: "inherit" },
    );
    process.exit(r.status ?? 1);
  }
  const { values } = parseArgs({
    options: {
      nodes: { type: "string", default: "1000" },
      "vxlan-share": { type: "string", default: "0.1" },
      clients: { type: "string", default: "per-node" },
      group: { type: "string", default: "50" },
      workers: { type: "string", default: String(availableParallelism()) },
      disk: { type: "boolean", default: false },
    },
  });
  if (process.getuid?.() !== 0) {
    console.error("bench/cluster.mjs needs root (etcd runs in its own network namespace)");
    process.exit(1);
  }
  const N = Number(values.nodes);
  const VX = Number(values["vxlan-share"]);
  const CLIENTS = values.clients;
  const GROUP = Number(values.group);
  const W = Math.max(1, Math.min(Number(values.workers), N));
  if (!["per-node", "shared-connection", "shared"].includes(CLIENTS)) {
    console.error(`--clients: ${JSON.stringify(CLIENTS)} is not per-node, shared-connection or shared`);
    process.exit(2);
  }
  const { startTestEtcd, etcdAvailable } = await dist("testing-etcd.js");
  if (!etcdAvailable()) {
    console.error("etcd is not installed (apt-get install etcd-server; scripts/setup.sh does it)");
    process.exit(1);
  }
  const procStat = (pid) => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    const tck = 100; // USER_HZ on Linux
    return {
      cpuS: (Number(f[11]) + Number(f[12])) / tck,
      rssMiB: Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]) / 1024,
    };
  };

  const etcd = await startTestEtcd({
    baseDir: values.disk ? undefined : "/dev/shm",
    extraArgs: ["--quota-backend-bytes", String(2 ** 31)],
  });
  // a failure from here on still stops etcd and deletes its namespace
  const fatal = async (what, e) => {
    console.error(what, e);
    await etcd.stop().catch(() => {});
    process.exit(1);
  };
  process.on("uncaughtException", (e) => void fatal("bench/cluster.mjs:", e));
  process.on("unhandledRejection", (e) => void fatal("bench/cluster.mjs:", e));
  // A counting proxy in front of etcd's socket: bytes per client connection, both directions.
  const proxyPath = join(etcd.dir, "proxy.sock");
  const target = etcd.endpoint.replace(/^unix:\/\//, "");
  const bytes = { up: 0, down: 0, conns: 0 };
  const proxy = createServer((c) => {
    bytes.conns++;
    const u = connect(target);
    c.on("data", (d) => (bytes.up += d.length));
    u.on("data", (d) => (bytes.down += d.length));
    c.pipe(u);
    u.pipe(c);
    c.on("error", () => u.destroy());
    u.on("error", () => c.destroy());
  });
  await new Promise((r) => proxy.listen(proxyPath, r));

  // Node i (1..N) lives in worker (i - 1) % W; the extra node N+1 in worker 0.
  const workers = Array.from({ length: W }, (_, w) => {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { w, W, N, VX, CLIENTS, GROUP, endpoint: `unix://${proxyPath}`, log: !!process.env.BENCH_LOG },
    });
    worker.on("error", (e) => void fatal(`worker ${w}:`, e));
    return worker;
  });
  /** Sends `msg` to `to` workers and resolves with their answers (of type `type`). */
  const ask = (to, msg, type) =>
    Promise.all(
      to.map(
        (wk) =>
          new Promise((resolve) => {
            const on = (m) => {
              if (m.type !== type) return;
              wk.off("message", on);
              resolve(m);
            };
            wk.on("message", on);
            wk.postMessage(msg);
          }),
      ),
    );
  await ask(workers, { cmd: "ready" }, "ready");
  const base = await ask(workers, { cmd: "heap" }, "heap");
  const cpu0 = process.cpuUsage();
  const etcd0 = procStat(etcd.pid);
  const b0 = { ...bytes };

  // 1 + 2: N nodes start at once.
  const t0 = now();
  let tAlloc = 0;
  const allocAt = [];
  const blocksDone = ask(workers, { cmd: "start" }, "blocks").then((ms) => {
    tAlloc = now() - t0;
    for (const m of ms) allocAt.push(...m.times);
  });
  await ask(workers, { cmd: "converge", peers: N - 1 }, "converged");
  const tConverge = now() - t0;
  await blocksDone;
  allocAt.sort((a, b) => a - b);
  const q = (p) => allocAt[Math.min(allocAt.length - 1, Math.floor(p * allocAt.length))];
  const cpu1 = process.cpuUsage(cpu0);
  const etcd1 = procStat(etcd.pid);
  const b1 = { ...bytes };
  const st1 = await ask(workers, { cmd: "stats" }, "stats");
  const sum = (k) => st1.reduce((s, x) => s + x[k], 0);
  const blocks = new Set(st1.flatMap((x) => x.blocks));

  // 3: one join seen by all N.
  const tj0 = now();
  const [{ registeredMs }] = await ask([workers[0]], { cmd: "join" }, "joined");
  await ask(workers, { cmd: "converge", peers: N }, "converged");
  const tJoin = now() - tj0;
  const b2 = { ...bytes };

  await ask(workers, { cmd: "stop" }, "stopped");
  await Promise.all(workers.map((wk) => wk.terminate()));
  proxy.close();
  const etcdFinal = procStat(etcd.pid);
  await etcd.stop();

  const perNode = (x) => x / N;
  const report = {
    nodes: N,
    clients: CLIENTS,
    workers: W,
    etcdData: values.disk ? "disk (/tmp)" : "tmpfs (/dev/shm)",
    loadAverage: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
    allBlocksMs: Math.round(tAlloc),
    convergedMs: Math.round(tConverge),
    distinctBlocks: blocks.size,
    claimConflicts: sum("conflicts"),
    joinRegisteredMs: Math.round(registeredMs),
    joinSeenByAllMs: Math.round(tJoin),
    requestsPerNode: perNode(sum("requests")),
    watchEventsPerNode: perNode(sum("watchEvents")),
    watchResponsesPerNode: perNode(sum("watchResponses")),
    bytesPerNodeUpKiB: perNode(b1.up - b0.up) / 1024,
    bytesPerNodeDownKiB: perNode(b1.down - b0.down) / 1024,
    joinBytesPerNodeDown: (b2.down - b1.down) / N,
    heapPerNodeKiB: perNode(sum("heapUsed") - base.reduce((s, x) => s + x.heapUsed, 0)) / 1024,
    benchCpuS: (cpu1.user + cpu1.system) / 1e6,
    etcdCpuS: etcd1.cpuS - etcd0.cpuS,
    etcdRssMiB: etcdFinal.rssMiB,
    connectionsOpened: b1.conns - b0.conns,
  };
  const how = {
    "per-node": "each node its own etcd client, connection and watch",
    "shared-connection": "each node its own client and watch, one connection",
    shared: `one client and one watch per ${GROUP} nodes (fanned out in-process)`,
  }[CLIENTS];
  console.log(
    `cluster benchmark: ${N} simulated nodes (${how}) in ${W} worker thread${W > 1 ? "s" : ""}, load average ${report.loadAverage}, etcd ${report.etcdData}, ${Math.round(VX * 100)}% of nodes behind a router (VXLAN)`,
  );
  console.log(
    `  all ${N} nodes have a block             ${fmt(tAlloc / 1000, 2)} s   (${blocks.size} distinct blocks, ${report.claimConflicts} lost claim races)`,
  );
  console.log(`    (per node: p10 ${fmt(q(0.1), 0)} ms, p50 ${fmt(q(0.5), 0)} ms, p90 ${fmt(q(0.9), 0)} ms)`);
  console.log(`  every node has every route            ${fmt(tConverge / 1000, 2)} s   (goal ≤ 10 s)`);
  console.log(
    `  one join: registered in ${fmt(registeredMs, 0)} ms, seen by all ${N} in ${fmt(tJoin, 0)} ms   (goal ≤ 1 s)`,
  );
  console.log(
    `  per node: ${fmt(report.requestsPerNode, 1)} etcd requests${CLIENTS === "shared" ? "" : " (+1 watch stream)"}, ${fmt(report.watchEventsPerNode, 0)} watch events in ${fmt(report.watchResponsesPerNode, 0)} responses${CLIENTS === "shared" ? ` (one watch per ${GROUP} nodes)` : ""}`,
  );
  console.log(
    `  per node: ${fmt(report.bytesPerNodeUpKiB, 1)} KiB sent, ${fmt(report.bytesPerNodeDownKiB, 1)} KiB received to converge; ${fmt(report.joinBytesPerNodeDown, 0)} B received per join`,
  );
  console.log(
    `  per node: ${fmt(report.heapPerNodeKiB, 0)} KiB heap (agent + its share of an etcd client, view of ${N} nodes)`,
  );
  console.log(
    `  CPU to converge: this process ${fmt(report.benchCpuS, 1)} s (the client side of all ${N} nodes, ${W} thread${W > 1 ? "s" : ""}), etcd ${fmt(report.etcdCpuS, 1)} s; etcd RSS ${fmt(report.etcdRssMiB, 0)} MiB`,
  );
  const outDir = join(ROOT, "bench", "results");
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    join(outDir, `cluster-${new Date().toISOString().replace(/[:.]/g, "-")}.json`),
    `${JSON.stringify(report, null, 2)}\n`,
  );
  process.exit(0);
}

/** A worker: its share of the nodes, driven by the main thread's messages. */
async function simulate({ w, W, N, VX, CLIENTS, GROUP, endpoint, log }) {
  const { FanoutStore } = await dist("fanout-store.js");
  const {
    EtcdStore,
    ClusterAgent,
    KeyLayout,
    clusterRanges,
    parseClusterCidrs,
    memoryLocalState,
    systemClock,
    silentLogger,
  } = await dist("index.js");
  const keys = new KeyLayout("/podnet");
  const ranges = clusterRanges(parseClusterCidrs("10.0.0.0/8"), "24");
  const stores = [];
  const shared = new Map();
  // The kernel's side is not simulated here (bench/cluster-routes.mjs measures netlink batches): as
  // the netlink port, this one keeps nothing in the process — the kernel holds the routes.
  const kernelSide = () => ({
    async list() {
      return [];
    },
    async apply() {
      return { failed: [] };
    },
  });
  const mkAgent = (i) => {
    let store;
    if (CLIENTS === "shared") {
      const g = Math.floor((i - 1) / (GROUP * W));
      if (!shared.has(g)) {
        const base = new EtcdStore({ endpoints: [endpoint], ownConnection: true, requestTimeoutMs: 30_000 });
        shared.set(g, new FanoutStore(base));
        stores.push(base);
      }
      store = shared.get(g);
    } else {
      store = new EtcdStore({ endpoints: [endpoint], ownConnection: CLIENTS === "per-node", requestTimeoutMs: 30_000 });
      stores.push(store);
    }
    // Most nodes share one L2 subnet (host-gw); a share sit behind routers (VXLAN to them).
    const far = i % Math.round(1 / Math.max(VX, 1e-9)) === 0 && VX > 0;
    const ipText = far ? `172.16.${(i >> 8) & 255}.${i & 255}` : `192.168.${(i >> 8) & 255}.${i & 255}`;
    return new ClusterAgent(
      {
        name: `node-${i}`,
        nodeIPs: [ipText],
        connected: [far ? `172.16.${(i >> 8) & 255}.0/24` : "192.168.0.0/16"],
        backend: "auto",
        vtep: {
          mac: `02:${[(i >> 16) & 255, (i >> 8) & 255, i & 255, 0, 1].map((x) => x.toString(16).padStart(2, "0")).join(":")}`,
          vni: 1,
          port: 4789,
        },
        ranges,
        nodeTtlMs: 24 * 3600_000,
      },
      {
        store,
        keys,
        clock: systemClock,
        routes: kernelSide(),
        log: log
          ? { ...silentLogger, warn: (m, f) => console.error("warn", i, m, String(f?.err?.message ?? "")) }
          : silentLogger,
        state: memoryLocalState(),
      },
    );
  };
  const agents = [];
  let original = [];
  const post = (m) => parentPort.postMessage(m);
  /** Resolves once every one of this worker's first agents has `peers` peers in place. */
  const converged = (peers) =>
    new Promise((resolve) => {
      let left = original.filter((a) => a.peersInPlace < peers);
      const tick = () => {
        left = left.filter((a) => a.peersInPlace < peers);
        if (left.length === 0) return resolve();
        setTimeout(tick, 5);
      };
      tick();
    });
  parentPort.on("message", async (m) => {
    switch (m.cmd) {
      case "ready":
        return post({ type: "ready" });
      case "heap":
        globalThis.gc?.();
        return post({ type: "heap", heapUsed: process.memoryUsage().heapUsed });
      case "start": {
        for (let i = 1 + w; i <= N; i += W) agents.push(mkAgent(i));
        original = [...agents];
        const t0 = now();
        const times = await Promise.all(agents.map((a) => a.start().then(() => now() - t0)));
        return post({ type: "blocks", times });
      }
      case "converge":
        await converged(m.peers);
        return post({ type: "converged" });
      case "stats":
        globalThis.gc?.();
        return post({
          type: "stats",
          heapUsed: process.memoryUsage().heapUsed,
          requests: stores.reduce((s, x) => s + x.counters.requests, 0),
          watchEvents: stores.reduce((s, x) => s + x.counters.watchEvents, 0),
          watchResponses: stores.reduce((s, x) => s + x.counters.watchResponses, 0),
          conflicts: agents.reduce((s, a) => s + a.metrics().allocationConflicts, 0),
          blocks: agents.map((a) => a.podCIDRs[0]),
        });
      case "join": {
        const extra = mkAgent(N + 1);
        agents.push(extra);
        const t0 = now();
        await extra.start();
        return post({ type: "joined", registeredMs: now() - t0 });
      }
      case "stop":
        await Promise.all(agents.map((a) => a.stop()));
        for (const s of stores) s.close();
        return post({ type: "stopped" });
    }
  });
}
