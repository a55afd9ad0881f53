// `podnet demo --nodes N` — cluster networking in a sandbox: N node namespaces on one L2 segment
// (a bridge in podnet-demo-<id>-sw), a throw-away etcd in its own namespace (podnet-demo-<id>-etcd,
// serving on a unix socket in a temp directory), a `podnet node --cluster-cidr …` in each node,
// their blocks, a pod on each, cross-node pings, the cluster as etcd sees it, a node removed, then
// a teardown that leaves nothing behind (also on Ctrl-C). Addresses come from 10.200.0.0/16.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdStore, KeyLayout, clusterNodes, clusterRemoveNode, nodesTable } from "../cluster/index.js";
import { nodeRawExec } from "../kernel/exec.js";
import type { PodView } from "../netmgr/sandbox/runtime.js";
import { Background, helpers, inNs, Lab, newDemoId, run } from "./demo-lab.js";
import { DemoRun } from "./demo-run.js";
import { ping, serve, tcpGet } from "./demo-probes.js";
import { type Colors, renderTable } from "./table.js";

export const DEMO_CLUSTER_CIDR = "10.200.0.0/17";
const nodeIP = (i: number) => `10.200.255.${i + 1}`;
const nsOf = (v: PodView) => v.netns.replace("/run/netns/", "");
const ms = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;

interface PeerStatus {
  name: string;
  mode: string;
  routesInPlace: boolean;
}

export interface ClusterDemoOptions {
  readonly nodes: number;
  /** Extra `podnet node` flags (the plugin directories). */
  readonly daemonArgs: readonly string[];
  readonly c: Colors;
  readonly out: (s?: string) => void;
}

/** `etcd --version` runs (Debian's etcd-server). */
export async function etcdInstalled(): Promise<boolean> {
  try {
    return (await nodeRawExec.run("etcd", ["--version"], { timeoutMs: 10_000 })).code === 0;
  } catch {
    return false;
  }
}

/** The demo's etcd: one member in its own namespace (only lo), clients on a unix socket in its temp dir. */
class DemoEtcd {
  readonly ns: string;
  readonly dir: string;
  readonly endpoint: string;
  private proc: Background | undefined;
  constructor(id: string) {
    this.ns = `podnet-demo-${id}-etcd`;
    this.dir = mkdtempSync(join(tmpdir(), `${this.ns}-`));
    this.endpoint = `unix://${join(this.dir, "etcd.sock:2379")}`;
  }
  async start(): Promise<void> {
    await run("ip", ["netns", "add", this.ns]);
    await run("ip", ["-n", this.ns, "link", "set", "lo", "up"]);
    const peer = "http://127.0.0.1:2380";
    const p = new Background(
      "ip",
      [
        "netns",
        "exec",
        this.ns,
        "etcd",
        "--name",
        "demo",
        "--data-dir",
        join(this.dir, "data"),
        "--listen-client-urls",
        "unix://etcd.sock:2379",
        "--advertise-client-urls",
        "unix://etcd.sock:2379",
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        `demo=${peer}`,
        "--logger",
        "zap",
        "--log-level",
        "error",
      ],
      { cwd: this.dir },
    );
    helpers.delete(p); // stopped by stop(), after the nodes
    this.proc = p;
    const store = new EtcdStore({ endpoints: [this.endpoint], requestTimeoutMs: 1000 });
    try {
      const deadline = Date.now() + 15_000;
      for (;;) {
        if (p.exited) throw new Error(`etcd exited: ${(await p.done)?.stderr.toString().trim() ?? ""}`);
        try {
          if (existsSync(join(this.dir, "etcd.sock:2379"))) {
            await store.list("/");
            return;
          }
        } catch {
          // not serving yet
        }
        if (Date.now() > deadline) throw new Error("etcd did not answer within 15 s");
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      store.close();
    }
  }
  async stop(): Promise<void> {
    await this.proc?.kill();
    await run("ip", ["netns", "del", this.ns]).catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs the demo; the exit code (0: every check passed). */
export async function runClusterDemo(o: ClusterDemoOptions): Promise<number> {
  const { c, out } = o;
  const t0 = performance.now();
  const id = newDemoId();
  const sw = `podnet-demo-${id}-sw`;
  const names = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
  const labs = names.map((name) => new Lab({ id, name }));
  const etcd = new DemoEtcd(id);
  const pods = new Map<string, PodView>();
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      await Promise.all(labs.map((l) => l.cleanup()));
      await etcd.stop();
      await run("ip", ["netns", "del", sw]).catch(() => {});
    })());
  const demo = new DemoRun(c, out, cleanup);
  const check = demo.check.bind(demo);
  const row = (k: string, v: string) => out(`  ${c.dim(k.padEnd(15))}${v}`);
  const status = async (lab: Lab) => (await lab.client.cluster()) as { podCIDRs: string[]; peers: PeerStatus[] };

