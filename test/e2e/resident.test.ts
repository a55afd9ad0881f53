// Resident mode end to end: the C launchers in build/resident exec'd by podnet's runtime, served
// in-process by `podnet resident` running in the sandbox node; a full chain, connectivity, DEL.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeRawExec } from "../../src/kernel/exec.js";
import type { UnixListener } from "../../src/kernel/unix-listener.js";
import { SAMPLE_ABOUT, samplePlugin } from "../../src/plugins/sample/sample.js";
import { localPluginHost, stateless } from "../../src/resident/host.js";
import { newServeStats, serveResident } from "../../src/resident/server.js";
import { parseConfList, type Result } from "../../src/cni/index.js";
import { CniRuntime } from "../../src/libcni/index.js";
import { inNs, nodeEnv, REPO, type Sandbox, withSandbox } from "./sandbox.js";
import { startDaemon } from "../../src/netmgr/testing/daemon.js";

const RESIDENT = join(REPO, "build", "resident");

describe("launcher ↔ an in-process daemon", () => {
  let dir = "";
  let server: UnixListener | undefined;
  const stats = newServeStats();
  const sock = () => join(dir, "cni.sock");
  const conf = (ver: string) =>
    JSON.stringify({
      cniVersion: ver,
      name: "n",
      anotherAwesomeArg: "x",
      prevResult: { cniVersion: ver, ips: [{ address: "10.200.0.2/24" }] },
    });
  const run = async (env: Record<string, string>, stdin: string) => {
    const e: NodeJS.ProcessEnv = {
      PATH: process.env["PATH"],
      PODNET_CNI_SOCKET: sock(),
      CNI_CONTAINERID: "c1",
      CNI_NETNS: "/run/netns/x",
      CNI_IFNAME: "eth0",
      CNI_PATH: "/opt/cni/bin",
      ...env,
    };
    // Asynchronously: the daemon answering it runs in this very process.
    const r = await nodeRawExec.run(join(RESIDENT, "sample"), [], { env: e, stdin, timeoutMs: 10_000 });
    return { status: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "podnet-t-resident-"));
    server = await serveResident(
      sock(),
      localPluginHost(new Map([["sample", stateless(samplePlugin, SAMPLE_ABOUT)]])),
      { stats },
    );
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("ADD through the daemon prints the result and exits 0", async () => {
    const r = await run({ CNI_COMMAND: "ADD" }, conf("1.0.0"));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { cniVersion: "1.0.0", ips: [{ address: "10.200.0.2/24" }], dns: {} });
    assert.equal(stats.calls, 1, "answered by the daemon, not the fallback");
  });
  it("errors keep their code and exit status", async () => {
    const r = await run(
      { CNI_COMMAND: "ADD" },
      JSON.stringify({ cniVersion: "1.0.0", name: "n", anotherAwesomeArg: "" }),
    );
    assert.equal(r.status, 1);
    assert.equal(JSON.parse(r.stdout).code, 7);
    assert.equal(stats.errors, 1);
  });
});

/**
 * `podnet resident` in the sandbox's node netns on <dir>/cni.sock, once its socket is there;
 * stop() ends it (SIGTERM) and waits, log() is what it wrote to stderr.
 */
