// Kubernetes resource quantities (k8s.io/apimachinery resource.ParseQuantity and Quantity.Value),
// exactly as far as a node needs them: the same scanner, the same suffix table, the same three
// errors, and the same integer value (rounded up, away from zero). Arithmetic is on bigint; nothing
// passes through a float.
//
// Grammar (quantity.go):  <signedNumber><suffix>
//   suffix = binarySI (Ki Mi Gi Ti Pi Ei) | decimalSI (n u m "" k M G T P E) | e<int> | E<int>
// Note: "K" is not a suffix, and "m" is milli.
import { PodnetError } from "../../util/errors.js";

export const QUANTITY_REGEXP = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

export const ERR_FORMAT_WRONG = `quantities must match the regular expression '${QUANTITY_REGEXP}'`;
export const ERR_NUMERIC = "unable to parse numeric part of quantity";
export const ERR_SUFFIX = "unable to parse quantity's suffix";

export type QuantityErrorKind = "format" | "numeric" | "suffix";

export class QuantityError extends PodnetError {
  override name = "QuantityError";
  readonly code = "PODNET_QUANTITY";
  readonly kind: QuantityErrorKind;
  constructor(kind: QuantityErrorKind) {
    super(kind === "format" ? ERR_FORMAT_WRONG : kind === "numeric" ? ERR_NUMERIC : ERR_SUFFIX);
    this.kind = kind;
  }
}

export type QuantityFormat = "DecimalSI" | "BinarySI" | "DecimalExponent";

