#!/usr/bin/env node
// `npm install` / `npm ci` (the package's "install" script): builds the native addon
// (native/podnet_netlink.c, N-API) with node-gyp against the headers of the Node running this
// script, found on disk, so an install never goes online for headers when they are there:
//   1. npm's --nodedir (npm_config_nodedir) when the user gave one: node-gyp reads it itself;
//   2. <prefix>/include/node of the running Node (process.execPath = <prefix>/bin/node: the
//      official tarballs, nvm, /usr/local builds);
//   3. /usr/include/node, /usr/local/include/node (distribution packages: Debian's nodejs);
//   4. none found: node-gyp's own choice (its header cache, else a download).
// N-API is ABI-stable (NAPI_VERSION=8 in binding.gyp), so headers of any Node ≥ 12.22 build an
// addon every Node ≥ 20 loads.
// In an installed package (build/ shipped), it then puts the addon beside the plugin bundles,
// where they look first, and re-stamps each bundle's `#!` line with this Node: a plugin runs
// with the Node that installed it, never a path from the machine that packed it; a re-stamped
// plugin gets a code cache made by that Node (scripts/code-cache.mjs).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { refreshCodeCache } from "./code-cache.mjs";

export const ADDON_FILE = "podnet_netlink.node";
/** The header every N-API addon includes: its presence marks a usable include/node. */
const MARKER = join("include", "node", "node_api.h");

/**
 * The --nodedir to give node-gyp, or undefined to let node-gyp decide (npm's --nodedir, its cache,
 * a download). Pure: `exists` is the only look at the disk.
 */
export function findNodeDir({ execPath, env, exists }) {
  if (env.npm_config_nodedir) return undefined;
  const candidates = [dirname(dirname(execPath)), "/usr", "/usr/local"];
  return candidates.find((dir) => exists(join(dir, MARKER)));
}

/**
 * node-gyp: npm's own (npm_config_node_gyp, set for lifecycle scripts), else the one in the npm
 * installed beside this Node, else the one on PATH.
 */
export function nodeGypCommand(env, execPath) {
  const beside = join(
    dirname(dirname(execPath)),
    "lib",
    "node_modules",
    "npm",
    "node_modules",
    "node-gyp",
    "bin",
    "node-gyp.js",
  );
  const js = [env.npm_config_node_gyp, beside].find((f) => f && existsSync(f));
  return js ? [execPath, js] : ["node-gyp"];
}

/**
 * Stamps this Node into the `#!` line of each Node script in `dir` (src/deploy/plugins.ts, which
 * `podnet install` uses too); returns the files changed.
 */
export async function stampDir(dir, node, root) {
  let stampShebang;
  try {
    ({ stampShebang } = await import(pathToFileURL(join(root, "dist", "src", "deploy", "plugins.js")).href));
  } catch {
    return []; // build/ without dist/: the next `npm run build` writes both with its own Node
  }
  const changed = [];
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    if (!statSync(file).isFile()) continue;
    const text = readFileSync(file);
    const stamped = stampShebang(text, node);
    if (stamped === text) continue;
    writeFileSync(file, stamped);
    changed.push(file);
  }
  return changed;
}

async function main() {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const execPath = realpathSync(process.execPath);
  const nodedir = findNodeDir({ execPath, env: process.env, exists: existsSync });
  const [cmd, ...pre] = nodeGypCommand(process.env, process.execPath);
  const args = [
    ...pre,
    "rebuild",
    "--directory",
    join(root, "native"),
    "--loglevel=warn",
    ...(nodedir ? [`--nodedir=${nodedir}`] : []),
  ];
  if (process.env.PODNET_INSTALL_VERBOSE) console.error(`podnet install: ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { stdio: "inherit" });
  if (r.error || r.status !== 0) {
    console.error(
      `podnet: building the native addon failed (${r.error?.message ?? `exit ${r.status}`}); ` +
        `it needs a C compiler, make, python3 and Node's headers (${nodedir ? `used ${join(nodedir, "include", "node")}` : "none found on disk; pass --nodedir=DIR"})`,
    );
    process.exit(1);
  }
  const addon = join(root, "native", "build", "Release", ADDON_FILE);
  for (const sub of ["cni", "resident"]) {
    const dir = join(root, "build", sub);
    if (!existsSync(dir)) continue; // a checkout before its first build: scripts/build.mjs copies it
    copyFileSync(addon, join(dir, ADDON_FILE));
    await Promise.all((await stampDir(dir, execPath, root)).map((f) => refreshCodeCache(f)));
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
