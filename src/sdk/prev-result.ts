// Reading `prevResult` as the Go plugins do (version.ParsePrevResult): a missing version means
// the config's; it must belong to the config's generation; plugins then work on the 1.x shape.
import { CniCode, CniError, generationOf, getCI, parseResult, toCurrent, type JsonObject, type Result } from "../cni/index.js";

export function parsePrevResult(netconf: JsonObject, cniVersion: string): Result | undefined {
  const raw = getCI(netconf, "prevResult");
  if (raw === undefined || raw === null) return undefined;
  const { result } = parseResult(raw, cniVersion);
  if (generationOf(result.cniVersion) !== generationOf(cniVersion)) {
    throw new CniError(
      CniCode.DecodingFailure,
      `prevResult version "${result.cniVersion}" does not belong to the config's version "${cniVersion}"`,
    );
  }
  return toCurrent(result, cniVersion === "1.0.0" ? "1.0.0" : "1.1.0");
}

export function requirePrevResult(netconf: JsonObject, cniVersion: string): Result {
  const r = parsePrevResult(netconf, cniVersion);
  if (!r) throw new CniError(CniCode.InvalidNetworkConfig, "Required prevResult missing");
  return r;
}
