// The resident-mode wire format between native/launcher.c and the daemon (pure).
//   request:  "PNC2" u32 nameLen name u32 cwdLen cwd u32 envCount (u32 len "K=V")* u32 stdinLen stdin
//   response: u32 exitCode u32 stdoutLen stdout u32 stderrLen stderr
// All integers are little-endian u32. `cwd` is the launcher's working directory (absolute): the
// daemon resolves a call's relative paths against it, as the exec'd plugin would in its own.
//
// The daemon reads a request as it streams in (RequestDecoder): every length is checked against
// its limit and against what is left of MAX_REQUEST_BYTES the moment it arrives, so a request
// that is too large is answered before its bytes are, and nothing grows past the limit.

import { CniCode } from "../cni/index.js";
import { PodnetError } from "../util/errors.js";

export interface LaunchRequest {
  readonly plugin: string;
  /** The caller's working directory; absent for calls that run in the daemon's own (netmgr's workers). */
  readonly cwd?: string;
  readonly env: Record<string, string>;
  readonly stdin: Buffer;
}

export interface LaunchResponse {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export const MAGIC = "PNC2";
/** Earlier launchers (no cwd); answered with an error saying to update them. */
const OLD_MAGICS = ["PNC1"];

const MiB = 1024 * 1024;
/** The whole request (and, in native/launcher.c, each part of an answer). */
export const MAX_REQUEST_BYTES = 64 * MiB;
export const LIMITS = {
  /** A plugin name (a file name). */
  name: 255,
  /** PATH_MAX including the NUL. */
  cwd: 4095,
  envCount: 65_536,
  /** MAX_ARG_STRLEN: no exec'd process can receive a longer environment string. */
  envEntry: 128 * 1024,
  stdin: MAX_REQUEST_BYTES,
} as const;

/** A malformed or oversized request; `cniCode` is the CNI error code to answer with. */
export class ProtocolError extends PodnetError {
  override name = "ProtocolError";
  readonly code = "PODNET_RESIDENT_PROTOCOL";
  readonly cniCode: number;
  constructor(message: string, cniCode: number = CniCode.DecodingFailure) {
    super(message);
    this.cniCode = cniCode;
  }
}

type Field =
  | "magic"
  | "nameLen"
  | "name"
  | "cwdLen"
  | "cwd"
  | "envCount"
  | "envLen"
  | "env"
  | "stdinLen"
  | "stdin"
  | "done";

/** Reads one request from chunks as they arrive; throws ProtocolError as soon as one is wrong. */
export class RequestDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes received so far. */
  private total = 0;
  private field: Field = "magic";
  private need = 4;
  private plugin = "";
  private cwd = "";
  private envLeft = 0;
  private readonly env: Record<string, string> = Object.create(null) as Record<string, string>;
  private stdin: Buffer = Buffer.alloc(0);

