#!/usr/bin/env node
// `npm run bench`: podnet's plugins against the Go reference (Debian's, /usr/lib/cni), through the
// same harness in the same run, interleaved, with medians and podnet/Go ratios:
//   0. start-up of one exec, cold (page cache dropped: bench/startup.mjs) and warm
//   1. each plugin's ADD and DEL, and the whole chain (loopback; bridge+host-local; portmap with 2
//      hostPorts; bandwidth) — Go vs podnet exec'd vs podnet resident (launcher → daemon)
//   2. N pods added one after another (default 200; --pods 1000): ADD latency at pod 1/50/100/200/…
//   2b. flat: resident chain ADD on a node holding N of its own pods against an empty node, alternating
//   3. two concurrent streams
//   3b. parallel pods: 1 and 4 concurrent streams of ADD+DEL cycles through the launchers, Go vs
//      resident, rounds interleaved, with the goals of issue #13 (pods/s, per-stream median ADD)
//   4. peak RSS of one plugin exec
//   5. the node manager (`podnet node`, kubenet): pod setup and teardown with hostPort and shaping,
//      podnet's plugins in-process vs the same plugins exec'd vs Go's plugins exec'd
//   6. the exec'd fallback: one exec of each plugin (VERSION) and of loopback ADD against
//      `node -e 0` and Go, with the goals of issue #13: start-up ≤ 1.2× node -e 0, chain ADD
//      (section 1) ≤ 1.5× Go
//   7. the cluster: bench/cluster.mjs with 300 nodes (a client each) and 1000 (shared watches)
// Results also go to bench/results/bench-<time>.json, and each goal of issue #13 is printed with
// its limit and met/missed (bench/goals.mjs). Runs only inside sandbox namespaces.
// Usage: sudo node bench/run.mjs [--rounds 20] [--cold-rounds 5] [--pods 200] [--streams-pods 40] [--netmgr-pods 20] [--fallback-rounds 40]
//        [--parallel-rounds 4] [--parallel-cycles 10]
//        [--skip startup,plugins,stream,flat,concurrent,parallel,rss,netmgr,fallback,cluster]
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  balancedOrder,
  cleanEnv,
  environment,
  fmt,
  GO_BIN,
  ip,
  median,
  pct,
  PODNET_BIN,
  RESIDENT_BIN,
  ratio,
  requireRootAndFiles,
  ROOT,
  runInsideNodeNamespace,
  settle,
} from "./lib.mjs";
import { flatGoal, goal, goals, goalText, kubenetGoal } from "./goals.mjs";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "20" },
    "cold-rounds": { type: "string", default: "5" },
    pods: { type: "string", default: "200" },
    "streams-pods": { type: "string", default: "40" },
    "netmgr-pods": { type: "string", default: "20" },
    "fallback-rounds": { type: "string", default: "40" },
    "parallel-rounds": { type: "string", default: "4" },
    "parallel-cycles": { type: "string", default: "10" },
    skip: { type: "string", default: "" },
    inner: { type: "boolean" },
    tag: { type: "string" },
    dir: { type: "string" },
  },
});
const PLUGINS = ["loopback", "bridge", "host-local", "portmap", "bandwidth"];
requireRootAndFiles("bench", [
  ...PLUGINS.map((p) => join(GO_BIN, p)),
  ...PLUGINS.map((p) => join(PODNET_BIN, p)),
  join(ROOT, "dist/src/libcni/index.js"),
]);

if (!values.inner) {
  let rc = runInsideNodeNamespace(new URL(import.meta.url).pathname);
  // The cluster benchmark (bench/cluster.mjs) runs its own etcd in its own namespace.
  if (rc === 0 && !values.skip.split(",").includes("cluster")) {
    for (const args of [
      ["--nodes", "300", "--clients", "per-node"],
      ["--nodes", "1000", "--clients", "shared"],
    ]) {
      rc = spawnSync(process.execPath, [join(ROOT, "bench", "cluster.mjs"), ...args], { stdio: "inherit" }).status ?? 1;
      if (rc !== 0) break;
    }
  }
  process.exit(rc);
}

// ---------------------------------------------------------------------------------------------
// Inner: this process runs in the sandbox node namespace.
const { CniRuntime, parseConfList } = await Promise.all([
  import("../dist/src/libcni/index.js"),
  import("../dist/src/cni/index.js"),
]).then(([l, c]) => ({ ...l, ...c }));
const { nodeRawExec } = await import("../dist/src/kernel/exec.js");
const ROUNDS = Number(values.rounds);
const PODS = Number(values.pods);
const SPODS = Number(values["streams-pods"]);
const skip = new Set(values.skip.split(",").filter(Boolean));
const tag = values.tag;
const dir = values.dir;
const WARMUP = 2;

