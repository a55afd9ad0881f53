// Installing a set of files with a manifest: the plan (what each path holds now, whose it is,
// what the install would do), then the changes in an order that leaves nothing half-made.
//
// Whose a file is: podnet's when the manifest lists it and it still holds what podnet wrote;
// anyone else's otherwise. Anyone else's is never replaced without --force, and then it is kept
// in the backup directory and put back by uninstall. A component written again (plugins, systemd,
// conflist) replaces its previous files as a whole: one the new install no longer writes is
// removed (and what it had replaced put back); components not written this time stay as recorded.
//
// Order: every check before any change; new files staged beside their final names; backups taken;
// the manifest written (it already lists the new files, so a crash from here on leaves files
// podnet knows about); then each staged file renamed into place, entry points last.
import { chownSync, rmSync, symlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import {
  commitStaged,
  describeState,
  makeDirs,
  missingDirs,
  modeText,
  pathState,
  readNoFollow,
  removeEmptyDirs,
  sha256,
  stageFile,
  stagingPath,
  type PathState,
} from "./files.js";
import {
  BACKUP_DIR,
  MANIFEST_FILE,
  readManifest,
  writeManifest,
  type Component,
  type Manifest,
  type ManifestDir,
  type ManifestFile,
  type Replaced,
} from "./manifest.js";
import { PodnetError } from "../util/errors.js";

export interface WantedFile {
  readonly path: string;
  readonly bytes: Buffer;
  readonly mode: number;
  readonly component: Component;
}

export interface InstallRequest {
  readonly stateDir: string;
  /** In install order (dependencies first, entry points last). */
  readonly files: readonly WantedFile[];
  /** The components this install writes (their previous files are replaced as a whole). */
  readonly components: readonly Component[];
  readonly force: boolean;
  readonly dryRun: boolean;
  readonly euid: number;
  readonly podnet: string;
  readonly commit: string;
  readonly now: string;
}

export type Action = "wrote" | "updated" | "unchanged" | "replaced" | "removed" | "restored" | "kept";

export interface ReportLine {
  readonly action: Action;
  readonly path: string;
  readonly note?: string;
}

export interface InstallReport {
  readonly lines: readonly ReportLine[];
  readonly manifest: string;
}

export class InstallConflictError extends PodnetError {
  override name = "InstallConflictError";
  readonly code = "PODNET_INSTALL_CONFLICT";
  readonly conflicts: ReadonlyArray<{ path: string; why: string }>;
  constructor(message: string, conflicts: ReadonlyArray<{ path: string; why: string }>) {
    super(`${message}:\n${conflicts.map((c) => `  ${c.path}: ${c.why}`).join("\n")}`);
    this.conflicts = conflicts;
  }
}

/** Whether what is at a path is exactly what a manifest entry says podnet wrote. */
export const matches = (s: PathState, e: Pick<ManifestFile, "sha256" | "mode">): boolean =>
  s.kind === "file" && s.sha256 === e.sha256 && modeText(s.mode) === e.mode;

/** Where the original of `path` is kept while podnet's file replaces it. */
export const backupPath = (stateDir: string, path: string): string =>
  join(stateDir, BACKUP_DIR, `${sha256(path).slice(0, 16)}-${basename(path)}`);

/** Puts back what a podnet file replaced (the caller has removed podnet's file or is about to replace it). */
export function restoreReplaced(path: string, r: Replaced): void {
  if (r.kind === "symlink") {
    const tmp = stagingPath(path);
    rmSync(tmp, { force: true });
    symlinkSync(r.target, tmp);
    commitStaged(tmp, path);
    return;
  }
  const bytes = readNoFollow(r.backup);
  if (sha256(bytes) !== r.sha256)
    throw new Error(`the backup ${r.backup} of ${path} does not hold what was saved (sha256 differs): not restored`);
  const tmp = stageFile(path, bytes, parseInt(r.mode, 8));
  try {
    chownSync(tmp, r.uid, r.gid);
    commitStaged(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  rmSync(r.backup, { force: true });
}

interface PlannedWrite {
  readonly want: WantedFile;
  readonly action: "wrote" | "updated" | "unchanged" | "replaced";
  readonly note?: string;
  readonly replaced?: Replaced;
  /** A foreign file to save before it is replaced. */
  readonly saveFrom?: PathState;
}

/** Directories to create for `paths` (each once, outermost first) and whether each already is recorded. */
function dirsFor(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) for (const d of missingDirs(p)) if (!out.includes(d)) out.push(d);
  return out;
}

export function install(req: InstallRequest): InstallReport {
  const prev = readManifest(req.stateDir, req.euid);
  const prevByPath = new Map((prev?.files ?? []).map((f) => [f.path, f]));
  const wantedPaths = new Set(req.files.map((f) => f.path));
  const conflicts: Array<{ path: string; why: string }> = [];
  const writes: PlannedWrite[] = [];

  for (const want of req.files) {
    const s = pathState(want.path);
    const newSha = sha256(want.bytes);
    const old = prevByPath.get(want.path);
    const carried = old?.replaced ? { replaced: old.replaced } : {};
    if (s.kind === "other") {
      conflicts.push({ path: want.path, why: `is ${s.what}` });
      continue;
    }
    if (old && (s.kind === "missing" || matches(s, old))) {
      const same = s.kind === "file" && s.sha256 === newSha && s.mode === want.mode;
      writes.push({ want, action: s.kind === "missing" ? "wrote" : same ? "unchanged" : "updated", ...carried });
      continue;
    }
    if (old) {
      if (!req.force)
        conflicts.push({ path: want.path, why: `changed since podnet installed it (now ${describeState(s)})` });
      else
        writes.push({
          want,
          action: "updated",
          note: `it had been changed since podnet installed it (${describeState(s)}); the change is gone`,
          ...carried,
        });
      continue;
    }
    if (s.kind === "missing") {
      writes.push({ want, action: "wrote" });
      continue;
    }
    if (!req.force) {
      conflicts.push({ path: want.path, why: `not written by podnet: ${describeState(s)}` });
      continue;
    }
    const replaced: Replaced =
      s.kind === "symlink"
        ? { kind: "symlink", target: s.target }
        : {
            kind: "file",
            sha256: s.sha256,
            mode: modeText(s.mode),
            uid: s.uid,
            gid: s.gid,
            backup: backupPath(req.stateDir, want.path),
          };
    const note =
      s.kind === "symlink"
        ? `was ${describeState(s)}; podnet uninstall puts it back`
        : `was ${describeState(s)}, not podnet's: saved to ${replaced.kind === "file" ? replaced.backup : ""}; podnet uninstall puts it back`;
    writes.push({ want, action: "replaced", note, replaced, saveFrom: s });
  }
  if (conflicts.length > 0) {
    throw new InstallConflictError(
      "refusing to overwrite files podnet did not write, or changed since (--force replaces them; podnet uninstall then puts the originals back)",
      conflicts,
    );
  }

  // Files of the rewritten components that this install no longer writes.
  const stale = (prev?.files ?? []).filter((f) => req.components.includes(f.component) && !wantedPaths.has(f.path));
  const staleLines: ReportLine[] = [];
  const staleGone: ManifestFile[] = [];
  const staleKept: ManifestFile[] = [];
  for (const f of stale) {
    const s = pathState(f.path);
    if (s.kind === "missing" || matches(s, f) || req.force) {
      staleGone.push(f);
      const why =
        s.kind === "missing"
          ? "already gone"
          : matches(s, f)
            ? "podnet's, no longer installed"
            : `no longer installed; changed since podnet wrote it (${describeState(s)}), removed (--force)`;
      staleLines.push({ action: "removed", path: f.path, note: why });
      if (f.replaced) staleLines.push({ action: "restored", path: f.path, note: "what podnet had replaced" });
    } else {
      staleKept.push(f);
      staleLines.push({
        action: "kept",
        path: f.path,
        note: `no longer installed, but changed since podnet wrote it (${describeState(s)}): left in place, still in the manifest`,
      });
    }
  }

  const backups = writes.filter((w) => w.saveFrom?.kind === "file");
  const under = (dir: string, p: string) => p === dir || p.startsWith(`${dir}/`);
  const dirsNeeded = [
    ...dirsFor(req.files.map((f) => dirname(f.path))).map((path) => ({
      path,
      component: req.files.find((f) => under(path, dirname(f.path)))!.component,
    })),
    ...dirsFor([req.stateDir, ...(backups.length ? [join(req.stateDir, BACKUP_DIR)] : [])]).map((path) => ({
      path,
      component: "state" as const,
    })),
  ];
  const manifestPath = join(req.stateDir, MANIFEST_FILE);
  const lines: ReportLine[] = [
    ...writes.map((w) => ({ action: w.action, path: w.want.path, ...(w.note ? { note: w.note } : {}) })),
    ...staleLines,
  ];
  if (req.dryRun) return { lines, manifest: manifestPath };

  // 1. directories, 2. staged files (undone on failure)
  const made: ManifestDir[] = [];
  const staged = new Map<string, string>();
  try {
    for (const d of dirsNeeded) {
      const mode = d.path === join(req.stateDir, BACKUP_DIR) ? 0o700 : 0o755;
      for (const m of makeDirs([d.path], mode)) made.push({ path: m, component: d.component });
    }
    for (const w of writes) {
      if (w.action !== "unchanged") staged.set(w.want.path, stageFile(w.want.path, w.want.bytes, w.want.mode));
    }
    // 3. backups of what --force replaces
    for (const w of backups) {
      if (w.replaced?.kind !== "file") continue;
      const bytes = readNoFollow(w.want.path);
      if (sha256(bytes) !== w.replaced.sha256)
        throw new Error(`${w.want.path} changed while podnet was installing: nothing was replaced`);
      const tmp = stageFile(w.replaced.backup, bytes, 0o600);
      commitStaged(tmp, w.replaced.backup);
    }
  } catch (e) {
    for (const tmp of staged.values()) rmSync(tmp, { force: true });
    for (const w of backups) if (w.replaced?.kind === "file") rmSync(w.replaced.backup, { force: true });
    removeEmptyDirs(made.map((d) => d.path));
    throw e;
  }

  // 4. the manifest: other components as they were, this install's files, stale files left in place
  const entry = (w: PlannedWrite): ManifestFile => ({
    path: w.want.path,
    sha256: sha256(w.want.bytes),
    mode: modeText(w.want.mode),
    component: w.want.component,
    ...(w.replaced ? { replaced: w.replaced } : {}),
  });
  const others = (prev?.files ?? []).filter((f) => !req.components.includes(f.component) && !wantedPaths.has(f.path));
  const dirs = [...(prev?.dirs ?? [])];
  for (const d of made) if (!dirs.some((x) => x.path === d.path)) dirs.push(d);
  const manifest: Manifest = {
    version: 1,
    podnet: req.podnet,
    commit: req.commit,
    installedAt: req.now,
    files: [...others, ...staleKept, ...writes.map(entry)],
    dirs,
  };
  try {
    writeManifest(req.stateDir, manifest);
  } catch (e) {
    for (const tmp of staged.values()) rmSync(tmp, { force: true });
    for (const w of backups) if (w.replaced?.kind === "file") rmSync(w.replaced.backup, { force: true });
    removeEmptyDirs(made.map((d) => d.path));
    throw e;
  }

  // 5. into place, in order; 6. stale files out (entry points first), their originals back
  for (const w of writes) {
    const tmp = staged.get(w.want.path);
    if (tmp) commitStaged(tmp, w.want.path);
  }
  for (const f of [...staleGone].reverse()) {
    rmSync(f.path, { force: true });
    if (f.replaced) restoreReplaced(f.path, f.replaced);
  }
  return { lines, manifest: manifestPath };
}