  /** Nothing received at all (a liveness probe, not a request). */
  get empty(): boolean {
    return this.total === 0;
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.total > MAX_REQUEST_BYTES) throw new ProtocolError(`request larger than ${MAX_REQUEST_BYTES} bytes`);
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (!this.done() && this.buffered >= this.need) this.step(this.take(this.need));
    if (this.done() && this.buffered > 0) throw new ProtocolError(`${this.buffered} trailing bytes after the request`);
  }

  private done(): boolean {
    return this.field === "done";
  }

  /** The request, once the sender has finished. */
  end(): LaunchRequest {
    if (!this.done()) {
      throw new ProtocolError(
        `truncated request: ended after ${this.total} bytes while reading the ${this.describe()} (need ${this.need - this.buffered} more)`,
      );
    }
    return { plugin: this.plugin, cwd: this.cwd, env: this.env, stdin: this.stdin };
  }

  private describe(): string {
    return {
      magic: "magic",
      nameLen: "name length",
      name: "plugin name",
      cwdLen: "cwd length",
      cwd: "cwd",
      envCount: "environment count",
      envLen: "environment entry length",
      env: "environment entry",
      stdinLen: "stdin length",
      stdin: "stdin",
      done: "end",
    }[this.field];
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const parts: Buffer[] = [];
    for (let got = 0; got < n; ) {
      const c = this.chunks.shift()!;
      const want = n - got;
      if (c.length > want) {
        parts.push(c.subarray(0, want));
        this.chunks.unshift(c.subarray(want));
        got = n;
      } else {
        parts.push(c);
        got += c.length;
      }
    }
    this.buffered -= n;
    return Buffer.concat(parts, n);
  }

  /** A length field: checked against its own limit and what is left of the request's. */
  private length(b: Buffer, what: string, max: number): number {
    const n = b.readUInt32LE(0);
    if (n > max) throw new ProtocolError(`${what} of ${n} bytes is over the limit of ${max}`);
    const consumed = this.total - this.buffered;
    if (consumed + n > MAX_REQUEST_BYTES)
      throw new ProtocolError(`${what} of ${n} bytes would make the request larger than ${MAX_REQUEST_BYTES} bytes`);
    return n;
  }

  private text(b: Buffer, what: string): string {
    if (b.includes(0)) throw new ProtocolError(`${what} contains a NUL byte`);
    return b.toString("utf8");
  }

  private step(b: Buffer): void {
    switch (this.field) {
      case "magic": {
        const m = b.toString("latin1");
        if (OLD_MAGICS.includes(m)) {
          throw new ProtocolError(
            `the launcher speaks protocol ${m}, this daemon ${MAGIC}: update the launchers (podnet install) or run the matching daemon`,
            CniCode.IncompatibleCniVersion,
          );
        }
        if (m !== MAGIC) throw new ProtocolError("not a podnet launcher request (bad magic)");
        this.next("nameLen", 4);
        return;
      }
      case "nameLen":
        this.next("name", this.length(b, "plugin name", LIMITS.name));
        return;
      case "name":
        this.plugin = this.text(b, "plugin name");
        if (this.plugin === "" || this.plugin.includes("/"))
          throw new ProtocolError(`invalid plugin name ${JSON.stringify(this.plugin)}`);
        this.next("cwdLen", 4);
        return;
      case "cwdLen":
        this.next("cwd", this.length(b, "cwd", LIMITS.cwd));
        return;
      case "cwd":
        this.cwd = this.text(b, "cwd");
        if (!this.cwd.startsWith("/"))
          throw new ProtocolError(`cwd ${JSON.stringify(this.cwd)} is not an absolute path`);
        this.next("envCount", 4);
        return;
      case "envCount": {
        const n = b.readUInt32LE(0);
        if (n > LIMITS.envCount)
          throw new ProtocolError(`environment of ${n} entries is over the limit of ${LIMITS.envCount}`);
        this.envLeft = n;
        this.next(this.envLeft > 0 ? "envLen" : "stdinLen", 4);
        return;
      }
      case "envLen":
        this.next("env", this.length(b, "environment entry", LIMITS.envEntry));
        return;
      case "env": {
        const kv = this.text(b, "environment entry");
        const i = kv.indexOf("=");
        if (i > 0) this.env[kv.slice(0, i)] = kv.slice(i + 1);
        this.next(--this.envLeft > 0 ? "envLen" : "stdinLen", 4);
        return;
      }
      case "stdinLen":
        this.next("stdin", this.length(b, "stdin", LIMITS.stdin));
        return;
      case "stdin":
        this.stdin = b;
        this.next("done", 0);
        return;
      case "done":
        return;
    }
  }

  private next(f: Field, need: number): void {
    this.field = f;
    this.need = need;
    // A zero-length field is complete at once (an empty stdin ends the request).
    if (need === 0 && f !== "done") this.step(Buffer.alloc(0));
  }
}

/** One whole request (tests, and any caller holding all the bytes). */
export function decodeRequest(b: Buffer): LaunchRequest {
  const d = new RequestDecoder();
  d.push(b);
  return d.end();
}

export function encodeRequest(r: LaunchRequest & { readonly cwd: string }, magic: string = MAGIC): Buffer {
  const parts: Buffer[] = [Buffer.from(magic, "latin1")];
  const u32 = (v: number) => {
    const x = Buffer.alloc(4);
    x.writeUInt32LE(v);
    parts.push(x);
  };
  const str = (s: Buffer) => {
    u32(s.length);
    parts.push(s);
  };
  str(Buffer.from(r.plugin));
  str(Buffer.from(r.cwd));
  const entries = Object.entries(r.env);
  u32(entries.length);
  for (const [k, v] of entries) str(Buffer.from(`${k}=${v}`));
  str(r.stdin);
  return Buffer.concat(parts);
}

export function encodeResponse(r: LaunchResponse): Buffer {
  const out = Buffer.from(r.stdout);
  const err = Buffer.from(r.stderr);
  const b = Buffer.alloc(12 + out.length + err.length);
  b.writeUInt32LE(r.code >>> 0, 0);
  b.writeUInt32LE(out.length, 4);
  out.copy(b, 8);
  b.writeUInt32LE(err.length, 8 + out.length);
  err.copy(b, 12 + out.length);
  return b;
}

export function decodeResponse(b: Buffer): LaunchResponse {
  const bad = (why: string) => new ProtocolError(`malformed response: ${why}`);
  if (b.length < 12) throw bad("truncated header");
  const code = b.readUInt32LE(0);
  const ol = b.readUInt32LE(4);
  if (8 + ol + 4 > b.length) throw bad(`stdout of ${ol} bytes does not fit`);
  const stdout = b.subarray(8, 8 + ol).toString("utf8");
  const el = b.readUInt32LE(8 + ol);
  if (12 + ol + el !== b.length) throw bad(`stderr of ${el} bytes does not match the ${b.length - 12 - ol} left`);
  const stderr = b.subarray(12 + ol, 12 + ol + el).toString("utf8");
  return { code, stdout, stderr };
}
