// What reaches the resident daemon is not limited by execve: a client speaking the protocol can
// put a NUL in any environment value, or send any stdin. The wire decoder refuses a NUL in an
// environment entry (code 6), and the dispatcher refuses it again (code 4, as an exec'd plugin
// would) for a request that reaches it by any other path; deep stdin is code 6.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ALL_SPEC_VERSIONS } from "../cni/index.js";
import type { PluginFuncs } from "../sdk/types.js";
import { decodeRequest, encodeRequest } from "./protocol.js";
import { handle, stateless } from "./host.js";

describe("resident requests with hostile environment or stdin", () => {
  const called: string[] = [];
  const funcs: PluginFuncs = {
    add: async (a) => {
      called.push(a.ifName);
      return { cniVersion: "1.0.0" };
    },
    del: async () => {},
  };
  const registry = new Map([["t", stateless(funcs, { name: "t", supportedVersions: ALL_SPEC_VERSIONS })]]);
  const env = {
    CNI_COMMAND: "ADD",
    CNI_CONTAINERID: "c1",
    CNI_NETNS: "/run/netns/x",
    CNI_IFNAME: "eth0",
    CNI_PATH: "/opt/cni/bin",
  };
  const stdin = Buffer.from('{"cniVersion":"1.0.0","name":"n"}');
  const call = async (over: Record<string, string>, body = stdin) => {
    // the dispatcher's own check, behind the decoder's
    const res = await handle(registry, { plugin: "t", env: { ...env, ...over }, stdin: body, cwd: "/" });
    return { code: res.code, out: JSON.parse(res.stdout) as { code: number; msg: string } };
  };

  it("an ifname with a NUL (the kernel would take 'eth0') is code 4; the plugin never runs", async () => {
    const r = await call({ CNI_IFNAME: "eth0\0anything" });
    assert.equal(r.code, 1);
    assert.deepEqual(r.out, { code: 4, msg: "invalid CNI_IFNAME: contains a NUL byte" });
    assert.deepEqual(called, []);
  });
  for (const k of ["CNI_NETNS", "CNI_CONTAINERID", "CNI_PATH", "CNI_ARGS"]) {
    it(`${k} with a NUL is code 4`, async () => {
      const r = await call({ [k]: `${env[k as keyof typeof env] ?? "K=V"}\0x` });
      assert.deepEqual(r.out, { code: 4, msg: `invalid ${k}: contains a NUL byte` });
      assert.deepEqual(called, []);
    });
  }
  it("the wire decoder refuses a NUL in an environment entry (code 6) before anything runs", () => {
    assert.throws(
      () => decodeRequest(encodeRequest({ plugin: "t", env: { ...env, CNI_IFNAME: "eth0\0x" }, stdin, cwd: "/" })),
      (e: Error & { cniCode?: number }) => e.cniCode === 6 && /NUL/.test(e.message),
    );
    assert.deepEqual(called, []);
  });
  it("stdin nested 5,000,000 deep is code 6 (through the wire format; in encoding/json's words: Go refuses it too)", async () => {
    const req = decodeRequest(
      encodeRequest({ plugin: "t", env, stdin: Buffer.from("[".repeat(5_000_000) + "]".repeat(5_000_000)), cwd: "/" }),
    );
    const res = await handle(registry, req);
    const r = { out: JSON.parse(res.stdout) as { code: number; msg: string } };
    assert.equal(r.out.code, 6);
    assert.equal(r.out.msg, "error unmarshall network config: invalid character '[' exceeded max depth");
  });
  it("a good request still works", async () => {
    const r = await call({});
    assert.equal(r.code, 0);
    assert.deepEqual(called, ["eth0"]);
  });
});
