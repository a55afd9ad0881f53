// bandwidth, built, in sandbox namespaces: the seed's traffic-shaping conflist (calico replaced by
// a bridge) with the limits Kubernetes sends (rate from the annotation, burst math.MaxInt32 bits).
// Real TCP traffic between two pods through a shaped pod must come within ±15 % of the rate at
// 1 and 10 Mbit/s in both directions, and the first second must stay bounded (the Go plugin lets
// the whole 256 MiB burst through at line rate, plugins#609). DEL removes the qdiscs and the ifb.
import { describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { parseConfList, type Result } from "../../src/cni/index.js";
import { CniRuntime, type RuntimeConf } from "../../src/libcni/index.js";
import { GO_PLUGINS, PODNET_PLUGINS, haveRoot, inNs, sh, withSandbox, type Sandbox } from "./sandbox.js";

const skip = !haveRoot()
  ? "needs root"
  : !existsSync(join(PODNET_PLUGINS, "bandwidth"))
    ? "build/cni/bandwidth not built"
    : false;
const K8S_BURST = 2147483647;

// ---- traffic: a receiver that counts bytes per 100 ms for a fixed time, a sender that pushes ----

const RECEIVER = `
const net = require("net");
const [port, durMs] = process.argv.slice(1).map(Number);
const bins = [];
const srv = net.createServer((s) => {
  const t0 = Date.now();
  s.on("data", (d) => { const i = Math.floor((Date.now() - t0) / 100); bins[i] = (bins[i] || 0) + d.length; });
  s.on("error", () => {});
  setTimeout(() => {
    const out = Array.from({ length: Math.floor(durMs / 100) }, (_, i) => bins[i] || 0);
    process.stdout.write(JSON.stringify(out), () => process.exit(0));
  }, durMs);
});
srv.listen(port, "0.0.0.0", () => process.stderr.write("ready\\n"));
setTimeout(() => process.exit(2), durMs + 15000);
`;

const SENDER = `
const net = require("net");
const [host, port, durMs, maxBytes] = process.argv.slice(1);
const buf = Buffer.alloc(64 * 1024, 120); let sent = 0; const t0 = Date.now();
const s = net.connect({ host, port: +port }, () => {
  const pump = () => {
    while (Date.now() - t0 < +durMs && sent < +maxBytes) { sent += buf.length; if (!s.write(buf)) return void s.once("drain", pump); }
  };
  pump();
});
s.on("error", () => {});
setTimeout(() => { s.destroy(); process.exit(0); }, +durMs);
`;

interface Measure {
  /** bits/s from 1 s to the end */
  readonly steady: number;
  /** bits in the first second */
  readonly first: number;
}

/** Sends TCP from `from` to `to`:5201 for `ms` (at most `maxBytes`), measured by the receiver. */
async function measure(
  from: string,
  to: { ns: string; ip: string },
  ms: number,
  maxBytes = 300_000_000,
): Promise<Measure> {
  const rx = spawn("ip", ["netns", "exec", to.ns, process.execPath, "-e", RECEIVER, "5201", String(ms)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  try {
    let out = "";
    rx.stdout!.on("data", (d: Buffer) => (out += d));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("receiver did not start")), 10_000);
      rx.stderr!.on("data", (d: Buffer) => {
        if (String(d).includes("ready")) {
          clearTimeout(t);
          resolve();
        }
      });
      rx.once("exit", (c) => reject(new Error(`receiver exited ${c}`)));
    });
    const done = new Promise<number | null>((resolve) => rx.once("exit", resolve));
    const tx = spawnSync(
      "ip",
      ["netns", "exec", from, process.execPath, "-e", SENDER, to.ip, "5201", String(ms + 1000), String(maxBytes)],
      { timeout: ms + 10_000 },
    );
    assert.equal(tx.status, 0, String(tx.stderr));
    assert.equal(await done, 0, "receiver finished");
    const bins = JSON.parse(out) as number[];
    const sum = (a: number, b: number) => bins.slice(a, b).reduce((x, y) => x + y, 0);
    return { first: sum(0, 10) * 8, steady: (sum(10, bins.length) * 8) / ((bins.length - 10) / 10) };
  } finally {
    rx.kill();
  }
}

// ---- the node ---------------------------------------------------------------------------------

function binDir(sb: Sandbox, o: { bridge: "go" | "podnet"; bandwidth: "go" | "podnet" }): string {
  const dir = join(sb.dir, `bin-${o.bridge}-${o.bandwidth}`);
  mkdirSync(dir, { recursive: true });
  const link = (name: string, from: string) => symlinkSync(join(from, name), join(dir, name));
  link("bridge", o.bridge === "podnet" ? PODNET_PLUGINS : GO_PLUGINS);
  link("host-local", GO_PLUGINS);
  link("bandwidth", o.bandwidth === "podnet" ? PODNET_PLUGINS : GO_PLUGINS);
  if (existsSync(join(PODNET_PLUGINS, "portmap"))) link("portmap", PODNET_PLUGINS);
  return dir;
}

