import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CniError, parseConfList } from "../../cni/index.js";
import { nodeRawExec } from "../../kernel/exec.js";
import { CniRuntime } from "../../libcni/index.js";
import { stateless, type Registry } from "../../resident/host.js";
import type { PluginFuncs } from "../../sdk/types.js";
import { SAMPLE_ABOUT, samplePlugin } from "../../plugins/sample/sample.js";
import { createInProcessExec, InProcessInvoker, localPluginHost, type PluginHost } from "./inprocess-invoker.js";
import { podnetPluginCheck } from "../../sdk/bundle.js";
import { createFakeRawExec } from "../../kernel/testing.js";

const BUILT = new URL("../../../../build/cni", import.meta.url).pathname;
/** What isPodnetBundle recognises: a script carrying the SDK's about text and the plugin's name. */
const bundle = (name: string) =>
  `#!/usr/bin/node\n"use strict";var about="CNI ${name} plugin podnet v0.1.0";var n="${name}";\n`;
const ELF = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
const all = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

describe("in-process invoker over a fake registry", () => {
  let dir = "";
  const seen: Array<{ plugin: string; env: Record<string, string>; stdin: string }> = [];
  const ipam: PluginFuncs = {
    add: async (args) => ({
      cniVersion: "1.1.0",
      ips: [{ address: "10.200.0.5/24", gateway: "10.200.0.1" }],
      interfaces: [{ name: args.ifName }],
    }),
    del: async () => {},
  };
  const fails: PluginFuncs = {
    add: async () => {
      throw new CniError(11, "try again later", { details: "it is busy" });
    },
    del: async () => {},
  };
  const registry: Registry = new Map([
    ["fakeip", stateless(ipam, { name: "fakeip", supportedVersions: all })],
    ["sample", stateless(samplePlugin, SAMPLE_ABOUT)],
    ["fails", stateless(fails, { name: "fails", supportedVersions: all })],
    ["launched", stateless(ipam, { name: "launched", supportedVersions: all })],
  ]);
  const base = localPluginHost(registry);
  const host: PluginHost = {
    ...base,
    has: base.has,
    call: (req, o) => {
      seen.push({ plugin: req.plugin, env: req.env, stdin: req.stdin.toString() });
      return base.call(req, o);
    },
  };
  const fallback = createFakeRawExec(() => ({
    stdout: JSON.stringify({ cniVersion: "1.0.0", ips: [{ address: "10.200.0.77/24" }] }),
  }));
  const list = (...types: string[]) =>
    parseConfList(
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "net",
        plugins: types.map((type) => ({ type, anotherAwesomeArg: "x" })),
      }),
    );
  const inv = (o: { forceExec?: boolean; timeoutMs?: number } = {}) =>
    new InProcessInvoker({
      path: [join(dir, "bin")],
      cacheDir: join(dir, "cache"),
      host,
      exec: fallback,
      baseEnv: { PATH: "/usr/bin" },
      netnsExists: () => true,
      ...o,
    });
  const rt = {
    containerID: "c1",
    netns: "/run/netns/podnet-t-x",
    ifName: "eth0",
    args: [["K8S_POD_NAME", "web"]] as Array<[string, string]>,
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "podnet-t-inproc-"));
    mkdirSync(join(dir, "bin"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function files(spec: Record<string, string | Buffer>) {
    const bin = join(dir, "bin");
    for (const [n, c] of Object.entries(spec)) writeFileSync(join(bin, n), c, { mode: 0o755 });
  }

  it("runs podnet's bundles in-process through the dispatcher, with the runtime's env and stdin", async () => {
    files({ fakeip: bundle("fakeip"), sample: bundle("sample") });
    const i = inv();
    const r = await i.addNetworkList(list("fakeip", "sample"), rt);
    assert.deepEqual(r, {
      cniVersion: "1.0.0",
      ips: [{ address: "10.200.0.5/24", gateway: "10.200.0.1" }],
      interfaces: [{ name: "eth0" }],
    });
    assert.deepEqual(i.stats, { inProcess: 2, exec: 0 });
    assert.equal(fallback.calls.length, 0);
    const [a, b] = seen.slice(-2);
    assert.equal(a!.plugin, "fakeip");
    assert.deepEqual(
      { ...a!.env },
      {
        PATH: "/usr/bin",
        CNI_COMMAND: "ADD",
        CNI_CONTAINERID: "c1",
        CNI_NETNS: "/run/netns/podnet-t-x",
        CNI_IFNAME: "eth0",
        CNI_ARGS: "K8S_POD_NAME=web",
        CNI_PATH: join(dir, "bin"),
      },
    );
    assert.equal(
      JSON.parse(b!.stdin).prevResult.ips[0].address,
      "10.200.0.5/24",
      "the chain passes prevResult as for an exec",
    );
    assert.deepEqual(i.getCachedResult(list("fakeip", "sample"), rt), r, "the result cache is written as for an exec");
    await i.delNetworkList(list("fakeip", "sample"), rt);
    assert.deepEqual(
      seen.slice(-2).map((s) => `${s.plugin} ${s.env["CNI_COMMAND"]}`),
      ["sample DEL", "fakeip DEL"],
    );
    assert.equal(i.getCachedResult(list("fakeip", "sample"), rt), undefined);
  });

  it("a plugin's error arrives as the same CniError an exec would give", async () => {
    files({ fails: bundle("fails") });
    await assert.rejects(
      inv().addNetworkList(list("fails"), rt),
      (e: CniError) =>
        e instanceof CniError &&
        e.code === 11 &&
        e.message === 'plugin type="fails" name="net" failed (add): try again later' &&
        e.details === "it is busy",
    );
  });

  it("execs whatever is not podnet's: Go's plugins (ELF), scripts without the mark, names the host lacks", async () => {
    files({ fakeip: Buffer.concat([ELF, Buffer.from("go plugin")]) });
    const i = inv();
    const r = await i.addNetworkList(list("fakeip"), { ...rt, containerID: "c2" });
    assert.deepEqual(r, { cniVersion: "1.0.0", ips: [{ address: "10.200.0.77/24" }] });
    assert.deepEqual(i.stats, { inProcess: 0, exec: 1 });
    assert.equal(fallback.calls.at(-1)!.file, join(dir, "bin", "fakeip"));
    files({ fakeip: "#!/bin/sh\necho '{}'\n" });
    assert.equal(i.mode("fakeip"), "exec");
    files({ other: bundle("other") });
    assert.equal(i.mode("other"), "exec", "a podnet bundle the host does not serve");
    assert.equal(i.mode("missing"), undefined);
  });

  it("podnet's resident launcher (an ELF with the launcher's mark) runs in-process too", async () => {
    files({ launched: Buffer.concat([ELF, Buffer.from("\0podnet launcher: cannot reach the daemon\0")]) });
    assert.equal(inv().mode("launched"), "in-process");
  });

  it("forceExec (--in-process-plugins=false) execs podnet's own as well", async () => {
    files({ fakeip: bundle("fakeip") });
    const i = inv({ forceExec: true });
    assert.equal(i.mode("fakeip"), "exec");
    await i.addNetworkList(list("fakeip"), { ...rt, containerID: "c3" });
    assert.deepEqual(i.stats, { inProcess: 0, exec: 1 });
  });

  it("a call that does not finish in time fails as a killed plugin would", async () => {
    const never: Registry = new Map([
      [
        "fakeip",
        stateless(
          { add: () => new Promise(() => {}), del: async () => {} },
          { name: "fakeip", supportedVersions: all },
        ),
      ],
    ]);
    files({ fakeip: bundle("fakeip") });
    const i = new InProcessInvoker({
      path: [join(dir, "bin")],
      cacheDir: join(dir, "cache"),
      host: localPluginHost(never),
      exec: fallback,
      timeoutMs: 30,
      netnsExists: () => true,
    });
    await assert.rejects(i.addNetworkList(list("fakeip"), rt), /timed out after 30 ms and was killed/);
  });

  it("the bundle check is cached per file version", () => {
    let reads = 0;
    const check = podnetPluginCheck((p) => {
      reads++;
      return readFileSync(p);
    });
    files({ fakeip: bundle("fakeip") });
    const p = join(dir, "bin", "fakeip");
    assert.equal(check(p, "fakeip"), true);
    assert.equal(check(p, "fakeip"), true);
    assert.equal(reads, 1);
    assert.equal(check(p, "sample"), false, "the name must be in the bundle");
    files({ fakeip: `#!/bin/sh\n${"x".repeat(40)}` });
    assert.equal(check(p, "fakeip"), false, "a replaced file is read again");
    assert.equal(check(join(dir, "bin", "nope"), "nope"), false);
  });
});

