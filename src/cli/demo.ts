// `podnet demo` — podnet's node network manager end to end, in a sandbox: a node namespace running
// `podnet node --network-plugin=kubenet` with a pod CIDR, three pods, a table of what they got, live
// checks with measured numbers, and a teardown that leaves nothing behind (also on Ctrl-C).
// Only podnet-* namespaces and a temp directory are touched; addresses come from 10.200.0.0/16.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ApiError } from "../netmgr/daemon/api-client.js";
import { formatRate } from "../netmgr/core/bandwidth.js";
import { PODNET_CNI_BIN_DIR } from "../netmgr/daemon/paths.js";
import type { PodView } from "../netmgr/sandbox/runtime.js";
import { DEMO_NODE_IP, DEMO_UPLINK_MTU, hasKubenetPlugins, inNs, Lab } from "./demo-lab.js";
import { DemoRun } from "./demo-run.js";
import { ping, serve, tcpGet, transferRate } from "./demo-probes.js";
import { hostPortsText, limitsText } from "./pod.js";
import { DEMO_CLUSTER_CIDR, etcdInstalled, runClusterDemo } from "./demo-cluster.js";
import { exitCodes, parseCommandArgs, usageError } from "./args.js";
import { colors, renderTable, useColor } from "./table.js";

const GO_PLUGINS = "/usr/lib/cni";
const USAGE = `usage: podnet demo [--plugins podnet|go] [--pod-cidr CIDR]
       podnet demo --nodes N [--plugins podnet|go]

A sandboxed kubenet node: a podnet-demo-* namespace running \`podnet node\`, three pods, live
checks (pod → pod, node → hostPort, shaped transfer rates), then a clean teardown.
With --nodes N (2..5): a cluster instead — N nodes on one L2 segment and a throw-away etcd, each
node's block of ${DEMO_CLUSTER_CIDR}, a pod on each, cross-node pings, a node removed, teardown.
  --plugins   whose bridge/host-local/loopback kubenet uses: podnet's own (default, when built)
              or Debian's Go reference plugins in ${GO_PLUGINS}
  --pod-cidr  inside 10.200.0.0/16 (default 10.200.0.0/24; not with --nodes)
  --nodes     the number of nodes of a cluster demo, 2..5 (needs etcd: scripts/setup.sh installs it)
  --no-color  no colours (also: NO_COLOR set, or not a terminal)
Needs root (it creates network namespaces); run \`bash scripts/setup.sh\` first.
${exitCodes({ failure: "a check failed, or the sandbox could not be made", more: ["130  interrupted (Ctrl-C); the sandbox was removed"] })}`;

function pods(): Array<Record<string, unknown>> {
  return [
    {
      metadata: { name: "web", labels: { app: "web" } },
      spec: { containers: [{ name: "nginx", ports: [{ containerPort: 80, hostPort: 8080 }] }] },
    },
    {
      metadata: { name: "api", annotations: { "kubernetes.io/ingress-bandwidth": "10M" } },
      spec: { containers: [{ name: "api", ports: [{ containerPort: 8443 }] }] },
    },
    {
      metadata: { name: "batch", annotations: { "kubernetes.io/ingress-bandwidth": "50M" } },
      spec: { containers: [{ name: "worker" }] },
    },
  ];
}

const nsOf = (v: PodView) => v.netns.replace("/run/netns/", "");
const ms = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;

