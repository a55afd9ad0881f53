#!/usr/bin/env node
// Where kubenet's pod setup time goes: `podnet node --network-plugin=kubenet` with podnet's plugins
// in-process (and, with --go, a second node exec'ing Go's plugins, interleaved pod by pod), every
// pod with a hostPort and ingress+egress limits as in `npm run bench` section 5, PODNET_TRACE=1 in
// the daemon. Prints the median of each SetUpPod/TearDownPod phase the daemon logs, and of the
// in-process plugins' own phases (the plugin workers trace them as the resident daemon does).
// Usage: sudo node bench/kubenet.mjs [--pods 30] [--go] [--no-hostport]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  environment,
  fmt,
  GO_BIN,
  ip,
  median,
  PODNET_BIN,
  requireRootAndFiles,
  ROOT,
  runInsideNodeNamespace,
} from "./lib.mjs";

const { values } = parseArgs({
  options: {
    pods: { type: "string", default: "30" },
    go: { type: "boolean" },
    "no-hostport": { type: "boolean" },
    inner: { type: "boolean" },
    tag: { type: "string" },
    dir: { type: "string" },
  },
});
requireRootAndFiles("bench/kubenet", [join(PODNET_BIN, "bridge"), join(ROOT, "dist/src/netmgr/testing/daemon.js")]);
if (!values.inner) process.exit(runInsideNodeNamespace(new URL(import.meta.url).pathname));

process.env.PODNET_TRACE = "1";
const { startDaemon, deleteDaemonNetns } = await import("../dist/src/netmgr/testing/daemon.js");
const NPODS = Number(values.pods);
const WARMUP = 2;
const variants = [
  { name: "in-process", args: [`--kubenet-bin-dir=${PODNET_BIN}`] },
  ...(values.go ? [{ name: "go-exec", args: [`--kubenet-bin-dir=${GO_BIN}`] }] : []),
];
const pod = (i) => ({
  metadata: {
    name: `p${i}`,
    annotations: { "kubernetes.io/ingress-bandwidth": "10M", "kubernetes.io/egress-bandwidth": "10M" },
  },
  spec: {
    containers: [
      { name: "c", ports: [{ containerPort: 80, ...(values["no-hostport"] ? {} : { hostPort: 30000 + i }) }] },
    ],
  },
});

console.log(`bench/kubenet — ${NPODS} pods (+${WARMUP} warm-up), load ${environment().loadavg}`);
const daemons = [];
try {
  for (const [k, v] of variants.entries()) {
    const netns = `podnet-t-${values.tag}-k${k}`;
    ip("netns", "add", netns);
    ip("-n", netns, "link", "set", "lo", "up");
    const ddir = join(values.dir, `netmgr-${k}`);
    const d = await startDaemon({
      netns,
      dir: ddir,
      args: [
        "--network-plugin=kubenet",
        "--log-level=debug",
        `--pod-cidr=10.200.${128 + k}.0/24`,
        `--cni-bin-dir=${GO_BIN}`,
        ...v.args,
      ],
    });
    daemons.push({ v, d, ddir, setup: [], teardown: [] });
  }
  for (let i = 0; i < NPODS + WARMUP; i++) {
    for (const x of i % 2 ? [...daemons].reverse() : daemons) {
      const view = await x.d.client.addPod(pod(i));
      if (i >= WARMUP) x.setup.push(view.setupMs);
    }
  }
  for (let i = 0; i < NPODS + WARMUP; i++) {
    for (const x of i % 2 ? [...daemons].reverse() : daemons) {
      const view = await x.d.client.deletePod("default", `p${i}`);
      if (i >= WARMUP) x.teardown.push(view.teardownMs);
    }
  }
  const status = (pid, f) =>
    Number(readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`${f}:\\s+(\\d+)`))?.[1] ?? NaN) / 1024;
  for (const x of daemons) {
    // nsenter execs node: the child's pid is the daemon's
    console.log(
      `${x.v.name}: daemon RSS ${fmt(status(x.d.child.pid, "VmRSS"))} MB (anon ${fmt(status(x.d.child.pid, "RssAnon"))}), threads ${status(x.d.child.pid, "Threads") * 1024}`,
    );
  }
  for (const x of daemons) {
    // "podnet trace <what>: a=1.20ms b‖=0.30ms … total=…ms" lines, in the daemon's JSON log or a plugin's stderr
    const phases = {};
    let n = 0;
    for (const line of x.d.log().split("\n")) {
      const m = /podnet trace ([^:]+): (.*?)(?:"|$)/.exec(line);
      if (!m) continue;
      const what = m[1];
      phases[what] ??= { count: 0, p: {} };
      const seen = phases[what];
      seen.count++;
      n++;
      for (const [, k, v] of m[2].matchAll(/([\w.‖-]+)=([\d.]+)ms/g)) {
        seen.p[k] ??= [];
        seen.p[k].push(Number(v));
      }
    }
    console.log(
      `\n${x.v.name}: setUpPod median ${fmt(median(x.setup), 2)} ms, tearDownPod ${fmt(median(x.teardown), 2)} ms (${x.setup.length} pods); ${n} trace lines`,
    );
    for (const [what, { count, p }] of Object.entries(phases)) {
      // warm-up pods are in the log too: drop the first WARMUP of each phase
      console.log(
        `  ${what} (${count}): ${Object.entries(p)
          .map(([k, xs]) => `${k} ${fmt(median(xs.slice(Math.min(WARMUP, xs.length - 1))), 2)}`)
          .join("  ")}`,
      );
    }
  }
} finally {
  for (const { d, ddir } of daemons) {
    await d.stop();
    deleteDaemonNetns(join(ddir, "state"));
  }
  console.log(`load after: ${environment().loadavg}`);
}