/** The seed's traffic-shaping conflist (0.4.0), `calico` replaced by a bridge. */
function seedBandwidthConflist(sb: Sandbox, extra: Record<string, unknown> = {}) {
  return {
    name: "k8s-pod-network",
    cniVersion: "0.4.0",
    plugins: [
      {
        type: "bridge",
        bridge: "cni0",
        isGateway: true,
        ipam: { type: "host-local", subnet: "10.200.3.0/24", dataDir: join(sb.dir, "ipam") },
      },
      { type: "bandwidth", capabilities: { bandwidth: true }, dataDir: join(sb.dir, "bandwidth"), ...extra },
    ],
  };
}

function rt(sb: Sandbox, ns: string, id: string, bandwidth?: Record<string, number>): RuntimeConf {
  return {
    containerID: id,
    netns: sb.path(ns),
    ifName: "eth0",
    args: [["IgnoreUnknown", "1"]],
    ...(bandwidth ? { capabilityArgs: { bandwidth } } : {}),
  };
}

const ipOf = (r: Result) => r.ips![0]!.address.split("/")[0]!;
const qdiscs = (sb: Sandbox) => inNs(sb.node, ["tc", "qdisc", "show"]).out;
const links = (sb: Sandbox) => sb.ipJson(sb.node, ["link", "show"]).map((l) => String(l["ifname"]));
const fmt = (bits: number) => (bits >= 1e9 ? `${(bits / 1e9).toFixed(2)} Gbit` : `${(bits / 1e6).toFixed(2)} Mbit`);

