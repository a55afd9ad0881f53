// Flat at equal load: two sandbox "nodes", each its own network namespace with its own
// `podnet resident` daemon (its host side) and data dir, one empty and one first filled with N-1
// pods; then rounds alternate between them (order rotating): ADD a pod through the full chain
// (loopback; bridge+host-local with isGateway+ipMasq; portmap with 2 hostPorts; bandwidth) with
// PODNET_TRACE=1, then DEL it. Both see the same machine load, and each node holds only its own
// pods (a node shared with other implementations' pods would charge their iptables chains and
// links to this one). Used by bench/flat.mjs (every phase) and by `npm run bench` (the flat goal).
// Call from inside a bench's node netns (runInsideNodeNamespace): every namespace is named
// podnet-t-<tag>-*, removed by that clean-up too.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, ip, RESIDENT_BIN, ROOT } from "./lib.mjs";

const { CniRuntime, parseConfList } = await Promise.all([
  import("../dist/src/libcni/index.js"),
  import("../dist/src/cni/index.js"),
]).then(([l, c]) => ({ ...l, ...c }));
const { nodeRawExec } = await import("../dist/src/kernel/exec.js");

/** A node netns with lo up and a resident daemon serving on `<dir>/cni-<name>.sock` inside it. */
export async function startResidentNode({ tag, dir, name }) {
  const netns = `podnet-t-${tag}-${name}`;
  ip("netns", "add", netns);
  ip("-n", netns, "link", "set", "lo", "up");
  const sock = join(dir, `cni-${name}.sock`);
  const daemon = spawn(
    "ip",
    ["netns", "exec", netns, process.execPath, join(ROOT, "bin", "podnet"), "resident", "--socket", sock],
    {
      env: cleanEnv(),
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(sock)) {
    daemon.kill();
    throw new Error(`podnet resident did not start in ${netns}`);
  }
  // `ip netns exec` execs the daemon: this pid is the daemon's
  return { netns, sock, pid: daemon.pid, stop: () => daemon.kill() };
}

/** A node holding `background` pods, its runtime recording each plugin's wall time and trace phases. */
async function startNode({ tag, dir, k, background, masq }) {
  const { netns, sock, pid, stop } = await startResidentNode({ tag, dir, name: `n${k}` });
  const env = { PODNET_CNI_SOCKET: sock, PODNET_TRACE: "1" };
  const sink = { cur: {} };
  const exec = {
    async run(file, args, opts) {
      const t0 = performance.now();
      const r = await nodeRawExec.run(file, args, { ...opts, env: { ...opts.env, ...env } });
      const plugin = file.split("/").pop();
      const verb = opts.env.CNI_COMMAND;
      sink.cur[`${plugin} ${verb}`] = performance.now() - t0;
      const line = r.stderr
        .toString()
        .split("\n")
        .find((l) => l.startsWith("podnet trace "));
      for (const m of line?.matchAll(/ ([\w.-]+)=([\d.]+)ms/g) ?? []) {
        if (m[1] !== "startup")
          sink.cur[`${plugin} ${verb} .${m[1]}`] = (sink.cur[`${plugin} ${verb} .${m[1]}`] ?? 0) + Number(m[2]);
      }
      return r;
    },
  };
  const name = `flat-${k}`;
  const l = {
    chain: parseConfList(
      JSON.stringify({
        cniVersion: "1.0.0",
        name,
        plugins: [
          {
            type: "bridge",
            bridge: `pf-${k}`,
            isGateway: true,
            ipMasq: masq,
            ipam: {
              type: "host-local",
              ranges: [[{ subnet: `10.200.${k * 16}.0/20` }]],
              dataDir: join(dir, `ipam-${k}`),
              routes: [{ dst: "0.0.0.0/0" }],
            },
          },
          { type: "portmap", capabilities: { portMappings: true }, snat: true },
          { type: "bandwidth", capabilities: { bandwidth: true } },
        ],
      }),
    ),
    lo: parseConfList(JSON.stringify({ cniVersion: "1.0.0", name: `${name}-lo`, plugins: [{ type: "loopback" }] })),
  };
  const node = {
    k,
    tag,
    netns,
    pid,
    stop,
    sink,
    l,
    rtm: new CniRuntime({ path: [RESIDENT_BIN], cacheDir: join(dir, `cache-${k}`), exec, baseEnv: cleanEnv() }),
    live: [],
    seq: 0,
    rows: [],
  };
  for (let i = 0; i < background; i++) await addPod(node);
  return node;
}

async function addPod(node) {
  const i = node.seq++;
  const ns = `podnet-t-${node.tag}-n${node.k}p${i}`;
  ip("netns", "add", ns);
  const rt = {
    containerID: `flat-${node.k}-${i}`,
    netns: `/run/netns/${ns}`,
    ifName: "eth0",
    args: [["IgnoreUnknown", "1"]],
    capabilityArgs: {
      portMappings: [
        { hostPort: 20000 + i * 2, containerPort: 80, protocol: "tcp" },
        { hostPort: 20001 + i * 2, containerPort: 53, protocol: "udp" },
      ],
      bandwidth: {
        ingressRate: 100_000_000,
        ingressBurst: 10_000_000,
        egressRate: 100_000_000,
        egressBurst: 10_000_000,
      },
    },
  };
  const lo = { ...rt, ifName: "lo", capabilityArgs: {} };
  node.sink.cur = {};
  const t0 = performance.now();
  await node.rtm.addNetworkList(node.l.lo, lo);
  await node.rtm.addNetworkList(node.l.chain, rt);
  const p = { ns, rt, lo, ms: performance.now() - t0 };
  node.live.push(p);
  return p;
}

async function delPod(node, p) {
  const t0 = performance.now();
  try {
    await node.rtm.delNetworkList(node.l.chain, p.rt);
    await node.rtm.delNetworkList(node.l.lo, p.lo);
  } finally {
    ip("netns", "del", p.ns);
    node.live.splice(node.live.indexOf(p), 1);
  }
  return performance.now() - t0;
}

/**
 * An empty node against one holding `pods` - 1 pods, `rounds` rounds (+2 warm-up). Returns, per
 * node ("empty", "full"), one row per round: "chain ADD", "chain DEL", "<plugin> <VERB>" wall
 * times and "<plugin> <VERB> .<phase>" trace phases (ms); and `rss(pid)`-style samples of each
 * daemon taken before the clean-up.
 */
export async function compareNodes({ tag, dir, pods, rounds, masq = true, warmup = 2, beforeCleanup }) {
  const nodes = [];
  try {
    nodes.push(
      await startNode({ tag, dir, k: 0, background: 0, masq }),
      await startNode({ tag, dir, k: 1, background: pods - 1, masq }),
    );
    for (let r = 0; r < rounds + warmup; r++) {
      for (const node of r % 2 ? [...nodes].reverse() : nodes) {
        const p = await addPod(node);
        const add = { ...node.sink.cur, "chain ADD": p.ms };
        node.sink.cur = {};
        const del = await delPod(node, p);
        if (r >= warmup) node.rows.push({ ...add, ...node.sink.cur, "chain DEL": del });
      }
    }
    await beforeCleanup?.({ empty: nodes[0], full: nodes[1] });
    return { empty: nodes[0].rows, full: nodes[1].rows };
  } finally {
    for (const node of nodes) {
      for (const p of [...node.live])
        await delPod(node, p).catch((e) => console.error(`DEL ${p.rt.containerID}: ${e.message}`));
      node.stop();
    }
  }
}
