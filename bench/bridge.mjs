#!/usr/bin/env node
// bridge + host-local, ADD and DEL, podnet against the Go reference plugins (Debian's, /usr/lib/cni)
// in the same run, interleaved round by round, median of N (default 20) after 2 warm-up rounds.
// Variants:
//   podnet        build/cni/bridge; CNI_PATH resolves host-local to podnet's bundle, so it runs in-process
//   podnet+exec   the same with PODNET_IPAM_EXEC=1: host-local exec'd as Go's bridge does it
//   go            /usr/lib/cni/bridge + /usr/lib/cni/host-local
// Config: isGateway + ipMasq (iptables) + host-local /24, as a kubenet-style node uses.
// Everything runs in sandbox namespaces (podnet-t-*): the plugins are started directly from a
// process inside the sandbox node netns (no `ip netns exec` per call). NODE_EXTRA_CA_CERTS and
// NODE_OPTIONS are removed from the plugins' environment.
// Usage: node bench/bridge.mjs [--rounds 20] [--json]   (root; `node scripts/build.mjs` first)
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "20" },
    json: { type: "boolean" },
    inner: { type: "boolean" },
    tag: { type: "string" },
    dir: { type: "string" },
  },
});
const ROUNDS = Number(values.rounds);
const WARMUP = 2;
const root = new URL("..", import.meta.url).pathname;
const PODNET = join(root, "build", "cni");
const GO = "/usr/lib/cni";

if (process.getuid?.() !== 0) {
  console.error("bench/bridge: needs root (creates network namespaces)");
  process.exit(1);
}
for (const p of [join(PODNET, "bridge"), join(PODNET, "host-local"), join(GO, "bridge"), join(GO, "host-local")]) {
  if (!existsSync(p)) {
    console.error(`bench/bridge: missing ${p} (run \`node scripts/build.mjs\`; install containernetworking-plugins)`);
    process.exit(1);
  }
}

const ip = (...args) => execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

// ---- outer: make the sandbox, run the measurement inside the node netns, always clean up ----------
if (!values.inner) {
  const tag = randomBytes(3).toString("hex");
  const node = `podnet-t-${tag}-node`;
  const dir = mkdtempSync(join(tmpdir(), `podnet-t-${tag}-`));
  let status = 1;
  try {
    ip("netns", "add", node);
    ip("-n", node, "link", "set", "lo", "up");
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.NODE_OPTIONS;
    const args = [
      new URL(import.meta.url).pathname,
      "--inner",
      "--tag",
      tag,
      "--dir",
      dir,
      "--rounds",
      String(ROUNDS),
      ...(values.json ? ["--json"] : []),
    ];
    status = spawnSync("ip", ["netns", "exec", node, process.execPath, ...args], { stdio: "inherit", env }).status ?? 1;
  } finally {
    for (const ns of ip("netns", "list")
      .split("\n")
      .map((l) => l.split(" ")[0])
      .filter((n) => n?.startsWith(`podnet-t-${tag}-`))) {
      spawnSync("ip", ["netns", "del", ns]);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(status);
}

// ---- inner: runs in the node netns --------------------------------------------------------------
const tag = values.tag;
const dir = values.dir;
// A private copy of the bundles: a concurrent `node scripts/build.mjs` must not swap them mid-run.
const PODNET_BIN = join(dir, "podnet-bin");
mkdirSync(PODNET_BIN);
for (const f of ["bridge", "host-local", "podnet_netlink.node"]) copyFileSync(join(PODNET, f), join(PODNET_BIN, f));
const baseEnv = { ...process.env };
delete baseEnv.NODE_EXTRA_CA_CERTS;
delete baseEnv.NODE_OPTIONS;

const variants = [
  { name: "podnet", bin: PODNET_BIN, env: {}, subnet: "10.200.70.0/24", bridge: "pt-bpn0" },
  { name: "podnet+exec", bin: PODNET_BIN, env: { PODNET_IPAM_EXEC: "1" }, subnet: "10.200.71.0/24", bridge: "pt-bpn1" },
  { name: "go", bin: GO, env: {}, subnet: "10.200.72.0/24", bridge: "pt-bgo0" },
];

function conf(v) {
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: `podnet-bench-${v.name.replace("+", "-")}`,
    type: "bridge",
    bridge: v.bridge,
    isGateway: true,
    ipMasq: true,
    ipam: { type: "host-local", subnet: v.subnet, dataDir: join(dir, "ipam"), routes: [{ dst: "0.0.0.0/0" }] },
  });
}