// The resident daemon (podnet's plugins in-process behind the C launcher), when built.
let resident;
const residentSock = join(dir, "cni.sock");
if (existsSync(join(RESIDENT_BIN, "bridge"))) {
  resident = spawn(process.execPath, [join(ROOT, "bin", "podnet"), "resident", "--socket", residentSock], {
    env: cleanEnv(),
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let i = 0; i < 100 && !existsSync(residentSock); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(residentSock)) {
    resident.kill();
    resident = undefined;
  }
}
process.on("exit", () => resident?.kill());

const impls = [
  { name: "go", bin: GO_BIN, net: 0 },
  { name: "podnet", bin: PODNET_BIN, net: 1 },
  ...(resident ? [{ name: "resident", bin: RESIDENT_BIN, net: 2, env: { PODNET_CNI_SOCKET: residentSock } }] : []),
];

// One bridge, subnet, data dir and hostPort range per implementation, so they never meet.
function lists(impl) {
  const name = `bench-${impl.name}`;
  const chain = parseConfList(
    JSON.stringify({
      cniVersion: "1.0.0",
      name,
      plugins: [
        {
          type: "bridge",
          bridge: `pb-${impl.name.slice(0, 6)}`,
          isGateway: true,
          ipMasq: true,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: `10.200.${impl.net * 16}.0/20` }]],
            dataDir: join(dir, "ipam"),
            routes: [{ dst: "0.0.0.0/0" }],
          },
        },
        { type: "portmap", capabilities: { portMappings: true }, snat: true },
        { type: "bandwidth", capabilities: { bandwidth: true } },
      ],
    }),
  );
  const lo = parseConfList(
    JSON.stringify({ cniVersion: "1.0.0", name: `${name}-lo`, plugins: [{ type: "loopback" }] }),
  );
  return { chain, lo };
}

/** A CniRuntime whose exec records each plugin call's wall time under "<type> <VERB>". */
function timedRuntime(impl, times) {
  const exec = {
    async run(file, args, opts) {
      const t0 = performance.now();
      const r = await nodeRawExec.run(file, args, { ...opts, env: { ...opts.env, ...(impl.env ?? {}) } });
      const key = `${file.split("/").pop()} ${opts.env.CNI_COMMAND}`;
      times[key] ??= [];
      times[key].push(performance.now() - t0);
      return r;
    },
  };
  return new CniRuntime({ path: [impl.bin], cacheDir: join(dir, "cache", impl.name), exec, baseEnv: cleanEnv() });
}

const caps = (i, podIndex) => ({
  portMappings: [
    { hostPort: 20000 + i * 5000 + podIndex * 2, containerPort: 80, protocol: "tcp" },
    { hostPort: 20001 + i * 5000 + podIndex * 2, containerPort: 53, protocol: "udp" },
  ],
  bandwidth: { ingressRate: 100_000_000, ingressBurst: 10_000_000, egressRate: 100_000_000, egressBurst: 10_000_000 },
});

let podSeq = 0;
function newPod() {
  const ns = `podnet-t-${tag}-p${podSeq++}`;
  ip("netns", "add", ns);
  return ns;
}
const delPod = (ns) => spawnSync("ip", ["netns", "del", ns]);

async function addPod(impl, rtm, l, podIndex, ns) {
  const id = `bench-${impl.name}-${ns.split("-").pop()}`;
  const rt = {
    containerID: id,
    netns: `/run/netns/${ns}`,
    ifName: "eth0",
    args: [["IgnoreUnknown", "1"]],
    capabilityArgs: caps(impl.net, podIndex),
  };
  const lo = { ...rt, ifName: "lo", capabilityArgs: {} };
  const t0 = performance.now();
  await rtm.addNetworkList(l.lo, lo);
  await rtm.addNetworkList(l.chain, rt);
  return { ms: performance.now() - t0, rt, lo };
}
async function delPodNet(rtm, l, p) {
  const t0 = performance.now();
  await rtm.delNetworkList(l.chain, p.rt);
  await rtm.delNetworkList(l.lo, p.lo);
  return performance.now() - t0;
}

const out = {
  environment: environment(resident ? "resident = C launcher + podnet daemon" : "resident mode not built"),
  sections: {},
};
const log = (s = "") => console.log(s);
log(
  `podnet bench — node ${process.version}, kernel ${out.environment.kernel}, ${out.environment.cpus}, load ${out.environment.loadavg}, NODE_EXTRA_CA_CERTS ${out.environment.NODE_EXTRA_CA_CERTS}`,
);

// 0. start-up, cold and warm --------------------------------------------------------------------
if (!skip.has("startup")) {
  const { coldNodeImpl, measureStartup } = await import("./startup.mjs");
  const withColdNode = [impls[0], impls[1], coldNodeImpl(dir), ...impls.slice(2)];
  out.sections.startup = measureStartup(withColdNode, { rounds: Number(values["cold-rounds"]), warm: ROUNDS, log });
}

