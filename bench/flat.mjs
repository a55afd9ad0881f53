#!/usr/bin/env node
// Where a full node's ADD time goes, phase by phase: an empty node against one holding N-1 pods
// (default 199), each its own network namespace with its own `podnet resident` daemon, rounds
// alternating between them (bench/flat-ab.mjs: ADD with PODNET_TRACE=1, then DEL) so that both
// see the same machine load. Prints every plugin's trace phases on each node (median of the
// rounds) with the growth full/empty, and the daemons' memory: what grows with pods.
// Usage: sudo node bench/flat.mjs [--pods 200] [--rounds 30] [--no-masq]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  environment,
  fmt,
  median,
  RESIDENT_BIN,
  ratio,
  requireRootAndFiles,
  ROOT,
  runInsideNodeNamespace,
} from "./lib.mjs";

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
if (!values.inner) process.exit(runInsideNodeNamespace(new URL(import.meta.url).pathname));

const { compareNodes } = await import("./flat-ab.mjs");
const PODS = Number(values.pods);
const ROUNDS = Number(values.rounds);

console.log(
  `bench/flat — an empty node against one with ${PODS - 1} pods, ${ROUNDS} rounds (+2 warm-up); load ${environment().loadavg}`,
);
const rss = (pid, f) =>
  Number(readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`${f}:\\s+(\\d+)`))?.[1] ?? NaN) / 1024;
const rows = await compareNodes({
  tag: values.tag,
  dir: values.dir,
  pods: PODS,
  rounds: ROUNDS,
  masq: !values["no-masq"],
  beforeCleanup: ({ empty, full }) =>
    console.log(
      `daemon RSS (anon), MB: 1 pod ${fmt(rss(empty.pid, "VmRSS"))} (${fmt(rss(empty.pid, "RssAnon"))}), ${PODS} pods ${fmt(rss(full.pid, "VmRSS"))} (${fmt(rss(full.pid, "RssAnon"))})`,
    ),
});
const sides = [rows.empty, rows.full];
const keys = [...new Set(sides.flatMap((rs) => rs.flatMap((r) => Object.keys(r))))].sort(
  (a, b) => (a.startsWith("chain") ? -1 : 0) - (b.startsWith("chain") ? -1 : 0) || a.localeCompare(b),
);
console.log(
  `${"ms (median)".padEnd(30)}${"1 pod".padStart(9)}${`${PODS} pods`.padStart(10)}${"ratio".padStart(8)}${"Δ".padStart(8)}`,
);
for (const k of keys) {
  const [a, b] = sides.map((rs) => median(rs.map((r) => r[k] ?? 0)));
  console.log(
    `${k.padEnd(30)}${fmt(a, 2).padStart(9)}${fmt(b, 2).padStart(10)}${ratio(b, a).padStart(8)}${fmt(b - a, 2).padStart(8)}`,
  );
}
console.log(`load after: ${environment().loadavg}`);
