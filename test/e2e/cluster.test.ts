// Cluster networking end to end: real `podnet node` daemons (one per node namespace, kubenet with
// Debian's Go plugins) over a real three-member etcd, on the real kernel. Three nodes share one L2
// segment (host-gw between them), a fourth sits behind a router on another subnet (VXLAN to it).
// A pod on each node pings a pod on every other; a node killed -9 comes back with its block and its
// routes; with every etcd member stopped pods keep reaching each other and a new pod is set up;
// etcd back, a fifth node joins and is reachable from all; one etcd member killed changes nothing;
// remove-node makes a node's routes vanish everywhere. Everything lives in podnet-t-* namespaces
// and the test's temp dir, and is removed in `finally`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { GO_PLUGINS, haveRoot, inNs, Sandbox, sh } from "./sandbox.js";
import { deleteDaemonNetns, PODNET_BIN, startDaemon, type NodeDaemon } from "../../src/netmgr/testing/daemon.js";
import { etcdAvailable, startTestEtcdCluster, type TestEtcdCluster } from "../../src/cluster/testing-etcd.js";
import type { PodView } from "../../src/netmgr/sandbox/runtime.js";

const skip = !haveRoot()
  ? "needs root (network namespaces)"
  : !etcdAvailable()
    ? "needs etcd (apt-get install etcd-server; scripts/setup.sh does it)"
    : false;

const CLUSTER_CIDR = "10.200.0.0/18";
/** Segment A (the switch) and segment B (behind the router). */
const NODE_IP: Record<string, string> = {
  n1: "10.200.250.1",
  n2: "10.200.250.2",
  n3: "10.200.250.3",
  n4: "10.200.251.4",
  n5: "10.200.250.5",
};
const ROUTER_A = "10.200.250.254";
const ROUTER_B = "10.200.251.254";