// 1. per plugin and chain, interleaved round by round --------------------------------------------
if (!skip.has("plugins")) {
  const times = Object.fromEntries(impls.map((i) => [i.name, {}]));
  const chainAdd = Object.fromEntries(impls.map((i) => [i.name, []]));
  const chainDel = Object.fromEntries(impls.map((i) => [i.name, []]));
  const rts = Object.fromEntries(impls.map((i) => [i.name, timedRuntime(i, times[i.name])]));
  // A node in steady state has pods: one stays up per implementation while the rounds run, so
  // no round pays for creating or deleting per-node state (bridges, tables, top-level chains).
  const background = [];
  for (const impl of impls) {
    const ns = newPod();
    background.push({ impl, ns, p: await addPod(impl, timedRuntime(impl, {}), lists(impl), 4999, ns) });
  }
  for (let round = 0; round < ROUNDS + WARMUP; round++) {
    for (const impl of balancedOrder(impls, round)) {
      await settle();
      const rtm = rts[impl.name];
      const ns = newPod();
      try {
        const p = await addPod(impl, rtm, lists(impl), round, ns);
        const d = await delPodNet(rtm, lists(impl), p);
        if (round >= WARMUP) {
          chainAdd[impl.name].push(p.ms);
          chainDel[impl.name].push(d);
        }
      } finally {
        delPod(ns);
      }
    }
    // Warm-up rounds are not counted (the runtimes hold these arrays: empty them in place).
    if (round === WARMUP - 1)
      for (const i of impls) for (const k of Object.keys(times[i.name])) times[i.name][k].length = 0;
  }
  for (const b of background) {
    await delPodNet(timedRuntime(b.impl, {}), lists(b.impl), b.p);
    delPod(b.ns);
  }
  const keys = [...new Set(impls.flatMap((i) => Object.keys(times[i.name])))].sort();
  const row = (label, get) => {
    const vals = impls.map((i) => get(i.name));
    return { label, ...Object.fromEntries(impls.map((i, k) => [i.name, vals[k]])) };
  };
  const rows = [
    ...keys.map((k) => row(k, (n) => median(times[n][k] ?? []))),
    row("chain ADD (lo + 3 plugins)", (n) => median(chainAdd[n])),
    row("chain DEL", (n) => median(chainDel[n])),
  ];
  log(`\n1. plugin execs, median ms of ${ROUNDS} rounds (interleaved in balanced orders, +${WARMUP} warm-up)`);
  log(
    `${"".padEnd(28)}${impls.map((i) => i.name.padStart(10)).join("")}${impls
      .slice(1)
      .map((i) => `${i.name}/go`.padStart(13))
      .join("")}`,
  );
  for (const r of rows)
    log(
      `${r.label.padEnd(28)}${impls.map((i) => fmt(r[i.name]).padStart(10)).join("")}${impls
        .slice(1)
        .map((i) => ratio(r[i.name], r.go).padStart(13))
        .join("")}`,
    );
  if (resident) {
    const [add, del] = [rows.at(-2), rows.at(-1)];
    goal(log, {
      name: "resident chain ADD / Go",
      value: add.resident / add.go,
      limit: 0.4,
      unit: "×",
      detail: `${fmt(add.resident)} vs ${fmt(add.go)} ms, interleaved`,
    });
    goal(log, {
      name: "resident chain DEL / Go",
      value: del.resident / del.go,
      limit: 0.4,
      unit: "×",
      detail: `${fmt(del.resident)} vs ${fmt(del.go)} ms, interleaved`,
    });
  }
  out.sections.plugins = {
    rows,
    p90: Object.fromEntries(
      impls.map((i) => [i.name, { chainAdd: pct(chainAdd[i.name], 0.9), chainDel: pct(chainDel[i.name], 0.9) }]),
    ),
  };
}

// 2. a stream of pods added one after another ------------------------------------------------------
if (!skip.has("stream")) {
  const marks = [1, 50, 100, 200, 500, 1000].filter((m) => m <= PODS);
  const res = {};
  const live = Object.fromEntries(impls.map((i) => [i.name, []]));
  const ptimes = Object.fromEntries(impls.map((i) => [i.name, {}]));
  const rtms = Object.fromEntries(impls.map((i) => [i.name, timedRuntime(i, ptimes[i.name])]));
  const lat = Object.fromEntries(impls.map((i) => [i.name, []]));
  const total = Object.fromEntries(impls.map((i) => [i.name, 0]));
  try {
    for (let k = 0; k < PODS; k++) {
      for (const impl of k % 2 ? [...impls].reverse() : impls) {
        const ns = newPod();
        const p = await addPod(impl, rtms[impl.name], lists(impl), k, ns);
        live[impl.name].push({ p, ns });
        lat[impl.name].push(p.ms);
        total[impl.name] += p.ms;
      }
    }
    // Latency at pod m: the median of the 5 pods around it, to smooth single hiccups.
    const at = (xs, m) => median(xs.slice(Math.max(0, m - 3), Math.min(xs.length, m + 2)));
    log(`\n2. ${PODS} pods added one after another (chain ADD incl. loopback), ms (median of the 5 around pod N)`);
    log(
      `${"".padEnd(14)}${impls.map((i) => i.name.padStart(10)).join("")}${impls
        .slice(1)
        .map((i) => `${i.name}/go`.padStart(13))
        .join("")}`,
    );
    for (const m of marks) {
      const v = Object.fromEntries(impls.map((i) => [i.name, at(lat[i.name], m)]));
      res[`pod${m}`] = v;
      log(
        `${`pod ${m}`.padEnd(14)}${impls.map((i) => fmt(v[i.name]).padStart(10)).join("")}${impls
          .slice(1)
          .map((i) => ratio(v[i.name], v.go).padStart(13))
          .join("")}`,
      );
    }
    // Per plugin ADD at each mark (same smoothing): where a growing chain spends its time.
    for (const impl of impls) {
      const adds = Object.keys(ptimes[impl.name])
        .filter((k) => k.endsWith(" ADD"))
        .sort();
      log(
        `  ${impl.name} per plugin: ${marks.map((m) => `pod ${m} ${adds.map((k) => `${k.split(" ")[0]} ${fmt(at(ptimes[impl.name][k], m))}`).join(" ")}`).join(" | ")}`,
      );
    }
    const last = marks[marks.length - 1];
    log(
      `${`pod ${last}/pod 1`.padEnd(14)}${impls.map((i) => ratio(res[`pod${last}`][i.name], res.pod1[i.name]).padStart(10)).join("")}`,
    );
    log(`${"pods/s".padEnd(14)}${impls.map((i) => fmt((1000 * PODS) / total[i.name]).padStart(10)).join("")}`);
    res.latencies = lat;
    res.podsPerSecond = Object.fromEntries(impls.map((i) => [i.name, (1000 * PODS) / total[i.name]]));
  } finally {
    const delTimes = Object.fromEntries(impls.map((i) => [i.name, []]));
    for (const impl of impls) {
      for (const { p, ns } of live[impl.name]) {
        try {
          delTimes[impl.name].push(await delPodNet(rtms[impl.name], lists(impl), p));
        } finally {
          delPod(ns);
        }
      }
    }
    res.delMedian = Object.fromEntries(impls.map((i) => [i.name, median(delTimes[i.name])]));
    log(
      `${"DEL median".padEnd(14)}${impls.map((i) => fmt(res.delMedian[i.name]).padStart(10)).join("")}${impls
        .slice(1)
        .map((i) => ratio(res.delMedian[i.name], res.delMedian.go).padStart(13))
        .join("")}`,
    );
  }
  out.sections.stream = res;
}

