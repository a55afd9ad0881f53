// `podnet uninstall`: undoes `podnet install` from its manifest (src/deploy/uninstall.ts) —
// exactly the files it wrote, each only while it still holds what podnet wrote; what podnet had
// replaced is put back; nothing else is touched.
import { resolve } from "node:path";
import { DEFAULT_STATE_DIR, MANIFEST_FILE } from "../deploy/manifest.js";
import { type UninstallReport, uninstall } from "../deploy/uninstall.js";
import { EXIT_FAILURE, EXIT_OK, exitCodes, parseCommandArgs } from "./args.js";
import { formatReport } from "./install.js";

const USAGE = `usage: podnet uninstall [--state-dir DIR] [--force] [--dry-run]
  Removes what \`podnet install\` wrote, as its manifest (DIR/${MANIFEST_FILE}) lists it, puts
  back the files it had replaced (--force), and removes the directories it created once empty.
  Stop and disable the units first: systemctl disable --now podnet-node podnet-resident.

  --state-dir DIR  where the manifest is (default ${DEFAULT_STATE_DIR})
  --force          also remove listed files changed since podnet wrote them, and units still enabled
  --dry-run        print what would be done; change nothing
${exitCodes({ failure: "failure, or a listed file changed since install / a unit still enabled (each is named; nothing was removed)" })}`;

export async function run(args: string[]): Promise<number> {
  const p = parseCommandArgs("uninstall", USAGE, args, {
    "state-dir": { type: "string" },
    force: { type: "boolean" },
    "dry-run": { type: "boolean" },
  });
  if (typeof p === "number") return p;
  const stateDir = resolve(p.values["state-dir"] ?? DEFAULT_STATE_DIR);
  const dryRun = p.values["dry-run"] === true;
  let report: UninstallReport;
  try {
    report = uninstall({ stateDir, force: p.values.force === true, dryRun, euid: process.geteuid?.() ?? 0 });
  } catch (e) {
    // refused (InstallConflictError), an untrusted or broken manifest (ManifestError), or I/O
    process.stderr.write(`podnet uninstall: ${(e as Error).message}\n`);
    return EXIT_FAILURE;
  }
  if (!report.found) {
    process.stdout.write(`nothing to uninstall: no install manifest in ${stateDir}\n`);
    return EXIT_OK;
  }
  process.stdout.write(formatReport(report.lines, dryRun));
  return EXIT_OK;
}