interface PeerStatus {
  name: string;
  podCIDRs: string[];
  mode: string;
  routesInPlace: boolean;
}
interface ClusterStatus {
  node: string;
  phase: string;
  podCIDRs: string[];
  nodeIPs: string[];
  peers: PeerStatus[];
  metrics: { etcdErrors: number; watchRestarts: number };
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const nsOf = (p: PodView) => p.netns.replace("/run/netns/", "");
const ping = (from: string, to: string) => inNs(from, ["ping", "-c1", "-W2", to]).status === 0;
const podnetRoutes = (ns: string) => sh("ip", ["-n", ns, "route", "show", "proto", "152"]).trim();

/** A TCP server in `ns` that answers with the address the connection came from. */
function servePeerAddress(ns: string, port: number) {
  const code = `require("net").createServer(s=>s.end(s.remoteAddress)).listen(${port})`;
  return spawn("ip", ["netns", "exec", ns, process.execPath, "-e", code], { stdio: "ignore" });
}

/** What a connection from `ns` to host:port is answered with (retrying while the server starts). */
function peerAddressSeen(ns: string, host: string, port: number): string {
  const code = `const net=require("net");const end=Date.now()+5000;(function go(){const s=net.connect(${port},${JSON.stringify(host)});let b="";s.on("data",d=>b+=d);s.on("end",()=>process.stdout.write(b));s.on("error",e=>{if(Date.now()<end)setTimeout(go,50);else{process.stderr.write(e.message);process.exit(1)}})})()`;
  const r = spawnSync("ip", ["netns", "exec", ns, process.execPath, "-e", code], { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) throw new Error(`tcp ${host}:${port} from ${ns}: ${r.stderr}`);
  return r.stdout.replace(/^::ffff:/, "");
}

function podnetCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [PODNET_BIN, ...args], { encoding: "utf8", timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("cluster networking: podnet node daemons over a three-member etcd", { skip }, () => {
  it("routes every pod to every pod; survives kill -9, an etcd outage and a lost member; joins and removals reach every node", async () => {
    const sb = new Sandbox(); // sb.node is the switch of segment A
    let etcd: TestEtcdCluster | undefined;
    const daemons = new Map<string, NodeDaemon>();
    const ns: Record<string, string> = {};
    const dirs: Record<string, string> = {};
    const servers: Array<ReturnType<typeof spawn>> = [];
    try {
      // --- the network: segment A (a bridge in the switch namespace), the router, segment B ---
      const sw = sb.node;
      sh("ip", ["-n", sw, "link", "add", "br0", "type", "bridge"]);
      sh("ip", ["-n", sw, "link", "set", "br0", "up"]);
      const router = sb.netns("rt");
      sh("ip", ["netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
      const plug = (node: string, segment: "A" | "B") => {
        const n = sb.netns(node);
        ns[node] = n;
        dirs[node] = join(sb.dir, node);
        if (segment === "A") {
          sh("ip", ["-n", n, "link", "add", "eth0", "type", "veth", "peer", "name", `a-${node}`, "netns", sw]);
          sh("ip", ["-n", sw, "link", "set", `a-${node}`, "master", "br0", "up"]);
        } else {
          sh("ip", ["-n", n, "link", "add", "eth0", "type", "veth", "peer", "name", `b-${node}`, "netns", router]);
          sh("ip", ["-n", router, "link", "set", `b-${node}`, "up"]);
        }
        sh("ip", ["-n", n, "addr", "add", `${NODE_IP[node]}/24`, "dev", "eth0"]);
        sh("ip", ["-n", n, "link", "set", "eth0", "up"]);
        sh("ip", ["-n", n, "route", "add", "default", "via", segment === "A" ? ROUTER_A : ROUTER_B]);
      };
      sh("ip", ["-n", router, "link", "add", "eth0", "type", "veth", "peer", "name", "a-rt", "netns", sw]);
      sh("ip", ["-n", sw, "link", "set", "a-rt", "master", "br0", "up"]);
      sh("ip", ["-n", router, "addr", "add", `${ROUTER_A}/24`, "dev", "eth0"]);
      sh("ip", ["-n", router, "link", "set", "eth0", "up"]);
      for (const n of ["n1", "n2", "n3", "n5"]) plug(n, "A");
      plug("n4", "B");
      sh("ip", ["-n", router, "addr", "add", `${ROUTER_B}/24`, "dev", "b-n4"]);

      etcd = await startTestEtcdCluster({ members: 3 });
      const endpoints = etcd.endpoints.join(",");
      const args = (node: string) => [
        "--network-plugin=kubenet",
        `--kubenet-bin-dir=${GO_PLUGINS}`,
        `--cni-bin-dir=${GO_PLUGINS}`,
        `--cluster-cidr=${CLUSTER_CIDR}`,
        `--etcd-endpoints=${endpoints}`,
        `--node-name=${node}`,
        // n1-n3 and n5 find their address from the default route; n4 is told
        ...(node === "n4" ? [`--node-ip=${NODE_IP[node]}`] : []),
        // a --non-masquerade-cidr that does not cover the cluster: pod → pod must still keep its address
        "--non-masquerade-cidr=10.200.250.0/24",
        "--log-level=info",
      ];
      const start = async (node: string) =>
        daemons.set(node, await startDaemon({ netns: ns[node]!, dir: dirs[node]!, args: args(node), readyMs: 20_000 }));
      const status = async (node: string) => (await daemons.get(node)!.client.cluster()) as unknown as ClusterStatus;
      /** Every running node has every other running node's routes in place. */
      const converged = async (nodes: readonly string[]) => {
        for (const n of nodes) {
          const st = await status(n);
          const peers = st.peers.filter((p) => nodes.includes(p.name));
          if (peers.length !== nodes.length - 1 || !peers.every((p) => p.routesInPlace)) return undefined;
        }
        return true;
      };

      // --- four nodes join: distinct blocks, host-gw on segment A, VXLAN to and from n4 ---
      await Promise.all(["n1", "n2", "n3", "n4"].map(start));
      const four = ["n1", "n2", "n3", "n4"];
      await until("four nodes to converge", () => converged(four));
      const blocks: Record<string, string> = {};
      for (const n of four) {
        const st = await status(n);
        assert.equal(st.podCIDRs.length, 1);
        blocks[n] = st.podCIDRs[0]!;
        assert.deepEqual(st.nodeIPs, [NODE_IP[n]], `${n}: the node IP (discovered for n1-n3)`);
        const info = await daemons.get(n)!.client.node();
        assert.equal(info["ready"], true, `${n}: ${JSON.stringify(info)}`);
        assert.equal(info["podCIDR"], blocks[n]);
        for (const p of st.peers)
          assert.equal(p.mode, n === "n4" || p.name === "n4" ? "vxlan" : "host-gw", `${n} → ${p.name}`);
      }
      assert.equal(new Set(Object.values(blocks)).size, 4, JSON.stringify(blocks));
      const r1 = podnetRoutes(ns["n1"]!);
      assert.match(
        r1,
        new RegExp(`${blocks["n2"]!.replace(/[./]/g, "\\$&")} via ${NODE_IP["n2"]!.replace(/\./g, "\\.")} dev eth0`),
      );
      assert.match(
        r1,
        new RegExp(
          `${blocks["n4"]!.replace(/[./]/g, "\\$&")} via ${blocks["n4"]!.replace(/\/24$/, "").replace(/\./g, "\\.")} dev podnet\\.vxlan .*onlink`,
        ),
      );

      // --- a pod on each node; each pings every other; pods' MTU lowered for VXLAN ---
      const pods: Record<string, PodView> = {};
      for (const n of four)
        pods[n] = await daemons
          .get(n)!
          .client.addPod({ metadata: { name: `p-${n}` }, spec: { containers: [{ name: "c" }] } });
      const eth0Mtu = (p: PodView) => (sb.ipJson(nsOf(p), ["link", "show", "eth0"])[0] as { mtu: number }).mtu;
      assert.equal(eth0Mtu(pods["n1"]!), 1450, "a peer is reached over VXLAN: the pods' MTU drops by 50");
      const pingAll = (nodes: readonly string[]) => {
        const failed: string[] = [];
        for (const a of nodes)
          for (const b of nodes)
            if (a !== b && !ping(nsOf(pods[a]!), pods[b]!.ips[0]!)) failed.push(`${a} → ${b} (${pods[b]!.ips[0]})`);
        return failed;
      };
      assert.deepEqual(pingAll(four), [], "every pod reaches every other node's pod");

      // --- masquerade: pod → pod keeps the pod's address; pod → outside the cluster is the node's ---
      servers.push(servePeerAddress(nsOf(pods["n2"]!), 7001), servePeerAddress(ns["n4"]!, 7002));
      assert.equal(
        peerAddressSeen(nsOf(pods["n1"]!), pods["n2"]!.ips[0]!, 7001),
        pods["n1"]!.ips[0],
        "not masqueraded between pods of the cluster",
      );
      assert.equal(
        peerAddressSeen(nsOf(pods["n1"]!), NODE_IP["n4"]!, 7002),
        NODE_IP["n1"],
        "masqueraded leaving the cluster",
      );

      // --- podnet cluster nodes: what etcd has, and the local node's routes ---
      const listed = podnetCli([
        "cluster",
        "nodes",
        "--json",
        `--etcd-endpoints=${endpoints}`,
        `--socket=${daemons.get("n1")!.socket}`,
      ]);
      assert.equal(listed.status, 0, listed.stderr);
      const rows = JSON.parse(listed.stdout) as Array<{
        name: string;
        nodeIPs: string[];
        podCIDRs: string[];
        backend: string;
        lastHeartbeat: string | null;
        routesInPlace: boolean | null;
        thisNode?: boolean;
      }>;
      assert.deepEqual(
        rows.map((r) => [r.name, r.nodeIPs[0], r.podCIDRs[0], r.backend, r.routesInPlace, r.thisNode ?? false]),
        four.map((n) => [n, NODE_IP[n], blocks[n], "auto", n === "n1" ? null : true, n === "n1"]),
      );
      assert.ok(rows.every((r) => r.lastHeartbeat !== null && Date.now() - Date.parse(r.lastHeartbeat) < 120_000));

      // --- n2 killed -9: a route lost and a stale one added meanwhile; it restarts with its block and the right routes ---
      const n2 = daemons.get("n2")!;
      n2.child.kill("SIGKILL");
      await new Promise((r) => n2.child.once("exit", r));
      sh("ip", ["-n", ns["n2"]!, "route", "del", blocks["n1"]!]);
      sh("ip", ["-n", ns["n2"]!, "route", "add", "10.200.63.0/24", "via", "10.200.250.99", "proto", "152"]);
      await start("n2");
      await until("n2 to converge again", () => converged(four));
      assert.deepEqual((await status("n2")).podCIDRs, [blocks["n2"]], "the same block after kill -9");
      const r2 = podnetRoutes(ns["n2"]!);
      assert.match(
        r2,
        new RegExp(`^${blocks["n1"]!.replace(/[./]/g, "\\$&")} via ${NODE_IP["n1"]!.replace(/\./g, "\\.")}`, "m"),
        "the missing route is back",
      );
      assert.doesNotMatch(r2, /10\.200\.63\.0/, "the stale podnet route is gone");
      assert.deepEqual(pingAll(four), [], "pods reach each other after the restart");

      // --- every etcd member stopped: pods keep reaching each other, a new pod is set up ---
      await Promise.all(etcd.members.map((m) => m.stop()));
      await until("n1 to notice etcd is gone", async () => (await status("n1")).metrics.watchRestarts > 0);
      assert.deepEqual(pingAll(four), [], "no etcd: routes stay");
      const extra = await daemons
        .get("n3")!
        .client.addPod({ metadata: { name: "p-n3-b" }, spec: { containers: [{ name: "c" }] } });
      assert.ok(
        ping(nsOf(pods["n1"]!), extra.ips[0]!),
        "no etcd: a new pod on an existing node is set up and reachable",
      );
      assert.equal((await daemons.get("n3")!.client.node())["ready"], true);

      // --- etcd back: a fifth node joins and every pod reaches its pod ---
      await Promise.all(etcd.members.map((m) => m.start()));
      await start("n5");
      const five = ["n1", "n2", "n3", "n4", "n5"];
      await until("the fifth node's routes on every node", () => converged(five), 60_000);
      blocks["n5"] = (await status("n5")).podCIDRs[0]!;
      assert.equal(new Set(Object.values(blocks)).size, 5);
      pods["n5"] = await daemons
        .get("n5")!
        .client.addPod({ metadata: { name: "p-n5" }, spec: { containers: [{ name: "c" }] } });
      assert.deepEqual(pingAll(five), [], "every pod reaches the new node's pod and back");

      // --- one etcd member killed: no disruption (reads, writes, pods) ---
      await etcd.members[0]!.kill();
      assert.deepEqual(pingAll(five), [], "one member down: pods unaffected");
      const again = podnetCli(["cluster", "nodes", "--json", `--etcd-endpoints=${endpoints}`]);
      assert.equal(again.status, 0, again.stderr);
      assert.equal((JSON.parse(again.stdout) as unknown[]).length, 5);

      // --- remove-node (with one member still down): n5's routes vanish everywhere ---
      await daemons.get("n5")!.stop();
      const removed = podnetCli(["cluster", "remove-node", "n5", `--etcd-endpoints=${endpoints}`]);
      assert.equal(removed.status, 0, removed.stderr);
      assert.equal(removed.stdout, `removed node n5; freed ${blocks["n5"]}\n`);
      assert.match(
        removed.stderr,
        /warning: n5 was still alive \(its last heartbeat was .* ago\): if its podnet node is running, it registers again/,
      );
      const t0 = Date.now();
      await until(
        "n5's routes to vanish everywhere",
        () => four.every((n) => !podnetRoutes(ns[n]!).includes(blocks["n5"]!.replace(/\/24$/, ""))),
        10_000,
      );
      const vanishedMs = Date.now() - t0;
      for (const n of four) assert.equal((await status(n)).peers.length, 3, `${n} forgot n5`);
      const gone = podnetCli(["cluster", "remove-node", "n5", `--etcd-endpoints=${endpoints}`]);
      assert.equal(gone.status, 1);
      assert.match(gone.stderr, /no node named "n5"/);
      process.stderr.write(
        `# cluster e2e: n5's routes vanished from 4 nodes ${vanishedMs} ms after remove-node returned\n`,
      );
    } finally {
      for (const s of servers) s.kill("SIGKILL");
      for (const [node, d] of daemons) {
        if (d.child.exitCode === null && d.child.signalCode === null) {
          try {
            for (const p of await d.client.listPods()) await d.client.deletePod(p.namespace, p.name).catch(() => {});
          } catch {
            // not answering: its pod namespaces go below
          }
          await d.stop();
        }
        deleteDaemonNetns(join(dirs[node]!, "state"));
      }
      for (const node of Object.keys(dirs)) if (!daemons.has(node)) deleteDaemonNetns(join(dirs[node]!, "state"));
      await etcd?.stop();
      sb.cleanup();
    }
  });
});