// 2b. flat at equal load: the resident chain ADD on a node holding PODS-1 of its own pods against
// an empty node, rounds alternating (bench/flat-ab.mjs); the goal line, with section 2's growth beside.
if (!skip.has("stream") && !skip.has("flat") && resident) {
  const { compareNodes } = await import("./flat-ab.mjs");
  const rows = await compareNodes({ tag, dir, pods: PODS, rounds: ROUNDS });
  const ab = { full: rows.full.map((r) => r["chain ADD"]), empty: rows.empty.map((r) => r["chain ADD"]) };
  log(
    `\n2b. resident chain ADD on a node with ${PODS} pods against an empty node, ${ROUNDS} alternating rounds (+2 warm-up), median ms`,
  );
  log(`${"".padEnd(14)}${"empty".padStart(10)}${"full".padStart(10)}${"full/empty".padStart(13)}`);
  log(
    `${"chain ADD".padEnd(14)}${fmt(median(ab.empty)).padStart(10)}${fmt(median(ab.full)).padStart(10)}${ratio(median(ab.full), median(ab.empty)).padStart(13)}`,
  );
  out.sections.flat = { ab, goal: flatGoal(log, out.sections.stream?.latencies ?? {}, PODS, ab) };
}

// 3. two concurrent streams ---------------------------------------------------------------------
if (!skip.has("concurrent")) {
  const res = {};
  log(`\n3. two concurrent streams of ${SPODS} pods each (chain ADD then DEL), pods/s`);
  for (const impl of impls) {
    const rtm = timedRuntime(impl, {});
    const l = lists(impl);
    const t0 = performance.now();
    await Promise.all(
      [0, 1].map(async (s) => {
        for (let k = 0; k < SPODS; k++) {
          const ns = newPod();
          try {
            const p = await addPod(impl, rtm, l, 1000 + s * 500 + k, ns);
            await delPodNet(rtm, l, p);
          } finally {
            delPod(ns);
          }
        }
      }),
    );
    res[impl.name] = (2 * SPODS * 1000) / (performance.now() - t0);
  }
  log(`${"".padEnd(14)}${impls.map((i) => i.name.padStart(10)).join("")}`);
  log(
    `${"pods/s".padEnd(14)}${impls.map((i) => fmt(res[i.name]).padStart(10)).join("")}${impls
      .slice(1)
      .map((i) => ratio(res[i.name], res.go).padStart(13))
      .join("")}`,
  );
  out.sections.concurrent = res;
}

// 3b. parallel pods, 1 and 4 streams through the launchers, and their goals -----------------------
if (!skip.has("parallel"))
  out.sections.parallel = await parallelSection(Number(values["parallel-rounds"]), Number(values["parallel-cycles"]));

// 4. peak RSS of one plugin exec (VERSION and a bridge ADD), from wait4 via GNU time --------------
if (!skip.has("rss") && existsSync("/usr/bin/time")) {
  const res = {};
  log(`\n4. peak RSS of one plugin exec, MB`);
  for (const impl of impls.filter((i) => i.name !== "resident")) {
    res[impl.name] = {};
    for (const p of ["loopback", "bridge", "host-local", "portmap", "bandwidth"]) {
      const r = spawnSync("/usr/bin/time", ["-f", "%M", join(impl.bin, p)], {
        env: cleanEnv({ CNI_COMMAND: "VERSION" }),
        encoding: "utf8",
      });
      res[impl.name][p] = Number(r.stderr.trim().split("\n").pop()) / 1024;
    }
    log(
      `${impl.name.padEnd(10)}${Object.entries(res[impl.name])
        .map(([p, mb]) => `${p} ${fmt(mb)}`)
        .join("  ")}`,
    );
  }
  out.sections.rss = res;
}

