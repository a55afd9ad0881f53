// CNI spec versions: parsing, comparison, generations and what each version allows.
import { CniCode, CniError } from "./errors.js";
import { goDecodeStringField, goStrconvQuote } from "./gojson.js";

export const ALL_SPEC_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export type SpecVersion = (typeof ALL_SPEC_VERSIONS)[number];
/** The newest version this library speaks (what VERSION answers with as its own cniVersion). */
export const CURRENT_VERSION: SpecVersion = "1.1.0";

/** Result generations: 020 = {"", 0.1.0, 0.2.0}, 040 = {0.3.0, 0.3.1, 0.4.0}, 100 = {1.0.0, 1.1.0}. */
export type Generation = "020" | "040" | "100";

export function isSpecVersion(v: string): v is SpecVersion {
  return (ALL_SPEC_VERSIONS as readonly string[]).includes(v);
}

/** Go's strconv.Atoi: an optional sign and decimal digits within int64; its error text otherwise. */
function goAtoi(s: string): number | string {
  const fail = (why: string) => `strconv.Atoi: parsing ${goStrconvQuote(s)}: ${why}`;
  if (!/^[+-]?\d+$/.test(s)) return fail("invalid syntax");
  const n = BigInt(s);
  if (n > 0x7fffffffffffffffn || n < -0x8000000000000000n) return fail("value out of range");
  return Number(n);
}

/**
 * libcni ParseVersion, with its error texts: at most 3 dot-separated integers (Atoi's, so "+1" and
 * "-1" pass), missing parts are 0, "" is 0.1.0. Throws DecodingFailure (6).
 */
export function parseVersion(v: string): [number, number, number] {
  if (v === "") return [0, 1, 0];
  const parts = v.split(".");
  if (parts.length > 3)
    throw new CniError(CniCode.DecodingFailure, `invalid version ${goStrconvQuote(v)}: too many parts`);
  const out: [number, number, number] = [0, 0, 0];
  for (const [i, what] of (["major", "minor", "micro"] as const).entries()) {
    const p = parts[i];
    if (p === undefined) break;
    const n = goAtoi(p);
    if (typeof n === "string")
      throw new CniError(CniCode.DecodingFailure, `failed to convert ${what} version part ${goStrconvQuote(p)}: ${n}`);
    out[i] = n;
  }
  return out;
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

/** How Go prints the struct skel decodes a config's version into (in its error texts). */
const VERSION_STRUCT = 'struct { CNIVersion string "json:\\"cniVersion\\"" }';

/**
 * The version of a request config, as skel's ConfigDecoder reads it: `cniVersion` (matched without
 * case), 0.1.0 when absent or empty. Throws DecodingFailure (6) with Go's text when it is not a string.
 */
export function decodeConfVersion(conf: Record<string, unknown>): string {
  const r = goDecodeStringField(conf, "cniVersion", VERSION_STRUCT);
  if ("error" in r) throw new CniError(CniCode.DecodingFailure, `decoding version from network config: ${r.error}`);
  return r.value === "" ? "0.1.0" : r.value;
}

/**
 * Spec 1.1.0 version selection: the highest of {cniVersion} ∪ cniVersions that is not newer than
 * what we support; when nothing is left, the original cniVersion stays.
 */
export function selectConfVersion(
  cniVersion: string,
  cniVersions: readonly string[] | undefined,
  max: string = CURRENT_VERSION,
): string {
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
