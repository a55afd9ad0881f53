// `podnet install [--cni-bin-dir DIR] [--from DIR]` — puts podnet's plugin executables where a
// runtime looks for them: every bundle built into build/cni (`node scripts/build.mjs`) plus the
// native addon they load from their own directory (podnet_netlink.node), mode 0755.
//
// Each file is written to a temporary name in DIR and renamed over the old one, so a plugin that
// is running meanwhile keeps its old file (no ETXTBSY) and no runtime ever sees half a file.
// Bundles are CommonJS without an extension: if DIR sits inside a `"type": "module"` package,
// a package.json marking DIR CommonJS is written beside them, or Node would read them as ESM.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

export const DEFAULT_CNI_BIN_DIR = "/opt/cni/bin";
const ADDON = "podnet_netlink.node";
/** Built, but not something to install: the SDK's example plugin. */
const NOT_INSTALLED = new Set(["sample", "podnet-sample.cjs", "package.json"]);

const USAGE = `usage: podnet install [--cni-bin-dir DIR] [--from DIR] [--resident]
  Copies podnet's CNI plugins (and ${ADDON}) into DIR (default ${DEFAULT_CNI_BIN_DIR}), mode 0755.
  --resident  install the resident-mode launchers instead: each plugin is a ~1 ms C program that
              hands the call to \`podnet resident\` (or \`podnet node\`) and falls back to the Node
              plugin (podnet-<name>.cjs, installed beside it) when no daemon runs
  --from      where the built plugins are (default: build/cni, or build/resident, of this checkout)
`;

export function defaultBuildDir(resident = false): string {
  // dist/src/cli/install.js → <repo>/build/cni
  return new URL(resident ? "../../../build/resident" : "../../../build/cni", import.meta.url).pathname;
}

/** Install order: the addon, then the Node plugins, then launchers (which fall back to those). */
const rank = (n: string) => (n === ADDON ? 0 : n.endsWith(".cjs") ? 1 : 2);

/** The nearest package.json above `dir` says `"type": "module"`. */
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

export interface InstallResult {
  readonly installed: string[];
  readonly wrotePackageJson: boolean;
}

export function install(from: string, to: string): InstallResult {
  if (!existsSync(from) || !statSync(from).isDirectory()) {
    throw new Error(`no built plugins in ${from}: run \`node scripts/build.mjs\` (or \`npm run build\`) first`);
  }
  const names = readdirSync(from)
    .filter((n) => !NOT_INSTALLED.has(n) && !n.startsWith("."))
    .filter((n) => statSync(join(from, n)).isFile())
    .sort();
  const plugins = names.filter((n) => n !== ADDON);
  if (plugins.length === 0) throw new Error(`no plugins found in ${from}`);
  if (!names.includes(ADDON)) throw new Error(`${ADDON} is missing from ${from}: build the addon (npm run install) and rebuild`);
  mkdirSync(to, { recursive: true });
  // The addon first: a plugin installed before it would fail to load it.
  const order = [ADDON, ...plugins].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  for (const n of order) {
    const tmp = join(to, `.${n}.podnet-install-${process.pid}`);
    try {
      copyFileSync(join(from, n), tmp);
      chmodSync(tmp, 0o755);
      renameSync(tmp, join(to, n));
    } catch (e) {
      rmSync(tmp, { force: true });
      throw new Error(`installing ${n} into ${to}: ${(e as Error).message}`);
    }
  }
  let wrotePackageJson = false;
  if (insideEsmPackage(to)) {
    writeFileSync(join(to, "package.json"), JSON.stringify({ type: "commonjs" }) + "\n", { mode: 0o644 });
    wrotePackageJson = true;
  }
  return { installed: order, wrotePackageJson };
}

export async function run(args: string[]): Promise<number> {
  let values: { "cni-bin-dir"?: string; from?: string; resident?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: { "cni-bin-dir": { type: "string" }, from: { type: "string" }, resident: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`podnet install: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const to = resolve(values["cni-bin-dir"] ?? DEFAULT_CNI_BIN_DIR);
  const from = resolve(values.from ?? defaultBuildDir(values.resident === true));
  try {
    const r = install(from, to);
    for (const n of r.installed) process.stdout.write(`${join(to, n)}\n`);
    if (r.wrotePackageJson) process.stdout.write(`${join(to, "package.json")} (marks the directory CommonJS)\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`podnet install: ${(e as Error).message}\n`);
    return 1;
  }
}
