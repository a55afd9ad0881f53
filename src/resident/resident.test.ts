import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CniCode } from "../cni/index.js";
import type { UnixListener } from "../kernel/unix-listener.js";
import { SAMPLE_ABOUT, samplePlugin } from "../plugins/sample/sample.js";
import { atCwd } from "./call-context.js";
import {
  LIMITS,
  MAX_REQUEST_BYTES,
  type ProtocolError,
  RequestDecoder,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
} from "./protocol.js";
import { localPluginHost, handle, stateless, type Registry } from "./host.js";
import { defaultRegistry } from "./registry.js";
import { newServeStats, serveResident } from "./server.js";

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const field = (s: string) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);
/** A request up to (and including) the stdin length field. */
const header = (stdinLen: number, magic = "PNC2") =>
  Buffer.concat([Buffer.from(magic), field("sample"), field("/"), u32(0), u32(stdinLen)]);

describe("resident protocol", () => {
  it("round-trips requests and responses, including the cwd, '=' in values and binary stdin", () => {
    const req = {
      plugin: "bridge",
      cwd: "/home/x",
      env: { CNI_COMMAND: "ADD", CNI_ARGS: "A=1;B=2", EMPTY: "" },
      stdin: Buffer.from([0, 1, 2, 255]),
    };
    const got = decodeRequest(encodeRequest(req));
    assert.deepEqual({ ...got, env: { ...got.env }, stdin: Buffer.from(got.stdin) }, req);
    const res = { code: 1, stdout: '{"code":7}', stderr: "log ✓\n" };
    assert.deepEqual(decodeResponse(encodeResponse(res)), res);
  });
  it("rejects bad magic, truncation, trailing bytes, NUL in names and a relative cwd", () => {
    const good = encodeRequest({ plugin: "x", cwd: "/", env: {}, stdin: Buffer.alloc(0) });
    assert.throws(() => decodeRequest(Buffer.from("XXXX")), /bad magic/);
    assert.throws(() => decodeRequest(good.subarray(0, good.length - 2)), /truncated request/);
    assert.throws(() => decodeRequest(Buffer.concat([good, Buffer.from("z")])), /1 trailing bytes/);
    assert.throws(
      () => decodeRequest(encodeRequest({ plugin: "a\0b", cwd: "/", env: {}, stdin: Buffer.alloc(0) })),
      /plugin name contains a NUL/,
    );
    assert.throws(
      () => decodeRequest(encodeRequest({ plugin: "x", cwd: "rel", env: {}, stdin: Buffer.alloc(0) })),
      /cwd "rel" is not an absolute path/,
    );
  });
  it("answers an old launcher (PNC1) with an error saying to update it", () => {
    assert.throws(
      () => decodeRequest(encodeRequest({ plugin: "x", cwd: "/", env: {}, stdin: Buffer.alloc(0) }, "PNC1")),
      (e: ProtocolError) =>
        e.cniCode === CniCode.IncompatibleCniVersion &&
        /protocol PNC1, this daemon PNC2: update the launchers/.test(e.message),
    );
  });
  it("environment keys cannot reach Object.prototype", () => {
    const r = decodeRequest(
      encodeRequest({ plugin: "x", cwd: "/", env: { ["__proto__"]: "x", constructor: "y" }, stdin: Buffer.alloc(0) }),
    );
    assert.equal(Object.getPrototypeOf(r.env), null);
    // biome-ignore lint/suspicious/noProto: reading "__proto__" as an own data key is what this test checks
    assert.equal(r.env["__proto__"], "x");
  });
  it("refuses an oversized declared length as soon as the length arrives, before its bytes", () => {
    const d = new RequestDecoder();
    assert.throws(
      () => d.push(header(0xffffffff)),
      (e: ProtocolError) =>
        e.cniCode === CniCode.DecodingFailure && /stdin of 4294967295 bytes is over the limit/.test(e.message),
    );
    const d2 = new RequestDecoder();
    assert.throws(() => d2.push(header(MAX_REQUEST_BYTES - 10)), /would make the request larger than 67108864 bytes/);
    for (const [what, bytes] of [
      ["plugin name", Buffer.concat([Buffer.from("PNC2"), u32(LIMITS.name + 1)])],
      ["cwd", Buffer.concat([Buffer.from("PNC2"), field("x"), u32(LIMITS.cwd + 1)])],
      ["environment of", Buffer.concat([Buffer.from("PNC2"), field("x"), field("/"), u32(LIMITS.envCount + 1)])],
      [
        "environment entry",
        Buffer.concat([Buffer.from("PNC2"), field("x"), field("/"), u32(1), u32(LIMITS.envEntry + 1)]),
      ],
    ] as const) {
      assert.throws(() => new RequestDecoder().push(bytes), new RegExp(`${what}.* over the limit`), what);
    }
  });
  it("stops a request that streams past 64 MiB at the chunk that crosses it", () => {
    const d = new RequestDecoder();
    d.push(header(MAX_REQUEST_BYTES - header(0).length)); // exactly at the limit: accepted
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < 63; i++) d.push(chunk);
    d.push(Buffer.alloc((1 << 20) - header(0).length));
    assert.equal(d.end().stdin.length, MAX_REQUEST_BYTES - header(0).length);
    assert.throws(() => d.push(Buffer.alloc(1)), /request larger than 67108864 bytes/);
  });
  it("reads a request split at any byte", () => {
    const req = encodeRequest({
      plugin: "bridge",
      cwd: "/w",
      env: { A: "1", B: "2=3" },
      stdin: Buffer.from('{"x":1}'),
    });
    for (let cut = 1; cut < req.length; cut++) {
      const d = new RequestDecoder();
      d.push(req.subarray(0, cut));
      d.push(req.subarray(cut));
      const r = d.end();
      assert.equal(r.cwd, "/w");
      assert.equal(r.env["B"], "2=3");
      assert.equal(r.stdin.toString(), '{"x":1}');
    }
  });
});

