// CNI spec versions: parsing, comparison, generations and what each version allows.
import { CniCode, CniError } from "./errors.js";
import { brief } from "./keys.js";

export const ALL_SPEC_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export type SpecVersion = (typeof ALL_SPEC_VERSIONS)[number];
/** The newest version this library speaks (what VERSION answers with as its own cniVersion). */
export const CURRENT_VERSION: SpecVersion = "1.1.0";

/** Result generations: 020 = {"", 0.1.0, 0.2.0}, 040 = {0.3.0, 0.3.1, 0.4.0}, 100 = {1.0.0, 1.1.0}. */
export type Generation = "020" | "040" | "100";

export function isSpecVersion(v: string): v is SpecVersion {
  return (ALL_SPEC_VERSIONS as readonly string[]).includes(v);
}

/** libcni ParseVersion: at most 3 dot-separated integers, missing parts are 0, "" is 0.1.0. */
export function parseVersion(v: string): [number, number, number] {
  if (v === "") return [0, 1, 0];
  const parts = v.split(".");
  if (parts.length > 3) throw new CniError(CniCode.DecodingFailure, `invalid version "${v}": too many parts`);
  const nums = parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new CniError(CniCode.DecodingFailure, `invalid version "${v}": "${p}" is not a number`);
    return Number(p);
  });
  return [nums[0] ?? 0, nums[1] ?? 0, nums[2] ?? 0];
}

export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (let i = 0; i < 3; i++) if (x[i]! !== y[i]!) return x[i]! < y[i]! ? -1 : 1;
  return 0;
}

export const versionAtLeast = (v: string, min: string): boolean => compareVersions(v, min) >= 0;

export function generationOf(v: string): Generation {
  switch (v) {
    case "":
    case "0.1.0":
    case "0.2.0":
      return "020";
    case "0.3.0":
    case "0.3.1":
    case "0.4.0":
      return "040";
    case "1.0.0":
    case "1.1.0":
      return "100";
    default:
      throw new CniError(CniCode.IncompatibleCniVersion, `unsupported CNI result version "${v}"`);
  }
}

export type Verb = "ADD" | "DEL" | "CHECK" | "STATUS" | "GC" | "VERSION";

/** The first spec version that has each verb. */
export const VERB_SINCE: Readonly<Record<Verb, string>> = {
  ADD: "0.1.0",
  DEL: "0.1.0",
  VERSION: "0.2.0",
  CHECK: "0.4.0",
  STATUS: "1.1.0",
  GC: "1.1.0",
};

export const specHas = (v: string, verb: Verb): boolean => versionAtLeast(v === "" ? "0.1.0" : v, VERB_SINCE[verb]);

/**
 * The version of a request config: its `cniVersion`, or 0.1.0 when absent (libcni DecodeVersion).
 * Throws DecodingFailure (6) when it is not a string.
 */
export function decodeConfVersion(conf: Record<string, unknown>): string {
  const v = conf["cniVersion"];
  if (v === undefined || v === null || v === "") return "0.1.0";
  if (typeof v !== "string") throw new CniError(CniCode.DecodingFailure, `"cniVersion" must be a string, got ${brief(v)}`);
  return v;
}

/**
 * Spec 1.1.0 version selection: the highest of {cniVersion} ∪ cniVersions that is not newer than
 * what we support; when nothing is left, the original cniVersion stays.
 */
export function selectConfVersion(cniVersion: string, cniVersions: readonly string[] | undefined, max: string = CURRENT_VERSION): string {
  const cands: string[] = [];
  for (const [i, v] of (cniVersions ?? []).entries()) {
    try {
      parseVersion(v);
    } catch {
      throw new CniError(CniCode.InvalidNetworkConfig, `invalid cniVersions entry "${v}" at index ${i}`);
    }
    if (compareVersions(v, max) <= 0) cands.push(v);
  }
  if (cniVersion !== "" && compareVersions(cniVersion, max) <= 0) cands.push(cniVersion);
  if (cands.length === 0) return cniVersion;
  return cands.reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b));
}
