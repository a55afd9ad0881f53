// The plugin files `podnet install` puts in the CNI bin dir: every regular file the build left in
// build/resident (the launchers, the Node plugins they fall back to, the addon, whatever else the
// build puts beside them) or, with --exec, build/cni — except the SDK's sample plugin and the
// build's own bookkeeping. Nothing is chosen by extension: a new per-plugin file is installed too.
//
// A Node script's `#!` line names the Node that built it; installed, it names the Node that ran
// `podnet install` (a checkout built with one Node and installed with another, or an npm package
// built elsewhere). Files that already name that Node are installed byte for byte.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";

export const ADDON_FILE = "podnet_netlink.node";

/** The SDK's example plugin (`sample`, `podnet-sample.cjs`, and anything named after it), dotfiles, package.json. */
export const notInstalled = (name: string): boolean =>
  name.startsWith(".") || name === "package.json" || /^(podnet-)?sample([.-]|$)/.test(name);

export interface PluginFile {
  readonly name: string;
  readonly bytes: Buffer;
  readonly mode: number;
  /** Its `#!` line was changed to name the installing Node (its code cache was made by another). */
  readonly stamped: boolean;
}

const isNode = (path: string | undefined) => path !== undefined && /^node(js)?[0-9.]*$/.test(basename(path));

/**
 * Replaces the interpreter of a Node script's `#!` line (`#!/usr/bin/node`, `#!/usr/bin/env node`)
 * with `node`, keeping what follows it (`#!/usr/bin/node --flag`); anything else is returned as is.
 */
export function stampShebang(bytes: Buffer, node: string): Buffer {
  if (bytes[0] !== 0x23 || bytes[1] !== 0x21) return bytes;
  const eol = bytes.indexOf(0x0a);
  if (eol < 0) return bytes;
  const line = bytes.subarray(2, eol).toString("utf8");
  const words = line.trim().split(/[ \t]+/);
  let rest: string[];
  if (isNode(words[0])) rest = words.slice(1);
  else if (words[0] !== undefined && basename(words[0]) === "env" && isNode(words[1])) rest = words.slice(2);
  else return bytes; // a `#!/bin/sh` helper keeps its interpreter
  const stamped = [node, ...rest].join(" ");
  if (stamped === line) return bytes;
  return Buffer.concat([Buffer.from(`#!${stamped}`), bytes.subarray(eol)]);
}

/**
 * Install order: the addon first (a plugin loads it), then every other non-entry file (the Node
 * plugins, code caches), the entry points runtimes exec (names without a dot) last.
 */
export const installRank = (name: string): number => (name.endsWith(".node") ? 0 : name.includes(".") ? 1 : 2);

/** The files to install from a build directory; throws with what to do when it is not built. */
export function pluginFiles(from: string, node: string): PluginFile[] {
  if (!existsSync(from) || !statSync(from).isDirectory()) {
    throw new Error(`no built plugins in ${from}: run \`npm run build\` first`);
  }
  const files: PluginFile[] = [];
  for (const name of readdirSync(from).sort()) {
    if (notInstalled(name)) continue;
    const st = statSync(join(from, name));
    if (!st.isFile()) continue;
    const built = readFileSync(join(from, name));
    const bytes = stampShebang(built, node);
    files.push({ name, bytes, mode: st.mode & 0o111 ? 0o755 : 0o644, stamped: bytes !== built });
  }
  if (!files.some((f) => installRank(f.name) === 2)) throw new Error(`no plugins found in ${from}`);
  if (!files.some((f) => f.name === ADDON_FILE))
    throw new Error(`${ADDON_FILE} is missing from ${from}: build the addon (npm run install) and rebuild`);
  return files.sort((a, b) => installRank(a.name) - installRank(b.name) || a.name.localeCompare(b.name));
}

/** The nearest package.json above `dir` says `"type": "module"` (then bundles need a CommonJS marker). */
export function insideEsmPackage(dir: string): boolean {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const pj = join(d, "package.json");
    if (existsSync(pj)) {
      try {
        return (JSON.parse(readFileSync(pj, "utf8")) as { type?: string }).type === "module";
      } catch {
        return false;
      }
    }
    if (dirname(d) === d) return false;
  }
}

/** Remakes the V8 code cache of a plugin file at a path for the Node in its `#!` line; false: not a plugin file. */
export type RefreshCodeCache = (file: string) => Promise<boolean>;

/**
 * The stamped files with their code caches remade by the Node now named in their `#!` line: a
 * cache made by another Node is rejected by V8, and every exec of the plugin would then compile
 * its bundle again. Each is written to a private temporary directory, refreshed there, read back.
 */
export async function withFreshCodeCaches(
  files: readonly PluginFile[],
  refresh: RefreshCodeCache,
): Promise<PluginFile[]> {
  if (!files.some((f) => f.stamped)) return [...files];
  const dir = mkdtempSync(join(tmpdir(), "podnet-install-"));
  try {
    return await Promise.all(
      files.map(async (f) => {
        if (!f.stamped) return f;
        const path = join(dir, f.name);
        writeFileSync(path, f.bytes, { mode: 0o600 });
        return (await refresh(path)) ? { ...f, bytes: readFileSync(path) } : f;
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * scripts/code-cache.mjs's refreshCodeCache (shipped beside dist/ in the package and in a checkout),
 * loaded on the first file that needs it: an install that stamps nothing never loads it.
 */
export const refreshCodeCache: RefreshCodeCache = async (file) => {
  const url = new URL("../../../scripts/code-cache.mjs", import.meta.url);
  const m = (await import(url.href)) as { refreshCodeCache: RefreshCodeCache };
  return m.refreshCodeCache(file);
};
