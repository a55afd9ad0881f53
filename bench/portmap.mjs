#!/usr/bin/env node
// portmap ADD and DEL with 1 and with 500 existing pods (each with one TCP hostPort), podnet's
// executable against the Go reference (Debian's /usr/lib/cni/portmap, iptables) in the same run,
// in one sandbox node namespace, interleaved round by round; medians and ratios printed.
//   podnet: nftables maps — the existing pods are made by podnet's own ADD (real state files);
//   Go:     iptables — the existing pods' rules are loaded with one iptables-restore, byte for byte
//           what Go's ADD makes (test/e2e/portmap.test.ts checks the two are identical).
// Goal: podnet's ADD with 500 existing pods within 1.2× of its ADD with 1.
// Usage: sudo node bench/portmap.mjs [--rounds 15] [--pods 500]   (after `npm run build`)
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  cleanEnv,
  environment,
  fmt,
  GO_BIN,
  invoke,
  ip,
  median,
  pct,
  PODNET_BIN,
  ratio,
  requireRootAndFiles,
  ROOT,
  runInsideNodeNamespace,
} from "./lib.mjs";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "15" },
    pods: { type: "string", default: "500" },
    inner: { type: "boolean" },
    tag: { type: "string" },
    dir: { type: "string" },
  },
});
requireRootAndFiles("bench/portmap", [
  join(GO_BIN, "portmap"),
  join(PODNET_BIN, "portmap"),
  join(ROOT, "dist/src/plugins/meta/portmap/iptables.js"),
]);

if (!values.inner) {
  process.exit(runInsideNodeNamespace(new URL(import.meta.url).pathname));
}

// ---- inside the node namespace ----------------------------------------------------------------
const { planFamily } = await import("../dist/src/plugins/meta/portmap/iptables.js");
const { parseConfig } = await import("../dist/src/plugins/meta/portmap/config.js");

const ROUNDS = Number(values.rounds);
const SCALES = [1, Number(values.pods)];
const NET = "bench-net";
const dataDir = join(values.dir, "portmap");
mkdirSync(dataDir, { recursive: true });
const sh = (cmd, args, input) => {
  const r = spawnSync(cmd, args, { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

// The pods live behind cni0 (10.200.0.0/16), so both plugins also set route_localnet there.
ip("link", "add", "cni0", "type", "bridge");
ip("addr", "add", "10.200.0.1/16", "dev", "cni0");
ip("link", "set", "cni0", "up");

const podIP = (i) => `10.200.${1 + Math.floor(i / 250)}.${2 + (i % 250)}`;
function conf(i, id, withMappings = true) {
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: NET,
    type: "portmap",
    dataDir,
    runtimeConfig: withMappings ? { portMappings: [{ hostPort: 20000 + i, containerPort: 80, protocol: "tcp" }] } : {},
    prevResult: {
      cniVersion: "1.0.0",
      interfaces: [{ name: "eth0", sandbox: `/run/netns/${id}` }],
      ips: [{ address: `${podIP(i)}/16`, gateway: "10.200.0.1", interface: 0 }],
    },
  });
}

/** Runs `n` podnet ADDs, `par` at a time (the existing pods). */
async function populatePodnet(n) {
  let next = 0;
  const one = () =>
    new Promise((resolve, reject) => {
      const i = next++;
      if (i >= n) return resolve();
      const c = spawn(join(PODNET_BIN, "portmap"), [], {
        env: cleanEnv({
          CNI_COMMAND: "ADD",
          CNI_CONTAINERID: `exist-${i}`,
          CNI_NETNS: `/run/netns/exist-${i}`,
          CNI_IFNAME: "eth0",
          CNI_PATH: PODNET_BIN,
        }),
        stdio: ["pipe", "ignore", "inherit"],
      });
      c.stdin.end(conf(i, `exist-${i}`));
      c.once("exit", (code) =>
        code === 0 ? one().then(resolve, reject) : reject(new Error(`populate ${i}: exit ${code}`)),
      );
    });
  await Promise.all(Array.from({ length: 4 }, one));
}

/** The existing pods' rules as Go's ADD makes them, in one iptables-restore. */
function populateGo(n) {
  const m = 0x2000;
  const lines = [
    "-N CNI-HOSTPORT-SETMARK",
    `-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x${m.toString(16)}/0x${m.toString(16)}`,
    "-N CNI-HOSTPORT-MASQ",
    `-A CNI-HOSTPORT-MASQ -m mark --mark 0x${m.toString(16)}/0x${m.toString(16)} -j MASQUERADE`,
    '-I POSTROUTING 1 -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
    "-N CNI-HOSTPORT-DNAT",
    "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
    "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
  ];
  for (let i = 0; i < n; i++) {
    const c = parseConfig(JSON.parse(conf(i, `gexist-${i}`)), "1.0.0", "eth0");
    const p = planFamily(c, NET, `gexist-${i}`, 4);
    lines.push(
      `-N ${p.chain}`,
      ...p.rules.map((r) => `-A ${p.chain} ${r}`),
      ...p.entryRules.map((r) => `-A CNI-HOSTPORT-DNAT ${r} -j ${p.chain}`),
    );
  }
  sh("iptables-restore", ["--noflush"], ["*nat", ...lines, "COMMIT", ""].join("\n"));
}

function reset() {
  spawnSync("nft", ["delete", "table", "inet", "podnet_portmap"]);
  for (const t of ["iptables", "ip6tables"]) {
    spawnSync(t, ["-t", "nat", "-F"]);
    spawnSync(t, ["-t", "nat", "-X"]);
  }
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
}

const IMPLS = { podnet: PODNET_BIN, go: GO_BIN };
const results = {};
for (const scale of SCALES) {
  reset();
  const t0 = performance.now();
  await populatePodnet(scale);
  const tp = performance.now() - t0;
  populateGo(scale);
  const rules = Number(sh("sh", ["-c", "iptables-save -t nat | grep -c '^-A'"]).trim());
  const elems = (sh("nft", ["list", "map", "inet", "podnet_portmap", "hostports4"]).match(/jump hp_/g) ?? []).length;
  console.error(
    `scale ${scale}: podnet map holds ${elems} ports (made in ${fmt(tp / 1000)} s), Go's nat table ${rules} rules`,
  );
  const ms = { podnet: { add: [], del: [] }, go: { add: [], del: [] } };
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved, alternating which goes first.
    for (const impl of r % 2 ? ["go", "podnet"] : ["podnet", "go"]) {
      const i = 20000 + 2 * r + (impl === "go" ? 1 : 0); // host port 40000+, not one of the existing pods'

      const id = `${impl}-r${r}`;
      const c = conf(i, id);
      ms[impl].add.push(invoke(IMPLS[impl], "portmap", "ADD", { id, netns: `/run/netns/${id}`, conf: c }).ms);
      ms[impl].del.push(invoke(IMPLS[impl], "portmap", "DEL", { id, netns: `/run/netns/${id}`, conf: c }).ms);
    }
  }
  results[scale] = ms;
}