// 5. node manager: kubenet pod setup in-process vs exec'ing plugins (with hostPort and shaping) ----
// One `podnet node --network-plugin=kubenet` per variant, each in its own sandbox node namespace;
// pods are added round-robin across the variants (order rotating), then deleted the same way.
// Every pod has a hostPort and ingress+egress limits. setUpPod/tearDownPod are the daemon's own
// timings of the network plugin (the PodView's setupMs/teardownMs); "API" adds what a client sees
// on top: the pod's netns (`ip netns add/del`), checkpoints, the HTTP round trip.
if (!skip.has("netmgr")) {
  const { startDaemon, deleteDaemonNetns } = await import("../dist/src/netmgr/testing/daemon.js");
  const NPODS = Number(values["netmgr-pods"]);
  const variants = [
    { name: "in-process", args: [`--kubenet-bin-dir=${PODNET_BIN}`] },
    { name: "podnet-exec", args: [`--kubenet-bin-dir=${PODNET_BIN}`, "--in-process-plugins=false"] },
    { name: "go-exec", args: [`--kubenet-bin-dir=${GO_BIN}`] },
  ];
  const pod = (i) => ({
    metadata: {
      name: `p${i}`,
      annotations: { "kubernetes.io/ingress-bandwidth": "10M", "kubernetes.io/egress-bandwidth": "10M" },
    },
    spec: { containers: [{ name: "c", ports: [{ containerPort: 80, hostPort: 30000 + i }] }] },
  });
  const m = Object.fromEntries(variants.map((v) => [v.name, { setup: [], teardown: [], apiAdd: [], apiDel: [] }]));
  const daemons = [];
  try {
    for (const [k, v] of variants.entries()) {
      const netns = `podnet-t-${tag}-k${k}`;
      ip("netns", "add", netns);
      ip("-n", netns, "link", "set", "lo", "up");
      const ddir = join(dir, `netmgr-${k}`);
      const d = await startDaemon({
        netns,
        dir: ddir,
        args: ["--network-plugin=kubenet", `--pod-cidr=10.200.${128 + k}.0/24`, `--cni-bin-dir=${GO_BIN}`, ...v.args],
      });
      daemons.push({ v, d, ddir });
      const mode = (await d.client.node())["pluginMode"];
      if (mode !== (v.name === "in-process" ? "in-process" : "exec"))
        throw new Error(`${v.name}: the daemon reports plugin mode ${mode}`);
    }
    const rotate = (i) => daemons.map((_, j) => daemons[(i + j) % daemons.length]);
    for (let i = 0; i < NPODS + WARMUP; i++) {
      for (const { v, d } of rotate(i)) {
        const t0 = performance.now();
        const view = await d.client.addPod(pod(i));
        const api = performance.now() - t0;
        if (i >= WARMUP) {
          m[v.name].setup.push(view.setupMs);
          m[v.name].apiAdd.push(api);
        }
      }
    }
    for (let i = 0; i < NPODS + WARMUP; i++) {
      for (const { v, d } of rotate(i)) {
        const t0 = performance.now();
        const view = await d.client.deletePod("default", `p${i}`);
        const api = performance.now() - t0;
        if (i >= WARMUP) {
          m[v.name].teardown.push(view.teardownMs);
          m[v.name].apiDel.push(api);
        }
      }
    }
  } finally {
    for (const { d, ddir } of daemons) {
      await d.stop();
      deleteDaemonNetns(join(ddir, "state"));
    }
  }
  const names = variants.map((v) => v.name);
  const rows = [
    ["setUpPod", "setup"],
    ["tearDownPod", "teardown"],
    ["API add (+netns)", "apiAdd"],
    ["API delete (+netns)", "apiDel"],
  ].map(([label, key]) => ({
    label,
    ...Object.fromEntries(names.map((n) => [n, median(m[n][key])])),
    p90: Object.fromEntries(names.map((n) => [n, pct(m[n][key], 0.9)])),
  }));
  log(
    `\n5. node manager: kubenet pod setup in-process vs exec'ing plugins (with hostPort and shaping), median ms of ${NPODS} pods (interleaved, +${WARMUP} warm-up)`,
  );
  log(
    `${"".padEnd(22)}${names.map((n) => n.padStart(12)).join("")}${["in-process/go", "podnet-exec/go"].map((h) => h.padStart(16)).join("")}`,
  );
  for (const r of rows) {
    log(
      `${r.label.padEnd(22)}${names.map((n) => fmt(r[n]).padStart(12)).join("")}${["in-process", "podnet-exec"].map((n) => ratio(r[n], r["go-exec"]).padStart(16)).join("")}`,
    );
  }
  out.sections.netmgr = { pods: NPODS, rows, goal: kubenetGoal(log, rows) };
}