export async function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const p = parseCommandArgs("demo", USAGE, args, {
    plugins: { type: "string" },
    "pod-cidr": { type: "string" },
    nodes: { type: "string" },
    "no-color": { type: "boolean" },
  });
  if (typeof p === "number") return p;
  const values = p.values;
  const c = colors(!values["no-color"] && useColor(process.stdout, env));
  const out = (s = "") => process.stdout.write(`${s}\n`);
  if (process.getuid?.() !== 0) {
    process.stderr.write("podnet demo: needs root (it creates network namespaces); try: sudo podnet demo\n");
    return 1;
  }
  const nodes = values.nodes === undefined ? undefined : /^[2-5]$/.test(values.nodes) ? Number(values.nodes) : NaN;
  if (Number.isNaN(nodes))
    return usageError("demo", `--nodes: must be 2..5, got ${JSON.stringify(values.nodes)}`, USAGE);
  if (nodes !== undefined && values["pod-cidr"] !== undefined)
    return usageError(
      "demo",
      `--pod-cidr: not with --nodes (each node takes its block of ${DEMO_CLUSTER_CIDR})`,
      USAGE,
    );
  const podCIDR = values["pod-cidr"] ?? "10.200.0.0/24";
  if (!/^10\.200\.\d{1,3}\.\d{1,3}\/(1[6-9]|2[0-8])$/.test(podCIDR)) {
    return usageError(
      "demo",
      `--pod-cidr: ${JSON.stringify(podCIDR)} must be an IPv4 CIDR inside 10.200.0.0/16 (/16../28)`,
      USAGE,
    );
  }
  const want = values.plugins ?? "podnet";
  if (want !== "podnet" && want !== "go") {
    return usageError("demo", `--plugins: must be podnet or go, got ${JSON.stringify(want)}`, USAGE);
  }
  const own = hasKubenetPlugins(PODNET_CNI_BIN_DIR);
  const useGo = want === "go" || !own;
  if (useGo && !hasKubenetPlugins(GO_PLUGINS)) {
    process.stderr.write(
      `podnet demo: no bridge/host-local/loopback in ${PODNET_CNI_BIN_DIR} or ${GO_PLUGINS}; run \`bash scripts/setup.sh\` (or \`node scripts/build.mjs\`)\n`,
    );
    return 1;
  }

  if (nodes !== undefined) {
    if (!(await etcdInstalled())) {
      process.stderr.write(
        "podnet demo: --nodes needs etcd (apt-get install etcd-server; `bash scripts/setup.sh` does it)\n",
      );
      return 1;
    }
    return runClusterDemo({
      nodes,
      daemonArgs: [
        `--cni-bin-dir=${GO_PLUGINS}`,
        ...(useGo ? [`--kubenet-bin-dir=${GO_PLUGINS}`] : []),
        "--network-plugin=kubenet",
      ],
      c,
      out,
    });
  }

  const t0 = performance.now();
  const lab = new Lab();
  const made: PodView[] = [];
  const demo = new DemoRun(c, out, () => lab.cleanup(made.map(nsOf)));
  const check = demo.check.bind(demo);

  try {
    out(c.bold("podnet demo") + c.dim(" — a kubenet node in a sandbox"));
    out();
    await lab.makeNode();
    const daemonArgs = [
      "--network-plugin=kubenet",
      `--pod-cidr=${podCIDR}`,
      `--cni-bin-dir=${GO_PLUGINS}`,
      ...(useGo ? [`--kubenet-bin-dir=${GO_PLUGINS}`] : []),
    ];
    await lab.startDaemon(daemonArgs);
    const info = await lab.client.node();
    const mtu = info["mtu"] as { mtu: number; source: string; from?: string } | undefined;
    const pluginDir = String(info["pluginDir"] ?? "?");
    const row = (k: string, v: string) => out(`  ${c.dim(k.padEnd(15))}${v}`);
    row("node netns", `${lab.node}  (uplink eth0 ${DEMO_NODE_IP}/24, MTU ${DEMO_UPLINK_MTU})`);
    row("daemon", `podnet node ${daemonArgs.join(" ")}`);
    row(
      "pod CIDR",
      `${podCIDR}  → bridge cbr0, gateway ${String(info["podCIDR"] ?? podCIDR).replace(/\.0\/\d+$/, ".1")}`,
    );
    const mode =
      info["pluginMode"] === "in-process" ? ", run in-process" : info["pluginMode"] === "exec" ? ", exec'd" : "";
    row(
      "CNI plugins",
      `${pluginDir === PODNET_CNI_BIN_DIR ? "podnet's own" : "Go reference"} bridge, host-local, loopback${mode} ${c.dim(`(${pluginDir})`)}${!own && want === "podnet" ? c.yellow("  [podnet's not built: node scripts/build.mjs]") : ""}`,
    );
    out();

    // pods
    const rows: string[][] = [];
    for (const p of pods()) {
      const v = await lab.client.addPod(p);
      made.push(v);
      rows.push([
        `default/${v.name}`,
        v.ips.join(", ") || "-",
        hostPortsText(v),
        limitsText(v),
        nsOf(v),
        v.setupMs !== undefined ? ms(v.setupMs) : "-",
      ]);
    }
    out(c.bold("Pods"));
    process.stdout.write(
      renderTable(["POD", "IP", "HOSTPORTS", "LIMITS", "NETNS", "SETUP"], rows, {
        indent: "  ",
        align: ["l", "l", "l", "l", "l", "r"],
      }),
    );
    out();

    // checks
    out(c.bold("Checks"));
    const [web, api, batch] = made as [PodView, PodView, PodView];
    const node = await lab.client.node();
    const cbr0 = JSON.parse(
      (await inNs(lab.node, ["ip", "-j", "-4", "addr", "show", "cbr0"])).stdout || "[]",
    ) as Array<{ mtu: number; addr_info: Array<{ local: string; prefixlen: number }> }>;
    const gw = cbr0[0]?.addr_info[0];
    check(
      node["ready"] === true && cbr0[0]?.mtu === mtu?.mtu,
      "node ready",
      `kubenet, cbr0 ${gw ? `${gw.local}/${gw.prefixlen}` : "?"}, MTU ${cbr0[0]?.mtu} (${mtu?.source === "interface" ? `smallest up interface: ${mtu.from}` : mtu?.source})`,
    );

    const rtt = await ping(nsOf(web), api.ips[0]!);
    check(
      rtt !== undefined,
      "pod → pod",
      rtt !== undefined ? `web → api (${api.ips[0]}) ping avg ${ms(rtt)}` : `web cannot reach api at ${api.ips[0]}`,
    );

    const srv = serve(nsOf(web), 80, "hello from web");
    try {
      const got = await tcpGet(lab.node, DEMO_NODE_IP, 8080);
      check(
        "text" in got && got.text === "hello from web",
        "node → hostPort",
        "text" in got
          ? `${DEMO_NODE_IP}:8080 → web:80 answered ${JSON.stringify(got.text)} in ${ms(got.ms)}`
          : got.error,
      );
    } finally {
      await srv.kill();
    }

    const masq = (await inNs(lab.node, ["iptables-save", "-t", "nat"])).stdout
      .split("\n")
      .filter((l) => l.includes('"kubenet: SNAT for outbound traffic from cluster"'));
    check(
      masq.length === 1,
      "masquerade",
      `${masq.length} rule: ! -d 10.0.0.0/8 -j MASQUERADE "kubenet: SNAT for outbound traffic from cluster"`,
    );

    for (const [v, limit] of [
      [api, 10e6],
      [batch, 50e6],
    ] as const) {
      const r = await transferRate(lab.node, nsOf(v), v.ips[0]!, 5001);
      if (typeof r === "number") {
        const pct = (r / limit) * 100;
        check(
          pct > 70 && pct < 115,
          `shaped → ${v.name}`,
          `node → ${v.name} ${formatRate(Math.round(r))} measured, limit ${formatRate(limit)} (${pct.toFixed(0)}%)`,
        );
      } else {
        check(false, `shaped → ${v.name}`, r.error);
      }
    }
    const free = await transferRate(lab.node, nsOf(web), web.ips[0]!, 5002, 500);
    if (typeof free === "number" && !demo.interrupted)
      out(
        `  ${c.dim("·")} ${"unshaped → web".padEnd(25)} ${c.dim(`node → web ${formatRate(Math.round(free))} (no annotation, for comparison)`)}`,
      );

    for (const [what, p, want] of [
      [
        "bad annotation",
        {
          metadata: { name: "bad", annotations: { "kubernetes.io/ingress-bandwidth": "10Q" } },
          spec: { containers: [{ name: "c" }] },
        },
        400,
      ],
      [
        "hostPort conflict",
        {
          metadata: { name: "web2" },
          spec: { containers: [{ name: "c", ports: [{ containerPort: 80, hostPort: 8080 }] }] },
        },
        409,
      ],
    ] as const) {
      try {
        const v = await lab.client.addPod(p);
        made.push(v);
        check(false, `rejects ${what}`, "the pod was accepted");
      } catch (e) {
        const ok = e instanceof ApiError && e.status === want;
        const m = (e as Error).message.replace(
          /^failed to set up sandbox "[0-9a-f]+" network for pod "default\/bad": networkPlugin kubenet failed to set up pod "bad_default" network: error reading pod bandwidth annotations: /,
          "",
        );
        check(ok, `rejects ${what}`, `${(e as ApiError).status ?? "?"}: ${m.length > 90 ? `${m.slice(0, 89)}…` : m}`);
      }
    }
    out();

    // teardown
    out(c.bold("Teardown"));
    const td0 = performance.now();
    for (const v of [...made].reverse()) await lab.client.deletePod(v.namespace, v.name);
    const tdMs = performance.now() - td0;
    const leases = existsSync(join(lab.dir, "ipam", "kubenet"))
      ? readdirSync(join(lab.dir, "ipam", "kubenet")).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
      : [];
    const hp = (await inNs(lab.node, ["iptables-save", "-t", "nat"])).stdout
      .split("\n")
      .filter((l) => /KUBE-HP-/.test(l));
    const shaped = (await inNs(lab.node, ["tc", "filter", "show", "dev", "cbr0"])).stdout
      .split("\n")
      .filter((l) => l.includes("match"));
    const podNs = made.map(nsOf).filter((n) => existsSync(`/run/netns/${n}`));
    check(
      leases.length + hp.length + shaped.length + podNs.length === 0,
      "pods deleted",
      `${made.length} pods in ${ms(tdMs)}: ${podNs.length} pod namespaces, ${leases.length} leases, ${hp.length} hostport rules, ${shaped.length} tc filters left`,
    );
    await lab.stopDaemon();
    const names = made.map(nsOf);
    await lab.cleanup(names);
    const left = lab.leftovers(names);
    check(
      left.length === 0 && !existsSync(lab.dir),
      "sandbox removed",
      left.length ? `left: ${left.join(", ")}` : `daemon stopped, ${lab.node} and its temp dir gone`,
    );
    out();
    return demo.summary(t0);
  } catch (e) {
    if (demo.interrupted) return 130;
    out();
    process.stderr.write(`${c.red("podnet demo failed:")} ${(e as Error).message}\n`);
    await lab.stopDaemon();
    const log = lab.daemonLog().trim().split("\n").slice(-5).join("\n");
    if (log) process.stderr.write(c.dim(`last lines of the daemon's log:\n${log}\n`));
    return 1;
  } finally {
    await lab.cleanup(made.map(nsOf));
    demo.dispose();
  }
}
