// The one way JSON enters podnet (plugin stdin, network configs, the result cache, checkpoints,
// the daemon's API bodies, CLI inputs): bounded in size and nesting depth, and plain data.
//
// 1. The size is checked first (the caller reads at most `maxBytes + 1` bytes, see
//    src/kernel/read-bounded.ts).
// 2. A linear scan validates the whole grammar with an explicit stack, so a 5,000,000-deep
//    document is refused at its 1,001st bracket, before anything grows with the input; errors
//    name a position and what was expected, never the input's bytes (V8's own messages quote the
//    input, which leaked the first bytes of whatever file a config pointed at).
// 3. Only then V8's JSON.parse builds the value, and every object loses its prototype: a
//    "__proto__", "constructor" or "prototype" key is a key like any other, and reading a key the
//    document does not have gives undefined, never something inherited.
//
// The scanner also knows encoding/json's words for each failure (goSyntaxError), so that skel's
// answers to bad plugin stdin read as the Go reference's do.
//
// The depth limit is lower than Go's 10,000 on purpose: V8's JSON.stringify and structuredClone
// recurse on the native stack and fail beyond ~4,000 (stringify) and ~2,000 (structuredClone)
// levels, and the plugins re-serialise what they read (delegates, the result cache).
import { PodnetError } from "../util/errors.js";

import { goStrconvQuote } from "./gojson.js";

/** Largest document accepted by default (plugin stdin, config and cache files). */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;
/** Deepest nesting of arrays and objects accepted by default. */
export const MAX_JSON_DEPTH = 1000;

export interface JsonLimits {
  /** Default MAX_JSON_BYTES. */
  readonly maxBytes?: number;
  /** Default MAX_JSON_DEPTH. */
  readonly maxDepth?: number;
  /**
   * false keeps Object.prototype on the objects (V8's JSON.parse defines every key as an own
   * property, so no key sets a prototype either way). Only for podnet's own output read back (its
   * checkpoints, its daemon's answers), which code spreads and compares as ordinary objects;
   * everything a caller or a config supplies gets the default, true.
   */
  readonly nullPrototypes?: boolean;
}

/** Why a document was refused, with where (never what) — "line 3, column 7: expected ':'". */
export class JsonInputError extends PodnetError {
  override name = "JsonInputError";
  readonly code = "PODNET_JSON_INPUT";
  /** Byte offset of the problem; -1 when it concerns the whole input (its size). */
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  /** The problem without the position. */
  readonly reason: string;
  constructor(reason: string, pos?: { offset: number; line: number; column: number }) {
    super(pos ? `${reason} at line ${pos.line}, column ${pos.column} (byte ${pos.offset})` : reason);
    this.reason = reason;
    this.offset = pos?.offset ?? -1;
    this.line = pos?.line ?? 0;
    this.column = pos?.column ?? 0;
  }
}

