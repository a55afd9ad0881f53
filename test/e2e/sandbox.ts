// A sandbox "node" for e2e tests: a node network namespace where plugins run (through
// `ip netns exec`), pod namespaces, and temp dirs — all named podnet-t-<random> and removed in
// cleanup(), whatever happened. Nothing here touches the host's own network.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeRawExec, type RawExec } from "../../src/kernel/exec.js";

export const GO_PLUGINS = "/usr/lib/cni";
export const PODNET_PLUGINS = new URL("../../../build/cni", import.meta.url).pathname;
export const REPO = new URL("../../..", import.meta.url).pathname;

export function haveRoot(): boolean {
  return process.getuid?.() === 0;
}

/** `ip` (or any command) run synchronously; throws with stderr on failure. */
export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
}

/** Runs a command inside a netns; returns exit status and output, never throws. */
export function inNs(ns: string, cmd: string[], timeoutMs = 10_000): { status: number | null; out: string } {
  const r = spawnSync("ip", ["netns", "exec", ns, ...cmd], { encoding: "utf8", timeout: timeoutMs });
  return { status: r.status, out: (r.stdout ?? "") + (r.stderr ?? "") };
}

export class Sandbox {
  readonly id = randomBytes(3).toString("hex");
  readonly node: string;
  readonly dir: string;
  private readonly namespaces: string[] = [];

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), `podnet-t-${this.id}-`));
    this.node = this.netns("node");
  }

  /** Creates podnet-t-<id>-<name> with lo up; returns its name. */
  netns(name: string): string {
    const ns = `podnet-t-${this.id}-${name}`;
    sh("ip", ["netns", "add", ns]);
    this.namespaces.push(ns);
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    return ns;
  }

  path(ns: string): string {
    return `/run/netns/${ns}`;
  }

  /** An Exec that runs every command inside the node namespace, with a clean Node environment. */
  nodeExec(): RawExec {
    const node = this.node;
    return {
      run: (file, args, opts = {}) => {
        const env = { ...(opts.env ?? process.env) };
        delete env["NODE_EXTRA_CA_CERTS"];
        return nodeRawExec.run("ip", ["netns", "exec", node, file, ...args], { ...opts, env });
      },
    };
  }

  /** ip -json output inside a namespace. */
  ipJson(ns: string, args: string[]): Array<Record<string, unknown>> {
    const out = sh("ip", ["-n", ns, "-json", ...args]).trim();
    return out ? (JSON.parse(out) as Array<Record<string, unknown>>) : [];
  }

  cleanup(): void {
    for (const ns of this.namespaces.reverse()) spawnSync("ip", ["netns", "del", ns]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs `fn` with a fresh sandbox and always cleans it up. */
export async function withSandbox<T>(fn: (sb: Sandbox) => Promise<T>): Promise<T> {
  const sb = new Sandbox();
  try {
    return await fn(sb);
  } finally {
    sb.cleanup();
  }
}

/**
 * The demo's probe processes (dist/src/cli/demo-probe-tool.js) left running with no parent: a
 * demo that exited without ending one. Each as "PID CMDLINE".
 */
export function orphanedDemoProbes(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
      if (!cmd.includes("demo-probe-tool.js")) continue;
      const ppid = /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
      if (ppid === "1") out.push(`${pid} ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** This process's environment for a Node child, without what slows or changes Node's start-up. */
export function nodeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete e["NODE_EXTRA_CA_CERTS"];
  delete e["NODE_OPTIONS"];
  return e;
}

/** Namespaces (podnet-demo-<id>…) and temp dirs of demo `id` still present. */
export function demoLeftovers(id: string): string[] {
  const ns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
    .stdout.split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n.startsWith(`podnet-demo-${id}`));
  const dirs = readdirSync(tmpdir()).filter((d) => d.startsWith(`podnet-demo-${id}-`));
  return [...ns, ...dirs];
}

/**
 * Runs `podnet demo ARGS` and sends it SIGINT once its output shows `marker` (failing after
 * `withinMs`); its exit code and everything it printed.
 */
export async function interruptDemo(
  podnetBin: string,
  args: readonly string[],
  marker: string,
  withinMs: number,
): Promise<{ code: number | null; out: string }> {
  const c = spawn(process.execPath, [podnetBin, "demo", ...args], {
    env: nodeEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  c.stdout.on("data", (d: Buffer) => {
    out += d;
  });
  c.stderr.on("data", (d: Buffer) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => c.once("exit", (x) => r(x)));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      clearInterval(poll);
      c.kill("SIGINT"); // it cleans up on its way out
      reject(new Error(`demo did not reach "${marker}":\n${out}`));
    }, withinMs);
    const poll = setInterval(() => {
      if (out.includes(marker)) {
        clearInterval(poll);
        clearTimeout(t);
        resolve();
      }
    }, 20);
  });
  c.kill("SIGINT");
  return { code: await exited, out };
}
