// A plugin executable that starts from V8's code cache. Node 20 has no compile cache for a main
// script (module.enableCompileCache is Node 22), so each plugin is one file laid out as
//
//   #!<node>
//   <loader: a few lines, with the plugin's VERSION answer>
//   /*podnet:bundle
//   <the esbuild bundle, wrapped as a CommonJS function; "*/" written as ESCAPE>
//   */
//   /*podnet:code-cache
//   <base64 of V8's code cache for exactly that source>
//   */
//
// V8 skips the comments cheaply when it compiles the file; the loader reads its own file, compiles
// the bundle with `cachedData` (no parsing, no lazy compiling: every function of the bundle comes
// compiled) and calls it as Node calls a CommonJS module. Line numbers in stack traces are the
// file's own (lineOffset). VERSION (without PODNET_TRACE) is answered by the loader itself, with
// the bytes the bundle printed for VERSION when the file was made: it needs nothing else.
//
// The cache is made in a child of the Node named in the `#!` line: the bundle compiled eagerly
// (--no-lazy, set back before the cache is written, so its flag hash is the plain one), run once
// for VERSION, then V8's createCachedData. It only fits that Node's V8 version and flags; with
// another Node V8 rejects it and compiles the source as usual (slower, same result). One file per
// plugin, so whatever copies plugins (podnet install, the resident launchers' fallback copies,
// npm) copies the cache with it.
//
// addCodeCache(file) after esbuild wrote `file` (a `#!` line and a CommonJS bundle);
// refreshCodeCache(file) remakes the cache for the Node now in its `#!` line (npm install does
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

function loader(lineOffset, version) {
  const j = JSON.stringify;
  return [
    `"use strict";`,
    `// A podnet plugin. Its bundle is the comment below, compiled with the V8 code cache after it`,
    `// (made when it was built: podnet's scripts/code-cache.mjs); V8 rejects a cache from another`,
    `// Node version and then compiles the bundle as usual. VERSION needs none of it.`,
    `if (process.env.CNI_COMMAND === "VERSION" && process.env.PODNET_TRACE !== "1") return void require("node:fs").writeSync(1, ${j(version)});`,
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
  const source = text.slice(a + OPEN.length, b).replaceAll(ESCAPE, "*/");
  return {
    shebang: text.slice(0, text.indexOf("\n")),
    /** The source V8 compiles, exactly as the loader hands it over. */
    source,
    /** The bundle as esbuild wrote it (without its `#!` line). */
    body: source.slice(WRAP_HEAD.length, -WRAP_TAIL.length),
    /** Lines of the file above the bundle's first (V8's lineOffset: a cache keeps the one it was made with). */
    lineOffset: text.slice(0, a + OPEN.length).split("\n").length - 1,
    cache: Buffer.from(text.slice(b + CACHE.length, c), "base64"),
  };
}

/** The plugin file for `shebang` + `body` (a CommonJS bundle), its VERSION answer and code cache. */
export function pluginFile(shebang, body, version = "", cache = Buffer.alloc(0)) {
  if (!shebang.startsWith("#!")) throw new Error("a plugin bundle starts with a #! line");
  if (body.includes(ESCAPE)) throw new Error(`the bundle contains ${ESCAPE}, which stands for "*/" in a plugin file`);
  const lines = (s) => s.split("\n").length - 1;
  const lineOffset = 1 + lines(loader(0, version)) + 1; // lines above the bundle's first: #!, loader, "/*podnet:bundle"
  const source = `${WRAP_HEAD}${body}${WRAP_TAIL}`;
  return `${shebang}\n${loader(lineOffset, version)}${OPEN.slice(1)}${source.replaceAll("*/", ESCAPE)}${CACHE}${cache.toString("base64")}${CLOSE}`;
}

const execFileP = promisify(execFile);
const self = fileURLToPath(import.meta.url);
// A clean environment: V8 flags from NODE_OPTIONS would make a cache the plugins reject.
const childEnv = (extra) => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", ...extra });

/** Writes `file` with its VERSION answer and a code cache made by the Node in `shebang`. */
async function makePlugin(file, shebang, body) {
  const node = shebang.slice(2).split(" ")[0];
  writeFileSync(file, pluginFile(shebang, body));
  const out = `${file}.code-cache-${process.pid}`;
  try {
    const { stdout: version } = await execFileP(node, [self, "--make-cache", file, out], {
      env: childEnv({ CNI_COMMAND: "VERSION" }),
      maxBuffer: 1 << 20,
    });
    writeFileSync(file, pluginFile(shebang, body, version, readFileSync(out)));
  } finally {
    rmSync(out, { force: true });
  }
  // The Node that runs the plugin must take the cache, or every exec pays for a rejected one.
  const { stdout } = await execFileP(node, [self, "--check-cache", file], { env: childEnv({}) });
  if (stdout.trim() !== "accepted") throw new Error(`${file}: ${node} rejects the code cache made for it`);
}

/** Turns the esbuild bundle at `file` into a plugin file with its code cache. */
export async function addCodeCache(file) {
  const bundle = readFileSync(file, "utf8");
  const eol = bundle.indexOf("\n");
  await makePlugin(file, bundle.slice(0, eol), bundle.slice(eol + 1));
}

/** Remakes the cache of a plugin file for the Node in its `#!` line; false when `file` is not one. */
export async function refreshCodeCache(file) {
  const p = parsePlugin(readFileSync(file, "utf8"));
  if (!p) return false;
  await makePlugin(file, p.shebang, p.body);
  return true;
}

/** In the child: compile the source eagerly, run it once (VERSION), write V8's cache at exit. */
async function childMakeCache(file, out) {
  const [{ Script }, { setFlagsFromString }, { createRequire }, { dirname }] = await Promise.all([
    import("node:vm"),
    import("node:v8"),
    import("node:module"),
    import("node:path"),
  ]);
  const p = parsePlugin(readFileSync(file, "utf8"));
  if (!p) throw new Error(`${file} is not a plugin file`);
  setFlagsFromString("--no-lazy");
  const script = new Script(p.source, { filename: file, lineOffset: p.lineOffset });
  setFlagsFromString("--lazy");
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  process.on("exit", () => writeFileSync(out, script.createCachedData()));
}

function childCheckCache(file) {
  return import("node:vm").then(({ Script }) => {
    const p = parsePlugin(readFileSync(file, "utf8"));
    const rejected =
      !p ||
      p.cache.length === 0 ||
      new Script(p.source, { filename: file, lineOffset: p.lineOffset, cachedData: p.cache }).cachedDataRejected;
    process.stdout.write(rejected ? "rejected\n" : "accepted\n");
  });
}

if (process.argv[1] === self && process.argv[2] === "--make-cache")
  await childMakeCache(process.argv[3], process.argv[4]);
if (process.argv[1] === self && process.argv[2] === "--check-cache") await childCheckCache(process.argv[3]);
