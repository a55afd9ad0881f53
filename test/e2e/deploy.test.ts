// `podnet install` as an operator runs it, into a sandbox's directories: the installed launchers,
// the systemd units (systemd-analyze verify; each ExecStart started exactly as written inside the
// sandbox node), the conflist run through `podnet cni add` as a runtime would with the installed
// plugins and the daemon, `podnet ipam list`, `podnet cni gc`, and `podnet uninstall` leaving
// every directory byte-identical.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execStartOf, parseExecStart } from "../../src/deploy/units.js";
import { treeSnapshot } from "../../src/deploy/testing.js";
import { haveRoot, REPO, Sandbox, sh } from "./sandbox.js";
import { PODNET } from "./users.js";

const skip = !haveRoot()
  ? "needs root"
  : !existsSync(join(REPO, "build", "resident", "bridge"))
    ? "build/resident not built"
    : false;

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env["NODE_EXTRA_CA_CERTS"];
  delete env["NODE_OPTIONS"];
  return env;
}

describe("podnet install on a node", { skip }, () => {
  let sb: Sandbox;
  let root = "";
  let run = "";
  let before0: Record<string, string> = {};
  let net = "";
  let pod = "";
  const dirs = () => ({
    bin: join(root, "opt", "cni", "bin"),
    units: join(root, "etc", "systemd", "system"),
    conf: join(root, "etc", "cni", "net.d"),
    state: join(root, "var", "lib", "podnet"),
  });
  const daemons: ChildProcess[] = [];

  /** `podnet ARGS` run in the sandbox node, as root. */
  const podnet = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync("ip", ["netns", "exec", sb.node, process.execPath, PODNET, ...args], {
      encoding: "utf8",
      env: cleanEnv(env),
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  /** Starts a unit's ExecStart exactly as written, inside the sandbox node; resolves once `ready` exists. */
  async function startUnit(
    unit: string,
    ready: readonly string[],
  ): Promise<{ child: ChildProcess; log: () => string; stop: () => Promise<number | null> }> {
    const argv = parseExecStart(execStartOf(readFileSync(join(dirs().units, unit), "utf8")));
    const child = spawn("nsenter", [`--net=/run/netns/${sb.node}`, ...argv], {
      env: cleanEnv(),
      stdio: ["ignore", "ignore", "pipe"],
    });
    daemons.push(child);
    let log = "";
    child.stderr!.on("data", (b: Buffer) => (log += b.toString()));
    const exited = new Promise<number | null>((r) => child.once("close", (code) => r(code)));
    let done = false;
    void exited.then(() => (done = true));
    for (let i = 0; i < 400 && !done && !ready.every((p) => existsSync(p)); i++)
      await new Promise((r) => setTimeout(r, 25));
    assert.ok(
      ready.every((p) => existsSync(p)),
      `${unit} did not come up: ${log}`,
    );
    return {
      child,
      log: () => log,
      async stop() {
        process.kill(child.pid!, "SIGTERM"); // by pid: this daemon only
        return exited;
      },
    };
  }

  before(() => {
    sb = new Sandbox();
    root = join(sb.dir, "root");
    run = join(sb.dir, "run");
    net = `podnet-t-${sb.id}`;
    pod = sb.netns("pod");
    const d = dirs();
    // What the node had before: a Go plugin in the bin dir, another unit, another network config.
    mkdirSync(d.bin, { recursive: true });
    copyFileSync("/usr/lib/cni/macvlan", join(d.bin, "macvlan"));
    mkdirSync(d.units, { recursive: true });
    writeFileSync(join(d.units, "other.service"), "[Service]\nExecStart=/bin/true\n");
    mkdirSync(d.conf, { recursive: true });
    writeFileSync(
      join(d.conf, "99-other.conflist"),
      JSON.stringify({ cniVersion: "1.0.0", name: "other", plugins: [{ type: "macvlan" }] }),
    );
    before0 = treeSnapshot(root);
  });
  after(() => {
    for (const c of daemons) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const d of ["/var/lib/cni/networks", "/var/lib/cni/podnet-portmap", "/var/lib/cni/podnet-bandwidth"])
      rmSync(join(d, net), { recursive: true, force: true });
    sb.cleanup();
  });

  it("installs the resident launchers, their Node plugins (run by this Node), the units and the conflist", () => {
    const d = dirs();
    const r = podnet([
      "install",
      `--cni-bin-dir=${d.bin}`,
      `--systemd-dir=${d.units}`,
      `--state-dir=${d.state}`,
      "--conflist",
      `--cni-conf-dir=${d.conf}`,
      "--pod-cidr=10.200.77.0/24",
      `--network-name=${net}`,
      `--cni-socket=${join(run, "cni.sock")}`,
      `--node-arg=--socket=${join(run, "podnet.sock")}`,
      `--node-arg=--state-dir=${join(sb.dir, "node-state")}`,
      `--node-arg=--cni-cache-dir=${join(sb.dir, "node-cache")}`,
      "--node-arg=--modprobe=false",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^wrote ${d.bin}/podnet_netlink\\.node$`, "m"));
    assert.match(r.stdout, new RegExp(`^wrote ${d.units}/podnet-resident\\.service$`, "m"));
    assert.match(r.stdout, new RegExp(`^wrote ${d.conf}/10-podnet\\.conflist$`, "m"));
    for (const p of ["loopback", "bridge", "host-local", "portmap", "bandwidth"]) {
      assert.deepEqual(
        [...readFileSync(join(d.bin, p)).subarray(0, 4)],
        [0x7f, 0x45, 0x4c, 0x46],
        `${p} is the launcher`,
      );
      assert.equal(readFileSync(join(d.bin, `podnet-${p}.cjs`), "utf8").split("\n")[0], `#!${process.execPath}`);
    }
    assert.equal(existsSync(join(d.bin, "sample")), false);
    assert.equal(existsSync(join(d.bin, "podnet-sample.cjs")), false);
  });

  it("the units pass systemd-analyze verify, without a word", () => {
    const d = dirs();
    const r = spawnSync(
      "systemd-analyze",
      ["verify", "--man=no", join(d.units, "podnet-node.service"), join(d.units, "podnet-resident.service")],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr + r.stdout, "");
  });

  it("without a daemon the launchers run the installed Node plugin; with one, the daemon answers", async () => {
    const d = dirs();
    const version = (sock: string) =>
      spawnSync(join(d.bin, "loopback"), [], {
        encoding: "utf8",
        env: cleanEnv({ CNI_COMMAND: "VERSION", PODNET_CNI_SOCKET: sock }),
        input: '{"cniVersion":"1.0.0"}',
      });
    const alone = version(join(run, "nobody.sock"));
    assert.equal(alone.status, 0, alone.stderr);
    assert.equal(JSON.parse(alone.stdout).cniVersion, "1.1.0");
    const daemon = await startUnit("podnet-resident.service", [join(run, "cni.sock")]);
    const served = version(join(run, "cni.sock"));
    assert.equal(served.status, 0, served.stderr);
    assert.equal(served.stdout, alone.stdout);
    assert.equal(await daemon.stop(), 0, daemon.log());
    assert.match(daemon.log(), /stopped after 1 calls \(0 errors/);
  });

  it("the launcher's fallback runs the bundle through its own #! line", () => {
    // A bundle whose interpreter is a wrapper that leaves a mark: the launcher must exec it.
    const x = join(sb.dir, "shebang");
    mkdirSync(x);
    copyFileSync(join(dirs().bin, "loopback"), join(x, "loopback"));
    writeFileSync(
      join(x, "node-wrapper"),
      `#!/bin/sh\necho "$@" > ${join(x, "mark")}\nexec ${process.execPath} "$@"\n`,
      { mode: 0o755 },
    );
    const bundle = readFileSync(join(dirs().bin, "podnet-loopback.cjs"), "utf8");
    writeFileSync(join(x, "podnet-loopback.cjs"), `#!${join(x, "node-wrapper")}${bundle.slice(bundle.indexOf("\n"))}`, {
      mode: 0o755,
    });
    copyFileSync(join(dirs().bin, "podnet_netlink.node"), join(x, "podnet_netlink.node"));
    const r = spawnSync(join(x, "loopback"), [], {
      encoding: "utf8",
      env: cleanEnv({ CNI_COMMAND: "VERSION", PODNET_CNI_SOCKET: join(run, "nobody.sock") }),
      input: "{}",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(x, "mark"), "utf8").trim(), join(x, "podnet-loopback.cjs"));
  });

  it("the conflist, run as a runtime runs it through the installed launchers and the daemon: a pod with an address, a hostPort and a limit", async () => {
    const d = dirs();
    const daemon = await startUnit("podnet-resident.service", [join(run, "cni.sock")]);
    try {
      const env = {
        NETCONFPATH: d.conf,
        CNI_PATH: d.bin,
        CNI_CACHE_DIR: join(sb.dir, "cache"),
        PODNET_CNI_SOCKET: join(run, "cni.sock"),
        CAP_ARGS: JSON.stringify({
          portMappings: [{ hostPort: 18080, containerPort: 80, protocol: "tcp" }],
          bandwidth: { ingressRate: 10_000_000, ingressBurst: 2147483647 },
        }),
      };
      const add = podnet(["cni", "add", net, sb.path(pod)], env);
      assert.equal(add.code, 0, add.stdout + add.stderr);
      const result = JSON.parse(add.stdout) as { ips: Array<{ address: string }> };
      const ip = result.ips[0]!.address.split("/")[0]!;
      assert.match(result.ips[0]!.address, /^10\.200\.77\.\d+\/24$/);
      assert.ok(sh("ip", ["-n", pod, "-4", "addr", "show", "eth0"]).includes(`${ip}/24`));
      assert.ok(existsSync(join("/var/lib/cni/podnet-portmap", net)), "portmap recorded the hostPort");
      assert.ok(existsSync(join("/var/lib/cni/podnet-bandwidth", net)), "bandwidth recorded the limit");

      const list = podnet(["ipam", "list", "--json", `--cni-conf-dir=${d.conf}`]);
      assert.equal(list.code, 0, list.stderr);
      const view = (
        JSON.parse(list.stdout) as {
          networks: Array<{
            name: string;
            ranges: unknown[];
            leases: Array<{ ip: string; containerID: string; ifname: string }>;
          }>;
        }
      ).networks.find((n) => n.name === net)!;
      assert.deepEqual(view.ranges, [
        { rangeSet: "10.200.77.1-10.200.77.254", subnets: ["10.200.77.0/24"], used: 1, free: 252, total: 253 },
      ]);
      assert.deepEqual(
        view.leases.map((l) => [l.ip, l.ifname]),
        [[ip, "eth0"]],
      );
      const cid = view.leases[0]!.containerID;
      assert.match(cid, /^cnitool-[0-9a-f]{20}$/);

      // GC: the pod is valid → nothing to delete; --all --dry-run → would; --all → gone, and said so
      const keep = podnet(["cni", "gc", net, `--valid-attachment=${cid}/eth0`, "--dry-run"], env);
      assert.equal(keep.code, 0, keep.stderr);
      assert.equal(keep.stdout, "would run GC on bridge, portmap, bandwidth with 1 valid attachment\n");
      const dry = podnet(["cni", "gc", net, "--all", "--dry-run"], env);
      assert.match(
        dry.stdout,
        new RegExp(`^would delete attachment ${cid}/eth0 \\(netns ${sb.path(pod)}\\): DEL through the chain$`, "m"),
      );
      assert.match(
        dry.stdout,
        new RegExp(`^would release host-local: ${ip.replace(/\./g, "\\.")} \\(${cid}/eth0\\)$`, "m"),
      );
      assert.ok(sh("ip", ["-n", pod, "-4", "addr", "show", "eth0"]).includes(ip), "a dry run changes nothing");
      const gc = podnet(["cni", "gc", net, "--all"], env);
      assert.equal(gc.code, 0, gc.stdout + gc.stderr);
      assert.match(gc.stdout, new RegExp(`^deleted attachment ${cid}/eth0 `, "m"));
      assert.match(gc.stdout, new RegExp(`^released host-local: ${ip.replace(/\./g, "\\.")} \\(${cid}/eth0\\)$`, "m"));
      assert.match(gc.stdout, new RegExp(`^released portmap: the state of ${cid}/eth0$`, "m"));
      assert.match(gc.stdout, new RegExp(`^released bandwidth: the state of ${cid}/eth0$`, "m"));
      assert.equal(spawnSync("ip", ["-n", pod, "link", "show", "eth0"]).status, 1, "the pod's interface is gone");
      assert.equal(
        existsSync(join("/var/lib/cni/podnet-portmap", net)),
        false,
        "portmap's network dir went with its last attachment",
      );
      assert.equal(existsSync(join("/var/lib/cni/podnet-bandwidth", net)), false, "bandwidth's too");
    } finally {
      assert.equal(await daemon.stop(), 0, daemon.log());
    }
  });

  it("the same conflist drives Debian's Go reference plugins (what a node with the Go plugins in bin_dir would run)", () => {
    const pod2 = sb.netns("pod2");
    const env = {
      NETCONFPATH: dirs().conf,
      CNI_PATH: "/usr/lib/cni",
      CNI_CACHE_DIR: join(sb.dir, "cache-go"),
      CAP_ARGS: JSON.stringify({
        portMappings: [{ hostPort: 18081, containerPort: 80, protocol: "tcp" }],
        bandwidth: { ingressRate: 10_000_000, ingressBurst: 2147483647 },
      }),
    };
    const add = podnet(["cni", "add", net, sb.path(pod2)], env);
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const r = JSON.parse(add.stdout) as { ips: Array<{ address: string }>; interfaces: Array<{ name: string }> };
    assert.match(r.ips[0]!.address, /^10\.200\.77\.\d+\/24$/);
    assert.ok(
      r.interfaces.some((i) => i.name === "podnet0"),
      "Go's bridge made podnet0",
    );
    const del = podnet(["cni", "del", net, sb.path(pod2)], env);
    assert.equal(del.code, 0, del.stdout + del.stderr);
  });

  it("podnet-node.service's ExecStart serves the API and the launchers", async () => {
    const daemon = await startUnit("podnet-node.service", [join(run, "podnet.sock"), join(run, "cni.sock")]);
    try {
      const pods = podnet(["pod", "list", `--socket=${join(run, "podnet.sock")}`]);
      assert.equal(pods.code, 0, pods.stderr);
      assert.equal(pods.stdout, "no pods\n");
      const v = spawnSync(join(dirs().bin, "bridge"), [], {
        encoding: "utf8",
        env: cleanEnv({ CNI_COMMAND: "VERSION", PODNET_CNI_SOCKET: join(run, "cni.sock") }),
        input: "{}",
      });
      assert.equal(v.status, 0, v.stderr);
    } finally {
      assert.equal(await daemon.stop(), 0, daemon.log());
    }
  });

  it("uninstall removes exactly what install wrote: every directory is byte-identical to before", () => {
    const r = podnet(["uninstall", `--state-dir=${dirs().state}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^removed .*\/10-podnet\.conflist$/m);
    assert.deepEqual(treeSnapshot(root), before0);
    const again = podnet(["uninstall", `--state-dir=${dirs().state}`]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /nothing to uninstall: no install manifest/);
  });

  it("a Go plugin in the way: refused by name, nothing written; --force saves it and uninstall puts it back", () => {
    const d = dirs();
    copyFileSync("/usr/lib/cni/bridge", join(d.bin, "bridge"));
    chmodSync(join(d.bin, "bridge"), 0o755);
    const snap = treeSnapshot(root);
    const args = ["install", `--cni-bin-dir=${d.bin}`, "--no-systemd", `--state-dir=${d.state}`];
    const refused = podnet(args);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      new RegExp(`refusing to overwrite .*\\n  ${d.bin}/bridge: not written by podnet: a regular file`),
    );
    assert.deepEqual(treeSnapshot(root), snap, "nothing was written");
    const forced = podnet([...args, "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(
      forced.stdout,
      new RegExp(
        `^replaced ${d.bin}/bridge \\(was a regular file .*saved to ${d.state}/install-backup/.*podnet uninstall puts it back\\)$`,
        "m",
      ),
    );
    assert.equal(podnet(["uninstall", `--state-dir=${d.state}`]).code, 0);
    assert.deepEqual(treeSnapshot(root), snap, "Go's bridge is back, byte for byte");
  });
});
