// A plugin executable that starts from V8's code cache. Node 20 has no compile cache for a main
// script (module.enableCompileCache is Node 22), so each plugin is one file laid out as
//
//   #!<node>
//   <loader: ~6 lines>
//   /*podnet:bundle
//   <the esbuild bundle, wrapped as a CommonJS function; "*/" written as ESCAPE>
//   */
//   /*podnet:code-cache
//   <base64 of V8's code cache for exactly that source>
//   */
//
// V8 skips the comments cheaply when it compiles the file; the loader reads its own file, compiles
// the bundle with `cachedData` (no parsing, and the functions a start-up runs come compiled) and
// calls it as Node would call a CommonJS module. Line numbers in stack traces are the file's own
// (lineOffset). The cache is made by running the bundle once (CNI_COMMAND=VERSION) in a child of
// the Node named in the `#!` line, then V8's createCachedData: it only fits that Node's V8 version
// and flags — with another Node, V8 rejects it and compiles the source as usual (slower, same
// result). One file per plugin, so whatever copies plugins (podnet install, the resident
// launchers' fallback copies, npm) copies the cache with it.
//
// Usage: addCodeCache(file) after esbuild wrote `file` (a `#!` line and a CommonJS bundle);
// refreshCodeCache(file) regenerates the cache for the Node in its `#!` line (npm install does
// this after it re-stamps that line). Measured in bench/README.md ("Plugin start-up").
import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const OPEN = "\n/*podnet:bundle\n";
const CACHE = "\n*/\n/*podnet:code-cache\n";
const CLOSE = "\n*/\n";
/** What stands for "*\/" inside the bundle comment (checked to be absent from the bundle). */
const ESCAPE = "*\\podnet/";
/** The CommonJS wrapper Node itself puts around a module. */
const WRAP_HEAD = "(function (exports, require, module, __filename, __dirname) {";
const WRAP_TAIL = "\n})";

function loader(lineOffset) {
  const j = JSON.stringify;
  return [
    `"use strict";`,
    `// A podnet plugin. Its bundle is the comment below, compiled with the V8 code cache after it`,
    `// (made when it was built: podnet's scripts/code-cache.mjs); V8 rejects a cache from another`,
    `// Node version and then compiles the bundle as usual.`,
    `const { readFileSync } = require("node:fs"), { Script } = require("node:vm");`,
    `const t = readFileSync(__filename, "utf8"), a = t.indexOf(${j(OPEN)}) + ${OPEN.length}, b = t.indexOf(${j(CACHE)}, a), c = t.indexOf(${j(CLOSE)}, b + ${CACHE.length});`,
    `new Script(t.slice(a, b).replaceAll(${j(ESCAPE)}, "*/"), { filename: __filename, lineOffset: ${lineOffset}, cachedData: Buffer.from(t.slice(b + ${CACHE.length}, c), "base64") })`,
    `  .runInThisContext()(exports, require, module, __filename, __dirname);`,
    ``,
  ].join("\n");
}

/** The parts of a plugin file in this layout, or undefined when it is not one. */
export function parsePlugin(text) {
  const a = text.indexOf(OPEN);
  const b = a < 0 ? -1 : text.indexOf(CACHE, a + OPEN.length);
  const c = b < 0 ? -1 : text.indexOf(CLOSE, b + CACHE.length);
  if (c < 0) return undefined;
  return {
    shebang: text.slice(0, text.indexOf("\n")),
    /** Lines of the file above the bundle's first (V8's lineOffset: a cache keeps the one it was made with). */
    lineOffset: text.slice(0, a + OPEN.length).split("\n").length - 1,
    /** The source V8 compiles, exactly as the loader hands it over. */
    source: text.slice(a + OPEN.length, b).replaceAll(ESCAPE, "*/"),
    cache: Buffer.from(text.slice(b + CACHE.length, c), "base64"),
  };
}

/** The plugin file for an esbuild bundle (`#!` line + CommonJS body), with `cache` (or none yet). */
export function pluginFile(bundle, cache = Buffer.alloc(0)) {
  const eol = bundle.indexOf("\n");
  const shebang = bundle.slice(0, eol);
  const body = bundle.slice(eol + 1);
  if (!shebang.startsWith("#!")) throw new Error("a plugin bundle starts with a #! line");
  if (body.includes(ESCAPE)) throw new Error(`the bundle contains ${ESCAPE}, which stands for "*/" in a plugin file`);
  const lines = (s) => s.split("\n").length - 1;
  const lineOffset = 1 + lines(loader(0)) + 1; // lines above the bundle's first: #!, loader, "/*podnet:bundle"
  const source = `${WRAP_HEAD}${body}${WRAP_TAIL}`;
  return `${shebang}\n${loader(lineOffset)}${OPEN.slice(1)}${source.replaceAll("*/", ESCAPE)}${CACHE}${cache.toString("base64")}${CLOSE}`;
}

const execFileP = promisify(execFile);
const self = fileURLToPath(import.meta.url);

/** Runs `node` (the one in the `#!` line) on this module to make the cache for `file`'s source. */
async function makeCache(file, node) {
  const out = `${file}.code-cache-${process.pid}`;
  // A clean environment: V8 flags from NODE_OPTIONS would make a cache the plugins reject.
  await execFileP(node, [self, "--make-cache", file, out], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CNI_COMMAND: "VERSION" }, maxBuffer: 1 << 20 });
  try {
    return readFileSync(out);
  } finally {
    rmSync(out, { force: true });
  }
}

function nodeOf(text) {
  return text.slice(2, text.indexOf("\n")).split(" ")[0];
}

/** Turns the esbuild bundle at `file` into a plugin file with its code cache. */
export async function addCodeCache(file) {
  const bundle = readFileSync(file, "utf8");
  writeFileSync(file, pluginFile(bundle));
  const cache = await makeCache(file, nodeOf(bundle));
  writeFileSync(file, pluginFile(bundle, cache));
}

/** Regenerates the cache of a plugin file for the Node in its `#!` line; false when `file` is not one. */
export async function refreshCodeCache(file) {
  const text = readFileSync(file, "utf8");
  const p = parsePlugin(text);
  if (!p) return false;
  const stale = text.slice(0, text.indexOf(CACHE) + CACHE.length) + CLOSE;
  writeFileSync(file, stale);
  const cache = await makeCache(file, nodeOf(text));
  writeFileSync(file, stale.slice(0, -CLOSE.length) + cache.toString("base64") + CLOSE);
  return true;
}

/** In the child: compile the source as the loader does, run it once, write V8's cache at exit. */
async function childMakeCache(file, out) {
  const { Script } = await import("node:vm");
  const { createRequire } = await import("node:module");
  const { dirname } = await import("node:path");
  const p = parsePlugin(readFileSync(file, "utf8"));
  if (!p) throw new Error(`${file} is not a plugin file`);
  const script = new Script(p.source, { filename: file, lineOffset: p.lineOffset });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  process.on("exit", () => writeFileSync(out, script.createCachedData()));
}

if (process.argv[2] === "--make-cache" && process.argv[1] === self) await childMakeCache(process.argv[3], process.argv[4]);
