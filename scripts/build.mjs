#!/usr/bin/env node
// Bundles each plugin into one small CommonJS executable: build/cni/<name> (shebang, no
// extension; build/package.json marks the folder CommonJS so Node does not read them as ESM).
// The native addon is copied beside them, where src/kernel/addon.ts looks first.
import { build } from "esbuild";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { addCodeCache } from "./code-cache.mjs";
import { writeBuildInfo } from "./build-info.mjs";

const root = new URL("..", import.meta.url).pathname;
writeBuildInfo(root);
const out = join(root, "build", "cni");
mkdirSync(out, { recursive: true });
writeFileSync(join(root, "build", "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`);

// src/plugins/<group>/<name>/main.ts and src/plugins/<name>/main.ts
const entries = [];
const pluginsDir = join(root, "src", "plugins");
for (const a of readdirSync(pluginsDir)) {
  const pa = join(pluginsDir, a);
  if (!statSync(pa).isDirectory()) continue;
  if (existsSync(join(pa, "main.ts"))) entries.push({ name: a, file: join(pa, "main.ts") });
  else
    for (const b of readdirSync(pa))
      if (existsSync(join(pa, b, "main.ts"))) entries.push({ name: b, file: join(pa, b, "main.ts") });
}

/**
 * esbuild plugin: the builtins `names` load on the first call of one of their functions, not at
 * start-up (node:crypto is ~36 internal modules: ~2.5 ms of every portmap/bandwidth exec, VERSION
 * included). Only functions can be imported from them; importing anything else fails the build.
 */
function lazyBuiltins(names) {
  const require = createRequire(import.meta.url);
  const filter = new RegExp(`^(${names.join("|")})$`);
  return {
    name: "lazy-builtins",
    setup(b) {
      b.onResolve({ filter }, (a) =>
        a.namespace === "lazy-builtin" ? { path: a.path, external: true } : { path: a.path, namespace: "lazy-builtin" },
      );
      b.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, (a) => {
        const real = require(a.path);
        const fns = Object.keys(real).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k) && typeof real[k] === "function");
        const lines = [
          `let m;`,
          `const load = () => (m ??= require(${JSON.stringify(a.path)}));`,
          ...fns.map((k) => `export function ${k}(...a) { return load().${k}(...a); }`),
        ];
        return { contents: lines.join("\n"), loader: "js" };
      });
    },
  };
}

const shebang = `#!${process.execPath}`;
const t0 = performance.now();
const results = await Promise.all(
  entries.map(({ name, file }) =>
    build({
      entryPoints: [file],
      outfile: join(out, name),
      bundle: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      minifySyntax: true,
      legalComments: "none",
      banner: { js: shebang },
      logLevel: "warning",
      metafile: true,
      plugins: [lazyBuiltins(["node:crypto"])],
      // import() becomes a require(): vm.Script (the code-cache loader) has no dynamic-import hook.
      supported: { "dynamic-import": false },
    }).then(async (r) => {
      // Each plugin starts from V8's code cache (scripts/code-cache.mjs): ~15% less start-up.
      await addCodeCache(join(out, name));
      chmodSync(join(out, name), 0o755);
      return { name, bytes: Object.values(r.metafile.outputs)[0]?.bytes ?? 0 };
    }),
  ),
);
const addon = join(root, "native", "build", "Release", "podnet_netlink.node");
if (existsSync(addon)) copyFileSync(addon, join(out, "podnet_netlink.node"));

// Resident mode (build/resident/): each plugin name is the ~1 ms C launcher that hands the call to
// a running `podnet node`; beside it, podnet-<name>.cjs is the Node plugin it falls back to.
const resident = join(root, "build", "resident");
mkdirSync(resident, { recursive: true });
const launcher = join(resident, ".launcher");
rmSync(launcher, { force: true });
// PODNET_SOCKET_UID=N at build time: the launchers trust a daemon running as uid N instead of root.
const socketUid = process.env.PODNET_SOCKET_UID;
if (socketUid !== undefined && !/^[0-9]+$/.test(socketUid))
  throw new Error(`PODNET_SOCKET_UID must be a numeric uid, got ${JSON.stringify(socketUid)}`);
const defines = socketUid !== undefined ? [`-DPODNET_SOCKET_UID=${socketUid}`] : [];
const cc = spawnSync(
  "cc",
  ["-O2", "-Wall", "-Wextra", "-Werror", ...defines, "-o", launcher, join(root, "native", "launcher.c")],
  { stdio: "inherit" },
);
if (cc.status !== 0) throw new Error("building native/launcher.c failed");
for (const { name } of results) {
  // Unlink first: a launcher being executed right now cannot be overwritten (ETXTBSY).
  rmSync(join(resident, name), { force: true });
  copyFileSync(launcher, join(resident, name));
  chmodSync(join(resident, name), 0o755);
  copyFileSync(join(out, name), join(resident, `podnet-${name}.cjs`));
}
if (existsSync(addon)) copyFileSync(addon, join(resident, "podnet_netlink.node"));
if (process.env.PODNET_BUILD_VERBOSE) {
  for (const r of results) console.log(`${r.name}: ${(r.bytes / 1024).toFixed(1)} KiB`);
  console.log(`bundled ${results.length} plugins in ${(performance.now() - t0).toFixed(0)} ms`);
}
