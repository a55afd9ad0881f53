// CNI error objects and their well-known codes (spec "Error"; libcni/skel additions 8 and 999).

export const CniCode = {
  Unknown: 0,
  IncompatibleCniVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironmentVariables: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  InvalidNetNs: 8,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  LimitedConnectivity: 51,
  Internal: 999,
} as const;
export type CniCode = (typeof CniCode)[keyof typeof CniCode];

/** An error as plugins print it: Go's types.Error (code, msg, details; no cniVersion). */
export interface CniErrorWire {
  code: number;
  msg: string;
  details?: string;
}

/**
 * The CNI spec's error object (Go's types.Error): `code` is the spec's number, what goes on the
 * wire and what runtimes and SDK users match on. It is not a PodnetError (src/util/errors.ts):
 * podnet's string codes name podnet's own failures, which toCniError turns into code 999.
 */
export class CniError extends Error {
  override name = "CniError";
  readonly code: number;
  readonly details: string;
  constructor(code: number, msg: string, opts: { details?: string; cause?: unknown } = {}) {
    super(msg, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.details = opts.details ?? "";
  }
  /** What a plugin prints on stdout, in Go's field order. */
  toWire(): CniErrorWire {
    return {
      code: this.code,
      msg: this.message,
      ...(this.details ? { details: this.details } : {}),
    };
  }
  /** libcni's error string: msg, or "msg; details". */
  override toString(): string {
    return this.details ? `${this.message}; ${this.details}` : this.message;
  }
}

/** The single place where arbitrary failures become CNI errors: unknown errors are code 999. */
export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof Error) return new CniError(CniCode.Internal, e.message, { cause: e });
  return new CniError(CniCode.Internal, String(e));
}

/** Parses an error object printed by a plugin; undefined when it is not one. */
export function errorFromWire(v: unknown): CniError | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o["code"] !== "number" || typeof o["msg"] !== "string") return undefined;
  return new CniError(o["code"], o["msg"], { details: typeof o["details"] === "string" ? o["details"] : "" });
}
