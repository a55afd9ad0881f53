// `podnet node` with the default (noop) plugin, in a sandbox node namespace: the bridge-netfilter
// sysctls, pods without networking, and start-up failures that name what was found.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { haveRoot, inNs, sh, withSandbox } from "./sandbox.js";
import { PODNET_BIN, runDaemonToExit, startDaemon } from "../../src/netmgr/testing/daemon.js";
import { spawnSync } from "node:child_process";

const skip = haveRoot() ? false : "needs root (network namespaces)";
const sysctl = (ns: string, key: string) => inNs(ns, ["cat", `/proc/sys/${key}`]).out.trim();

describe("podnet node: noop", { skip }, () => {
  it("sets bridge-nf-call-iptables and -ip6tables to 1 in its netns; pods get a sandbox but no networking", () =>
    withSandbox(async (sb) => {
      const key4 = "net/bridge/bridge-nf-call-iptables";
      const key6 = "net/bridge/bridge-nf-call-ip6tables";
      if (inNs(sb.node, ["test", "-e", `/proc/sys/${key4}`]).status !== 0) {
        // br_netfilter is not loaded here: the daemon must come up anyway and say why
        const d = await startDaemon({ netns: sb.node, dir: join(sb.dir, "n"), args: [] });
        try {
          const info = await d.client.node();
          assert.match(JSON.stringify(info["warnings"]), /br_netfilter/);
        } finally {
          await d.stop();
        }
        return;
      }
      sh("ip", ["netns", "exec", sb.node, "sh", "-c", `echo 0 > /proc/sys/${key4}; echo 0 > /proc/sys/${key6}`]);
      const d = await startDaemon({ netns: sb.node, dir: join(sb.dir, "n"), args: ["--network-plugin=noop"] });
      try {
        assert.equal(sysctl(sb.node, key4), "1");
        assert.equal(sysctl(sb.node, key6), "1");
        const info = await d.client.node();
        assert.equal(info["plugin"], "kubernetes.io/no-op");
        assert.equal(info["ready"], true);
        const pod = sb.netns("p1");
        const v = await d.client.addPod(
          { metadata: { name: "p1" }, spec: { containers: [{ name: "c" }] } },
          sb.path(pod),
        );
        assert.deepEqual(v.ips, []);
        assert.equal((await d.client.podStatus("default", "p1")).status, null);
        assert.deepEqual(
          sb.ipJson(pod, ["link", "show"]).map((l) => l["ifname"]),
          ["lo"],
        );
        await d.client.deletePod("default", "p1");
        assert.equal(await d.stop(), 0);
      } finally {
        await d.stop();
      }
    }));

  it("start-up stops on an unknown plugin, listing what was probed (exec plugins included)", () =>
    withSandbox(async (sb) => {
      const pdir = join(sb.dir, "exec");
      mkdirSync(join(pdir, "example.com~sdn"), { recursive: true });
      writeFileSync(join(pdir, "example.com~sdn", "sdn"), "#!/bin/sh\nexit 0\n");
      chmodSync(join(pdir, "example.com~sdn", "sdn"), 0o755);
      const r = runDaemonToExit({
        netns: sb.node,
        dir: join(sb.dir, "n"),
        args: ["--network-plugin=calico", `--network-plugin-dir=${pdir}`],
      });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /podnet node: didn't find a compatible network plugin with the given settings: network plugin "calico" not found \(probed: noop, cni, kubenet, example.com\/sdn\)/,
      );
    }));

  it("start-up stops when kubenet's binaries are missing, listing what each directory holds", () =>
    withSandbox(async (sb) => {
      const bin = join(sb.dir, "bin");
      mkdirSync(bin);
      for (const n of ["bridge", "portmap"]) {
        writeFileSync(join(bin, n), "#!/bin/sh\n");
        chmodSync(join(bin, n), 0o755);
      }
      const r = runDaemonToExit({
        netns: sb.node,
        dir: join(sb.dir, "n"),
        args: ["--network-plugin=kubenet", "--kubenet-bin-dir=", `--cni-bin-dir=${bin},${join(sb.dir, "nope")}`],
      });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /could not locate kubenet required CNI plugins \[bridge host-local loopback\] in one directory of \[.*\]; found: .*bin: bridge, portmap; .*nope: \(ENOENT\)/,
      );
    }));
});

describe("podnet pod (the CLI) against a running node", { skip }, () => {
  it("add -f, list, status, del; a bad manifest names the field; PODNET_SOCKET works", () =>
    withSandbox(async (sb) => {
      const d = await startDaemon({ netns: sb.node, dir: join(sb.dir, "n"), args: [] });
      try {
        const env: NodeJS.ProcessEnv = { ...process.env, PODNET_SOCKET: d.socket };
        delete env["NODE_EXTRA_CA_CERTS"];
        const cli = (...a: string[]) =>
          spawnSync(process.execPath, [PODNET_BIN, "pod", ...a], { env, encoding: "utf8" });
        const manifest = join(sb.dir, "pod.yaml");
        writeFileSync(
          manifest,
          "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    ports:\n    - containerPort: 80\n      hostPort: 8080\n",
        );
        const pod = sb.netns("web");
        const add = cli("add", "-f", manifest, "--netns", sb.path(pod));
        assert.equal(add.status, 0, add.stderr);
        const list = cli("list");
        assert.match(list.stdout, /^NAMESPACE\/NAME\s+IPS\s+HOSTPORTS/);
        assert.match(list.stdout, /default\/web .* 8080→80\/tcp/);
        const st = cli("status", "default/web", "--json");
        assert.equal(JSON.parse(st.stdout).netns, sb.path(pod));
        writeFileSync(
          manifest,
          "metadata:\n  name: web2\nspec:\n  containers:\n  - name: c\n    ports:\n    - containerPort: 80\n      hostPort: eighty\n",
        );
        const bad = cli("add", "-f", manifest);
        assert.equal(bad.status, 1);
        assert.match(
          bad.stderr,
          /spec\.containers\[0\]\.ports\[0\]\.hostPort: must be an integer in 0\.\.65535, got "eighty"/,
        );
        writeFileSync(manifest, "metadata: [\n");
        assert.match(cli("add", "-f", manifest).stderr, /cannot parse the manifest as YAML/);
        assert.equal(cli("del", "default/web").status, 0);
        assert.equal(cli("status", "default/web").status, 3);
        assert.match(cli("status", "default/web").stderr, /pod "default\/web" not found/);
      } finally {
        await d.stop();
      }
    }));
});
