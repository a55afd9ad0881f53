// JSON text exactly as Go's encoding/json writes it, where bytes must match what the Go reference
// writes: plugin stdout (results and errors: json.MarshalIndent(v, "", "    ") of a struct, so the
// key order is the struct's) and libcni's cache file (json.Marshal of maps: keys sorted).
//
// And the words of encoding/json's decoding errors that skel reports (goDecodeStringField; its
// syntax errors come from the one JSON scanner, json.ts goSyntaxError).
//
// Go's string encoding differs from JSON.stringify in five places: <, > and & become \u003c,
// \u003e, \u0026 (HTML-safe by default); U+2028 and U+2029 are escaped; \b and \f are written as
// \u0008 and \u000c (Go ≤ 1.21, which built the reference); a lone surrogate (invalid UTF-8 on
// Go's side) becomes \ufffd.

import { getCI, isObject, type JsonObject } from "./keys.js";

const HEX = "0123456789abcdef";

/** The escape Go writes for UTF-16 unit `c` at `s[i]`, or undefined when it is written as is. */
function escapeOf(s: string, i: number, c: number): string | undefined {
  switch (c) {
    case 0x22:
      return '\\"';
    case 0x5c:
      return "\\\\";
    case 0x0a:
      return "\\n";
    case 0x0d:
      return "\\r";
    case 0x09:
      return "\\t";
    case 0x3c:
    case 0x3e:
    case 0x26:
      return `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
    case 0x2028:
    case 0x2029:
      return `\\u${c.toString(16)}`;
  }
  if (c < 0x20) return `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
  if (c >= 0xdc00 && c <= 0xdfff) return (s.charCodeAt(i - 1) & 0xfc00) === 0xd800 ? undefined : "\\ufffd";
  if (c >= 0xd800 && c <= 0xdbff) return (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? undefined : "\\ufffd";
  return undefined;
}

/** A string as a Go JSON string literal. */
export function goQuote(s: string): string {
  let out = '"';
  let run = 0; // start of the characters not yet copied
  for (let i = 0; i < s.length; i++) {
    const esc = escapeOf(s, i, s.charCodeAt(i));
    if (esc === undefined) continue;
    out += s.slice(run, i) + esc;
    run = i + 1;
  }
  return `${out + s.slice(run)}"`;
}

function scalar(v: unknown): string {
  if (typeof v === "string") return goQuote(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new TypeError(`json: unsupported value: ${v}`);
    return JSON.stringify(v);
  }
  if (typeof v === "boolean" || v === null) return String(v);
  throw new TypeError(`json: unsupported type: ${typeof v}`);
}

const entries = (o: object, sorted: boolean): Array<[string, unknown]> => {
  const list = Object.entries(o).filter(([, v]) => v !== undefined);
  return sorted ? list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : list;
};

function marshal(v: unknown, sortKeys: (depth: number) => boolean, indent: string | undefined, depth: number): string {
  if (typeof v !== "object" || v === null) return scalar(v);
  const nl = indent === undefined ? "" : `\n${indent.repeat(depth + 1)}`;
  const end = indent === undefined ? "" : `\n${indent.repeat(depth)}`;
  const colon = indent === undefined ? ":" : ": ";
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return `[${v.map((x) => nl + marshal(x, sortKeys, indent, depth + 1)).join(",")}${end}]`;
  }
  const list = entries(v, sortKeys(depth));
  if (list.length === 0) return "{}";
  return `{${list.map(([k, x]) => nl + goQuote(k) + colon + marshal(x, sortKeys, indent, depth + 1)).join(",")}${end}}`;
}

/**
 * json.MarshalIndent(v, "", "    ") of a value whose objects stand for Go structs: keys in the
 * object's own order (build objects in the struct's field order), undefined members left out.
 */
export function goMarshalIndent(v: unknown): string {
  return marshal(v, () => false, "    ", 0);
}

/**
 * json.Marshal of a value whose objects stand for Go maps (keys sorted); with `structTop` the
 * top level keeps its own key order (a Go struct holding maps).
 */
export function goJSON(v: unknown, structTop = false): string {
  return marshal(v, (depth) => !(structTop && depth === 0), undefined, 0);
}

/**
 * Go's strconv.Quote (what fmt's %q prints for a string): `"` and `\` escaped, control characters
 * as \a \b \f \n \r \t \v or \xNN, the C1 controls as \u00NN; everything else as it is.
 */
export function goStrconvQuote(s: string): string {
  const short: Record<string, string> = {
    "\x07": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
  };
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (short[ch]) out += short[ch];
    else if (c < 0x20 || c === 0x7f) out += `\\x${HEX[c >> 4]}${HEX[c & 15]}`;
    else if ((c >= 0x80 && c <= 0xa0) || c === 0xad) out += `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
    else out += ch;
  }
  return `${out}"`;
}

/** fmt's %q of a []string: ["a" "b"]. */
export const goStrconvQuoteList = (list: readonly string[]): string => `[${list.map(goStrconvQuote).join(" ")}]`;

/** The JSON kind Go names in an UnmarshalTypeError: "string", "number", "bool", "array", "object". */
export function goKindOf(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "object" && v !== null) return "object";
  return typeof v;
}

/**
 * Decoding `doc` into a Go struct with the single string field tagged `field` (Go's
 * json.Unmarshal into `struct { X string `json:"field"` }`): the string (""
 * when absent or null), or Go's error text. `goType` is how Go prints the struct's type.
 */
export function goDecodeStringField(
  doc: unknown,
  field: string,
  goType: string,
): { value: string } | { error: string } {
  if (doc === null) return { value: "" };
  if (!isObject(doc)) return { error: `json: cannot unmarshal ${goKindOf(doc)} into Go value of type ${goType}` };
  const v = getCI(doc as JsonObject, field);
  if (v === undefined || v === null) return { value: "" };
  if (typeof v !== "string")
    return { error: `json: cannot unmarshal ${goKindOf(v)} into Go struct field .${field} of type string` };
  return { value: v };
}