describe("bandwidth (podnet) shapes real traffic", { skip }, () => {
  it("1 and 10 Mbit/s, both directions, Kubernetes' burst: within ±15 %, first second bounded; Go's first second for comparison", (t: TestContext) =>
    withSandbox(async (sb) => {
      sh("ip", ["netns", "exec", sb.node, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
      const list = parseConfList(JSON.stringify(seedBandwidthConflist(sb)));
      const rtm = new CniRuntime({
        path: [binDir(sb, { bridge: "go", bandwidth: "podnet" })],
        cacheDir: join(sb.dir, "cache"),
        exec: sb.nodeExec(),
      });
      const goRt = new CniRuntime({
        path: [binDir(sb, { bridge: "go", bandwidth: "go" })],
        cacheDir: join(sb.dir, "cache"),
        exec: sb.nodeExec(),
      });
      const peerNs = sb.netns("peer");
      const peer = {
        ns: peerNs,
        ip: ipOf((await rtm.addNetworkList(list, rt(sb, peerNs, `peer-${sb.id}`))) as Result),
      };
      const report: string[] = [];
      for (const rate of [1_000_000, 10_000_000]) {
        const ns = sb.netns(`s${rate}`);
        const id = `shaped-${rate}-${sb.id}`;
        const r = (await rtm.addNetworkList(
          list,
          rt(sb, ns, id, { IngressRate: rate, IngressBurst: K8S_BURST, EgressRate: rate, EgressBurst: K8S_BURST }),
        )) as Result;
        await rtm.checkNetworkList(
          list,
          rt(sb, ns, id, { IngressRate: rate, IngressBurst: K8S_BURST, EgressRate: rate, EgressBurst: K8S_BURST }),
        );
        const pod = { ns, ip: ipOf(r) };
        const ingress = await measure(peer.ns, pod, 3000);
        const egress = await measure(pod.ns, peer, 3000);
        for (const [dir, m] of [
          ["ingress", ingress],
          ["egress", egress],
        ] as const) {
          const err = m.steady / rate - 1;
          report.push(
            `podnet ${fmt(rate)}/s ${dir}: steady ${fmt(m.steady)}/s (${(err * 100).toFixed(1)} %), first second ${fmt(m.first)} (${(m.first / rate).toFixed(2)}× the rate)`,
          );
          assert.ok(Math.abs(err) <= 0.15, `${dir} at ${rate} bit/s: measured ${m.steady.toFixed(0)} bit/s`);
          assert.ok(m.first <= 1.5 * rate, `${dir} at ${rate} bit/s: ${m.first} bits in the first second`);
        }
      }
      // The Go plugin with the same capability args, for the report (not asserted).
      const goNs = sb.netns("go");
      const goPod = ipOf(
        (await goRt.addNetworkList(
          list,
          rt(sb, goNs, `go-${sb.id}`, {
            ingressRate: 10_000_000,
            ingressBurst: K8S_BURST,
            egressRate: 10_000_000,
            egressBurst: K8S_BURST,
          }),
        )) as Result,
      );
      const goEgress = await measure(goNs, peer, 2000);
      report.push(
        `Go bandwidth 10 Mbit/s egress: first second ${fmt(goEgress.first)} (${(goEgress.first / 10_000_000).toFixed(0)}× the rate), then ${fmt(goEgress.steady)}/s`,
      );
      assert.ok(goPod);
      for (const l of report) t.diagnostic(l);
    }));
});

/** Runs one plugin binary as a runtime would, in the node netns. */
function runPlugin(
  sb: Sandbox,
  path: string,
  env: Record<string, string>,
  conf: unknown,
): { code: number | null; out: string } {
  const e: NodeJS.ProcessEnv = { PATH: process.env["PATH"], CNI_PATH: PODNET_PLUGINS, CNI_IFNAME: "eth0", ...env };
  const r = spawnSync("ip", ["netns", "exec", sb.node, path], {
    env: e,
    input: JSON.stringify(conf),
    encoding: "utf8",
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe("bandwidth (podnet) set-up and tear-down", { skip }, () => {
  it("ADD puts a tbf on the host veth and an ifb bwp<hash> with mirred; DEL alone restores the veth's qdiscs and removes the ifb", () =>
    withSandbox(async (sb) => {
      const list = parseConfList(JSON.stringify(seedBandwidthConflist(sb)));
      const rtm = new CniRuntime({
        path: [binDir(sb, { bridge: "go", bandwidth: "podnet" })],
        cacheDir: join(sb.dir, "cache"),
        exec: sb.nodeExec(),
      });
      const ns = sb.netns("pod");
      const id = `c1-${sb.id}`;
      const bridgeOnly = parseConfList(
        JSON.stringify({ ...seedBandwidthConflist(sb), plugins: [seedBandwidthConflist(sb).plugins[0]] }),
      );
      const prev = (await rtm.addNetworkList(bridgeOnly, rt(sb, ns, id))) as Result;
      const before = qdiscs(sb);
      const linksBefore = links(sb);
      const bw = { ingressRate: 8_000_000, ingressBurst: 800_000, egressRate: 4_000_000, egressBurst: 400_000 };
      const conf = {
        ...seedBandwidthConflist(sb).plugins[1],
        name: list.name,
        cniVersion: "0.4.0",
        runtimeConfig: { bandwidth: bw },
        prevResult: prev,
      };
      const env = { CNI_CONTAINERID: id, CNI_NETNS: sb.path(ns) };
      const add = runPlugin(sb, join(PODNET_PLUGINS, "bandwidth"), { ...env, CNI_COMMAND: "ADD" }, conf);
      assert.equal(add.code, 0, add.out);
      const res = JSON.parse(add.out) as Result;
      const { ifbDeviceName } = await import("../../src/plugins/meta/bandwidth/bandwidth.js");
      const ifb = ifbDeviceName(list.name, id);
      assert.match(ifb, /^bwp[0-9a-f]{12}$/);
      assert.deepEqual(res.interfaces?.at(-1)?.name, ifb);
      const hostVeth = prev.interfaces!.find((i) => !i.sandbox && i.name !== "cni0")!.name;
      assert.match(
        inNs(sb.node, ["tc", "qdisc", "show", "dev", hostVeth]).out,
        /qdisc tbf 1: root .*rate 8Mbit burst 100000b/,
      );
      assert.match(
        inNs(sb.node, ["tc", "qdisc", "show", "dev", ifb]).out,
        /qdisc tbf 1: root .*rate 4Mbit burst 50000b/,
      );
      assert.match(
        inNs(sb.node, ["tc", "filter", "show", "dev", hostVeth, "parent", "ffff:"]).out,
        /action order 1: mirred \(Egress Redirect to device bwp[0-9a-f]{12}\)/,
      );
      const check = runPlugin(
        sb,
        join(PODNET_PLUGINS, "bandwidth"),
        { ...env, CNI_COMMAND: "CHECK" },
        { ...conf, prevResult: res },
      );
      assert.equal(check.code, 0, check.out);
      // The Go plugin's CHECK accepts podnet's tbfs (same rate, buffer and limit).
      const goCheck = runPlugin(
        sb,
        join(GO_PLUGINS, "bandwidth"),
        { ...env, CNI_COMMAND: "CHECK" },
        { ...conf, prevResult: res },
      );
      assert.equal(goCheck.code, 0, goCheck.out);
      // A retried ADD reuses its ifb and replaces its own qdiscs.
      assert.equal(runPlugin(sb, join(PODNET_PLUGINS, "bandwidth"), { ...env, CNI_COMMAND: "ADD" }, conf).code, 0);
      // DEL with no limits in the request and the netns gone.
      const del = runPlugin(
        sb,
        join(PODNET_PLUGINS, "bandwidth"),
        { CNI_CONTAINERID: id, CNI_NETNS: "", CNI_COMMAND: "DEL" },
        { ...conf, runtimeConfig: {} },
      );
      assert.equal(del.code, 0, del.out);
      assert.equal(qdiscs(sb), before, "qdiscs as before ADD");
      assert.deepEqual(links(sb), linksBefore, "the ifb is gone");
      await rtm.delNetworkList(bridgeOnly, rt(sb, ns, id));
    }));

  it("bad limits are refused with the field and the value, and nothing is half-applied", () =>
    withSandbox(async (sb) => {
      const list = parseConfList(JSON.stringify(seedBandwidthConflist(sb)));
      const rtm = new CniRuntime({
        path: [binDir(sb, { bridge: "go", bandwidth: "podnet" })],
        cacheDir: join(sb.dir, "cache"),
        exec: sb.nodeExec(),
      });
      const ns = sb.netns("pod");
      const cases: Array<[Record<string, number>, RegExp]> = [
        [
          { ingressRate: 0, ingressBurst: 100_000 },
          /"runtimeConfig\.bandwidth\.ingressBurst" is 100000 but "runtimeConfig\.bandwidth\.ingressRate" is 0: if burst is set, rate must also be set/,
        ],
        [
          { egressRate: -1_000_000, egressBurst: 100_000 },
          /"runtimeConfig\.bandwidth\.egressRate" must not be negative, got -1000000/,
        ],
        [
          { egressRate: 1_000_000, egressBurst: 0 },
          /"runtimeConfig\.bandwidth\.egressRate" is 1000000 but "runtimeConfig\.bandwidth\.egressBurst" is 0: if rate is set, burst must also be set/,
        ],
        [
          { ingressRate: 1_000_000, ingressBurst: 40_000_000_000 },
          /"runtimeConfig\.bandwidth\.ingressBurst" is 40000000000: burst cannot be more than 4GB/,
        ],
      ];
      for (const [i, [bw, re]] of cases.entries()) {
        const before = qdiscs(sb);
        const r = rt(sb, ns, `c${i}-${sb.id}`, bw);
        await assert.rejects(rtm.addNetworkList(list, r), re);
        await rtm.delNetworkList(list, { ...r, capabilityArgs: {} });
        assert.equal(
          qdiscs(sb).replace(/qdisc noqueue 0: dev cni0.*\n/, ""),
          before.replace(/qdisc noqueue 0: dev cni0.*\n/, ""),
        );
        assert.deepEqual(
          links(sb).filter((l) => l.startsWith("bwp")),
          [],
        );
      }
    }));

  it("mixed chains: podnet bandwidth after the Go bridge, Go bandwidth after podnet's bridge, all podnet; with podnet portmap", () =>
    withSandbox(async (sb) => {
      const bw = { ingressRate: 50_000_000, ingressBurst: K8S_BURST, egressRate: 50_000_000, egressBurst: K8S_BURST };
      const conf = seedBandwidthConflist(sb);
      conf.plugins.push({
        type: "portmap",
        capabilities: { portMappings: true },
        dataDir: join(sb.dir, "portmap"),
      } as never);
      const list = parseConfList(JSON.stringify(conf));
      const variants: Array<{ bridge: "go" | "podnet"; bandwidth: "go" | "podnet" }> = [
        { bridge: "go", bandwidth: "podnet" },
        ...(existsSync(join(PODNET_PLUGINS, "bridge"))
          ? [
              { bridge: "podnet" as const, bandwidth: "go" as const },
              { bridge: "podnet" as const, bandwidth: "podnet" as const },
            ]
          : []),
      ];
      for (const [i, v] of variants.entries()) {
        const rtm = new CniRuntime({ path: [binDir(sb, v)], cacheDir: join(sb.dir, `cache${i}`), exec: sb.nodeExec() });
        const ns = sb.netns(`pod${i}`);
        const r = {
          ...rt(sb, ns, `c${i}-${sb.id}`),
          capabilityArgs: { bandwidth: bw, portMappings: [{ hostPort: 8080 + i, containerPort: 80, protocol: "tcp" }] },
        };
        const res = (await rtm.addNetworkList(list, r)) as Result;
        assert.ok(
          res.interfaces?.some((x) => /^bwp[0-9a-f]{12}$/.test(x.name)),
          `${v.bridge}+${v.bandwidth}: the ifb is in the result`,
        );
        await rtm.checkNetworkList(list, r);
        await rtm.delNetworkList(list, r);
        assert.deepEqual(
          links(sb).filter((l) => l.startsWith("bwp") || l.startsWith("veth")),
          [],
          `${v.bridge}+${v.bandwidth}: nothing left`,
        );
      }
    }));
});
