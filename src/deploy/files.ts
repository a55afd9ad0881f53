// The file operations `podnet install`/`uninstall` are made of: what is at a path now (never
// following a symlink), writing a file beside its final name and renaming it into place (a
// runtime that execs a plugin meanwhile sees the old file or the new one, never half of one; a
// running executable is not overwritten, so no ETXTBSY), and directories created one by one so
// that each can be recorded and removed again.
import { createHash } from "node:crypto";
import {
  closeSync,
  constants,
  fchmodSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  rmSync,
  type Stats,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";

export type PathState =
  | { readonly kind: "missing" }
  | {
      readonly kind: "file";
      readonly sha256: string;
      readonly mode: number;
      readonly uid: number;
      readonly gid: number;
    }
  | { readonly kind: "symlink"; readonly target: string }
  | { readonly kind: "other"; readonly what: string };

export const sha256 = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");

/** Permission bits as text: 0o755 → "0755". */
export const modeText = (mode: number): string => `0${(mode & 0o7777).toString(8).padStart(3, "0")}`;

/** Largest file podnet installs or reads back (the addon is ~100 KiB, a bundle ~300 KiB). */
export const MAX_INSTALLED_FILE = 64 << 20;

/** What is at `path`: lstat, so a symlink is reported as one, not followed. */
export function pathState(path: string): PathState {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { kind: "missing" };
    throw e;
  }
  if (st.isSymbolicLink()) return { kind: "symlink", target: readlinkSync(path) };
  if (!st.isFile()) return { kind: "other", what: st.isDirectory() ? "a directory" : "not a regular file" };
  if (st.size > MAX_INSTALLED_FILE) return { kind: "other", what: `a file of ${st.size} bytes` };
  // O_NOFOLLOW: had it been swapped for a symlink since the lstat, open fails instead of following it.
  return { kind: "file", sha256: sha256(readNoFollow(path)), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/** A regular file's bytes, refusing to follow a symlink at `path` (O_NOFOLLOW). */
export function readNoFollow(path: string): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** "a regular file (sha256 0123456789ab…)", "a symlink to /usr/lib/cni/bridge", … */
export function describeState(s: PathState): string {
  switch (s.kind) {
    case "missing":
      return "nothing";
    case "file":
      return `a regular file (sha256 ${s.sha256.slice(0, 12)}…, mode ${modeText(s.mode)})`;
    case "symlink":
      return `a symlink to ${s.target}`;
    case "other":
      return s.what;
  }
}

/**
 * The directories `mkdir -p dir` would create, outermost first (none when it exists). A path
 * component that exists but is not a directory (or is a symlink to one) is left to mkdir to
 * reject or follow: only directories podnet creates itself are reported.
 */
export function missingDirs(dir: string): string[] {
  const out: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    try {
      lstatSync(d);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      out.unshift(d);
    }
    if (dirname(d) === d) break;
  }
  return out;
}

/** Creates `dirs` (outermost first, as missingDirs lists them) with `mode`; returns those it made. */
export function makeDirs(dirs: readonly string[], mode: number): string[] {
  const made: string[] = [];
  for (const d of dirs) {
    try {
      mkdirSync(d, { mode });
      made.push(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  return made;
}

/** Removes each directory of `dirs` that is empty, innermost first; returns the ones removed. */
export function removeEmptyDirs(dirs: readonly string[]): string[] {
  const removed: string[] = [];
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    try {
      rmdirSync(d);
      removed.push(d);
    } catch {
      // not empty (something else lives there now), or already gone: leave it
    }
  }
  return removed;
}

/** The temporary name a file is written to before it is renamed to `path`. */
export const stagingPath = (path: string): string =>
  join(dirname(path), `.${basename(path)}.podnet-install-${process.pid}`);

/**
 * Writes `bytes` to a new temporary file beside `path` (O_EXCL, `mode` exactly, whatever the
 * umask) and returns its name; nothing is left behind when it fails.
 */
export function stageFile(path: string, bytes: Buffer, mode: number): string {
  const tmp = stagingPath(path);
  rmSync(tmp, { force: true }); // a leftover of a crashed install with the same pid
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fchmodSync(fd, mode);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  return tmp;
}

/** Puts a staged file in place: rename(2) replaces whatever is at `path` (a symlink itself, never its target). */
export function commitStaged(tmp: string, path: string): void {
  renameSync(tmp, path);
}
