// Worker-thread entry of the plugin worker pool (plugin-workers.ts): builds the registry of
// podnet's plugins once, then runs each request through the resident server's handle() — the SDK
// dispatcher a plugin executable runs — and posts back exit code, stdout, stderr and its run time.
// Told to stop ({ close: true }, when the pool no longer needs it), it closes what the thread kept
// open — the registry's directory watcher, the netlink sockets kept for the thread's life — and
// ends: those descriptors are the process's, and would outlive a thread that is terminated.
import { closeOwnConntrack } from "../../kernel/conntrack.js";
import { isOwnNetns } from "../../kernel/netns.js";
import { closeOwnNftNetlink } from "../../kernel/nft-netlink.js";
import { parentPort, workerData } from "node:worker_threads";
import { handle, type ClosableRegistry, type Registry } from "../../resident/host.js";

export interface WorkerData {
  /** URL of the module that builds the registry. */
  readonly registryModule: string;
  /** Its export: (log: (m: string) => void, arg?: unknown) => Registry. */
  readonly registryExport: string;
  /** The factory's second argument, when given. */
  readonly registryArg?: unknown;
}

export interface WorkerRequest {
  readonly id: number;
  readonly plugin: string;
  /** The caller's working directory (resident calls), against which its relative paths resolve. */
  readonly cwd?: string;
  readonly env: Record<string, string>;
  readonly stdin: Uint8Array;
}

/** Stop: close what the thread holds, then end. */
export interface WorkerClose {
  readonly close: true;
}

export type WorkerReply =
  | {
      readonly id: number;
      readonly code: number;
      readonly stdout: string;
      readonly stderr: string;
      readonly runMs: number;
    }
  | { readonly log: string }
  | { readonly ready: true; readonly plugins: string[] };

const port = parentPort;
if (!port) throw new Error("plugin-worker.js runs only as a worker thread");
const data = workerData as WorkerData;
const post = (m: WorkerReply) => port.postMessage(m);
const mod = (await import(data.registryModule)) as Record<
  string,
  (log: (m: string) => void, arg?: unknown) => Registry
>;
const make = mod[data.registryExport];
if (typeof make !== "function") throw new Error(`${data.registryModule} has no function ${data.registryExport}`);
const registry = make((m) => post({ log: m }), data.registryArg);
const closeRegistry = (registry as Partial<ClosableRegistry>).close;

function shutdown(): void {
  try {
    closeRegistry?.call(registry);
    closeOwnConntrack();
    closeOwnNftNetlink();
  } finally {
    parentPort?.close(); // nothing left to keep the thread's event loop alive: the thread ends
  }
}

// isOwnNetns: skel's check that CNI_NETNS is not the plugin's own netns (threads share the process's).

port.on("message", (m: WorkerRequest | WorkerClose) => {
  if ("close" in m) return shutdown();
  const t0 = performance.now();
  const req = {
    plugin: m.plugin,
    ...(m.cwd !== undefined ? { cwd: m.cwd } : {}),
    env: m.env,
    stdin: Buffer.from(m.stdin),
  };
  handle(registry, req, isOwnNetns).then(
    (r) => post({ id: m.id, code: r.code, stdout: r.stdout, stderr: r.stderr, runMs: performance.now() - t0 }),
    (e: unknown) =>
      post({
        id: m.id,
        code: 1,
        stdout: "",
        stderr: `podnet plugin worker: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
        runMs: performance.now() - t0,
      }),
  );
});
post({ ready: true, plugins: [...registry.keys()] });
