#!/usr/bin/env node
// Runs the emitted test files (dist/**/*.test.js) with node:test.
// Tiers: unit (*.test.js), netns (*.netns.test.js, needs root), e2e (test/e2e/**). Default: all.
// NODE_EXTRA_CA_CERTS is dropped: on Node 20 it adds ~40 ms to every plugin exec the tests make.
import { readdirSync, statSync, existsSync } from "node:fs";
import { join, relative } from "node:path";
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  options: { tier: { type: "string", multiple: true }, "no-build": { type: "boolean" } },
  allowPositionals: true,
});
const root = new URL("..", import.meta.url).pathname;
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
delete env.NODE_OPTIONS;

if (!values["no-build"]) {
  const b = spawnSync("npm", ["run", "-s", "build"], { cwd: root, stdio: "inherit", env });
  if (b.status !== 0) process.exit(b.status ?? 1);
}

function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}
const tierOf = (f) => (f.includes("/test/e2e/") ? "e2e" : f.endsWith(".netns.test.js") ? "netns" : "unit");
const tiers = new Set(values.tier ?? ["unit", "netns", "e2e"]);
let files = walk(join(root, "dist"))
  .filter((f) => tiers.has(tierOf(f)))
  .sort();
if (positionals.length) files = files.filter((f) => positionals.some((p) => relative(root, f).includes(p)));
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
if ((tiers.has("netns") || tiers.has("e2e")) && process.getuid?.() !== 0) {
  console.error("netns and e2e tests need root (they make their own network namespaces)");
  process.exit(1);
}
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=2", ...files], {
  cwd: root,
  stdio: "inherit",
  env,
});
process.exit(r.status ?? 1);
