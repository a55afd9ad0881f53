// `podnet uninstall`: removes exactly the files the install manifest lists — each only while it
// still holds what podnet wrote — puts back what podnet had replaced, removes the directories
// podnet created once they are empty, and the manifest last. Nothing else is touched.
//
// Refused (nothing removed) without --force: a listed file changed since podnet wrote it, or a
// listed systemd unit still enabled (its *.wants symlink would be left dangling).
import { lstatSync, readdirSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { describeState, pathState, removeEmptyDirs } from "./files.js";
import { InstallConflictError, matches, restoreReplaced, type ReportLine } from "./install.js";
import { MANIFEST_FILE, readManifest, writeManifest, type Manifest, type ManifestFile } from "./manifest.js";

export interface UninstallRequest {
  readonly stateDir: string;
  readonly force: boolean;
  readonly dryRun: boolean;
  readonly euid: number;
}

export interface UninstallReport {
  /** False when there was no manifest (nothing installed there). */
  readonly found: boolean;
  readonly lines: readonly ReportLine[];
}

/** Symlinks in <dir>/*.wants|*.requires|*.upholds named after `unit` (what `systemctl enable` made). */
export function enabledLinks(unitPath: string): string[] {
  const dir = dirname(unitPath);
  const name = basename(unitPath);
  let subdirs: string[];
  try {
    subdirs = readdirSync(dir).filter((d) => /\.(wants|requires|upholds)$/.test(d));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const d of subdirs) {
    const p = join(dir, d, name);
    try {
      if (lstatSync(p).isSymbolicLink()) out.push(p);
    } catch {
      // not enabled there
    }
  }
  return out;
}

export function uninstall(req: UninstallRequest): UninstallReport {
  const m = readManifest(req.stateDir, req.euid);
  if (!m) return { found: false, lines: [] };
  const lines: ReportLine[] = [];
  const conflicts: Array<{ path: string; why: string }> = [];

  for (const f of m.files.filter((x) => x.component === "systemd")) {
    for (const link of enabledLinks(f.path)) {
      const unit = basename(f.path);
      if (!req.force)
        conflicts.push({ path: f.path, why: `still enabled (${link}): run \`systemctl disable --now ${unit}\` first` });
      else
        lines.push({
          action: "kept",
          path: link,
          note: `not podnet's (systemctl enable made it): dangling now; \`systemctl disable ${unit}\` removes it`,
        });
    }
  }
  const states = new Map(m.files.map((f) => [f.path, pathState(f.path)]));
  for (const f of m.files) {
    const s = states.get(f.path)!;
    if (s.kind === "missing" || matches(s, f)) continue;
    if (!req.force)
      conflicts.push({ path: f.path, why: `changed since podnet installed it (now ${describeState(s)})` });
  }
  if (conflicts.length > 0) {
    throw new InstallConflictError(
      "refusing to uninstall (nothing was removed; --force removes the changed files too)",
      conflicts,
    );
  }

  const remaining: ManifestFile[] = [];
  const errors: string[] = [];
  // Entry points first: the reverse of the install order.
  for (const f of [...m.files].reverse()) {
    const s = states.get(f.path)!;
    if (req.dryRun) {
      lines.push({ action: "removed", path: f.path, ...(s.kind === "missing" ? { note: "already gone" } : {}) });
      if (f.replaced) lines.push({ action: "restored", path: f.path, note: "what podnet had replaced" });
      continue;
    }
    try {
      if (s.kind !== "missing") rmSync(f.path, { force: true });
      lines.push({
        action: "removed",
        path: f.path,
        ...(s.kind === "missing"
          ? { note: "already gone" }
          : matches(s, f)
            ? {}
            : { note: `changed since install (${describeState(s)}), removed (--force)` }),
      });
      if (f.replaced) {
        restoreReplaced(f.path, f.replaced);
        lines.push({
          action: "restored",
          path: f.path,
          note:
            f.replaced.kind === "symlink"
              ? `the symlink to ${f.replaced.target} podnet had replaced`
              : "the file podnet had replaced",
        });
      }
    } catch (e) {
      remaining.unshift(f);
      errors.push(`${f.path}: ${(e as Error).message}`);
    }
  }
  if (req.dryRun) return { found: true, lines };
  if (errors.length > 0) {
    const left: Manifest = { ...m, files: remaining };
    writeManifest(req.stateDir, left);
    throw new Error(
      `could not uninstall everything (the manifest keeps what is left; run podnet uninstall again):\n${errors.map((e) => `  ${e}`).join("\n")}`,
    );
  }
  rmSync(join(req.stateDir, MANIFEST_FILE), { force: true });
  for (const d of removeEmptyDirs(m.dirs.map((x) => x.path)))
    lines.push({ action: "removed", path: d, note: "directory podnet created" });
  return { found: true, lines };
}