async function startResident(
  sb: Sandbox,
  args: readonly string[] = [],
): Promise<{ sock: string; log: () => string; stop: () => Promise<void> }> {
  const sock = join(sb.dir, "cni.sock");
  const daemon = spawn(
    "ip",
    ["netns", "exec", sb.node, process.execPath, join(REPO, "bin", "podnet"), "resident", "--socket", sock, ...args],
    { env: nodeEnv(), stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  daemon.stderr.on("data", (d: Buffer) => {
    log += d.toString();
  });
  const closed = new Promise((r) => daemon.once("close", r));
  const stop = async () => {
    daemon.kill("SIGTERM");
    await closed;
  };
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(sock)) {
    await stop();
    assert.fail(`daemon did not start: ${log}`);
  }
  return { sock, log: () => log, stop };
}

describe("resident mode (launcher → podnet resident)", {
  skip: !existsSync(join(RESIDENT, "bridge")) && "build/resident not built",
}, () => {
  it("a whole chain is served by the daemon; two pods ping; DEL cleans up", () =>
    withSandbox(async (sb) => {
      const daemon = await startResident(sb);
      const sock = daemon.sock;
      try {
        const list = parseConfList(
          JSON.stringify({
            cniVersion: "1.0.0",
            name: "resnet",
            plugins: [
              {
                type: "bridge",
                bridge: "cni0",
                isGateway: true,
                ipMasq: true,
                ipam: { type: "host-local", subnet: "10.200.9.0/24", dataDir: join(sb.dir, "ipam") },
              },
              { type: "portmap", capabilities: { portMappings: true } },
              { type: "bandwidth", capabilities: { bandwidth: true } },
            ],
          }),
        );
        const lo = parseConfList(JSON.stringify({ cniVersion: "1.0.0", name: "lo", plugins: [{ type: "loopback" }] }));
        const rtm = new CniRuntime({
          path: [RESIDENT],
          cacheDir: join(sb.dir, "cache"),
          exec: sb.nodeExec(),
          baseEnv: { PATH: process.env["PATH"], PODNET_CNI_SOCKET: sock },
        });
        const pods = ["a", "b"].map((n) => sb.netns(n));
        const rts = pods.map((ns, i) => ({
          containerID: `res-${i}`,
          netns: sb.path(ns),
          ifName: "eth0",
          capabilityArgs: {
            portMappings: [{ hostPort: 19080 + i, containerPort: 80, protocol: "tcp" }],
            bandwidth: {
              ingressRate: 50_000_000,
              ingressBurst: 5_000_000,
              egressRate: 50_000_000,
              egressBurst: 5_000_000,
            },
          },
        }));
        const ips: string[] = [];
        for (const rt of rts) {
          await rtm.addNetworkList(lo, { ...rt, ifName: "lo", capabilityArgs: {} });
          const r = (await rtm.addNetworkList(list, rt)) as Result;
          ips.push(r.ips?.[0]?.address.split("/")[0] ?? "");
        }
        assert.match(ips[0]!, /^10\.200\.9\.\d+$/);
        assert.equal(inNs(pods[0]!, ["ping", "-c1", "-W2", ips[1]!]).status, 0, "pod a → pod b");
        await rtm.checkNetworkList(list, rts[0]!);
        for (const rt of rts) {
          await rtm.delNetworkList(list, rt);
          await rtm.delNetworkList(lo, { ...rt, ifName: "lo", capabilityArgs: {} });
        }
        const links = sb.ipJson(sb.node, ["link", "show"]).map((l) => String(l["ifname"]));
        assert.deepEqual(
          links.filter((n) => n !== "lo" && n !== "cni0"),
          [],
          `links left: ${links}`,
        );
      } finally {
        await daemon.stop();
      }
      // 2 pods × (loopback + 3 plugins) ADD, 1 CHECK chain (3), 2 × 4 DEL = 19 calls, all in the daemon.
      const log = daemon.log();
      const m = /stopped after (\d+) calls \((\d+) errors;/.exec(log);
      assert.ok(m, `no stop line in the daemon's log: ${log}`);
      assert.equal(Number(m[1]), 19, log);
      assert.equal(Number(m[2]), 0, log);
    }));
});

describe("resident mode: many pods at once", {
  skip: !existsSync(join(RESIDENT, "bridge")) && "build/resident not built",
}, () => {
  it("concurrent ADDs and DELs of 12 pods through the daemon's workers: distinct addresses, every pod set up, a clean teardown", () =>
    withSandbox(async (sb) => {
      const daemon = await startResident(sb, ["--workers", "4"]);
      const sock = daemon.sock;
      const N = 12;
      const ipam = join(sb.dir, "ipam");
      const state = { portmap: join(sb.dir, "portmap"), bandwidth: join(sb.dir, "bandwidth") };
      try {
        const list = parseConfList(
          JSON.stringify({
            cniVersion: "1.0.0",
            name: "parnet",
            plugins: [
              {
                type: "bridge",
                bridge: "cni0",
                isGateway: true,
                ipMasq: true,
                ipam: { type: "host-local", subnet: "10.200.10.0/24", dataDir: ipam },
              },
              { type: "portmap", capabilities: { portMappings: true }, dataDir: state.portmap },
              { type: "bandwidth", capabilities: { bandwidth: true }, dataDir: state.bandwidth },
            ],
          }),
        );
        const lo = parseConfList(JSON.stringify({ cniVersion: "1.0.0", name: "lo", plugins: [{ type: "loopback" }] }));
        const rtm = new CniRuntime({
          path: [RESIDENT],
          cacheDir: join(sb.dir, "cache"),
          exec: sb.nodeExec(),
          baseEnv: { PATH: process.env["PATH"], PODNET_CNI_SOCKET: sock },
        });
        const pods = Array.from({ length: N }, (_, i) => sb.netns(`q${i}`));
        const rts = pods.map((ns, i) => ({
          containerID: `par-${i}`,
          netns: sb.path(ns),
          ifName: "eth0",
          capabilityArgs: {
            portMappings: [
              { hostPort: 19100 + 2 * i, containerPort: 80, protocol: "tcp" },
              { hostPort: 19101 + 2 * i, containerPort: 53, protocol: "udp" },
            ],
            bandwidth: {
              ingressRate: 50_000_000,
              ingressBurst: 5_000_000,
              egressRate: 50_000_000,
              egressBurst: 5_000_000,
            },
          },
        }));
        const ips = await Promise.all(
          rts.map(async (rt) => {
            await rtm.addNetworkList(lo, { ...rt, ifName: "lo", capabilityArgs: {} });
            const r = (await rtm.addNetworkList(list, rt)) as Result;
            return r.ips?.[0]?.address ?? "";
          }),
        );
        assert.equal(new Set(ips).size, N, `distinct addresses: ${ips.join(" ")}`);
        for (const [i, cidr] of ips.entries()) {
          assert.match(cidr, /^10\.200\.10\.\d+\/24$/);
          const addrs = sb
            .ipJson(pods[i]!, ["addr", "show", "eth0"])
            .flatMap((l) =>
              (l["addr_info"] as Array<{ local: string; prefixlen: number }>).map((a) => `${a.local}/${a.prefixlen}`),
            );
          assert.ok(addrs.includes(cidr), `pod ${i} has ${cidr} on eth0: ${addrs.join(" ")}`);
        }
        const reserved = readdirSync(join(ipam, "parnet")).filter((f) => /^10\./.test(f));
        assert.deepEqual(
          reserved.sort(),
          ips.map((c) => c.split("/")[0]!).sort(),
          "host-local holds exactly the addresses handed out",
        );
        assert.equal(readdirSync(join(state.portmap, "parnet")).length, N, "one portmap state file per pod");
        assert.equal(inNs(pods[0]!, ["ping", "-c1", "-W2", ips[N - 1]!.split("/")[0]!]).status, 0, "pod 0 → pod 11");

        await Promise.all(
          rts.map(async (rt) => {
            await rtm.delNetworkList(list, rt);
            await rtm.delNetworkList(lo, { ...rt, ifName: "lo", capabilityArgs: {} });
          }),
        );
        assert.deepEqual(
          readdirSync(join(ipam, "parnet")).filter((f) => /^10\./.test(f)),
          [],
          "every address released",
        );
        for (const dir of Object.values(state))
          assert.equal(existsSync(join(dir, "parnet")), false, `${dir}: no attachment state left`);
        const links = sb.ipJson(sb.node, ["link", "show"]).map((l) => String(l["ifname"]));
        assert.deepEqual(
          links.filter((n) => n !== "lo" && n !== "cni0"),
          [],
          `links left (veths, ifbs): ${links}`,
        );
        assert.equal(
          inNs(sb.node, ["nft", "list", "table", "inet", "podnet_portmap"]).status === 0 ? "table left" : "gone",
          "gone",
          "portmap's table went with the last pod",
        );
      } finally {
        await daemon.stop();
      }
      const log = daemon.log();
      const m = /stopped after (\d+) calls \((\d+) errors;/.exec(log);
      assert.ok(m, `no stop line in the daemon's log: ${log}`);
      assert.equal(Number(m[1]), N * 8, log);
      assert.equal(Number(m[2]), 0, log);
    }));
});

describe("podnet node --cni-socket", {
  skip: !existsSync(join(RESIDENT, "loopback")) && "build/resident not built",
}, () => {
  it("the node manager serves the launchers too", () =>
    withSandbox(async (sb) => {
      // A launcher alone in its directory: with no podnet-loopback.cjs beside it there is no
      // fallback, so a success can only come from the daemon.
      const bin = join(sb.dir, "bin");
      mkdirSync(bin);
      copyFileSync(join(RESIDENT, "loopback"), join(bin, "loopback"));
      const sock = join(sb.dir, "cni.sock");
      const d = await startDaemon({
        netns: sb.node,
        dir: join(sb.dir, "node"),
        args: ["--network-plugin=noop", `--cni-socket=${sock}`],
      });
      try {
        const pod = sb.netns("p");
        const lo = parseConfList(JSON.stringify({ cniVersion: "1.1.0", name: "lo", plugins: [{ type: "loopback" }] }));
        const rtm = new CniRuntime({
          path: [bin],
          cacheDir: join(sb.dir, "cache"),
          exec: sb.nodeExec(),
          baseEnv: { PATH: process.env["PATH"], PODNET_CNI_SOCKET: sock },
        });
        const r = (await rtm.addNetworkList(lo, { containerID: "c1", netns: sb.path(pod), ifName: "lo" })) as Result;
        assert.deepEqual(
          r.ips?.map((i) => i.address),
          ["127.0.0.1/8", "::1/128"],
        );
        assert.equal(sb.ipJson(pod, ["link", "show", "lo"])[0]?.["operstate"], "UNKNOWN");
        await rtm.delNetworkList(lo, { containerID: "c1", netns: sb.path(pod), ifName: "lo" });
      } finally {
        assert.equal(await d.stop(), 0, d.log());
      }
      assert.equal(existsSync(sock), false, "the daemon removes its socket");
    }));
});
