#!/usr/bin/env node
// Where a full node's ADD time goes, phase by phase: two sandbox "nodes" (network namespaces), each
// with its own `podnet resident` daemon, one empty and one holding N-1 pods (default 199), both
// running the full chain (loopback; bridge+host-local with isGateway+ipMasq; portmap with 2
// hostPorts; bandwidth). Rounds alternate between the two nodes (order rotating): ADD a pod with
// PODNET_TRACE=1, then DEL it, so both see the same machine load. Prints every plugin's trace
// phases on each node (median of the rounds) and the growth full/empty: what grows with pods,
// measured at the same moments rather than minutes apart.
// Usage: sudo node bench/flat.mjs [--pods 200] [--rounds 30] [--no-masq]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startResidentNode } from "./flat-ab.mjs";
import { cleanEnv, environment, fmt, ip, median, RESIDENT_BIN, ratio, requireRootAndFiles, ROOT, runInsideNodeNamespace } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    pods: { type: "string", default: "200" },
    rounds: { type: "string", default: "30" },
    "no-masq": { type: "boolean" },
    inner: { type: "boolean" },
    tag: { type: "string" },
    dir: { type: "string" },
  },
});
requireRootAndFiles("bench/flat", [join(RESIDENT_BIN, "bridge"), join(ROOT, "dist/src/libcni/index.js")]);
if (!values.inner) process.exit(runInsideNodeNamespace(new URL(import.meta.url).pathname, ["--pods", values.pods, "--rounds", values.rounds, ...(values["no-masq"] ? ["--no-masq"] : [])]));

const { CniRuntime, parseConfList } = await Promise.all([import("../dist/src/libcni/index.js"), import("../dist/src/cni/index.js")]).then(([l, c]) => ({ ...l, ...c }));
const { nodeRawExec } = await import("../dist/src/kernel/exec.js");
const PODS = Number(values.pods);
const ROUNDS = Number(values.rounds);
const WARMUP = 2;
const { dir, tag } = values;

/** A node: its own netns and resident daemon (the daemon's netns is the node's host side). */
async function startNode(k, background) {
  const { netns, sock, pid, stop } = await startResidentNode({ tag, dir, name: `n${k}` });
  const env = { PODNET_CNI_SOCKET: sock, PODNET_TRACE: "1" };
  const sink = { cur: {} };
  const exec = {
    async run(file, args, opts) {
      const t0 = performance.now();
      const r = await nodeRawExec.run(file, args, { ...opts, env: { ...opts.env, ...env } });
      const plugin = file.split("/").pop();
      const verb = opts.env.CNI_COMMAND;
      sink.cur[`${plugin} ${verb}`] = performance.now() - t0;
      const line = r.stderr.toString().split("\n").find((l) => l.startsWith("podnet trace "));
      for (const m of line?.matchAll(/ ([\w.-]+)=([\d.]+)ms/g) ?? []) {
        if (m[1] !== "startup") sink.cur[`${plugin} ${verb} .${m[1]}`] = (sink.cur[`${plugin} ${verb} .${m[1]}`] ?? 0) + Number(m[2]);
      }
      return r;
    },
  };
  const name = `flat-${k}`;
  const l = {
    chain: parseConfList(
      JSON.stringify({
        cniVersion: "1.0.0",
        name,
        plugins: [
          { type: "bridge", bridge: `pf-${k}`, isGateway: true, ipMasq: !values["no-masq"], ipam: { type: "host-local", ranges: [[{ subnet: `10.200.${k * 16}.0/20` }]], dataDir: join(dir, `ipam-${k}`), routes: [{ dst: "0.0.0.0/0" }] } },
          { type: "portmap", capabilities: { portMappings: true }, snat: true },
          { type: "bandwidth", capabilities: { bandwidth: true } },
        ],
      }),
    ),
    lo: parseConfList(JSON.stringify({ cniVersion: "1.0.0", name: `${name}-lo`, plugins: [{ type: "loopback" }] })),
  };
  const node = { k, netns, pid, stop, sink, l, rtm: new CniRuntime({ path: [RESIDENT_BIN], cacheDir: join(dir, `cache-${k}`), exec, baseEnv: cleanEnv() }), live: [], seq: 0, rows: [] };
  for (let i = 0; i < background; i++) await addPod(node);
  return node;
}