const row = (label, xs) => `${label.padEnd(34)} ${fmt(median(xs)).padStart(7)} ms  (p90 ${fmt(pct(xs, 0.9))})`;
console.log(`\nportmap ADD/DEL, one TCP hostPort per pod, ${ROUNDS} rounds, medians`);
for (const scale of SCALES) {
  const m = results[scale];
  console.log(`\n  with ${scale} existing pod${scale === 1 ? "" : "s"}:`);
  console.log(`   ${row("podnet ADD (nftables maps)", m.podnet.add)}`);
  console.log(`   ${row("Go ADD (iptables)", m.go.add)}   podnet/Go ${ratio(median(m.podnet.add), median(m.go.add))}`);
  console.log(`   ${row("podnet DEL", m.podnet.del)}`);
  console.log(`   ${row("Go DEL", m.go.del)}   podnet/Go ${ratio(median(m.podnet.del), median(m.go.del))}`);
}
const [lo, hi] = SCALES;
const growth = median(results[hi].podnet.add) / median(results[lo].podnet.add);
console.log(`\n  podnet ADD at ${hi} / at ${lo}: ${growth.toFixed(2)}× (goal ≤ 1.20×) ${growth <= 1.2 ? "✓" : "✗"}`);
console.log(`  Go ADD at ${hi} / at ${lo}: ${ratio(median(results[hi].go.add), median(results[lo].go.add))}`);
console.log(
  `  podnet DEL at ${hi} / at ${lo}: ${ratio(median(results[hi].podnet.del), median(results[lo].podnet.del))};  Go DEL: ${ratio(median(results[hi].go.del), median(results[lo].go.del))}`,
);
const env = environment(
  "portmap: plugins exec'd inside the sandbox node netns; NODE_EXTRA_CA_CERTS removed from the plugins' env",
);
console.log(
  `\n  env: node ${env.node}, kernel ${env.kernel}, ${env.cpus}, load ${env.loadavg}, NODE_EXTRA_CA_CERTS ${env.NODE_EXTRA_CA_CERTS}`,
);
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(
  join(ROOT, "bench", "results", "portmap.json"),
  `${JSON.stringify({ env, rounds: ROUNDS, results }, null, 1)}\n`,
);