  try {
    out(c.bold("podnet demo") + c.dim(` — a ${o.nodes}-node cluster in a sandbox`));
    out();
    // the segment, etcd, the nodes
    await run("ip", ["netns", "add", sw]);
    await run("ip", ["-n", sw, "link", "add", "br0", "type", "bridge"]);
    await run("ip", ["-n", sw, "link", "set", "br0", "up"]);
    await etcd.start();
    const flags = (i: number) => [
      ...o.daemonArgs,
      `--cluster-cidr=${DEMO_CLUSTER_CIDR}`,
      `--etcd-endpoints=${etcd.endpoint}`,
      `--node-name=${names[i]}`,
      `--node-ip=${nodeIP(i)}`,
    ];
    await Promise.all(labs.map((l, i) => l.makeNodeOn(sw, nodeIP(i), `p-${names[i]}`)));
    const tj = performance.now();
    await Promise.all(labs.map((l, i) => l.startDaemon(flags(i))));
    const startedMs = performance.now() - tj;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const st = await Promise.all(labs.map(status));
      if (
        st.every(
          (s) => s.podCIDRs.length === 1 && s.peers.length === o.nodes - 1 && s.peers.every((p) => p.routesInPlace),
        )
      )
        break;
      if (Date.now() > deadline)
        throw new Error(`the nodes did not converge within 20 s: ${JSON.stringify(st.map((s) => s.peers))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const routedMs = performance.now() - tj - startedMs;
    row("segment", `${sw}  (bridge br0: ${names.map((n, i) => `${n} ${nodeIP(i)}`).join(", ")})`);
    row("etcd", `${etcd.ns}  (one member, clients on ${etcd.endpoint})`);
    row(
      "each node",
      `podnet node --network-plugin=kubenet --cluster-cidr=${DEMO_CLUSTER_CIDR} --etcd-endpoints=… --node-name=nI --node-ip=…`,
    );
    out();

    const st = await Promise.all(labs.map(status));
    const blocks = st.map((s) => s.podCIDRs[0]!);
    out(c.bold("Nodes"));
    out(
      renderTable(
        ["NODE", "NETNS", "NODE IP", "BLOCK", "ROUTES TO PEERS"],
        labs.map((l, i) => [
          names[i]!,
          l.node,
          nodeIP(i),
          blocks[i]!,
          st[i]!.peers.map((p) => `${p.name} ${p.mode}`).join(", "),
        ]),
        { indent: "  " },
      ).trimEnd(),
    );
    out();

    for (const [i, l] of labs.entries())
      pods.set(
        names[i]!,
        await l.client.addPod({ metadata: { name: `web-${names[i]}` }, spec: { containers: [{ name: "c" }] } }),
      );
    out(c.bold("Pods"));
    out(
      renderTable(
        ["POD", "NODE", "IP", "NETNS"],
        names.map((n) => [`default/web-${n}`, n, pods.get(n)!.ips[0] ?? "-", nsOf(pods.get(n)!)]),
        { indent: "  " },
      ).trimEnd(),
    );
    out();

    out(c.bold("Checks"));
    const inside = blocks.every((b) => b.startsWith("10.200.") && Number(b.split(".")[2]) < 128);
    check(
      new Set(blocks).size === o.nodes && inside,
      "blocks",
      `${o.nodes} distinct /24 blocks of ${DEMO_CLUSTER_CIDR}, allocated through etcd (daemons up in ${(startedMs / 1000).toFixed(1)} s, every route in place ${ms(routedMs)} after)`,
    );
    const routeCounts = await Promise.all(
      labs.map(
        async (l) =>
          (await inNs(l.node, ["ip", "route", "show", "proto", "152"])).stdout.trim().split("\n").filter(Boolean)
            .length,
      ),
    );
    check(
      routeCounts.every((n) => n === o.nodes - 1),
      "routes",
      `each node: ${o.nodes - 1} routes to the other blocks (host-gw via the peer's node IP, proto 152)`,
    );
    for (const a of names) {
      const rtts: string[] = [];
      let ok = true;
      for (const b of names) {
        if (a === b) continue;
        const rtt = await ping(nsOf(pods.get(a)!), pods.get(b)!.ips[0]!);
        ok &&= rtt !== undefined;
        rtts.push(`${b} ${rtt !== undefined ? ms(rtt) : "no answer"}`);
      }
      check(ok, `pod on ${a} → other nodes`, `ping ${rtts.join(", ")}`);
    }
    // pod → pod keeps the pod's address (the cluster CIDR is never masqueraded)
    const [first, second] = [pods.get(names[0]!)!, pods.get(names[1]!)!];
    const srv = serve(nsOf(second), 7070, "@peer"); // answers with the address the connection came from
    try {
      const got = await tcpGet(nsOf(first), second.ips[0]!, 7070);
      check(
        "text" in got && got.text === first.ips[0],
        "no SNAT between pods",
        "text" in got
          ? `${names[1]}'s pod saw the connection from ${got.text} (${names[0]}'s pod: ${first.ips[0]})`
          : got.error,
      );
    } finally {
      await srv.kill();
    }
    out();

    // the cluster as `podnet cluster nodes` shows it, then a node removed
    const store = new EtcdStore({ endpoints: [etcd.endpoint] });
    const keys = new KeyLayout("/podnet");
    try {
      const inPlace = new Map(st[0]!.peers.map((p) => [p.name, p.routesInPlace]));
      const [head, ...body] = nodesTable(await clusterNodes(store, keys, { self: names[0]!, inPlace }), Date.now());
      out(c.bold(`The cluster in etcd`) + c.dim(` (podnet cluster nodes, seen from ${names[0]})`));
      out(renderTable(head!, body, { indent: "  " }).trimEnd());
      out();
      out(c.bold("Removing a node"));
      const last = labs.length - 1;
      const gone = names[last]!;
      await labs[last]!.client.deletePod("default", `web-${gone}`);
      pods.delete(gone);
      await labs[last]!.stopDaemon();
      const tr = performance.now();
      const r = await clusterRemoveNode(store, keys, gone);
      const until = Date.now() + 10_000;
      let left = -1;
      while (Date.now() < until) {
        left = 0;
        for (const l of labs.slice(0, last))
          if ((await inNs(l.node, ["ip", "route", "show", blocks[last]!])).stdout.trim() !== "") left++;
        if (left === 0) break;
        await new Promise((res) => setTimeout(res, 20));
      }
      check(
        r.removed && left === 0,
        "remove-node",
        `podnet cluster remove-node ${gone}: ${blocks[last]} freed, its routes gone from ${names.slice(0, last).join(", ")} in ${ms(performance.now() - tr)}`,
      );
    } finally {
      store.close();
    }
    out();

    out(c.bold("Teardown"));
    await cleanup();
    const left = [sw, etcd.ns, ...labs.flatMap((l) => l.leftovers())].filter((n) => existsSync(`/run/netns/${n}`));
    check(
      left.length === 0 && labs.every((l) => !existsSync(l.dir)) && !existsSync(etcd.dir),
      "sandbox removed",
      left.length
        ? `left: ${left.join(", ")}`
        : `daemons and etcd stopped, ${o.nodes + 2} namespaces, the pods' and the temp dirs gone`,
    );
    out();
    return demo.summary(t0);
  } catch (e) {
    if (demo.interrupted) return 130;
    out();
    process.stderr.write(`${c.red("podnet demo failed:")} ${(e as Error).message}\n`);
    for (const l of labs) {
      await l.stopDaemon();
      const log = l.daemonLog().trim().split("\n").slice(-3).join("\n");
      if (log) process.stderr.write(c.dim(`last lines of ${l.node}'s daemon log:\n${log}\n`));
    }
    return 1;
  } finally {
    await cleanup();
    demo.dispose();
  }
}