async function addPod(node) {
  const i = node.seq++;
  const ns = `podnet-t-${tag}-n${node.k}p${i}`;
  ip("netns", "add", ns);
  const rt = {
    containerID: `flat-${node.k}-${i}`,
    netns: `/run/netns/${ns}`,
    ifName: "eth0",
    args: [["IgnoreUnknown", "1"]],
    capabilityArgs: {
      portMappings: [
        { hostPort: 20000 + i * 2, containerPort: 80, protocol: "tcp" },
        { hostPort: 20001 + i * 2, containerPort: 53, protocol: "udp" },
      ],
      bandwidth: { ingressRate: 100_000_000, ingressBurst: 10_000_000, egressRate: 100_000_000, egressBurst: 10_000_000 },
    },
  };
  const lo = { ...rt, ifName: "lo", capabilityArgs: {} };
  node.sink.cur = {};
  const t0 = performance.now();
  await node.rtm.addNetworkList(node.l.lo, lo);
  await node.rtm.addNetworkList(node.l.chain, rt);
  const p = { ns, rt, lo, ms: performance.now() - t0 };
  node.live.push(p);
  return p;
}

async function delPod(node, p) {
  const t0 = performance.now();
  try {
    await node.rtm.delNetworkList(node.l.chain, p.rt);
    await node.rtm.delNetworkList(node.l.lo, p.lo);
  } finally {
    ip("netns", "del", p.ns);
    node.live.splice(node.live.indexOf(p), 1);
  }
  return performance.now() - t0;
}

console.log(`bench/flat — an empty node against one with ${PODS - 1} pods, ${ROUNDS} rounds (+${WARMUP} warm-up); load ${environment().loadavg}`);
const nodes = [];
try {
  nodes.push(await startNode(0, 0), await startNode(1, PODS - 1));
  for (let r = 0; r < ROUNDS + WARMUP; r++) {
    for (const node of r % 2 ? [...nodes].reverse() : nodes) {
      const p = await addPod(node);
      const add = { ...node.sink.cur, "chain ADD": p.ms };
      node.sink.cur = {};
      const del = await delPod(node, p);
      if (r >= WARMUP) node.rows.push({ ...add, ...node.sink.cur, "chain DEL": del });
    }
  }
  const rss = (pid, f) => (readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`${f}:\\s+(\\d+)`))?.[1] ?? NaN) / 1024;
  console.log(`daemon RSS (anon), MB: ${nodes.map((n) => `${n.k === 0 ? "1 pod" : `${PODS} pods`} ${fmt(rss(n.pid, "VmRSS"))} (${fmt(rss(n.pid, "RssAnon"))})`).join(", ")}`);
  const keys = [...new Set(nodes.flatMap((n) => n.rows.flatMap((r) => Object.keys(r))))].sort((a, b) => (a.startsWith("chain") ? -1 : 0) - (b.startsWith("chain") ? -1 : 0) || a.localeCompare(b));
  console.log(`${"ms (median)".padEnd(30)}${"1 pod".padStart(9)}${`${PODS} pods`.padStart(10)}${"ratio".padStart(8)}${"Δ".padStart(8)}`);
  for (const k of keys) {
    const [a, b] = nodes.map((n) => median(n.rows.map((r) => r[k] ?? 0)));
    console.log(`${k.padEnd(30)}${fmt(a, 2).padStart(9)}${fmt(b, 2).padStart(10)}${ratio(b, a).padStart(8)}${fmt(b - a, 2).padStart(8)}`);
  }
} finally {
  for (const node of nodes) {
    for (const p of [...node.live]) await delPod(node, p).catch((e) => console.error(`DEL ${p.rt.containerID}: ${e.message}`));
    node.stop();
  }
  console.log(`load after: ${environment().loadavg}`);
}
