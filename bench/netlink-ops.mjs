#!/usr/bin/env node
// A 15-operation pod network setup three ways, in sandbox namespaces (podnet-t-*), median of N:
//   netlink  podnet's kernel layer (N-API addon + TypeScript rtnetlink, 0 spawns)
//   batch    `ip -batch -` (2 spawns: one for the node netns, one for the pod netns, with -json read-back)
//   per-op   one `ip` spawn per operation (`ip -n NAME …`)
// Operations: node side — veth add (peer straight into the pod netns), mtu, master, hairpin, up;
// pod side — rename to eth0, mtu, lo up, eth0 up, IPv4 addr, IPv6 addr (nodad), default v4, default v6,
// then read back the link and its addresses. Teardown (veth delete) is timed separately.
// Usage: node bench/netlink-ops.mjs [--rounds 20]   (root; run `npm run build` first)
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync, mkdirSync } from "node:fs";
import { release } from "node:os";
import { parseArgs } from "node:util";
import { createKernel } from "../dist/src/kernel/index.js";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "20" }, json: { type: "boolean" } } });
const ROUNDS = Number(values.rounds);
if (process.getuid?.() !== 0) {
  console.error("netlink-ops: needs root (creates network namespaces)");
  process.exit(1);
}

const tag = randomBytes(3).toString("hex");
const NODE = `podnet-t-${tag}-node`;
const POD = `podnet-t-${tag}-pod`;
const MTU = 1450;
const ip = (...args) => execFileSync("ip", args, { encoding: "utf8" });

const kernel = createKernel();
const now = () => performance.now();

async function viaNetlink(veth) {
  const n = kernel.netns(`/run/netns/${NODE}`);
  const p = kernel.netns(`/run/netns/${POD}`);
  await n.linkAddVeth(veth, "tmp0", { peerNetns: `/run/netns/${POD}` }); // 1
  await n.linkSetMtu(veth, MTU); // 2
  await n.linkSetMaster(veth, "br0"); // 3
  await n.linkSetHairpin(veth, true); // 4
  await n.linkSetUp(veth); // 5
  await p.linkRename("tmp0", "eth0"); // 6
  await p.linkSetMtu("eth0", MTU); // 7
  await p.linkSetUp("lo"); // 8
  await p.linkSetUp("eth0"); // 9
  await p.addrAdd("eth0", "10.200.0.2/16"); // 10
  await p.addrAdd("eth0", "fd00:200::2/64", { noDad: true }); // 11
  await p.routeAdd({ dst: "default", gw: "10.200.0.1", dev: "eth0" }); // 12
  await p.routeAdd({ dst: "::/0", gw: "fd00:200::1", dev: "eth0" }); // 13
  const link = await p.linkGet("eth0"); // 14
  const addrs = await p.addrList("eth0"); // 15
  if (!link || addrs.length < 2) throw new Error("netlink: read-back failed");
}

function viaBatch(veth) {
  execFileSync("ip", ["-n", NODE, "-batch", "-"], {
    input: `${[
      `link add ${veth} type veth peer name tmp0 netns ${POD}`,
      `link set ${veth} mtu ${MTU}`,
      `link set ${veth} master br0`,
      `link set ${veth} type bridge_slave hairpin on`,
      `link set ${veth} up`,
    ].join("\n")}\n`,
  });
  const out = execFileSync("ip", ["-n", POD, "-json", "-batch", "-"], {
    encoding: "utf8",
    input: `${[
      "link set tmp0 name eth0",
      `link set eth0 mtu ${MTU}`,
      "link set lo up",
      "link set eth0 up",
      "addr add 10.200.0.2/16 dev eth0",
      "addr add fd00:200::2/64 dev eth0 nodad",
      "route add default via 10.200.0.1 dev eth0",
      "route add ::/0 via fd00:200::1 dev eth0",
      // addr before link: after a `link show`, ip -batch keeps family AF_PACKET and `addr show` prints no addresses
      "addr show eth0",
      "link show eth0",
    ].join("\n")}\n`,
  });
  if (!out.includes("fd00:200::2")) throw new Error("batch: read-back failed");
}

