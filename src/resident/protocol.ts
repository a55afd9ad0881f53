// The resident-mode wire format between native/launcher.c and the daemon (pure).
//   request:  "PNC1" u32 nameLen name u32 envCount (u32 len "K=V")* u32 stdinLen stdin
//   response: u32 exitCode u32 stdoutLen stdout u32 stderrLen stderr
// All integers are little-endian u32.

export interface LaunchRequest {
  readonly plugin: string;
  readonly env: Record<string, string>;
  readonly stdin: Buffer;
}

export interface LaunchResponse {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const MAGIC = "PNC1";

export class ProtocolError extends Error {
  override name = "ProtocolError";
}

export function decodeRequest(b: Buffer): LaunchRequest {
  let off = 0;
  const need = (n: number) => {
    if (off + n > b.length) throw new ProtocolError(`truncated request at byte ${off} (need ${n} more, have ${b.length - off})`);
  };
  const u32 = () => {
    need(4);
    const v = b.readUInt32LE(off);
    off += 4;
    return v;
  };
  const bytes = (n: number) => {
    need(n);
    const s = b.subarray(off, off + n);
    off += n;
    return s;
  };
  if (bytes(4).toString("latin1") !== MAGIC) throw new ProtocolError("not a podnet launcher request (bad magic)");
  const plugin = bytes(u32()).toString("utf8");
  const env: Record<string, string> = {};
  for (let n = u32(); n > 0; n--) {
    const kv = bytes(u32()).toString("utf8");
    const i = kv.indexOf("=");
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const stdin = Buffer.from(bytes(u32()));
  if (off !== b.length) throw new ProtocolError(`${b.length - off} trailing bytes after the request`);
  return { plugin, env, stdin };
}

export function encodeRequest(r: LaunchRequest): Buffer {
  const parts: Buffer[] = [Buffer.from(MAGIC, "latin1")];
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
  if (b.length < 12) throw new ProtocolError("truncated response");
  const code = b.readUInt32LE(0);
  const ol = b.readUInt32LE(4);
  const stdout = b.subarray(8, 8 + ol).toString("utf8");
  const el = b.readUInt32LE(8 + ol);
  const stderr = b.subarray(12 + ol, 12 + ol + el).toString("utf8");
  return { code, stdout, stderr };
}