function invoke(v, command, id, netns) {
  const env = {
    ...baseEnv,
    ...v.env,
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: netns,
    CNI_IFNAME: "eth0",
    CNI_PATH: v.bin,
    CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p",
  };
  const t0 = performance.now();
  const r = spawnSync(join(v.bin, "bridge"), [], { env, input: conf(v), encoding: "utf8" });
  const ms = performance.now() - t0;
  if (r.status !== 0)
    throw new Error(`${v.name} ${command} failed (${r.status ?? r.signal ?? r.error}): ${r.stdout}${r.stderr}`);
  return ms;
}

/** The start-up floor: VERSION reads no stdin and touches nothing. */
function version(v) {
  const t0 = performance.now();
  const r = spawnSync(join(v.bin, "bridge"), [], {
    env: { ...baseEnv, CNI_COMMAND: "VERSION" },
    input: "",
    encoding: "utf8",
  });
  const ms = performance.now() - t0;
  if (r.status !== 0)
    throw new Error(`${v.name} VERSION failed (${r.status ?? r.signal ?? r.error}): ${r.stdout}${r.stderr}`);
  return ms;
}

const samples = Object.fromEntries(variants.map((v) => [v.name, { ADD: [], DEL: [], VERSION: [] }]));
for (let round = 0; round < ROUNDS + WARMUP; round++) {
  // Rotate the order every round so that no variant always runs first (or right after another).
  const order = variants.map((_, i) => variants[(i + round) % variants.length]);
  for (const v of order) {
    const pod = `podnet-t-${tag}-${v.name.replace("+", "-")}-${round}`;
    ip("netns", "add", pod);
    try {
      const id = `bench-${tag}-${round}`;
      const ver = version(v);
      const add = invoke(v, "ADD", id, `/run/netns/${pod}`);
      const del = invoke(v, "DEL", id, `/run/netns/${pod}`);
      if (round >= WARMUP) {
        samples[v.name].VERSION.push(ver);
        samples[v.name].ADD.push(add);
        samples[v.name].DEL.push(del);
      }
    } finally {
      spawnSync("ip", ["netns", "del", pod]);
    }
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const rows = variants.map((v) => ({
  variant: v.name,
  version: median(samples[v.name].VERSION),
  add: median(samples[v.name].ADD),
  del: median(samples[v.name].DEL),
}));
const go = rows.find((r) => r.variant === "go");
const env = `node ${process.version}, kernel ${release()}, ${ROUNDS} rounds (+${WARMUP} warm-up), NODE_EXTRA_CA_CERTS unset`;
if (values.json) {
  console.log(
    JSON.stringify(
      {
        env,
        rows: rows.map((r) => ({
          ...r,
          addRatio: r.add / go.add,
          delRatio: r.del / go.del,
          versionRatio: r.version / go.version,
        })),
      },
      null,
      2,
    ),
  );
} else {
  console.log(`bridge + host-local (isGateway, ipMasq), median ms — ${env}`);
  console.log(
    `${"variant".padEnd(12)} ${"ADD".padStart(8)} ${"vs go".padStart(7)} ${"DEL".padStart(8)} ${"vs go".padStart(7)} ${"VERSION".padStart(8)} (start-up floor)`,
  );
  for (const r of rows) {
    console.log(
      `${r.variant.padEnd(12)} ${r.add.toFixed(1).padStart(8)} ${(r.add / go.add).toFixed(2).padStart(6)}x ` +
        `${r.del.toFixed(1).padStart(8)} ${(r.del / go.del).toFixed(2).padStart(6)}x ${r.version.toFixed(1).padStart(8)}`,
    );
  }
}
