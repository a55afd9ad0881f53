// Reading `prevResult` as the Go plugins do (version.ParsePrevResult): a missing version means
// the config's; it must be one the config's result type holds; plugins then work on the 1.x shape.
// Failures carry ParsePrevResult's "could not parse prevResult: " and its words where it has them.
import {
  CniCode,
  CniError,
  generationOf,
  getCI,
  isObject,
  parseResult,
  toCurrent,
  type AnyResult,
  type JsonObject,
  type Result,
} from "../cni/index.js";
import { goStrconvQuote } from "../cni/gojson.js";

/**
 * The versions the reference library's result type for `cniVersion` is created for (020 lists ""
 * too); a 1.0.0 config speaks v1.1.1's library, whose 1.x type knows 1.0.0 only.
 */
function resultTypeVersions(cniVersion: string): string[] {
  const gen = generationOf(cniVersion);
  if (gen === "020") return ["", "0.1.0", "0.2.0"];
  if (gen === "040") return ["0.3.0", "0.3.1", "0.4.0"];
  return cniVersion === "1.0.0" ? ["1.0.0"] : ["1.0.0", "1.1.0"];
}

/**
 * The prevResult as Go's conf.PrevResult holds it: in its own version (one of the config's result
 * type), undefined when there is none. A plugin that passes it through returns this, so that it
 * is printed as the reference re-prints it (as it came when the labels match, else converted).
 */
export function readPrevResult(netconf: JsonObject, cniVersion: string): AnyResult | undefined {
  const raw = getCI(netconf, "prevResult");
  if (raw === undefined || raw === null) return undefined;
  const fail = (msg: string, cause?: unknown) =>
    new CniError(CniCode.DecodingFailure, `could not parse prevResult: ${msg}`, { cause });
  if (!isObject(raw)) throw fail(`prevResult must be a JSON object, got ${JSON.stringify(raw)}`);
  const declared = getCI(raw, "cniVersion");
  const own = typeof declared === "string" && declared !== "" ? declared : cniVersion;
  const known = resultTypeVersions(cniVersion);
  if (!known.includes(own)) {
    throw fail(`result type supports [${known.join(" ")}] but unmarshalled CNIVersion is ${goStrconvQuote(own)}`);
  }
  try {
    return parseResult(raw, cniVersion).result;
  } catch (e) {
    throw fail((e as Error).message, e);
  }
}

/** A prevResult as read, in the 1.x shape plugins compute with. */
export const prevResultAsCurrent = (r: AnyResult, cniVersion: string): Result =>
  toCurrent(r, cniVersion === "1.0.0" ? "1.0.0" : "1.1.0");

/** The prevResult in the 1.x shape plugins compute with, undefined when there is none. */
export function parsePrevResult(netconf: JsonObject, cniVersion: string): Result | undefined {
  const r = readPrevResult(netconf, cniVersion);
  return r && prevResultAsCurrent(r, cniVersion);
}

export function requirePrevResult(netconf: JsonObject, cniVersion: string): Result {
  const r = parsePrevResult(netconf, cniVersion);
  if (!r) throw new CniError(CniCode.InvalidNetworkConfig, "Required prevResult missing");
  return r;
}
