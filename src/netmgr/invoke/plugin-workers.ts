// A PluginHost on worker threads: podnet's plugin functions run in-process (no Node start-up per
// call) but off the daemon's event loop, because the kernel layer's netlink calls are synchronous
// (a veth delete waits ~20 ms in the kernel) and the API must keep answering meanwhile. A few
// workers (default 2) also let calls for different pods overlap, as separate processes did.
// A call that times out terminates its worker (the exec equivalent of SIGKILL); a worker that
// dies fails only its own calls and is replaced on the next call.
import { Worker } from "node:worker_threads";
import type { PluginHost } from "./inprocess-invoker.js";
import type { WorkerData, WorkerReply, WorkerRequest } from "./plugin-worker.js";
import type { LaunchResponse } from "../../resident/protocol.js";
import { RESIDENT_PLUGINS } from "../../resident/registry.js";

export interface WorkerHostOptions {
  /** Number of worker threads (default 2). */
  readonly size?: number;
  /** The module building the registry and its export (default: resident/registry.js, workerRegistry). */
  readonly registryModule?: string;
  readonly registryExport?: string;
  /** The plugin names that registry serves (default RESIDENT_PLUGINS). */
  readonly plugins?: readonly string[];
  /** Plugin log lines and worker failures. */
  readonly log?: (m: string) => void;
}

type Reply = LaunchResponse & { timedOut?: boolean };

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, (r: Reply) => void>;
  /** Settles when the worker has loaded its registry (or died trying). */
  readonly ready: Promise<void>;
  dead: boolean;
}

export function workerPluginHost(o: WorkerHostOptions = {}): PluginHost & { readonly workers: number } {
  const size = Math.max(1, o.size ?? 2);
  const names = new Set(o.plugins ?? RESIDENT_PLUGINS);
  const data: WorkerData = {
    registryModule: o.registryModule ?? new URL("../../resident/registry.js", import.meta.url).href,
    registryExport: o.registryExport ?? "workerRegistry",
  };
  const slots: Slot[] = [];
  let nextId = 1;
  let closed = false;

  function fail(slot: Slot, why: string): void {
    for (const [, done] of slot.pending) done({ code: 1, stdout: "", stderr: `podnet plugin worker stopped: ${why}` });
    slot.pending.clear();
  }

  function retire(slot: Slot, why: string): void {
    if (slot.dead) return;
    slot.dead = true;
    const i = slots.indexOf(slot);
    if (i >= 0) slots.splice(i, 1);
    fail(slot, why);
    void slot.worker.terminate().catch(() => {});
  }

  function spawn(): Slot {
    const worker = new Worker(new URL("./plugin-worker.js", import.meta.url), { workerData: data });
    worker.unref();
    let loaded!: () => void;
    const slot: Slot = { worker, pending: new Map(), ready: new Promise<void>((r) => (loaded = r)), dead: false };
    worker.once("exit", () => loaded());
    worker.on("message", (m: WorkerReply) => {
      if ("log" in m) return o.log?.(m.log);
      if ("ready" in m) return loaded();
      const done = slot.pending.get(m.id);
      if (!done) return; // timed out earlier
      slot.pending.delete(m.id);
      if (slot.pending.size === 0) worker.unref();
      done({ code: m.code, stdout: m.stdout, stderr: m.stderr });
    });
    worker.on("error", (e) => {
      o.log?.(`podnet plugin worker failed: ${e.message}`);
      retire(slot, e.message);
    });
    worker.on("exit", (code) => retire(slot, `exit code ${code}`));
    slots.push(slot);
    return slot;
  }

  function pick(): Slot {
    let best: Slot | undefined;
    for (const s of slots) if (!best || s.pending.size < best.pending.size) best = s;
    if (!best || (best.pending.size > 0 && slots.length < size)) return spawn();
    return best;
  }

  return {
    get workers() {
      return slots.length;
    },
    has: (p) => names.has(p),
    async warm() {
      while (!closed && slots.length < size) spawn();
      await Promise.all(slots.map((s) => s.ready));
    },
    call(req, opts = {}) {
      if (closed) return Promise.resolve({ code: 1, stdout: "", stderr: "podnet plugin workers are closed" });
      const slot = pick();
      const id = nextId++;
      return new Promise<Reply>((resolve) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        slot.pending.set(id, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        if (opts.timeoutMs) {
          timer = setTimeout(() => {
            slot.pending.delete(id);
            resolve({ code: 1, stdout: "", stderr: "", timedOut: true });
            retire(slot, `a ${req.plugin} call timed out after ${opts.timeoutMs} ms`);
          }, opts.timeoutMs);
          timer.unref?.();
        }
        slot.worker.ref();
        const msg: WorkerRequest = { id, plugin: req.plugin, env: req.env, stdin: new Uint8Array(req.stdin) };
        slot.worker.postMessage(msg);
      });
    },
    async close() {
      closed = true;
      const all = slots.splice(0);
      for (const s of all) {
        s.dead = true;
        fail(s, "closing");
      }
      await Promise.all(all.map((s) => s.worker.terminate().catch(() => 0)));
    },
  };
}