// 6. the exec'd fallback: plugin start-up against node -e 0, and its goals -------------------------
if (!skip.has("fallback"))
  out.sections.fallback = fallbackSection(Number(values["fallback-rounds"]), out.sections.plugins);

if (goals.length > 0) {
  log(`\nGoals (load ${environment().loadavg}):`);
  for (const g of goals) log(`  ${goalText(g)}`);
  out.goals = goals;
}

mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
const file = join(ROOT, "bench", "results", `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
log(`\nresults: ${file}`);
resident?.kill();

/**
 * Section 6, the exec'd fallback: how long one plugin exec takes — Node's start-up plus the bundle's — against
 * `node -e 0` (the floor any Node plugin pays) and the Go plugin of the same name, interleaved
 * round by round (order rotating): each plugin's VERSION (answered by the plugin file's loader,
 * without its bundle: scripts/code-cache.mjs), and loopback's ADD in a pod namespace, the
 * cheapest command that runs a bundle and touches the kernel. Ratios to `node -e 0` are medians
 * of per-round ratios: on a shared machine a round's execs see the same load.
 */
function fallbackSection(rounds, plugins) {
  const ns = newPod();
  try {
    const version = cleanEnv({ CNI_COMMAND: "VERSION" });
    const add = cleanEnv({
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: "bench-startup",
      CNI_NETNS: `/run/netns/${ns}`,
      CNI_IFNAME: "lo",
      CNI_PATH: PODNET_BIN,
    });
    const loConf = JSON.stringify({ cniVersion: "1.0.0", name: "bench-startup", type: "loopback" });
    const runs = [
      { key: "node -e 0", file: process.execPath, args: ["-e", "0"], env: version },
      ...PLUGINS.map((p) => ({ key: p, file: join(PODNET_BIN, p), env: version })),
      ...PLUGINS.map((p) => ({ key: `go ${p}`, file: join(GO_BIN, p), env: version })),
      { key: "loopback ADD", file: join(PODNET_BIN, "loopback"), env: add, input: loConf },
      { key: "go loopback ADD", file: join(GO_BIN, "loopback"), env: add, input: loConf },
    ];
    const ms = Object.fromEntries(runs.map((r) => [r.key, []]));
    const once = (r) => {
      const t0 = performance.now();
      const x = spawnSync(r.file, r.args ?? [], {
        env: r.env,
        input: r.input,
        stdio: [r.input ? "pipe" : "ignore", "ignore", "ignore"],
      });
      const t = performance.now() - t0;
      if (x.status !== 0) throw new Error(`${r.file} ${r.key} exited ${x.status ?? x.signal}`);
      return t;
    };
    for (let round = 0; round < rounds + WARMUP; round++) {
      const order = runs.map((_, k) => runs[(k + round) % runs.length]);
      const t = Object.fromEntries(order.map((r) => [r.key, once(r)]));
      if (round >= WARMUP) for (const r of runs) ms[r.key].push(t[r.key]);
    }
    const floor = ms["node -e 0"];
    const paired = (xs) => median(xs.map((x, i) => x / floor[i]));
    const rows = ["node -e 0", ...PLUGINS, "loopback ADD"].map((k) => ({
      plugin: k,
      ms: median(ms[k]),
      vsNode: paired(ms[k]),
      go: ms[`go ${k}`] ? median(ms[`go ${k}`]) : NaN,
    }));
    log(
      `\n6. the exec'd fallback: one plugin exec, median ms of ${rounds} rounds (interleaved, +${WARMUP} warm-up); ×node = median of per-round ratios to \`node -e 0\``,
    );
    log(`${"".padEnd(20)}${"podnet".padStart(10)}${"×node".padStart(9)}${"go".padStart(9)}${"podnet/go".padStart(12)}`);
    for (const r of rows)
      log(
        `${(PLUGINS.includes(r.plugin) ? `${r.plugin} VERSION` : r.plugin).padEnd(20)}${fmt(r.ms).padStart(10)}${`${fmt(r.vsNode, 2)}×`.padStart(9)}${fmt(r.go).padStart(9)}${ratio(r.ms, r.go).padStart(12)}`,
      );
    const worst = rows.filter((r) => PLUGINS.includes(r.plugin)).reduce((a, b) => (b.vsNode > a.vsNode ? b : a));
    const goals = {
      startup: goal(log, {
        name: "exec'd plugin start-up (VERSION) / node -e 0, worst plugin",
        value: worst.vsNode,
        limit: 1.2,
        unit: "×",
        detail: `${worst.plugin}; node -e 0 ${fmt(median(floor))} ms`,
      }),
    };
    const chain = plugins?.rows.find((r) => r.label.startsWith("chain ADD"));
    if (chain) {
      goals.chainAdd = goal(log, {
        name: "exec'd chain ADD / Go",
        value: chain.podnet / chain.go,
        limit: 1.5,
        unit: "×",
        detail: `section 1: ${fmt(chain.podnet)} vs ${fmt(chain.go)} ms (lo + bridge/host-local + portmap + bandwidth)`,
      });
    }
    return { rounds, rows, goals };
  } finally {
    delPod(ns);
  }
}