function viaPerOp(veth) {
  ip("-n", NODE, "link", "add", veth, "type", "veth", "peer", "name", "tmp0", "netns", POD);
  ip("-n", NODE, "link", "set", veth, "mtu", String(MTU));
  ip("-n", NODE, "link", "set", veth, "master", "br0");
  ip("-n", NODE, "link", "set", veth, "type", "bridge_slave", "hairpin", "on");
  ip("-n", NODE, "link", "set", veth, "up");
  ip("-n", POD, "link", "set", "tmp0", "name", "eth0");
  ip("-n", POD, "link", "set", "eth0", "mtu", String(MTU));
  ip("-n", POD, "link", "set", "lo", "up");
  ip("-n", POD, "link", "set", "eth0", "up");
  ip("-n", POD, "addr", "add", "10.200.0.2/16", "dev", "eth0");
  ip("-n", POD, "addr", "add", "fd00:200::2/64", "dev", "eth0", "nodad");
  ip("-n", POD, "route", "add", "default", "via", "10.200.0.1", "dev", "eth0");
  ip("-n", POD, "route", "add", "::/0", "via", "fd00:200::1", "dev", "eth0");
  JSON.parse(ip("-n", POD, "-json", "link", "show", "eth0"));
  const a = ip("-n", POD, "-json", "addr", "show", "eth0");
  if (!a.includes("fd00:200::2")) throw new Error("per-op: read-back failed");
}

const methods = { netlink: viaNetlink, batch: viaBatch, "per-op": viaPerOp };
const times = Object.fromEntries(Object.keys(methods).map((m) => [m, []]));
const teardown = [];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.9) - 1)];

try {
  ip("netns", "add", NODE);
  ip("netns", "add", POD);
  ip("-n", NODE, "link", "add", "br0", "type", "bridge");
  ip("-n", NODE, "addr", "add", "10.200.0.1/16", "dev", "br0");
  ip("-n", NODE, "addr", "add", "fd00:200::1/64", "dev", "br0", "nodad");
  ip("-n", NODE, "link", "set", "br0", "up");
  const nodeOps = kernel.netns(`/run/netns/${NODE}`);

  // one warm-up round per method, then ROUNDS interleaved rounds
  for (let r = -1; r < ROUNDS; r++) {
    for (const [name, fn] of Object.entries(methods)) {
      const veth = `veth${tag}`;
      const t0 = now();
      await fn(veth);
      const dt = now() - t0;
      if (r >= 0) times[name].push(dt);
      const t1 = now();
      await nodeOps.linkDel(veth); // the pod side (eth0) goes with it
      if (r >= 0) teardown.push(now() - t1);
    }
  }
} finally {
  kernel.close();
  for (const ns of [POD, NODE]) {
    try {
      ip("netns", "del", ns);
    } catch {}
  }
}

const base = median(times.netlink);
const env =
  `node ${process.version}, Linux ${release()}, ${ip("-V").trim()}, ${ROUNDS} rounds` +
  (process.env.NODE_EXTRA_CA_CERTS ? ", NODE_EXTRA_CA_CERTS set" : "");
const rows = Object.entries(times).map(([name, xs]) => ({
  method: name,
  median_ms: +median(xs).toFixed(3),
  p90_ms: +p90(xs).toFixed(3),
  ratio_vs_netlink: +(median(xs) / base).toFixed(1),
}));
console.log(`15-operation pod setup (${env})`);
for (const r of rows) {
  console.log(
    `  ${r.method.padEnd(8)} median ${r.median_ms.toFixed(2).padStart(7)} ms  p90 ${r.p90_ms.toFixed(2).padStart(7)} ms  ${r.ratio_vs_netlink}x netlink`,
  );
}
console.log(`  teardown (veth delete, netlink) median ${median(teardown).toFixed(2)} ms`);
if (values.json) {
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  writeFileSync(
    new URL("./results/netlink-ops.json", import.meta.url),
    `${JSON.stringify({ env, rows, teardown_median_ms: median(teardown) }, null, 2)}\n`,
  );
}
