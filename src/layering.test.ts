// The layering rules of DESIGN.md, checked over the source tree: side effects enter through deps.
// Only main.ts files, the CLI, src/kernel/exec.ts (processes) and src/kernel/addon.ts touch
// `process` or `child_process`; tests and benchmarks may.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("../..", import.meta.url).pathname;
const src = join(root, "src");

function walk(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (n.endsWith(".ts") && !n.endsWith(".test.ts") && !n.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Test helpers: `testing*.ts` files and the files of a `testing/` folder. */
const isTesting = (rel: string) => /\/testing[-\w]*\.ts$/.test(rel) || /\/testing\//.test(rel);

const isEdge = (rel: string) =>
  rel.endsWith("/main.ts") ||
  rel.startsWith("src/cli/") ||
  rel.startsWith("src/netmgr/daemon") ||
  rel === "src/kernel/exec.ts" ||
  rel === "src/kernel/addon.ts" ||
  isTesting(rel);

describe("layering", () => {
  // Comments may mention what the code must not do; only code counts.
  const code = (t: string) => t.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const files = walk(src).map((f) => ({ rel: relative(root, f), text: code(readFileSync(f, "utf8")) }));
  it("finds the source tree", () => assert.ok(files.length > 20));
  it("only src/kernel/exec.ts starts processes", () => {
    const bad = files.filter((f) => /from "node:child_process"|require\("child_process"\)/.test(f.text) && f.rel !== "src/kernel/exec.ts" && !isTesting(f.rel));
    assert.deepEqual(bad.map((f) => f.rel), []);
  });
  it("plugins, the SDK, libcni and the CNI core never read process.env or call process.exit", () => {
    const layered = files.filter((f) => /^src\/(cni|sdk|libcni|plugins|ip)\//.test(f.rel) && !isEdge(f.rel));
    const bad = layered.filter((f) => /\bprocess\.(env|exit|argv|stdout|stderr|stdin)\b/.test(f.text));
    assert.deepEqual(bad.map((f) => f.rel), []);
  });
  it("the pure CNI core and IP math do no I/O", () => {
    const pure = files.filter((f) => /^src\/(cni|ip)\//.test(f.rel));
    const bad = pure.filter((f) => /from "node:(fs|child_process|net|dgram|http)/.test(f.text));
    assert.deepEqual(bad.map((f) => f.rel), []);
  });
});
