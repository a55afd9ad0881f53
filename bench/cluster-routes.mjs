#!/usr/bin/env node
// Programming N peers' routes (default 1,000) into a real kernel, in a sandbox namespace
// (podnet-t-*), median of R rounds, two ways:
//   batch     NetlinkRoutePort.apply: the whole diff as one netlink batch (BATCH_CHUNK messages per
//             datagram; the kernel answers the failures and the last message of each)
//   one each  the same changes as one NetOps call each (a request and its ack per change; a route
//             naming a device looks the device up first, as a single call must)
// for host-gw (N routes) and VXLAN (N FDB + N neighbour + N route entries), adding and then
// deleting them; plus NetlinkRoutePort.list() of what was programmed (the full-resync read).
// Addresses: the underlay 10.200.255.0/24, the peers' blocks /26s of 10.200.0.0-10.200.249.255.
// Usage: sudo node bench/cluster-routes.mjs [--peers 1000] [--rounds 5]   (run `npm run build` first)
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { release } from "node:os";
import { parseArgs } from "node:util";
import { createKernel } from "../dist/src/kernel/index.js";
import { NetlinkRoutePort, PODNET_ROUTE_PROTOCOL, diffEntries } from "../dist/src/cluster/index.js";
import { BATCH_CHUNK } from "../dist/src/kernel/net-batch.js";

const { values } = parseArgs({
  options: { peers: { type: "string", default: "1000" }, rounds: { type: "string", default: "5" } },
});
const PEERS = Number(values.peers);
const ROUNDS = Number(values.rounds);
if (!(PEERS >= 1 && PEERS <= 4000))
  throw new RangeError(`--peers ${values.peers}: must be 1..4000 (/26 blocks of 10.200.0.0-10.200.249.255)`);
if (process.getuid?.() !== 0) {
  console.error("cluster-routes: needs root (creates a network namespace)");
  process.exit(1);
}

const NS = `podnet-t-${randomBytes(3).toString("hex")}-routes`;
const VX = "podnet.vxlan";
const kernel = createKernel();
const now = () => performance.now();
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Peer i's block: a /26 of 10.200.0.0/16 below 10.200.250.0. */
const block = (i) => `10.200.${i >> 2}.${(i & 3) * 64}`;
const mac = (i) =>
  `0e:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`;
const node = (i) => `10.200.255.${2 + (i % 250)}`;

function entries(kind) {
  const out = [];
  for (let i = 0; i < PEERS; i++) {
    if (kind === "host-gw") {
      out.push({ kind: "route", dst: `${block(i)}/26`, via: node(i) });
    } else {
      out.push({ kind: "fdb", dev: VX, mac: mac(i), dst: node(i) });
      out.push({ kind: "neigh", dev: VX, ip: block(i), mac: mac(i) });
      out.push({ kind: "route", dst: `${block(i)}/26`, via: block(i), dev: VX, onlink: true });
    }
  }
  return out;
}

/** The same change as one NetOps call. */
function oneCall(ops, c) {
  const e = c.entry;
  if (c.op === "del") {
    if (e.kind === "route") return ops.routeDel({ dst: e.dst, protocol: PODNET_ROUTE_PROTOCOL });
    if (e.kind === "neigh") return ops.neighDel({ dev: e.dev, ip: e.ip });
    return ops.fdbDel({ dev: e.dev, mac: e.mac, dst: e.dst });
  }
  if (e.kind === "route")
    return ops.routeAdd({
      dst: e.dst,
      gw: e.via,
      protocol: PODNET_ROUTE_PROTOCOL,
      ...(e.dev ? { dev: e.dev, onlink: true } : {}),
    });
  if (e.kind === "neigh") return ops.neighReplace({ dev: e.dev, ip: e.ip, mac: e.mac });
  return ops.fdbReplace({ dev: e.dev, mac: e.mac, dst: e.dst });
}

const results = [];
try {
  const path = await kernel.netnsAdd(NS);
  const ops = kernel.netns(path);
  await ops.linkAddBridge("eth0", { up: true });
  await ops.addrAdd("eth0", "10.200.255.1/24");
  await ops.linkAddVxlan(VX, { vni: 1, local: "10.200.255.1", dev: "eth0", learning: false, mtu: 1450, up: true });
  const port = new NetlinkRoutePort(ops);

  for (const kind of ["host-gw", "vxlan"]) {
    const want = entries(kind);
    const t = { batchAdd: [], eachAdd: [], batchDel: [], eachDel: [], list: [] };
    for (let r = -1; r < ROUNDS; r++) {
      for (const how of ["batch", "each"]) {
        const adds = diffEntries(want, []);
        let t0 = now();
        if (how === "batch") {
          const { failed } = await port.apply(adds);
          if (failed.length) throw new Error(`batch: ${failed.length} failed: ${failed[0].error.message}`);
        } else {
          for (const c of adds) await oneCall(ops, c);
        }
        const add = now() - t0;
        t0 = now();
        const listed = await port.list();
        const list = now() - t0;
        if (listed.length !== want.length || diffEntries(want, listed).length)
          throw new Error(`${how}: list() does not give back what was programmed`);
        const dels = diffEntries([], listed);
        t0 = now();
        if (how === "batch") {
          const { failed } = await port.apply(dels);
          if (failed.length) throw new Error(`batch: ${failed.length} deletes failed: ${failed[0].error.message}`);
        } else {
          for (const c of dels) await oneCall(ops, c);
        }
        const del = now() - t0;
        if ((await port.list()).length) throw new Error(`${how}: entries left`);
        if (r < 0) continue; // warm-up
        t[`${how}Add`].push(add);
        t[`${how}Del`].push(del);
        if (how === "batch") t.list.push(list);
      }
    }
    results.push({
      kind,
      changes: want.length,
      ...Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])),
    });
  }
} finally {
  kernel.close();
  try {
    execFileSync("ip", ["netns", "del", NS], { stdio: "ignore" });
  } catch {}
}

const load = execFileSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).split(" ").slice(0, 3).join(" ");
console.log(
  `Programming ${PEERS} peers (node ${process.version}, Linux ${release()}, ${ROUNDS} rounds + 1 warm-up, batch chunk ${BATCH_CHUNK}, load ${load})`,
);
const ms = (x) => `${x.toFixed(1).padStart(8)} ms`;
for (const r of results) {
  console.log(`  ${r.kind} (${r.changes} changes)`);
  console.log(
    `    add     batch ${ms(r.batchAdd)}   one call each ${ms(r.eachAdd)}   ${(r.eachAdd / r.batchAdd).toFixed(1)}x faster in one batch   (${((r.batchAdd * 1000) / r.changes).toFixed(1)} µs per change)`,
  );
  console.log(
    `    delete  batch ${ms(r.batchDel)}   one call each ${ms(r.eachDel)}   ${(r.eachDel / r.batchDel).toFixed(1)}x faster in one batch`,
  );
  console.log(`    list()        ${ms(r.list)}   (podnet's ${r.changes} entries out of the kernel's)`);
}
