// The install manifest: every file and directory `podnet install` wrote, so that a re-install
// knows its own files from anyone else's and `podnet uninstall` removes exactly those.
//
//   <state-dir>/install-manifest.json   this record (0644; trusted only when owned by us and not
//                                       writable by group or others, in such a directory)
//   <state-dir>/install-backup/         files podnet replaced with --force, put back by uninstall
//
// Each file is recorded with its sha256 and mode as written; a file that no longer matches was
// changed by someone else since, and is not podnet's to remove without --force.
import { lstatSync, readFileSync } from "node:fs";
import { isAbsolute, join, normalize } from "node:path";
import { modeText } from "./files.js";
import { writeFileAtomicSync } from "../util/atomic-write.js";
import { PodnetError } from "../util/errors.js";

export const MANIFEST_FILE = "install-manifest.json";
export const BACKUP_DIR = "install-backup";
export const DEFAULT_STATE_DIR = "/var/lib/podnet";
const MAX_MANIFEST_BYTES = 4 << 20;

/** The parts of an install that are written (and replaced by a re-install) as a whole. */
export const COMPONENTS = ["plugins", "systemd", "conflist", "state"] as const;
export type Component = (typeof COMPONENTS)[number];

/** What was at a path before podnet replaced it (--force): put back by uninstall. */
export type Replaced =
  | {
      readonly kind: "file";
      readonly sha256: string;
      readonly mode: string;
      readonly uid: number;
      readonly gid: number;
      readonly backup: string;
    }
  | { readonly kind: "symlink"; readonly target: string };

export interface ManifestFile {
  readonly path: string;
  readonly sha256: string;
  /** Permission bits as written, "0755". */
  readonly mode: string;
  readonly component: Component;
  readonly replaced?: Replaced;
}

export interface ManifestDir {
  readonly path: string;
  readonly component: Component;
}

export interface Manifest {
  readonly version: 1;
  /** podnet's version and commit that wrote it. */
  readonly podnet: string;
  readonly commit: string;
  readonly installedAt: string;
  readonly files: readonly ManifestFile[];
  /** Directories podnet created (removed by uninstall when empty). */
  readonly dirs: readonly ManifestDir[];
}

export class ManifestError extends PodnetError {
  override name = "ManifestError";
  readonly code = "PODNET_INSTALL_MANIFEST";
}

const SHA = /^[0-9a-f]{64}$/;
const MODE = /^0[0-7]{3,4}$/;

