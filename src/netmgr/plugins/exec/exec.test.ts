import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createExecPlugin, parseExecStatus, probeExecPlugins, type ExecPluginFs } from "./exec.js";
import { createFakeRawExec } from "../../../kernel/testing.js";
import type { Host } from "../../core/plugin.js";

const fs = (
  dirs: Record<string, Array<{ name: string; isDirectory: boolean }>>,
  modes: Record<string, number>,
): ExecPluginFs => ({
  readdir(d) {
    const e = dirs[d];
    if (!e) throw new Error("ENOENT");
    return e;
  },
  mode: (p) => modes[p],
});
const host: Host = { getNetNS: async () => "/run/netns/p", getPodPortMappings: async () => [] };

describe("exec plugins", () => {
  it("probe: one plugin per directory, ~ is /, the executable is named after the last segment", () => {
    const f = fs(
      {
        "/x": [
          { name: "mycompany~mysdn", isDirectory: true },
          { name: "simple", isDirectory: true },
          { name: "README", isDirectory: false },
        ],
      },
      {},
    );
    assert.deepEqual(probeExecPlugins("/x", f), [
      { name: "mycompany/mysdn", dirName: "mycompany~mysdn", exe: "/x/mycompany~mysdn/mysdn" },
      { name: "simple", dirName: "simple", exe: "/x/simple/simple" },
    ]);
    assert.deepEqual(probeExecPlugins("/missing", f), []);
  });
  it("status output: empty is no opinion; kind and apiVersion are checked", () => {
    assert.equal(parseExecStatus("", "web"), null);
    assert.deepEqual(parseExecStatus('{"apiVersion":"v1beta1","kind":"PodNetworkStatus","ip":"10.20.30.40"}', "web"), {
      ip: "10.20.30.40",
      ips: ["10.20.30.40"],
    });
    assert.deepEqual(parseExecStatus('{"ip":"10.1.1.1"}', "web"), { ip: "10.1.1.1", ips: ["10.1.1.1"] });
    assert.throws(
      () => parseExecStatus('{"kind":"Pod"}', "web"),
      /Invalid 'kind' returned in network status for pod 'web'. Valid value is 'PodNetworkStatus', got 'Pod'./,
    );
    assert.throws(
      () => parseExecStatus('{"apiVersion":"v2"}', "web"),
      /Unknown version 'v2' in network status for pod 'web'./,
    );
    assert.throws(() => parseExecStatus("nope", "web"), /invalid network status/);
  });
  it("init checks the execute bit, then runs the protocol with PODNET_NETNS", async () => {
    const info = { name: "vendor/sdn", dirName: "vendor~sdn", exe: "/x/vendor~sdn/sdn" };
    const raw = createFakeRawExec((_f, a) => (a[0] === "status" ? { stdout: '{"ip":"10.9.9.9"}' } : {}));
    const bad = createExecPlugin(info, { exec: raw, fs: fs({}, { [info.exe]: 0o644 }) });
    await assert.rejects(
      bad.init(host, "none", "", 0),
      /Invalid exec plugin. Executable 'vendor\/sdn' does not have correct permissions./,
    );
    const p = createExecPlugin(info, { exec: raw, fs: fs({}, { [info.exe]: 0o755 }) });
    await p.init(host, "none", "", 0);
    await p.setUpPod("default", "web", "abc", {}, {});
    assert.deepEqual(await p.getPodNetworkStatus("default", "web", "abc"), { ip: "10.9.9.9", ips: ["10.9.9.9"] });
    await p.tearDownPod("default", "web", "abc");
    assert.deepEqual(
      raw.calls.map((c) => [c.file, ...c.args].join(" ")),
      [
        "/x/vendor~sdn/sdn init",
        "/x/vendor~sdn/sdn setup default web abc",
        "/x/vendor~sdn/sdn status default web abc",
        "/x/vendor~sdn/sdn teardown default web abc",
      ],
    );
    assert.equal(raw.calls[1]!.env["PODNET_NETNS"], "/run/netns/p");
    assert.equal(p.name(), "vendor/sdn");
  });
  it("a failing command is an error carrying its output", async () => {
    const info = { name: "x", dirName: "x", exe: "/x/x/x" };
    const p = createExecPlugin(info, {
      exec: createFakeRawExec(() => ({ code: 3, stderr: "no bridge" })),
      fs: fs({}, { [info.exe]: 0o755 }),
    });
    await assert.rejects(p.init(host, "none", "", 0), /exec plugin "x" init failed: exit status 3: no bridge/);
  });
});
