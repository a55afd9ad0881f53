// A throw-away etcd for tests and benchmarks (Debian's etcd-server): its data in a fresh temp
// directory, run inside a fresh network namespace (podnet-t-etcd-…, only lo, up) so its peer port
// is reachable from nowhere else, serving clients on a unix socket in that directory. stop() kills
// it by pid and deletes the namespace and the directory.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestEtcd {
  /** unix:///…/etcd.sock:2379 */
  readonly endpoint: string;
  readonly dir: string;
  readonly pid: number;
  readonly netns: string;
  stop(): Promise<void>;
}

export const etcdAvailable = (): boolean => spawnSync("etcd", ["--version"], { stdio: "ignore" }).status === 0;

function ip(args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
}

/** Starts etcd; `baseDir` holds its data directory (e.g. /dev/shm for benchmarks). */
export async function startTestEtcd(opts: { baseDir?: string; extraArgs?: string[] } = {}): Promise<TestEtcd> {
  const dir = mkdtempSync(join(opts.baseDir ?? tmpdir(), "podnet-t-etcd-"));
  const netns = `podnet-t-etcd-${randomBytes(4).toString("hex")}`;
  let child: ChildProcess | undefined;
  let nsMade = false;
  const cleanup = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child!.once("exit", () => r()));
      child.kill("SIGTERM");
      const t = setTimeout(() => child!.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    }
    if (nsMade) spawnSync("ip", ["netns", "del", netns], { stdio: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    ip(["netns", "add", netns]);
    nsMade = true;
    ip(["-n", netns, "link", "set", "lo", "up"]);
    const sock = "etcd.sock:2379";
    const peer = "http://127.0.0.1:2380";
    child = spawn(
      "ip",
      [
        "netns",
        "exec",
        netns,
        "etcd",
        "--name",
        "t",
        "--data-dir",
        join(dir, "data"),
        "--listen-client-urls",
        `unix://${sock}`,
        "--advertise-client-urls",
        `unix://${sock}`,
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        `t=${peer}`,
        "--logger",
        "zap",
        "--log-level",
        "error",
        ...(opts.extraArgs ?? []),
      ],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString();
    });
    const path = join(dir, sock);
    for (let i = 0; i < 200 && !existsSync(path); i++) {
      if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}: ${stderr.trim()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    if (!existsSync(path)) throw new Error(`etcd did not open ${path} in 5 s: ${stderr.trim()}`);
    const c = child;
    return { endpoint: `unix://${path}`, dir, pid: c.pid!, netns, stop: cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

export interface TestEtcdMember {
  readonly name: string;
  /** unix:///…/<name>.sock:2379 */
  readonly endpoint: string;
  readonly running: boolean;
  /** Starts it again (same data directory). */
  start(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

export interface TestEtcdCluster {
  readonly endpoints: readonly string[];
  readonly members: readonly TestEtcdMember[];
  readonly dir: string;
  readonly netns: string;
  /** Stops every member, deletes the namespace and the directory. */
  stop(): Promise<void>;
}

/**
 * A cluster of `members` etcds in one fresh namespace (podnet-t-etcd-…, only lo): peers on
 * 127.0.0.1:2380+i inside it, clients on unix sockets in a fresh temp directory. Resolves once each
 * socket exists (the cluster answers once a quorum is up).
 */
export async function startTestEtcdCluster(
  opts: { members?: number; baseDir?: string } = {},
): Promise<TestEtcdCluster> {
  const n = opts.members ?? 3;
  const dir = mkdtempSync(join(opts.baseDir ?? tmpdir(), "podnet-t-etcd-"));
  const netns = `podnet-t-etcd-${randomBytes(4).toString("hex")}`;
  const names = Array.from({ length: n }, (_, i) => `m${i}`);
  const peer = (i: number) => `http://127.0.0.1:${2380 + i}`;
  const initial = names.map((m, i) => `${m}=${peer(i)}`).join(",");
  const children = new Map<string, ChildProcess>();
  let nsMade = false;
  const end = async (name: string, sig: NodeJS.Signals) => {
    const c = children.get(name);
    children.delete(name);
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill(sig);
    const t = setTimeout(() => c.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(t);
  };
  const launch = async (i: number) => {
    const name = names[i]!;
    const sock = `${name}.sock:2379`;
    rmSync(join(dir, sock), { force: true }); // a killed member's socket: wait for the new one
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        netns,
        "etcd",
        "--name",
        name,
        "--data-dir",
        join(dir, name),
        "--listen-client-urls",
        `unix://${sock}`,
        "--advertise-client-urls",
        `unix://${sock}`,
        "--listen-peer-urls",
        peer(i),
        "--initial-advertise-peer-urls",
        peer(i),
        "--initial-cluster",
        initial,
        "--initial-cluster-token",
        netns,
        "--initial-cluster-state",
        "new",
        "--heartbeat-interval",
        "50",
        "--election-timeout",
        "500",
        "--logger",
        "zap",
        "--log-level",
        "error",
      ],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString();
    });
    children.set(name, child);
    const path = join(dir, sock);
    for (let k = 0; k < 200 && !existsSync(path); k++) {
      if (child.exitCode !== null) throw new Error(`etcd ${name} exited with ${child.exitCode}: ${stderr.trim()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    if (!existsSync(path)) throw new Error(`etcd ${name} did not open ${path} in 5 s: ${stderr.trim()}`);
  };
  const stopAll = async () => {
    await Promise.all(names.map((m) => end(m, "SIGTERM")));
    if (nsMade) spawnSync("ip", ["netns", "del", netns], { stdio: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    ip(["netns", "add", netns]);
    nsMade = true;
    ip(["-n", netns, "link", "set", "lo", "up"]);
    await Promise.all(names.map((_, i) => launch(i)));
  } catch (e) {
    await stopAll();
    throw e;
  }
  const members: TestEtcdMember[] = names.map((name, i) => ({
    name,
    endpoint: `unix://${join(dir, `${name}.sock:2379`)}`,
    get running() {
      const c = children.get(name);
      return !!c && c.exitCode === null && c.signalCode === null;
    },
    start: () => launch(i),
    stop: () => end(name, "SIGTERM"),
    kill: () => end(name, "SIGKILL"),
  }));
  return { endpoints: members.map((m) => m.endpoint), members, dir, netns, stop: stopAll };
}