/** "64 MiB", "1 MiB", "512 KiB", "100 bytes". */
export function formatBytes(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} bytes`;
}

// Bytes the scanner looks at.
const TAB = 0x09,
  NL = 0x0a,
  CR = 0x0d,
  SPACE = 0x20,
  QUOTE = 0x22,
  PLUS = 0x2b,
  COMMA = 0x2c,
  MINUS = 0x2d;
const DOT = 0x2e,
  SLASH = 0x2f,
  ZERO = 0x30,
  NINE = 0x39,
  COLON = 0x3a,
  UPPER_E = 0x45,
  LBRACKET = 0x5b;
const BACKSLASH = 0x5c,
  RBRACKET = 0x5d,
  LOWER_E = 0x65,
  LBRACE = 0x7b,
  RBRACE = 0x7d;

// Scanner states.
/** A value must come. */
const VALUE = 0;
/** After "[": a value or "]". */
const VALUE_OR_END = 1;
/** After "{": a key or "}". */
const KEY_OR_END = 2;
/** After "," in an object: a key. */
const KEY = 3;
/** After a key: ":". */
const COLON_NEXT = 4;
/** After a value: ",", the closing bracket, or the end of input at the top. */
const AFTER_VALUE = 5;

function position(b: Uint8Array, offset: number): { offset: number; line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < b.length; i++) {
    if (b[i] === NL) {
      line++;
      start = i + 1;
    }
  }
  return { offset, line, column: offset - start + 1 };
}

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= ZERO && c <= NINE;
const isHex = (c: number | undefined): boolean =>
  c !== undefined && ((c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));

/** Go's quoteChar: the byte as a Latin-1 code point in strconv.Quote's escapes, in single quotes. */
function quoteChar(c: number): string {
  if (c === 0x27) return "'\\''";
  if (c === QUOTE) return "'\"'";
  return `'${goStrconvQuote(String.fromCharCode(c)).slice(1, -1)}'`;
}

/** Go's "invalid character …" for byte `c` (a space at the end of the input, as Go's scanner feeds one). */
const goChar = (c: number | undefined, context: string): string =>
  `invalid character ${quoteChar(c ?? SPACE)} ${context}`;
const GO_EOF = "unexpected end of JSON input";

/** Why a scan stopped: podnet's reason and byte offset, and what Go's encoding/json says there. */
class ScanFailure {
  readonly reason: string;
  readonly at: number;
  readonly go: string;
  constructor(reason: string, at: number, go: string) {
    this.reason = reason;
    this.at = at;
    this.go = go;
  }
}

/**
 * The one JSON scanner: validates `b` as one JSON value (RFC 8259) nested at most `maxDepth`
 * deep. A failure carries podnet's words (a reason and a position, never the input's bytes) and
 * encoding/json's for the same place, which quote the one byte where Go's scanner stops.
 */
function scan(b: Uint8Array, maxDepth: number): ScanFailure | undefined {
  try {
    walk(b, maxDepth);
    return undefined;
  } catch (e) {
    if (e instanceof ScanFailure) return e;
    throw e;
  }
}

/** scan()'s body: returns when `b` is one JSON value, throws ScanFailure where it is not. */
function walk(b: Uint8Array, maxDepth: number): void {
  const n = b.length;
  const fail = (reason: string, at: number, go: string): never => {
    throw new ScanFailure(reason, at, go);
  };
  // true = object, false = array
  const stack: boolean[] = [];
  let state = VALUE;
  let i = 0;
  const str = (): void => {
    // b[i] is the opening quote
    const start = i;
    i++;
    for (;;) {
      if (i >= n) fail("unterminated string", start, GO_EOF);
      const c = b[i]!;
      if (c === QUOTE) {
        i++;
        return;
      }
      if (c < SPACE) fail("control character in string (must be escaped)", i, goChar(c, "in string literal"));
      if (c === BACKSLASH) {
        const e = b[i + 1];
        if (e === 0x75 /* u */) {
          for (let k = 2; k < 6; k++)
            if (!isHex(b[i + k]))
              fail(
                "invalid \\u escape (expected 4 hex digits)",
                i,
                goChar(b[i + k], "in \\u hexadecimal character escape"),
              );
          i += 6;
          continue;
        }
        // " \ / b f n r t
        if (
          e !== QUOTE &&
          e !== BACKSLASH &&
          e !== SLASH &&
          e !== 0x62 &&
          e !== 0x66 &&
          e !== 0x6e &&
          e !== 0x72 &&
          e !== 0x74
        ) {
          fail("invalid escape in string", i, goChar(e, "in string escape code"));
        }
        i += 2;
        continue;
      }
      i++;
    }
  };
  const num = (): void => {
    const start = i;
    if (b[i] === MINUS) i++;
    if (b[i] === ZERO) i++;
    else if (isDigit(b[i])) while (isDigit(b[i])) i++;
    else fail("invalid number (expected a digit)", i < n ? i : start, goChar(b[i], "in numeric literal"));
    if (b[i] === DOT) {
      i++;
      if (!isDigit(b[i]))
        fail("invalid number (expected a digit after '.')", i, goChar(b[i], "after decimal point in numeric literal"));
      while (isDigit(b[i])) i++;
    }
    if (b[i] === LOWER_E || b[i] === UPPER_E) {
      i++;
      if (b[i] === PLUS || b[i] === MINUS) i++;
      if (!isDigit(b[i]))
        fail("invalid number (expected a digit in the exponent)", i, goChar(b[i], "in exponent of numeric literal"));
      while (isDigit(b[i])) i++;
    }
  };
  const word = (w: string): void => {
    for (let k = 0; k < w.length; k++) {
      if (b[i + k] !== w.charCodeAt(k))
        fail(
          `invalid literal (expected ${w})`,
          i,
          goChar(b[i + k], `in literal ${w} (expecting ${quoteChar(w.charCodeAt(k))})`),
        );
    }
    i += w.length;
  };
  for (;;) {
    while (i < n) {
      const c = b[i];
      if (c !== SPACE && c !== NL && c !== TAB && c !== CR) break;
      i++;
    }
    if (i >= n) {
      if (state === AFTER_VALUE && stack.length === 0) return;
      fail(
        stack.length === 0 && state === VALUE
          ? "unexpected end of input (expected a value)"
          : "unexpected end of input (unclosed array or object)",
        n,
        GO_EOF,
      );
    }
    const c = b[i]!;
    switch (state) {
      // biome-ignore lint/suspicious/noFallthroughSwitchClause: VALUE_OR_END is VALUE plus a closing bracket (Go's scanner states)
      case VALUE_OR_END:
        if (c === RBRACKET) {
          stack.pop();
          i++;
          state = AFTER_VALUE;
          continue;
        }
      // falls through
      case VALUE:
        if (c === LBRACE || c === LBRACKET) {
          if (stack.length >= maxDepth)
            fail(`nesting deeper than ${maxDepth} levels`, i, goChar(c, "exceeded max depth"));
          stack.push(c === LBRACE);
          i++;
          state = c === LBRACE ? KEY_OR_END : VALUE_OR_END;
        } else {
          if (c === QUOTE) str();
          else if (c === MINUS || isDigit(c)) num();
          else if (c === 0x74) word("true");
          else if (c === 0x66) word("false");
          else if (c === 0x6e) word("null");
          else fail("unexpected character (expected a value)", i, goChar(c, "looking for beginning of value"));
          state = AFTER_VALUE;
        }
        continue;
      // biome-ignore lint/suspicious/noFallthroughSwitchClause: KEY_OR_END is KEY plus a closing brace (Go's scanner states)
      case KEY_OR_END:
        if (c === RBRACE) {
          stack.pop();
          i++;
          state = AFTER_VALUE;
          continue;
        }
      // falls through
      case KEY:
        if (c !== QUOTE)
          fail(
            "unexpected character (expected a string key)",
            i,
            goChar(c, "looking for beginning of object key string"),
          );
        str();
        state = COLON_NEXT;
        continue;
      case COLON_NEXT:
        if (c !== COLON) fail("unexpected character (expected ':')", i, goChar(c, "after object key"));
        i++;
        state = VALUE;
        continue;
      case AFTER_VALUE: {
        if (stack.length === 0) fail("unexpected data after the JSON value", i, goChar(c, "after top-level value"));
        const inObject = stack[stack.length - 1]!;
        if (c === COMMA) {
          i++;
          state = inObject ? KEY : VALUE;
        } else if (c === (inObject ? RBRACE : RBRACKET)) {
          stack.pop();
          i++;
        } else {
          fail(
            `unexpected character (expected ',' or '${inObject ? "}" : "]"}')`,
            i,
            goChar(c, inObject ? "after object key:value pair" : "after array element"),
          );
        }
        continue;
      }
    }
  }
}

/** Validates `b` as one JSON value nested at most `maxDepth` deep; throws JsonInputError. */
export function scanJson(b: Uint8Array, maxDepth: number = MAX_JSON_DEPTH): void {
  const f = scan(b, maxDepth);
  if (f) throw new JsonInputError(f.reason, position(b, f.at));
}

/** The nesting encoding/json refuses beyond (its scanner's maxNestingDepth). */
export const GO_MAX_JSON_DEPTH = 10_000;

/**
 * Go's json.Valid error for `data` in encoding/json's words ("invalid character 'x' looking for
 * beginning of value", "unexpected end of JSON input", …), or undefined when Go accepts it: the
 * same scan at Go's depth limit.
 */
export function goSyntaxError(data: Uint8Array): string | undefined {
  return scan(data, GO_MAX_JSON_DEPTH)?.go;
}

/** Takes the prototype off every object of a parsed value (iteratively: the depth is bounded, the width is not). */
function plain(v: unknown): unknown {
  if (typeof v !== "object" || v === null) return v;
  const todo: object[] = [v];
  while (todo.length > 0) {
    const o = todo.pop()!;
    if (Array.isArray(o)) {
      for (const x of o) if (typeof x === "object" && x !== null) todo.push(x);
    } else {
      Object.setPrototypeOf(o, null);
      for (const k in o) {
        const x = (o as Record<string, unknown>)[k];
        if (typeof x === "object" && x !== null) todo.push(x);
      }
    }
  }
  return v;
}

/**
 * Parses one JSON document within `limits`: objects come back without a prototype. Throws
 * JsonInputError naming the position and the problem, never echoing the input.
 */
export function readJson(input: Uint8Array | string, limits: JsonLimits = {}): unknown {
  const maxBytes = limits.maxBytes ?? MAX_JSON_BYTES;
  // A string has at least as many UTF-8 bytes as UTF-16 units: refuse before encoding it.
  if (input.length > maxBytes || (typeof input === "string" && Buffer.byteLength(input) > maxBytes)) {
    throw new JsonInputError(`input is larger than ${formatBytes(maxBytes)}`);
  }
  const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  scanJson(bytes, limits.maxDepth ?? MAX_JSON_DEPTH);
  const text =
    typeof input === "string" ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString("utf8");
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    // Unreachable after the scan; V8's message would quote the input, so it is not passed on.
    throw new JsonInputError("invalid JSON");
  }
  return limits.nullPrototypes === false ? v : plain(v);
}

/** What a JSON value is, for messages that must not show it. */
export function jsonKind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return "a string";
  if (typeof v === "number") return "a number";
  if (typeof v === "boolean") return "a boolean";
  return typeof v;
}

/** readJson for a document that must be an object. */
export function readJsonObject(input: Uint8Array | string, limits: JsonLimits = {}): Record<string, unknown> {
  const v = readJson(input, limits);
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new JsonInputError(`expected a JSON object, got ${jsonKind(v)}`);
  return v as Record<string, unknown>;
}
