import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createFakeRawExec } from "../../../kernel/testing.js";
import { RelayedError, type CmdArgs } from "../../../sdk/types.js";
import { testDeps, withTempDir } from "../../ipam/host-local/testing.js";
import { createIpamDelegate } from "./ipam.js";
import { isPodnetBundle } from "../../../sdk/bundle.js";

function cmdArgs(dir: string, conf: Record<string, unknown>, env: Record<string, string> = {}): CmdArgs {
  const stdinData = Buffer.from(JSON.stringify(conf));
  return {
    command: "ADD",
    containerID: "ctr1",
    netns: "/run/netns/podnet-t-x",
    ifName: "eth0",
    args: "",
    path: [dir],
    stdinData,
    netconf: conf,
    cniVersion: String(conf["cniVersion"]),
    env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_IFNAME: "eth0", CNI_PATH: dir, ...env },
    trace: () => {},
  };
}

function recordingExec(stdout: string, code = 0) {
  const exec = createFakeRawExec(() => ({ stdout, code }));
  return { exec, calls: exec.calls };
}

// The text is a bundle's JavaScript source, template literal and all.
const BANNER =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a bundle's source text, not a template
  '#!/usr/bin/node\n"use strict";\nconst a = `CNI ${x} plugin podnet v${y}`;\nconst about = { name: "host-local" };\n';

describe("IPAM delegation", () => {
  it("execs the plugin found in CNI_PATH with the same stdin, CNI_COMMAND changed, and reads its result in the request's version", () =>
    withTempDir(async (dir) => {
      await writeFile(join(dir, "host-local"), "\x7fELF go binary", { mode: 0o755 });
      const conf = {
        cniVersion: "0.4.0",
        name: "n",
        type: "bridge",
        ipam: { type: "host-local", subnet: "10.200.0.0/24" },
      };
      const { exec, calls } = recordingExec(
        JSON.stringify({
          cniVersion: "0.4.0",
          ips: [{ version: "4", address: "10.200.0.2/24", gateway: "10.200.0.1" }],
          dns: {},
        }),
      );
      const ipam = createIpamDelegate({
        exec,
        hostLocal: testDeps(),
        isPodnetPlugin: (_p, name) => isPodnetBundle(Buffer.from("\x7fELF"), name),
      });
      const args = cmdArgs(dir, conf);
      const r = await ipam.add("host-local", args);
      assert.deepEqual(
        r,
        { cniVersion: "1.1.0", ips: [{ address: "10.200.0.2/24", gateway: "10.200.0.1" }] },
        "an empty dns is no dns",
      );
      assert.equal(calls[0]!.file, join(dir, "host-local"));
      assert.equal(calls[0]!.env["CNI_COMMAND"], "ADD");
      assert.equal(calls[0]!.env["CNI_CONTAINERID"], "ctr1");
      assert.equal(calls[0]!.stdin, args.stdinData.toString());
      await ipam.del("host-local", args);
      assert.equal(calls[1]!.env["CNI_COMMAND"], "DEL");
    }));

  it("passes the delegate's CNI error on, marked as relayed (it keeps its code where the bridge's own are 999)", () =>
    withTempDir(async (dir) => {
      await writeFile(join(dir, "static"), "x", { mode: 0o755 });
      const { exec } = recordingExec(JSON.stringify({ code: 11, msg: "try again" }), 1);
      const ipam = createIpamDelegate({ exec });
      await assert.rejects(
        ipam.add("static", cmdArgs(dir, { cniVersion: "1.0.0", name: "n", ipam: { type: "static" } })),
        (e: unknown) => {
          assert.equal((e as { code: number }).code, 11);
          assert.ok(e instanceof RelayedError);
          return true;
        },
      );
    }));

  it("a missing plugin is error 50 naming it", async () => {
    const ipam = createIpamDelegate({ exec: recordingExec("").exec });
    await assert.rejects(
      ipam.add("nope", cmdArgs("/nonexistent", { cniVersion: "1.0.0", name: "n" })),
      /failed to find plugin "nope"/,
    );
  });

  it("runs podnet's own host-local in-process (no exec), same store; PODNET_IPAM_EXEC=1 forces the exec", () =>
    withTempDir(async (dir) => {
      await writeFile(join(dir, "host-local"), BANNER, { mode: 0o755 });
      const dataDir = join(dir, "ipam");
      const conf = {
        cniVersion: "0.3.1",
        name: "net1",
        type: "bridge",
        ipam: { type: "host-local", subnet: "10.200.7.0/24", dataDir },
      };
      const { exec, calls } = recordingExec("{}");
      const ipam = createIpamDelegate({
        exec,
        hostLocal: testDeps(),
        isPodnetPlugin: (p, name) => isPodnetBundle(Buffer.from(p.endsWith("host-local") ? BANNER : ""), name),
      });
      const args = cmdArgs(dir, conf);
      const r = await ipam.add("host-local", args);
      assert.equal(calls.length, 0);
      assert.deepEqual(r.ips, [{ address: "10.200.7.2/24", gateway: "10.200.7.1" }]);
      assert.ok((await readdir(join(dataDir, "net1"))).includes("10.200.7.2"));
      await ipam.check("host-local", args);
      await ipam.del("host-local", args);
      assert.ok(!(await readdir(join(dataDir, "net1"))).includes("10.200.7.2"));
      assert.equal(calls.length, 0);
      await ipam.del("host-local", cmdArgs(dir, conf, { PODNET_IPAM_EXEC: "1" }));
      assert.equal(calls.length, 1);
    }));
});
