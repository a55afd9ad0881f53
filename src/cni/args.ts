// CNI_ARGS: "K1=V1;K2=V2". The plugin side is strict, as Go's types.LoadArgs is.
import { CniCode, CniError } from "./errors.js";
import { plainObject } from "./keys.js";

/** Splits CNI_ARGS into ordered pairs; every piece must be exactly KEY=VALUE. */
export function parseCniArgs(s: string): Array<[string, string]> {
  if (s === "") return [];
  return s.split(";").map((piece) => {
    const kv = piece.split("=");
    if (kv.length !== 2) throw new CniError(CniCode.InvalidEnvironmentVariables, `ARGS: invalid pair "${piece}"`);
    return [kv[0]!, kv[1]!];
  });
}

export function formatCniArgs(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.map(([k, v]) => `${k}=${v}`).join(";");
}

function parseBool(key: string, v: string): boolean {
  const l = v.toLowerCase();
  if (l === "1" || l === "true") return true;
  if (l === "0" || l === "false") return false;
  throw new CniError(CniCode.InvalidEnvironmentVariables, `ARGS: ${key}="${v}" is not a boolean (1, true, 0, false)`);
}

/**
 * Picks the keys a plugin knows (matched case-sensitively, as Go matches struct field names).
 * Unknown keys are an error unless IgnoreUnknown is true.
 */
export function loadArgs(s: string, known: readonly string[]): Record<string, string> {
  const pairs = parseCniArgs(s);
  // Only `known` keys are copied, into an object without a prototype: no pair reaches anything else.
  const out = plainObject() as Record<string, string>;
  const unknown: string[] = [];
  let ignoreUnknown = false;
  for (const [k, v] of pairs) {
    if (k === "IgnoreUnknown") ignoreUnknown = parseBool(k, v);
    else if (known.includes(k)) out[k] = v;
    else unknown.push(`${k}=${v}`);
  }
  if (unknown.length && !ignoreUnknown) {
    throw new CniError(CniCode.InvalidEnvironmentVariables, `ARGS: unknown args ${JSON.stringify(unknown)}`);
  }
  return out;
}
