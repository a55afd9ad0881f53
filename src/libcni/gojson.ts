// JSON as Go's encoding/json writes maps: keys sorted, and <, >, & escaped as \u003c, \u003e, \u0026.
// Used where bytes must match what Go libcni writes (the result cache).

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (typeof v === "object" && v !== null) {
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o).sort()) if (o[k] !== undefined) out[k] = sortDeep(o[k]);
    return out;
  }
  return v;
}

const escapeHtml = (s: string) => s.replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");

/** Go-style JSON of a value whose maps are sorted; `orderedTop` keeps the top-level key order (a Go struct). */
export function goJSON(v: unknown, orderedTop = false): string {
  if (orderedTop && typeof v === "object" && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const parts = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${JSON.stringify(sortDeep(o[k]))}`);
    return escapeHtml(`{${parts.join(",")}}`);
  }
  return escapeHtml(JSON.stringify(sortDeep(v)));
}
