// Tests only: runs `podnet node` inside a sandbox "node" netns (through `nsenter --net`, which,
// unlike `ip netns exec`, keeps the mount namespace, so the pod namespaces the daemon creates under
// /run/netns outlive it and are visible to the test) and talks to it over its socket.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createApiClient, type ApiClient } from "../daemon/api-client.js";

export const PODNET_BIN = fileURLToPath(new URL("../../../../bin/podnet", import.meta.url));

export interface NodeDaemon {
  readonly socket: string;
  readonly stateDir: string;
  readonly client: ApiClient;
  readonly child: ChildProcess;
  /** stderr so far (JSON log lines) */
  log(): string;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface DaemonOptions {
  /** Node netns name (under /run/netns). */
  readonly netns: string;
  /** Directory for the socket, state, cache and IPAM files. */
  readonly dir: string;
  readonly args: readonly string[];
  /** How long to wait for the socket (default 10 s). */
  readonly readyMs?: number;
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env["NODE_EXTRA_CA_CERTS"];
  delete env["NODE_OPTIONS"];
  return env;
}

/** The argv the daemon runs with; the sandbox defaults come first so `args` can override them. */
export function daemonArgv(o: DaemonOptions): string[] {
  return [
    `--net=/run/netns/${o.netns}`,
    process.execPath,
    PODNET_BIN,
    "node",
    `--socket=${join(o.dir, "podnet.sock")}`,
    `--state-dir=${join(o.dir, "state")}`,
    `--cni-cache-dir=${join(o.dir, "cache")}`,
    `--ipam-data-dir=${join(o.dir, "ipam")}`,
    "--modprobe=false",
    ...o.args,
  ];
}

/** Starts the daemon and waits until it answers (or exits: then rejects with its stderr). */
export async function startDaemon(o: DaemonOptions): Promise<NodeDaemon> {
  mkdirSync(o.dir, { recursive: true });
  const socket = join(o.dir, "podnet.sock");
  const child = spawn("nsenter", daemonArgv(o), { env: cleanEnv(), stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const client = createApiClient(socket, { timeoutMs: 60_000 });
  const deadline = Date.now() + (o.readyMs ?? 10_000);
  let done = false;
  void exited.then(() => (done = true));
  while (!(await client.healthy())) {
    if (done) throw new Error(`podnet node exited (${child.exitCode}):\n${err}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`podnet node did not answer within ${o.readyMs ?? 10_000} ms:\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    socket,
    stateDir: join(o.dir, "state"),
    client,
    child,
    log: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Runs the daemon to completion (for start-up failures); returns exit code and stderr. */
export function runDaemonToExit(o: DaemonOptions): { code: number | null; stderr: string } {
  mkdirSync(o.dir, { recursive: true });
  const r = spawnSync("nsenter", daemonArgv(o), { env: cleanEnv(), encoding: "utf8", timeout: 20_000 });
  return { code: r.status, stderr: r.stderr ?? "" };
}

/** Deletes the pod namespaces a daemon made that are still recorded in its state dir. */
export function deleteDaemonNetns(stateDir: string): void {
  const dir = join(stateDir, "sandboxes");
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) {
    try {
      const o = JSON.parse(readFileSync(join(dir, f), "utf8")) as { podnet?: { netns?: string; ownsNetns?: boolean } };
      const m = /^\/run\/netns\/(podnet-[0-9a-f]{12})$/.exec(o.podnet?.netns ?? "");
      if (o.podnet?.ownsNetns && m) spawnSync("ip", ["netns", "del", m[1]!]);
    } catch {
      // unreadable: nothing to clean
    }
  }
}
