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
        "netns", "exec", netns, "etcd",
        "--name", "t", "--data-dir", join(dir, "data"),
        "--listen-client-urls", `unix://${sock}`, "--advertise-client-urls", `unix://${sock}`,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `t=${peer}`,
        "--logger", "zap", "--log-level", "error",
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
