// Shared benchmark harness: a sandbox node namespace that the measuring process runs *inside*
// (so plugins are exec'd directly, not through `ip netns exec`), statistics, plugin invocation.
// Everything is named podnet-t-<tag>-* and removed at the end, whatever happens.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, release, tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = new URL("..", import.meta.url).pathname;
export const PODNET_BIN = join(ROOT, "build", "cni");
export const RESIDENT_BIN = join(ROOT, "build", "resident");
export const GO_BIN = "/usr/lib/cni";

export const ip = (...args) => execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

export function requireRootAndFiles(name, files) {
  if (process.getuid?.() !== 0) {
    console.error(`${name}: needs root (creates network namespaces)`);
    process.exit(1);
  }
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length) {
    console.error(
      `${name}: missing ${missing.join(", ")} (run \`npm run build\`; install containernetworking-plugins)`,
    );
    process.exit(1);
  }
}

/** The plugins' environment: ours without what slows Node's start-up. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
}

/**
 * Outer half: makes the node namespace and a temp dir, re-runs `script` inside the namespace
 * with `--inner --tag T --dir D` plus `args` (default: this process's own arguments, so the inner
 * half parses the same flags), then deletes every podnet-t-T-* namespace and the dir. Returns the
 * inner exit status.
 */
export function runInsideNodeNamespace(script, args = process.argv.slice(2)) {
  const tag = randomBytes(3).toString("hex");
  const node = `podnet-t-${tag}-node`;
  const dir = mkdtempSync(join(tmpdir(), `podnet-t-${tag}-`));
  try {
    ip("netns", "add", node);
    ip("-n", node, "link", "set", "lo", "up");
    const inner = [script, "--inner", "--tag", tag, "--dir", dir, ...args];
    return (
      spawnSync("ip", ["netns", "exec", node, process.execPath, ...inner], { stdio: "inherit", env: cleanEnv() })
        .status ?? 1
    );
  } finally {
    const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
    for (const ns of list
      .split("\n")
      .map((l) => l.split(" ")[0])
      .filter((n) => n?.startsWith(`podnet-t-${tag}-`))) {
      spawnSync("ip", ["netns", "del", ns]);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = (s.length - 1) * p;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
};
export const median = (xs) => pct(xs, 0.5);

/** Execs one plugin with the CNI environment; returns { ms, stdout }; throws on failure. */
export function invoke(
  binDir,
  plugin,
  command,
  { id = "", netns = "", ifName = "eth0", conf, path = binDir, env = {} },
) {
  const e = cleanEnv({
    ...env,
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: netns,
    CNI_IFNAME: ifName,
    CNI_PATH: path,
    CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p",
  });
  const t0 = performance.now();
  const r = spawnSync(join(binDir, plugin), [], { env: e, input: conf, encoding: "utf8" });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${binDir}/${plugin} ${command} failed (${r.status}): ${r.stdout}${r.stderr}`);
  return { ms, stdout: r.stdout };
}

export function environment(extra = "") {
  return {
    node: process.version,
    kernel: release(),
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`,
    NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ? "set (removed for plugin execs)" : "unset",
    loadavg: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
    note: extra,
  };
}

/**
 * The order of `items` in round `round` of an interleaved benchmark: a Williams design, in which
 * over its rounds (n for an even n, 2n for an odd one) every item comes first equally often and
 * follows every other item equally often. A plain rotation keeps the cyclic order, so one item
 * would always run right after the same other one — and pay for what that one left the kernel to
 * finish (a deleted netns is torn down asynchronously, freed memory, RCU callbacks).
 */
export function balancedOrder(items, round) {
  const n = items.length;
  if (n < 2) return [...items];
  const first = [0];
  for (let lo = 1, hi = n - 1; first.length < n; ) {
    first.push(lo++);
    if (first.length < n) first.push(hi--);
  }
  const rows = first.map((_, r) => first.map((x) => (x + r) % n));
  const all = n % 2 === 0 ? rows : [...rows, ...rows.map((row) => [...row].reverse())];
  return all[round % all.length].map((i) => items[i]);
}

/** Lets the kernel finish what the previous measurement left it (netns teardown is asynchronous). */
export const settle = (ms = 100) => new Promise((r) => setTimeout(r, ms));

export const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "—");
export const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : "—");
