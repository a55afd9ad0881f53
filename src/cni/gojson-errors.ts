// The text of Go's encoding/json errors for what skel decodes from a plugin's stdin, so podnet's
// plugins can answer bad input with the reference's exact words: syntax errors (Go's scanner,
// run over the whole input before anything is decoded) and type errors for a top-level struct
// field. Pure; works on the bytes as received.
import { goStrconvQuote } from "./gojson.js";
import { getCI, isObject, type JsonObject } from "./keys.js";

type Step = (c: number) => string | undefined;

/** Go's quoteChar: the byte as a Latin-1 code point in strconv.Quote's escapes, in single quotes. */
function quoteChar(c: number): string {
  if (c === 0x27) return "'\\''";
  if (c === 0x22) return "'\"'";
  return `'${goStrconvQuote(String.fromCharCode(c)).slice(1, -1)}'`;
}

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/**
 * Go's json.Valid error for `data` ("invalid character 'x' looking for beginning of value",
 * "unexpected end of JSON input", ...), or undefined when `data` is one well-formed JSON value.
 */
export function goSyntaxError(data: Uint8Array): string | undefined {
  const stack: Array<"key" | "value" | "array"> = [];
  let err: string | undefined;
  let endTop = false;
  const fail = (c: number, context: string): undefined => {
    err = `invalid character ${quoteChar(c)} ${context}`;
    return undefined;
  };
  let step: Step;

  const endOfTop: Step = (c) => (isSpace(c) ? undefined : fail(c, "after top-level value"));
  /** A value ends at this byte (Go's stateEndValue). */
  const endValue: Step = (c) => {
    const top = stack[stack.length - 1];
    if (top === undefined) {
      endTop = true;
      step = endOfTop;
      return step(c);
    }
    if (isSpace(c)) {
      step = endValue;
      return undefined;
    }
    if (top === "key") {
      if (c === 0x3a) {
        stack[stack.length - 1] = "value";
        step = beginValue;
        return undefined;
      }
      return fail(c, "after object key");
    }
    if (top === "value") {
      if (c === 0x2c) {
        stack[stack.length - 1] = "key";
        step = beginString;
        return undefined;
      }
      if (c === 0x7d) return close();
      return fail(c, "after object key:value pair");
    }
    if (c === 0x2c) {
      step = beginValue;
      return undefined;
    }
    if (c === 0x5d) return close();
    return fail(c, "after array element");
  };
  const close = (): undefined => {
    stack.pop();
    endTop = stack.length === 0;
    step = endTop ? endOfTop : endValue;
    return undefined;
  };
  const open = (c: number, state: "key" | "array", next: Step): undefined => {
    stack.push(state);
    if (stack.length > 10_000) return fail(c, "exceeded max depth");
    step = next;
    return undefined;
  };

  const literal = (word: string, i: number): Step => (c) => {
    if (c !== word.charCodeAt(i)) return fail(c, `in literal ${word} (expecting ${quoteChar(word.charCodeAt(i))})`);
    step = i + 1 === word.length ? endValue : literal(word, i + 1);
    return undefined;
  };
  const inString: Step = (c) => {
    if (c === 0x22) step = endValue;
    else if (c === 0x5c) step = inEscape;
    else if (c < 0x20) return fail(c, "in string literal");
    return undefined;
  };
  const inEscape: Step = (c) => {
    if ("bfnrt\\/\"".includes(String.fromCharCode(c))) step = inString;
    else if (c === 0x75) step = inEscapeU(1);
    else return fail(c, "in string escape code");
    return undefined;
  };
  const inEscapeU = (n: number): Step => (c) => {
    if (!isHex(c)) return fail(c, "in \\u hexadecimal character escape");
    step = n === 4 ? inString : inEscapeU(n + 1);
    return undefined;
  };
  const afterNeg: Step = (c) => {
    if (c === 0x30) step = afterZero;
    else if (c >= 0x31 && c <= 0x39) step = inInt;
    else return fail(c, "in numeric literal");
    return undefined;
  };
  const afterZero: Step = (c) => {
    if (c === 0x2e) step = afterDot;
    else if (c === 0x65 || c === 0x45) step = afterE;
    else return endValue(c);
    return undefined;
  };
  const inInt: Step = (c) => (isDigit(c) ? undefined : afterZero(c));
  const afterDot: Step = (c) => {
    if (!isDigit(c)) return fail(c, "after decimal point in numeric literal");
    step = inFraction;
    return undefined;
  };
  const inFraction: Step = (c) => {
    if (isDigit(c)) return undefined;
    if (c === 0x65 || c === 0x45) {
      step = afterE;
      return undefined;
    }
    return endValue(c);
  };
  const afterE: Step = (c) => {
    if (c === 0x2b || c === 0x2d) {
      step = afterESign;
      return undefined;
    }
    return afterESign(c);
  };
  const afterESign: Step = (c) => {
    if (!isDigit(c)) return fail(c, "in exponent of numeric literal");
    step = inExponent;
    return undefined;
  };
  const inExponent: Step = (c) => (isDigit(c) ? undefined : endValue(c));

  const beginValue: Step = (c) => {
    if (isSpace(c)) return undefined;
    switch (c) {
      case 0x7b:
        return open(c, "key", beginStringOrEmpty);
      case 0x5b:
        return open(c, "array", beginValueOrEmpty);
      case 0x22:
        step = inString;
        return undefined;
      case 0x2d:
        step = afterNeg;
        return undefined;
      case 0x30:
        step = afterZero;
        return undefined;
      case 0x74:
        step = literal("true", 1);
        return undefined;
      case 0x66:
        step = literal("false", 1);
        return undefined;
      case 0x6e:
        step = literal("null", 1);
        return undefined;
    }
    if (c >= 0x31 && c <= 0x39) {
      step = inInt;
      return undefined;
    }
    return fail(c, "looking for beginning of value");
  };
  const beginValueOrEmpty: Step = (c) => {
    if (isSpace(c)) return undefined;
    if (c === 0x5d) return close();
    return beginValue(c);
  };
  const beginString: Step = (c) => {
    if (isSpace(c)) return undefined;
    if (c === 0x22) {
      step = inString;
      return undefined;
    }
    return fail(c, "looking for beginning of object key string");
  };
  const beginStringOrEmpty: Step = (c) => {
    if (isSpace(c)) return undefined;
    if (c === 0x7d) return close();
    return beginString(c);
  };

  step = beginValue;
  for (const c of data) {
    step(c);
    if (err !== undefined) return err;
  }
  // Go's scanner.eof(): one more space settles a number or reveals a cut-off literal.
  if (endTop) return undefined;
  step(0x20);
  if (err !== undefined) return err;
  return endTop ? undefined : "unexpected end of JSON input";
}

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
export function goDecodeStringField(doc: unknown, field: string, goType: string): { value: string } | { error: string } {
  if (doc === null) return { value: "" };
  if (!isObject(doc)) return { error: `json: cannot unmarshal ${goKindOf(doc)} into Go value of type ${goType}` };
  const v = getCI(doc as JsonObject, field);
  if (v === undefined || v === null) return { value: "" };
  if (typeof v !== "string") return { error: `json: cannot unmarshal ${goKindOf(v)} into Go struct field .${field} of type string` };
  return { value: v };
}