/** An absolute, normal path (no "..", no "//"): uninstall removes it, so nothing else is accepted. */
function safePath(v: unknown, where: string): string {
  if (typeof v !== "string" || v === "" || v.includes("\0") || !isAbsolute(v) || normalize(v) !== v || v === "/") {
    throw new ManifestError(`${where}: must be an absolute, normalised path, got ${JSON.stringify(v)}`);
  }
  return v;
}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (!v || typeof v !== "object" || Array.isArray(v))
    throw new ManifestError(`${where}: must be an object, got ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, k: string, where: string, re?: RegExp): string {
  const v = o[k];
  if (typeof v !== "string" || (re && !re.test(v)))
    throw new ManifestError(`${where}.${k}: invalid value ${JSON.stringify(v)}`);
  return v;
}

function component(o: Record<string, unknown>, where: string): Component {
  const c = o["component"];
  if (!(COMPONENTS as readonly unknown[]).includes(c))
    throw new ManifestError(`${where}.component: must be one of ${COMPONENTS.join(", ")}, got ${JSON.stringify(c)}`);
  return c as Component;
}

function replaced(v: unknown, where: string, stateDir: string): Replaced | undefined {
  if (v === undefined) return undefined;
  const o = obj(v, where);
  if (o["kind"] === "symlink") return { kind: "symlink", target: str(o, "target", where) };
  if (o["kind"] !== "file")
    throw new ManifestError(`${where}.kind: must be "file" or "symlink", got ${JSON.stringify(o["kind"])}`);
  const backup = safePath(o["backup"], `${where}.backup`);
  // A backup is only ever read from podnet's own backup directory.
  if (!backup.startsWith(`${join(stateDir, BACKUP_DIR)}/`))
    throw new ManifestError(`${where}.backup: ${JSON.stringify(backup)} is not in ${join(stateDir, BACKUP_DIR)}`);
  const id = (k: string) => {
    const n = o[k];
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 0xffffffff)
      throw new ManifestError(`${where}.${k}: invalid value ${JSON.stringify(n)}`);
    return n;
  };
  return {
    kind: "file",
    sha256: str(o, "sha256", where, SHA),
    mode: str(o, "mode", where, MODE),
    uid: id("uid"),
    gid: id("gid"),
    backup,
  };
}

/** Parses and checks a manifest; every path must be absolute and normal. */
export function parseManifest(text: string, stateDir: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`not JSON: ${(e as Error).message}`);
  }
  const o = obj(raw, "manifest");
  if (o["version"] !== 1) throw new ManifestError(`manifest.version: must be 1, got ${JSON.stringify(o["version"])}`);
  if (!Array.isArray(o["files"]) || !Array.isArray(o["dirs"]))
    throw new ManifestError(`manifest: "files" and "dirs" must be lists`);
  const files = o["files"].map((f: unknown, i: number): ManifestFile => {
    const w = `files[${i}]`;
    const e = obj(f, w);
    const r = replaced(e["replaced"], `${w}.replaced`, stateDir);
    return {
      path: safePath(e["path"], `${w}.path`),
      sha256: str(e, "sha256", w, SHA),
      mode: str(e, "mode", w, MODE),
      component: component(e, w),
      ...(r ? { replaced: r } : {}),
    };
  });
  const dirs = o["dirs"].map((d: unknown, i: number): ManifestDir => {
    const e = obj(d, `dirs[${i}]`);
    return { path: safePath(e["path"], `dirs[${i}].path`), component: component(e, `dirs[${i}]`) };
  });
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) throw new ManifestError(`${f.path} is listed twice`);
    seen.add(f.path);
  }
  return {
    version: 1,
    podnet: typeof o["podnet"] === "string" ? o["podnet"] : "unknown",
    commit: typeof o["commit"] === "string" ? o["commit"] : "unknown",
    installedAt: typeof o["installedAt"] === "string" ? o["installedAt"] : "",
    files,
    dirs,
  };
}

/** Why `path` (a file or directory) cannot be trusted to hold a manifest (undefined: it can). */
function untrusted(path: string, euid: number): string | undefined {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return `${path} is a symlink`;
  if (st.uid !== euid) return `${path} is owned by uid ${st.uid}, not uid ${euid}`;
  if (st.mode & 0o022) return `${path} is writable by group or others (mode ${modeText(st.mode)})`;
  return undefined;
}

/**
 * The manifest in `stateDir`, or undefined when there is none. It tells uninstall what to delete
 * as root, so it is refused unless it and its directory belong to us and nobody else can write them.
 */
export function readManifest(stateDir: string, euid: number): Manifest | undefined {
  const path = join(stateDir, MANIFEST_FILE);
  try {
    lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const why = untrusted(stateDir, euid) ?? untrusted(path, euid);
  if (why) throw new ManifestError(`refusing the install manifest ${path}: ${why}`);
  const st = lstatSync(path);
  if (!st.isFile() || st.size > MAX_MANIFEST_BYTES)
    throw new ManifestError(`${path}: not a regular file of at most ${MAX_MANIFEST_BYTES} bytes`);
  try {
    return parseManifest(readFileSync(path, "utf8"), stateDir);
  } catch (e) {
    if (e instanceof ManifestError) throw new ManifestError(`${path}: ${e.message}`);
    throw e;
  }
}

export function writeManifest(stateDir: string, m: Manifest): void {
  writeFileAtomicSync(join(stateDir, MANIFEST_FILE), `${JSON.stringify(m, null, 2)}\n`, { mode: 0o644 });
}
