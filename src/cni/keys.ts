// JSON objects from runtimes are matched case-insensitively, as Go's encoding/json does:
// containerd sends {"HostPort":...}, kubelet {"hostPort":...}; when several keys match, the last wins.

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The value of `key` in `obj`, compared without case; the last matching key wins. */
export function getCI(obj: JsonObject, key: string): unknown {
  if (key in obj && Object.keys(obj).length < 2) return obj[key];
  const want = key.toLowerCase();
  let found: unknown = undefined;
  for (const k of Object.keys(obj)) if (k.toLowerCase() === want) found = obj[k];
  return found;
}

/**
 * A copy of `obj` whose keys that match one of `canonical` without case are renamed to the
 * canonical spelling (last match wins); other keys are kept as they are.
 */
export function canonicalKeys(obj: JsonObject, canonical: readonly string[]): JsonObject {
  const byLower = new Map(canonical.map((k) => [k.toLowerCase(), k]));
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) out[byLower.get(k.toLowerCase()) ?? k] = v;
  return out;
}
