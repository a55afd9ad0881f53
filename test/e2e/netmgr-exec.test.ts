// The legacy exec plugin layout and protocol: <network-plugin-dir>/<name>/<name> run as
// init / setup / teardown / status by `podnet node --network-plugin=<name>`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { haveRoot, withSandbox } from "./sandbox.js";
import { runDaemonToExit, startDaemon } from "../../src/netmgr/testing/daemon.js";

const skip = haveRoot() ? false : "needs root (network namespaces)";

/** A sample exec plugin: logs each call, gives the pod 10.200.9.9/32 on lo, reports it in `status`. */
function samplePlugin(dir: string, log: string): string {
  const pdir = join(dir, "example.com~sample");
  mkdirSync(pdir, { recursive: true });
  const exe = join(pdir, "sample");
  writeFileSync(
    exe,
    `#!/bin/sh
echo "$*" >> ${log}
case "$1" in
  init) exit 0 ;;
  setup) nsenter --net="$PODNET_NETNS" ip addr add 10.200.9.9/32 dev lo ;;
  teardown) [ -n "$PODNET_NETNS" ] && nsenter --net="$PODNET_NETNS" ip addr del 10.200.9.9/32 dev lo 2>/dev/null; exit 0 ;;
  status) addr=$(nsenter --net="$PODNET_NETNS" ip -o -4 addr show dev lo scope global | awk '{print $4}' | cut -d/ -f1)
          [ -n "$addr" ] && printf '{"apiVersion":"v1beta1","kind":"PodNetworkStatus","ip":"%s"}' "$addr" ;;
  *) exit 1 ;;
esac
`,
  );
  chmodSync(exe, 0o755);
  return exe;
}

describe("podnet node: exec plugins", { skip }, () => {
  it("init at start, setup/status/teardown with the pod's namespace, name and sandbox ID", () =>
    withSandbox(async (sb) => {
      const plugins = join(sb.dir, "exec");
      const log = join(sb.dir, "calls.log");
      samplePlugin(plugins, log);
      const d = await startDaemon({
        netns: sb.node,
        dir: join(sb.dir, "n"),
        args: ["--network-plugin=example.com/sample", `--network-plugin-dir=${plugins}`],
      });
      try {
        assert.equal((await d.client.node())["plugin"], "example.com/sample");
        const pod = sb.netns("p");
        const v = await d.client.addPod(
          { metadata: { name: "p", namespace: "team" }, spec: { containers: [{ name: "c" }] } },
          sb.path(pod),
        );
        assert.deepEqual(v.ips, ["10.200.9.9"]);
        await d.client.deletePod("team", "p");
        const calls = readFileSync(log, "utf8").trim().split("\n");
        assert.deepEqual(calls, [
          "init",
          `setup team p ${v.sandboxID}`,
          `status team p ${v.sandboxID}`,
          `teardown team p ${v.sandboxID}`,
        ]);
      } finally {
        await d.stop();
      }
    }));

  it("a plugin without the execute bit stops start-up with the kubelet's message", () =>
    withSandbox(async (sb) => {
      const plugins = join(sb.dir, "exec");
      chmodSync(samplePlugin(plugins, join(sb.dir, "calls.log")), 0o644);
      const r = runDaemonToExit({
        netns: sb.node,
        dir: join(sb.dir, "n"),
        args: ["--network-plugin=example.com/sample", `--network-plugin-dir=${plugins}`],
      });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /network plugin "example.com\/sample" failed init: Invalid exec plugin. Executable 'example.com\/sample' does not have correct permissions./,
      );
    }));
});
