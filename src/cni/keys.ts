// JSON objects from runtimes are matched case-insensitively, as Go's encoding/json does:
// containerd sends {"HostPort":...}, kubelet {"hostPort":...}; when several keys match, the last wins.
//
// Objects built from input keys have no prototype (see json.ts): a key such as "__proto__" is
// data, never the object's prototype, and a key the input lacks reads as undefined.

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An empty object without a prototype: assigning any key to it only ever makes a property. */
export function plainObject(): JsonObject {
  return Object.create(null) as JsonObject;
}

/** The value of `key` in `obj`, compared without case; the last matching key wins. Own keys only. */
export function getCI(obj: JsonObject, key: string): unknown {
  if (Object.hasOwn(obj, key) && Object.keys(obj).length < 2) return obj[key];
  const want = key.toLowerCase();
  let found: unknown;
  for (const k of Object.keys(obj)) if (k.toLowerCase() === want) found = obj[k];
  return found;
}

/**
 * A copy of `obj` (without a prototype) whose keys that match one of `canonical` without case are
 * renamed to the canonical spelling (last match wins); other keys are kept as they are.
 */
export function canonicalKeys(obj: JsonObject, canonical: readonly string[]): JsonObject {
  const byLower = new Map(canonical.map((k) => [k.toLowerCase(), k]));
  const out = plainObject();
  for (const [k, v] of Object.entries(obj)) out[byLower.get(k.toLowerCase()) ?? k] = v;
  return out;
}

/**
 * A short rendering of an input value for an error message: at most `max` characters, nested
 * values elided, never a walk of the whole value (which may be megabytes, or 1,000 levels deep).
 */
export function brief(v: unknown, max = 120): string {
  const out = briefAt(v, 2);
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}

function briefAt(v: unknown, depth: number): string {
  if (v === undefined) return "nothing";
  if (typeof v === "string") return JSON.stringify(v.length > 200 ? v.slice(0, 200) : v);
  if (typeof v !== "object" || v === null) return JSON.stringify(v) ?? String(v);
  const isArray = Array.isArray(v);
  const shown: string[] = [];
  let more = false;
  // for…in stops early: no list of a million keys is built to show eight.
  for (const k in v) {
    if (shown.length === 8) {
      more = true;
      break;
    }
    if (depth === 0) {
      more = true;
      break;
    }
    const x = (v as Record<string, unknown>)[k];
    shown.push(
      isArray
        ? briefAt(x, depth - 1)
        : `${JSON.stringify(k.length > 200 ? k.slice(0, 200) : k)}:${briefAt(x, depth - 1)}`,
    );
  }
  if (more) shown.push("…");
  return isArray ? `[${shown.join(",")}]` : `{${shown.join(",")}}`;
}
