// The demo's sandbox: a "node" network namespace (podnet-demo-<id>) with an uplink, `podnet node`
// running inside it (through nsenter, in its own process group so Ctrl-C reaches only the demo),
// and a cleanup that removes everything: pods, daemon, the pod and node namespaces, temp files.
// Nothing outside podnet-* namespaces and the temp directory is touched.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeExec, nodeRawExec, type ExecResult } from "../kernel/exec.js";
import { createApiClient, type ApiClient } from "../netmgr/daemon/api-client.js";

export const DEMO_NODE_IP = "10.200.255.1";
export const DEMO_UPLINK_MTU = 1500;
const PODNET_BIN = fileURLToPath(new URL("../../../bin/podnet", import.meta.url));

export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env["NODE_EXTRA_CA_CERTS"];
  delete env["NODE_OPTIONS"];
  return env;
}

/** `cmd args…` → stdout; rejects with stderr on failure. */
export const run = (cmd: string, args: readonly string[]): Promise<string> =>
  nodeExec.run([cmd, ...args], { env: cleanEnv() });

export interface NsResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `ip netns exec NS argv…`, never rejecting. */
export async function inNs(ns: string, argv: readonly string[], timeoutMs = 20_000): Promise<NsResult> {
  try {
    const r = await nodeRawExec.run("ip", ["netns", "exec", ns, ...argv], { env: cleanEnv(), timeoutMs });
    return { status: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  } catch (e) {
    return { status: null, stdout: "", stderr: (e as Error).message };
  }
}

/** A process running in the background until it exits or is killed. */
export class Background {
  readonly done: Promise<ExecResult | undefined>;
  private readonly ac = new AbortController();
  private finished = false;
  constructor(file: string, args: readonly string[], opts: { cwd?: string } = {}) {
    if (stopping) {
      // the demo is cleaning up (Ctrl-C while its checks go on): nothing new may start, or it
      // would outlive the demo
      this.finished = true;
      this.done = Promise.resolve(undefined);
      return;
    }
    this.done = nodeRawExec
      .run(file, args, { env: cleanEnv(), signal: this.ac.signal, ...opts })
      .then(
        (r) => r,
        () => undefined,
      )
      .finally(() => {
        this.finished = true;
        helpers.delete(this);
      });
    helpers.add(this);
  }
  get exited(): boolean {
    return this.finished;
  }
  /** SIGTERM (the abort) and wait for the exit. */
  async kill(): Promise<ExecResult | undefined> {
    if (!this.finished) this.ac.abort();
    return this.done;
  }
}

/** Helper processes the demo started (servers, clients in pod namespaces): killed by cleanup(). */
export const helpers = new Set<Background>();
let stopping = false;

/** Kills every helper process, and from now on starts none (a Background is then born exited). */
export async function stopHelpers(): Promise<void> {
  stopping = true;
  await Promise.all([...helpers].map((h) => h.kill()));
}

/** `ip netns exec NS node -e CODE` in the background. */

export class Lab {
  readonly id: string;
  /** podnet-demo-<id>, or podnet-demo-<id>-<name> for one node of several. */
  readonly node: string;
  readonly dir: string;
  readonly socket: string;
  readonly stateDir: string;
  readonly client: ApiClient;
  private daemon: Background | undefined;
  private daemonResult: ExecResult | undefined;
  private cleaned = false;

  constructor(o: { id?: string; name?: string } = {}) {
    this.id = o.id ?? newDemoId();
    this.node = o.name ? `podnet-demo-${this.id}-${o.name}` : `podnet-demo-${this.id}`;
    this.dir = mkdtempSync(join(tmpdir(), `${this.node}-`));
    this.socket = join(this.dir, "podnet.sock");
    this.stateDir = join(this.dir, "state");
    this.client = createApiClient(this.socket, { timeoutMs: 60_000 });
  }

  /** The node namespace: lo, and an uplink veth pair (eth0 with the node IP; eth0p its peer). */
  async makeNode(): Promise<void> {
    await run("ip", ["netns", "add", this.node]);
    const ip = (...a: string[]) => run("ip", ["-n", this.node, ...a]);
    await ip("link", "set", "lo", "up");
    await ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0p");
    await ip("link", "set", "eth0", "mtu", String(DEMO_UPLINK_MTU), "up");
    await ip("link", "set", "eth0p", "mtu", "9000", "up");
    await ip("addr", "add", `${DEMO_NODE_IP}/24`, "dev", "eth0");
  }

  /** The node namespace with lo and eth0 (`ip`/24) plugged into bridge br0 of the namespace `sw` (one L2 segment). */
  async makeNodeOn(sw: string, ip: string, port: string): Promise<void> {
    await run("ip", ["netns", "add", this.node]);
    const in_ = (...a: string[]) => run("ip", ["-n", this.node, ...a]);
    await in_("link", "set", "lo", "up");
    await in_("link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", sw);
    await run("ip", ["-n", sw, "link", "set", port, "master", "br0", "up"]);
    await in_("link", "set", "eth0", "mtu", String(DEMO_UPLINK_MTU), "up");
    await in_("addr", "add", `${ip}/24`, "dev", "eth0");
  }

  /**
   * `podnet node` inside the node namespace (nsenter keeps the mount namespace, so the pod
   * namespaces it makes are visible here); resolves when its API answers.
   */
  async startDaemon(args: readonly string[]): Promise<void> {
    const argv = [
      `--net=/run/netns/${this.node}`,
      process.execPath,
      PODNET_BIN,
      "node",
      `--socket=${this.socket}`,
      `--state-dir=${this.stateDir}`,
      `--cni-cache-dir=${join(this.dir, "cache")}`,
      `--ipam-data-dir=${join(this.dir, "ipam")}`,
      "--modprobe=false",
      "--log-level=warn",
      ...args,
    ];
    const d = new Background("nsenter", argv);
    helpers.delete(d); // stopped by stopDaemon(), after the pods are gone
    this.daemon = d;
    const deadline = Date.now() + 15_000;
    while (!(await this.client.healthy())) {
      if (d.exited) {
        this.daemonResult = await d.done;
        throw new Error(`podnet node exited (${this.daemonResult?.code ?? "?"}):\n${this.daemonLog()}`);
      }
      if (Date.now() > deadline) throw new Error("podnet node did not answer within 15 s");
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** What the daemon wrote to stderr (known once it has exited). */
  daemonLog(): string {
    return this.daemonResult?.stderr.toString() ?? "";
  }

  async stopDaemon(): Promise<void> {
    if (!this.daemon) return;
    this.daemonResult = await this.daemon.kill();
  }

  /** Pod namespaces the daemon created (from its checkpoints). */
  podNamespaces(): string[] {
    const dir = join(this.stateDir, "sandboxes");
    if (!existsSync(dir)) return [];
    const out: string[] = [];
    for (const f of readdirSync(dir)) {
      try {
        const o = JSON.parse(readFileSync(join(dir, f), "utf8")) as {
          podnet?: { netns?: string; ownsNetns?: boolean };
        };
        const m = /^\/run\/netns\/(podnet-[0-9a-f]{12})$/.exec(o.podnet?.netns ?? "");
        if (o.podnet?.ownsNetns && m) out.push(m[1]!);
      } catch {
        // not ours to read
      }
    }
    return out;
  }

  /** Namespaces of this lab still present. */
  leftovers(extra: readonly string[] = []): string[] {
    return [this.node, ...extra].filter((n) => existsSync(`/run/netns/${n}`));
  }

  /** Removes everything, whatever state things are in; safe to call twice. */
  async cleanup(podNetns: readonly string[] = []): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    await stopHelpers();
    if (this.daemon && !this.daemon.exited) {
      try {
        const pods = await Promise.race([
          this.client.listPods(),
          new Promise<never>((_, rej) => setTimeout(() => rej(new Error("timeout")), 3000)),
        ]);
        for (const p of pods) await this.client.deletePod(p.namespace, p.name).catch(() => {});
      } catch {
        // the daemon is not answering: the namespaces go below anyway
      }
    }
    const pods = new Set([...podNetns, ...this.podNamespaces()]);
    await this.stopDaemon();
    for (const ns of pods) if (/^podnet-[0-9a-f]{12}$/.test(ns)) await run("ip", ["netns", "del", ns]).catch(() => {});
    await run("ip", ["netns", "del", this.node]).catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const newDemoId = (): string => randomBytes(3).toString("hex");

/** The directory holding bridge, host-local and loopback, if it has all three. */
export function hasKubenetPlugins(dir: string): boolean {
  try {
    const names = readdirSync(dir);
    return ["bridge", "host-local", "loopback"].every((n) => names.includes(n));
  } catch {
    return false;
  }
}