/**
 * Section 3b, parallel pods: S concurrent streams (1 and 4), each running ADD+DEL cycles of the
 * whole chain (loopback; bridge+host-local; portmap with 2 hostPorts; bandwidth) through the
 * launchers — Go's plugins, and podnet's resident launchers → `podnet resident` — with the pod's
 * netns made and deleted by `ip netns` per cycle (asynchronously: this process must not serialise
 * the streams). A round runs every (implementation, streams) pair, `cycles` cycles per stream, in
 * a balanced order (as section 1's); pods/s is cycles over wall time, summed over the rounds. One
 * pod per implementation stays up meanwhile (steady state, as in section 1). The goals of
 * issue #13: 4 streams ≥ 2× the single stream's pods/s and ≥ 3× Go's 4-stream pods/s; no
 * stream's median ADD above 1.5× the single-stream median (printed through goals.mjs).
 */
async function parallelSection(rounds, cycles) {
  // `ip netns` through podnet's exec (posix_spawn): child_process forks this process, copying its
  // page tables (≈ 1.7 ms of its CPU per call at ~100 MB against 0.9), a cost of this harness that
  // a runtime creating the pod's netns does not have.
  const ipAsync = async (...args) => {
    const r = await nodeRawExec.run("ip", args, { env: cleanEnv() });
    if (r.code !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.toString().trim()}`);
  };
  const who = impls.filter((i) => i.name !== "podnet");
  const STREAMS = [1, 4];
  const cfgs = who.flatMap((impl) => STREAMS.map((streams) => ({ impl, streams })));
  const acc = Object.fromEntries(
    cfgs.map((c) => [
      `${c.impl.name}/${c.streams}`,
      {
        cycles: 0,
        ms: 0,
        add: Array.from({ length: c.streams }, () => []),
        del: [],
        cpu: { runtime: 0, children: 0, daemon: 0, busy: 0, wall: 0 },
        trace: {},
      },
    ]),
  );
  // CPU time (ms) of a process from /proc/PID/stat: its own, and its reaped children's.
  const cpuOf = (pid) => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    const tick = 10; // USER_HZ = 100
    return { own: (Number(f[11]) + Number(f[12])) * tick, children: (Number(f[13]) + Number(f[14])) * tick };
  };
  // The whole machine's busy and total CPU time (ms) from /proc/stat.
  const machine = () => {
    const v = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = v[3] + v[4];
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: (total - idle) * 10, total: total * 10 };
  };
  // The resident daemon's trace line per call (PODNET_TRACE=1): where a call's time went outside the plugin.
  const traced = (impl, into) => {
    const env = { ...(impl.env ?? {}), ...(impl.name === "resident" ? { PODNET_TRACE: "1" } : {}) };
    const exec = {
      async run(file, args, opts) {
        const r = await nodeRawExec.run(file, args, { ...opts, env: { ...opts.env, ...env } });
        for (const m of r.stderr.toString().matchAll(/^podnet trace resident \S+ \S+: (.*)$/gm)) {
          for (const kv of m[1].split(" ")) {
            const [k, v] = kv.split("=");
            into[k] ??= [];
            into[k].push(parseFloat(v));
          }
        }
        return r;
      },
    };
    return new CniRuntime({ path: [impl.bin], cacheDir: join(dir, "cache", impl.name), exec, baseEnv: cleanEnv() });
  };
  let seq = 0;
  const background = [];
  try {
    for (const impl of who) {
      const ns = newPod();
      background.push({ impl, ns, p: await addPod(impl, timedRuntime(impl, {}), lists(impl), 4998, ns) });
    }
    for (let round = 0; round < rounds + 1; round++) {
      for (const { impl, streams } of balancedOrder(cfgs, round)) {
        await settle(500);
        const a = acc[`${impl.name}/${streams}`];
        const rtm = traced(impl, round > 0 ? a.trace : {});
        const l = lists(impl);
        const c0 = { me: cpuOf(process.pid), daemon: resident ? cpuOf(resident.pid) : undefined, m: machine() };
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: streams }, async (_, s) => {
            for (let k = 0; k < cycles; k++) {
              const ns = `podnet-t-${tag}-q${seq++}`;
              await ipAsync("netns", "add", ns);
              try {
                const p = await addPod(impl, rtm, l, 2000 + s, ns);
                const d = await delPodNet(rtm, l, p);
                if (round > 0) {
                  a.add[s].push(p.ms);
                  a.del.push(d);
                }
              } finally {
                await ipAsync("netns", "del", ns).catch(() => {});
              }
            }
          }),
        );
        // Round 0 warms up (the daemon's workers, the page cache, per-node state).
        if (round > 0) {
          const wall = performance.now() - t0;
          const c1 = { me: cpuOf(process.pid), daemon: resident ? cpuOf(resident.pid) : undefined, m: machine() };
          a.cycles += streams * cycles;
          a.ms += wall;
          a.cpu.runtime += c1.me.own - c0.me.own;
          a.cpu.children += c1.me.children - c0.me.children;
          if (impl.name === "resident" && c0.daemon && c1.daemon)
            a.cpu.daemon += c1.daemon.own + c1.daemon.children - c0.daemon.own - c0.daemon.children;
          a.cpu.busy += c1.m.busy - c0.m.busy;
          a.cpu.wall += c1.m.total - c0.m.total;
        }
      }
    }
  } finally {
    for (const b of background) {
      await delPodNet(timedRuntime(b.impl, {}), lists(b.impl), b.p).catch(() => {});
      delPod(b.ns);
    }
  }
  const res = {};
  for (const [k, a] of Object.entries(acc)) {
    const perStream = a.add.map((xs) => median(xs));
    const per = (ms) => ms / a.cycles;
    res[k] = {
      podsPerSecond: (1000 * a.cycles) / a.ms,
      addMedian: median(a.add.flat()),
      addMedianPerStream: perStream,
      delMedian: median(a.del),
      cpuPerCycle: {
        runtime: per(a.cpu.runtime),
        plugins: per(a.cpu.children + a.cpu.daemon),
        daemon: per(a.cpu.daemon),
        machineBusy: a.cpu.busy / a.cpu.wall,
      },
      ...(Object.keys(a.trace).length
        ? { residentCall: Object.fromEntries(Object.entries(a.trace).map(([p, xs]) => [p, median(xs)])) }
        : {}),
    };
  }
  log(
    `\n3b. parallel pods: S concurrent streams of ADD+DEL cycles (chain incl. loopback, netns add/del per cycle), ${rounds} rounds × ${cycles} cycles per stream (interleaved in balanced orders, +1 warm-up)`,
  );
  log(
    `   CPU per cycle, ms: the runtime (this process), the plugins (launchers, ip, Go's plugins and what they start; podnet's daemon), of which the daemon with its children; busy: the whole machine while it ran`,
  );
  log(
    `${"".padEnd(16)}${"pods/s".padStart(9)}${"ADD med".padStart(10)}${"worst stream".padStart(14)}${"DEL med".padStart(10)}${"CPU runtime".padStart(13)}${"CPU plugins".padStart(13)}${"daemon".padStart(8)}${"busy".padStart(7)}`,
  );
  for (const { impl, streams } of cfgs) {
    const r = res[`${impl.name}/${streams}`];
    log(
      `${`${impl.name} ×${streams}`.padEnd(16)}${fmt(r.podsPerSecond).padStart(9)}${fmt(r.addMedian).padStart(10)}${fmt(Math.max(...r.addMedianPerStream)).padStart(14)}${fmt(r.delMedian).padStart(10)}` +
        `${fmt(r.cpuPerCycle.runtime).padStart(13)}${fmt(r.cpuPerCycle.plugins).padStart(13)}${(impl.name === "resident" ? fmt(r.cpuPerCycle.daemon) : "").padStart(8)}${`${fmt(100 * r.cpuPerCycle.machineBusy, 0)}%`.padStart(7)}`,
    );
  }
  for (const streams of STREAMS) {
    const t = res[`resident/${streams}`]?.residentCall;
    if (t)
      log(
        `  resident ×${streams}, per call (median ms): waiting for its attachment ${fmt(t.order, 2)}, for a worker ${fmt(t.queue, 2)}, hand-off to and from the worker ${fmt(t.handoff, 2)}, the plugin ${fmt(t.run, 2)}`,
      );
  }
  const goals = {};
  const r1 = res["resident/1"];
  const r4 = res["resident/4"];
  const g1 = res["go/1"];
  const g4 = res["go/4"];
  if (r1 && r4 && g4) {
    const worst = Math.max(...r4.addMedianPerStream);
    const cpu = (r) =>
      `${fmt(r.cpuPerCycle.runtime + r.cpuPerCycle.plugins)} ms CPU/cycle, machine ${fmt(100 * r.cpuPerCycle.machineBusy, 0)}% busy`;
    goals.selfScaling = goal(log, {
      name: "parallel: resident 4 streams pods/s / its single stream",
      value: r4.podsPerSecond / r1.podsPerSecond,
      limit: 2,
      cmp: ">=",
      unit: "×",
      detail: `${fmt(r4.podsPerSecond)} vs ${fmt(r1.podsPerSecond)} pods/s (${cpu(r4)}; ×1: ${cpu(r1)})`,
    });
    goals.vsGo = goal(log, {
      name: "parallel: resident 4 streams pods/s / Go's 4 streams",
      value: r4.podsPerSecond / g4.podsPerSecond,
      limit: 3,
      cmp: ">=",
      unit: "×",
      detail: `${fmt(r4.podsPerSecond)} vs ${fmt(g4.podsPerSecond)} pods/s (Go ×1 ${fmt(g1?.podsPerSecond)}; Go ×4: ${cpu(g4)})`,
    });
    goals.streamAdd = goal(log, {
      name: "parallel: worst stream's median ADD at 4 streams / single-stream median",
      value: worst / r1.addMedian,
      limit: 1.5,
      unit: "×",
      detail: `${fmt(worst)} vs ${fmt(r1.addMedian)} ms (resident; Go ${fmt(Math.max(...g4.addMedianPerStream))} vs ${fmt(g1?.addMedian)} ms)`,
    });
  } else {
    log("parallel goals need the resident launchers (build/resident) — not built");
  }
  return { rounds, cycles, results: res, goals };
}
