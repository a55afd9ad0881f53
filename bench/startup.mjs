#!/usr/bin/env node
// Start-up of one plugin exec (CNI_COMMAND=VERSION: no stdin, no kernel work — only what it takes
// to get a plugin running), cold and warm, podnet's plugins beside Go's:
//   cold: `sync; echo 3 > /proc/sys/vm/drop_caches` before each exec: the plugin bundle, the
//         addon and the Go binary are read from disk again. The kernel keeps pages a running
//         process has mapped, so /usr/bin/node stays in memory while any Node process runs (this
//         benchmark is one); "podnet+node" therefore runs each bundle with a private copy of
//         the node binary, which nothing else maps and which is dropped too: the first exec after
//         boot;
//   warm: the same exec repeated, page cache hot.
// Execs are interleaved plugin by plugin and implementation by implementation. Dropping the page
// cache slows every process on the machine for a moment: benchmarks only, never tests.
// `npm run bench` runs this as section 0; alone: sudo node bench/startup.mjs [--rounds 5] [--warm 20]
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cleanEnv, fmt, GO_BIN, median, PODNET_BIN, ratio, requireRootAndFiles } from "./lib.mjs";

export const STARTUP_PLUGINS = ["loopback", "bridge", "host-local", "portmap", "bandwidth"];

/** Drops the page cache (and dentries and inodes): the next exec reads its files from disk. */
export function dropCaches() {
  spawnSync("sync");
  writeFileSync("/proc/sys/vm/drop_caches", "3\n");
}

/**
 * An implementation that runs podnet's bundles with a private copy of the node binary in `dir`
 * (nothing else maps it, so dropping the page cache drops it too).
 */
export function coldNodeImpl(dir) {
  const node = join(dir, "node");
  copyFileSync(process.execPath, node);
  return { name: "podnet+node", bin: PODNET_BIN, interpreter: node };
}

/** Wall time of one VERSION exec of `impl`'s plugin, ms; throws when it fails. */
function versionExec(impl, plugin) {
  const file = join(impl.bin, plugin);
  const [cmd, args] = impl.interpreter ? [impl.interpreter, [file]] : [file, []];
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    env: cleanEnv({ ...(impl.env ?? {}), CNI_COMMAND: "VERSION" }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${file} VERSION: exit ${r.status}: ${r.stderr}`);
  return ms;
}

/**
 * Cold and warm start-up per plugin and implementation (`impls`: [{ name, bin, env?, interpreter? }], the first
 * is the reference the ratios are taken against). Returns { rows: [{ plugin, <impl>: { cold, warm } }] }.
 */
export function measureStartup(impls, { rounds = 5, warm = 20, log = console.log } = {}) {
  const cold = {};
  const hot = {};
  for (const i of impls) {
    cold[i.name] = Object.fromEntries(STARTUP_PLUGINS.map((p) => [p, []]));
    hot[i.name] = Object.fromEntries(STARTUP_PLUGINS.map((p) => [p, []]));
  }
  for (let r = 0; r < rounds; r++) {
    for (const p of STARTUP_PLUGINS) {
      for (const [k] of impls.entries()) {
        const impl = impls[(k + r) % impls.length];
        dropCaches();
        cold[impl.name][p].push(versionExec(impl, p));
      }
    }
  }
  for (let r = 0; r < warm + 2; r++) {
    for (const p of STARTUP_PLUGINS) {
      for (const [k] of impls.entries()) {
        const impl = impls[(k + r) % impls.length];
        const ms = versionExec(impl, p);
        if (r >= 2) hot[impl.name][p].push(ms);
      }
    }
  }
  const rows = STARTUP_PLUGINS.map((p) => ({
    plugin: p,
    ...Object.fromEntries(impls.map((i) => [i.name, { cold: median(cold[i.name][p]), warm: median(hot[i.name][p]) }])),
  }));
  const [ref, ...others] = impls;
  const w = Math.max(10, ...impls.map((i) => i.name.length + 2));
  const table = (kind, title) => {
    log(`   ${title}`);
    log(
      `${"".padEnd(12)}${impls.map((i) => i.name.padStart(w)).join("")}${others.map((i) => `${i.name}/${ref.name}`.padStart(w + 4)).join("")}`,
    );
    for (const row of rows) {
      log(
        `${row.plugin.padEnd(12)}${impls.map((i) => fmt(row[i.name][kind]).padStart(w)).join("")}${others.map((i) => ratio(row[i.name][kind], row[ref.name][kind]).padStart(w + 4)).join("")}`,
      );
    }
  };
  log(`\n0. start-up of one plugin exec (CNI_COMMAND=VERSION), median ms`);
  table(
    "cold",
    `cold: page cache dropped before each exec, ${rounds} rounds (${others.find((i) => i.interpreter)?.name ?? "—"}: the node binary dropped too, as after boot)`,
  );
  table("warm", `warm: ${warm} execs, page cache hot`);
  log(
    `${"cold/warm".padEnd(12)}${impls.map((i) => ratio(median(rows.map((r) => r[i.name].cold)), median(rows.map((r) => r[i.name].warm))).padStart(w)).join("")}`,
  );
  return { rounds, warm, rows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { rounds: { type: "string", default: "5" }, warm: { type: "string", default: "20" } },
  });
  requireRootAndFiles(
    "startup",
    STARTUP_PLUGINS.flatMap((p) => [join(GO_BIN, p), join(PODNET_BIN, p)]),
  );
  const dir = mkdtempSync(join(tmpdir(), "podnet-t-startup-"));
  try {
    measureStartup([{ name: "go", bin: GO_BIN }, { name: "podnet", bin: PODNET_BIN }, coldNodeImpl(dir)], {
      rounds: Number(values.rounds),
      warm: Number(values.warm),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