// Same bytes as an exec: podnet's built sample plugin, exec'd and in-process, side by side.
describe("in-process vs exec of a built bundle", {
  skip: !existsSync(join(BUILT, "sample")) && "build/cni not built",
}, () => {
  it("exit code, stdout and stderr are identical", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-t-inproc-"));
    try {
      const file = join(dir, "sample");
      copyFileSync(join(BUILT, "sample"), file);
      const run = createInProcessExec({
        host: localPluginHost(new Map([["sample", stateless(samplePlugin, SAMPLE_ABOUT)]])),
        fallback: nodeRawExec,
      });
      assert.equal(run.inProcess(file), true);
      const env = {
        PATH: process.env["PATH"],
        CNI_CONTAINERID: "c1",
        CNI_NETNS: "/run/netns/podnet-t-none",
        CNI_IFNAME: "eth0",
        CNI_PATH: dir,
      };
      const cases: Array<[string, string]> = [
        [
          "ADD",
          JSON.stringify({
            cniVersion: "1.0.0",
            name: "n",
            anotherAwesomeArg: "x",
            prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.200.0.2/24" }] },
          }),
        ],
        [
          "ADD",
          JSON.stringify({
            cniVersion: "0.3.1",
            name: "n",
            anotherAwesomeArg: "x",
            prevResult: { cniVersion: "0.3.1", ips: [{ version: "4", address: "10.200.0.2/24" }] },
          }),
        ],
        ["ADD", JSON.stringify({ cniVersion: "1.0.0", name: "n", anotherAwesomeArg: "" })],
        ["DEL", JSON.stringify({ cniVersion: "1.1.0", name: "n", anotherAwesomeArg: "x" })],
        ["VERSION", "{}"],
        ["ADD", "not json"],
        ["BOGUS", "{}"],
      ];
      for (const [cmd, stdin] of cases) {
        const opts = { env: { ...env, CNI_COMMAND: cmd }, stdin };
        const a = await nodeRawExec.run(file, [], opts);
        const b = await run.run(file, [], opts);
        assert.deepEqual(
          { code: b.code, stdout: b.stdout.toString(), stderr: b.stderr.toString() },
          { code: a.code, stdout: a.stdout.toString(), stderr: a.stderr.toString() },
          `${cmd} ${stdin}`,
        );
      }
      // and through the runtime: the same CniError either way
      const list = parseConfList(
        JSON.stringify({ cniVersion: "1.0.0", name: "n", plugins: [{ type: "sample", anotherAwesomeArg: "x" }] }),
      );
      const viaExec = await new CniRuntime({
        path: [dir],
        cacheDir: join(dir, "c1"),
        exec: nodeRawExec,
        netnsExists: () => true,
      })
        .addNetworkList(list, { containerID: "c1", netns: "/run/netns/x", ifName: "eth0" })
        .catch((e: unknown) => e);
      const viaHost = await new InProcessInvoker({
        path: [dir],
        cacheDir: join(dir, "c2"),
        exec: nodeRawExec,
        host: localPluginHost(new Map([["sample", stateless(samplePlugin, SAMPLE_ABOUT)]])),
        netnsExists: () => true,
      })
        .addNetworkList(list, { containerID: "c1", netns: "/run/netns/x", ifName: "eth0" })
        .catch((e: unknown) => e);
      assert.ok(viaExec instanceof CniError);
      assert.deepEqual(
        [(viaHost as CniError).code, (viaHost as CniError).message, (viaHost as CniError).details],
        [viaExec.code, viaExec.message, viaExec.details],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