describe("a call's paths resolve against the caller's cwd", () => {
  it("relative paths are joined, not normalised; absolute and empty ones are kept", () => {
    const at = atCwd("/home/u")!;
    assert.equal(at("ipam"), "/home/u/ipam");
    assert.equal(at("link/../x"), "/home/u/link/../x");
    assert.equal(at("/var/lib/cni"), "/var/lib/cni");
    assert.equal(at(""), "");
    assert.equal(atCwd(undefined), undefined);
  });
  it("host-local in the daemon writes a relative dataDir under the caller's cwd, not the daemon's", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-t-cwd-"));
    try {
      const caller = join(dir, "caller");
      mkdirSync(caller);
      const conf = {
        cniVersion: "1.0.0",
        name: "relnet",
        ipam: { type: "host-local", subnet: "10.200.7.0/24", dataDir: "ipam-rel" },
      };
      const env = {
        CNI_COMMAND: "ADD",
        CNI_CONTAINERID: "c1",
        CNI_NETNS: "/x",
        CNI_IFNAME: "eth0",
        CNI_PATH: "/opt/cni/bin",
      };
      const res = await handle(defaultRegistry(), {
        plugin: "host-local",
        cwd: caller,
        env,
        stdin: Buffer.from(JSON.stringify(conf)),
      });
      assert.equal(res.code, 0, res.stdout);
      assert.deepEqual(readdirSync(join(caller, "ipam-rel", "relnet")).sort(), [
        "10.200.7.2",
        "last_reserved_ip.0",
        "lock",
      ]);
      assert.equal(readdirSync(process.cwd()).includes("ipam-rel"), false, "nothing in the daemon's cwd");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Connects and sends `bytes`; resolves with the whole answer once the daemon closes. `end`: shut down our side after. */
function exchange(path: string, bytes: Buffer, end = true): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ path, allowHalfOpen: true });
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer within 5 s (${Buffer.concat(got).length} bytes so far)`));
    }, 5000);
    s.on("close", () => clearTimeout(timer));
    s.on("data", (c: Buffer) => got.push(c));
    s.on("end", () => {
      s.destroy();
      resolve(Buffer.concat(got));
    });
    s.on("error", (e: NodeJS.ErrnoException) =>
      e.code === "EPIPE" || e.code === "ECONNRESET" ? undefined : reject(e),
    );
    s.write(bytes);
    if (end) s.end();
  });
}

describe("resident server", () => {
  let dir = "";
  let server: UnixListener | undefined;
  const stats = newServeStats();
  let sampleCalls = 0;
  const registry: Registry = new Map([
    [
      "sample",
      {
        about: SAMPLE_ABOUT,
        make: () => {
          sampleCalls++;
          return { funcs: samplePlugin, close: () => {} };
        },
      },
    ],
    ["stateless", stateless(samplePlugin, SAMPLE_ABOUT)],
  ]);
  const sock = () => join(dir, "cni.sock");
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "podnet-t-resident-"));
    server = await serveResident(sock(), localPluginHost(registry), { stats });
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers a request with what the plugin printed", async () => {
    const env = { CNI_COMMAND: "VERSION" };
    const res = decodeResponse(
      await exchange(sock(), encodeRequest({ plugin: "sample", cwd: "/", env, stdin: Buffer.alloc(0) })),
    );
    assert.equal(res.code, 0);
    assert.deepEqual(JSON.parse(res.stdout).supportedVersions, SAMPLE_ABOUT.supportedVersions);
  });
  it("answers an oversized request with a decoding error right after its header, before its bytes", async () => {
    // The stdin is never sent and our side stays open: the answer can only come from the header.
    const res = decodeResponse(await exchange(sock(), header(100 * 1024 * 1024), false));
    assert.equal(res.code, 1);
    const err = JSON.parse(res.stdout);
    assert.equal(err.code, CniCode.DecodingFailure);
    assert.match(err.msg, /stdin of 104857600 bytes is over the limit of 67108864/);
    assert.ok(stats.malformed >= 1);
  });
  it("does not start a request whose launcher has already gone", async () => {
    const before = { calls: stats.calls, skipped: stats.skipped, made: sampleCalls };
    // A client in another process sends a whole request and exits, while this process (the
    // daemon) is blocked in spawnSync: the daemon only sees the request after its sender has gone.
    const req = encodeRequest({ plugin: "sample", cwd: "/", env: { CNI_COMMAND: "VERSION" }, stdin: Buffer.alloc(0) });
    const client = `const s = require("net").connect(${JSON.stringify(sock())}, () => s.end(Buffer.from(${JSON.stringify(req.toString("base64"))}, "base64"), () => process.exit(0)));`;
    const r = spawnSync(process.execPath, ["-e", client], { timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr.toString());
    for (let i = 0; i < 200 && stats.skipped === before.skipped; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(stats.skipped, before.skipped + 1, "counted as skipped");
    assert.equal(stats.calls, before.calls, "not run");
    assert.equal(sampleCalls, before.made, "no plugin instance was even made");
  });
  it("ignores an empty connection (another daemon probing the socket)", async () => {
    const malformed = stats.malformed;
    assert.equal((await exchange(sock(), Buffer.alloc(0))).length, 0);
    assert.equal(stats.malformed, malformed);
  });
});