/** A parsed quantity: value = sign × mantissa × 10^scale (mantissa ≥ 0, exact). */
export interface Quantity {
  readonly text: string;
  readonly format: QuantityFormat;
  readonly negative: boolean;
  readonly mantissa: bigint;
  /** Power of ten; may be far outside ±18 ("1e300"). */
  readonly scale: number;
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
/** The int64 fast path holds at most this many decimal digits (math.go maxInt64Factors). */
const MAX_INT64_FACTORS = 19;
const NANO = -9;

const SUFFIX_CHARS = "eEinumkKMGTP";
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9";

interface Scanned {
  positive: boolean;
  /** The numeric text as written (sign, leading zeros and point included). */
  value: string;
  /** Integer digits without leading zeros ("0" when none). */
  num: string;
  /** Fraction digits. */
  denom: string;
  suffix: string;
}

/** parseQuantityString: the hand-written scanner (not the regexp, which only names the error). */
function scan(str: string): Scanned {
  let positive = true;
  let pos = 0;
  const end = str.length;
  if (pos < end) {
    if (str[0] === "-") {
      positive = false;
      pos++;
    } else if (str[0] === "+") {
      pos++;
    }
  }
  // leading zeros; all zeros is the value 0 whatever follows the sign
  for (let i = pos; ; i++) {
    if (i >= end) return { positive, value: "0", num: "0", denom: "", suffix: "" };
    if (str[i] !== "0") break;
    pos++;
  }
  let num = "";
  let i = pos;
  while (i < end && isDigit(str[i])) i++;
  if (i >= end) return { positive, value: str, num: str.slice(pos), denom: "", suffix: "" };
  num = str.slice(pos, i) || "0";
  pos = i;
  let denom = "";
  if (str[pos] === ".") {
    pos++;
    let j = pos;
    while (j < end && isDigit(str[j])) j++;
    denom = str.slice(pos, j);
    if (j >= end) return { positive, value: str, num, denom, suffix: "" };
    pos = j;
  }
  const value = str.slice(0, pos);
  const suffixStart = pos;
  let k = pos;
  while (k < end && SUFFIX_CHARS.includes(str[k]!)) k++;
  if (k >= end) return { positive, value, num, denom, suffix: str.slice(suffixStart) };
  if (str[k] === "-" || str[k] === "+") k++;
  while (k < end && isDigit(str[k])) k++;
  if (k < end) throw new QuantityError("format");
  return { positive, value, num, denom, suffix: str.slice(suffixStart) };
}

interface Interpreted {
  base: 2 | 10;
  exponent: number;
  format: QuantityFormat;
}

const DECIMAL_SI: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  "": 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY_SI: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

/** suffixer.interpret */
function interpret(s: string): Interpreted | undefined {
  if (Object.hasOwn(DECIMAL_SI, s)) return { base: 10, exponent: DECIMAL_SI[s]!, format: "DecimalSI" };
  if (Object.hasOwn(BINARY_SI, s)) return { base: 2, exponent: BINARY_SI[s]!, format: "BinarySI" };
  if (s.length > 1 && (s[0] === "e" || s[0] === "E")) {
    // strconv.ParseInt(s[1:], 10, 64), then int32(...): the exponent wraps like Go's conversion
    const t = s.slice(1);
    if (!/^[+-]?[0-9]+$/.test(t)) return undefined;
    const n = BigInt(t);
    if (n > INT64_MAX || n < INT64_MIN) return undefined;
    return { base: 10, exponent: Number(BigInt.asIntN(32, n)), format: "DecimalExponent" };
  }
  return undefined;
}

/** resource.ParseQuantity. Throws QuantityError with Go's message. */
export function parseQuantity(str: string): Quantity {
  if (str.length === 0) throw new QuantityError("format");
  if (str === "0") return { text: str, format: "DecimalSI", negative: false, mantissa: 0n, scale: 0 };
  const { positive, value, num, denom, suffix } = scan(str);
  const it = interpret(suffix);
  if (!it) throw new QuantityError("suffix");

  // The int64 fast path: taken when the digits fit; its ParseInt is where 19-digit values above
  // 2^63-1 fail with ErrNumeric (a longer number takes the decimal path and parses fine).
  let precision: number;
  let scale = 0;
  let binaryFast = false;
  if (it.format === "BinarySI") {
    if (it.exponent >= 0 && denom.length === 0) {
      binaryFast = true;
      precision = 15 - num.length - Math.trunc((it.exponent * 3) / 10) - 1;
    } else {
      precision = -1;
    }
  } else {
    scale = it.exponent;
    precision = MAX_INT64_FACTORS - (num.length + denom.length);
  }
  if (precision >= 0) {
    scale -= denom.length;
    if (scale >= NANO) {
      const shifted = BigInt(num + denom);
      if (shifted > INT64_MAX) throw new QuantityError("numeric");
      const mantissa = binaryFast ? shifted << BigInt(it.exponent) : shifted;
      if (mantissa <= INT64_MAX) {
        return { text: str, format: it.format, negative: !positive && mantissa !== 0n, mantissa, scale };
      }
      // overflow: fall through to the decimal path, as int64Multiply failing does
    }
  }

  // The inf.Dec path: the numeric text must hold at least one digit.
  if (!/[0-9]/.test(value)) throw new QuantityError("numeric");
  const digits = (num === "0" ? "" : num) + denom;
  let mantissa = BigInt(digits === "" ? "0" : digits);
  let decScale = -denom.length;
  if (it.base === 10) decScale += it.exponent;
  else mantissa <<= BigInt(it.exponent);
  if (mantissa !== 0n) {
    // round up (away from zero) to nano
    if (decScale < NANO) {
      const drop = NANO - decScale;
      if (drop > 40) {
        mantissa = 1n;
      } else {
        const d = 10n ** BigInt(drop);
        mantissa = mantissa / d + (mantissa % d === 0n ? 0n : 1n);
      }
      decScale = NANO;
    }
    // BinarySI is capped at int64 max
    if (it.format === "BinarySI" && compareToInt(mantissa, decScale, INT64_MAX) > 0) {
      mantissa = INT64_MAX;
      decScale = 0;
    }
  }
  return { text: str, format: it.format, negative: !positive && mantissa !== 0n, mantissa, scale: decScale };
}

/** Compares mantissa×10^scale (mantissa ≥ 0) with a non-negative integer. */
function compareToInt(mantissa: bigint, scale: number, n: bigint): number {
  if (scale >= 0) {
    if (scale > 40) return mantissa === 0n ? (n === 0n ? 0 : -1) : 1;
    const v = mantissa * 10n ** BigInt(scale);
    return v === n ? 0 : v > n ? 1 : -1;
  }
  if (-scale > 60) return mantissa === 0n ? (n === 0n ? 0 : -1) : n === 0n ? 1 : -1;
  const d = 10n ** BigInt(-scale);
  const lhs = mantissa;
  const rhs = n * d;
  return lhs === rhs ? 0 : lhs > rhs ? 1 : -1;
}

/**
 * Quantity.Value(): the value rounded up to an integer, away from zero ("1m" → 1, "1.5" → 2),
 * saturating at the int64 limits as current apimachinery does.
 */
export function quantityValue(q: Quantity): bigint {
  if (q.mantissa === 0n) return 0n;
  let v: bigint;
  if (q.scale >= 0) {
    v = q.scale >= 40 ? INT64_MAX + 1n : q.mantissa * 10n ** BigInt(q.scale);
  } else if (-q.scale > q.mantissa.toString().length) {
    v = 1n; // |value| < 1
  } else {
    const d = 10n ** BigInt(-q.scale);
    v = q.mantissa / d + (q.mantissa % d === 0n ? 0n : 1n);
  }
  if (q.negative) v = -v;
  if (v > INT64_MAX) return INT64_MAX;
  if (v < INT64_MIN) return INT64_MIN;
  return v;
}
