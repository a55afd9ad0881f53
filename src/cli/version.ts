// `podnet version` / `podnet --version`: podnet's version (package.json), the git commit it was
// built from (dist/src/build-info.json, written by scripts/build-info.mjs at build time; "unknown"
// outside a git checkout), the Node running it and the CNI spec versions its plugins speak.
import { readFileSync } from "node:fs";
import { ALL_SPEC_VERSIONS } from "../cni/index.js";
import { exitCodes, parseCommandArgs } from "./args.js";

const USAGE =
  `usage: podnet version [--json]\n` +
  `       podnet --version\n` +
  `  podnet's version, the git commit it was built from, the Node running it, the CNI spec versions.\n` +
  `  --json  as a JSON object\n` +
  exitCodes();

export interface VersionInfo {
  readonly version: string;
  readonly commit: string;
  readonly node: string;
  readonly cniSpecVersions: readonly string[];
}

function readJsonFile(url: URL): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(url, "utf8"));
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** This build's version information (dist/src/cli/version.js → ../build-info.json, ../../../package.json). */
export function versionInfo(): VersionInfo {
  const pkg = readJsonFile(new URL("../../../package.json", import.meta.url));
  const build = readJsonFile(new URL("../build-info.json", import.meta.url));
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : "unknown");
  return {
    version: str(pkg?.["version"]),
    commit: str(build?.["commit"]),
    node: process.version,
    cniSpecVersions: [...ALL_SPEC_VERSIONS],
  };
}

export function formatVersion(v: VersionInfo): string {
  return `podnet ${v.version}\ncommit: ${v.commit}\nnode: ${v.node}\nCNI spec versions: ${v.cniSpecVersions.join(", ")}\n`;
}

export async function run(args: string[]): Promise<number> {
  const p = parseCommandArgs("version", USAGE, args, { json: { type: "boolean" } });
  if (typeof p === "number") return p;
  const v = versionInfo();
  process.stdout.write(p.values.json ? `${JSON.stringify(v, null, 2)}\n` : formatVersion(v));
  return 0;
}
