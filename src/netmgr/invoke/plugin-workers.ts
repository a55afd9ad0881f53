// A PluginHost on worker threads, for both daemons — the node manager's in-process plugins and the
// resident server (`podnet resident`, `podnet node --cni-socket`): podnet's plugin functions run
// in-process (no Node start-up per call) but off the daemon's event loop, because the kernel
// layer's netlink calls are synchronous (a veth delete waits ~20 ms in the kernel) and neither the
// daemon's sockets nor the other pods' calls may wait for them.
//
// Each worker runs one call at a time, so a call blocked in the kernel holds up only itself; calls
// beyond the free workers wait here, in arrival order, and are asked whether they are still wanted
// (CallOptions.stillWanted: has the launcher gone?) the moment a worker takes them. The pool grows
// on demand up to `size` workers and keeps them. A call that has waited `stallMs` while every worker
// stays busy gets an extra worker (up to `maxSize`; it ends when it finds nothing to do): calls that
// wait on other calls — an IPAM plugin exec'd through a launcher back into this daemon
// (PODNET_IPAM_EXEC=1) — so never wait for each other for good.
//
// A call that times out terminates its worker (the exec equivalent of SIGKILL); a worker that dies
// fails only its own call and is replaced when a call needs it. A worker that is no longer needed
// (an extra one gone idle, the pool closing) is asked to end instead, so that it first closes the
// descriptors it kept for its life (plugin-worker.ts): they are the process's, and a terminated
// thread would leave them open (an inotify instance each, of fs.inotify.max_user_instances).
//
// What serialises what across workers: flock(2) locks belong to an open file description, and every
// lock() opens its file anew, so two threads of this process exclude each other exactly as two
// processes do (host-local's store lock, portmap's state lock); the resident server orders calls of
// one container (server.ts). Sockets the kernel layer keeps for the life of a process (nftables,
// conntrack) are per thread.
import { Worker } from "node:worker_threads";
import { SKIPPED, TIMED_OUT, type CallOptions, type HostResponse, type PluginHost } from "../../resident/host.js";
import type { LaunchRequest } from "../../resident/protocol.js";
import { RESIDENT_PLUGINS } from "../../resident/registry.js";
import type { WorkerClose, WorkerData, WorkerReply, WorkerRequest } from "./plugin-worker.js";

export interface WorkerHostOptions {
  /** Workers the pool grows to and keeps (default 4). */
  readonly size?: number;
  /** Workers at most, extra ones for stalled calls included (default 4 × size). */
  readonly maxSize?: number;
  /** A call waiting this long while every worker stays busy gets an extra worker (default 1000 ms). */
  readonly stallMs?: number;
  /** The module building the registry and its export (default: resident/registry.js, workerRegistry). */
  readonly registryModule?: string;
  readonly registryExport?: string;
  /** Passed to the registry's factory after its log function (anything a worker message can carry). */
  readonly registryArg?: unknown;
  /** The plugin names that registry serves (default RESIDENT_PLUGINS). */
  readonly plugins?: readonly string[];
  /** Plugin log lines and worker failures. */
  readonly log?: (m: string) => void;
}

export const DEFAULT_WORKERS = 4;
const DEFAULT_STALL_MS = 1000;
/** A worker asked to end that has not within this long is terminated. */
const END_GRACE_MS = 2000;

interface Job {
  readonly id: number;
  readonly req: LaunchRequest;
  readonly opts: CallOptions;
  readonly called: number;
  started?: number;
  timer?: ReturnType<typeof setTimeout>;
  settle(r: HostResponse): void;
}

interface Slot {
  readonly worker: Worker;
  /** Settles when the worker has loaded its registry (or died trying). */
  readonly ready: Promise<void>;
  /** The call it runs (one at a time). */
  job?: Job;
  /** Beyond `size`: ends when it finds nothing to do. */
  readonly extra: boolean;
  dead: boolean;
}

export function workerPluginHost(
  o: WorkerHostOptions = {},
): PluginHost & { readonly workers: number; readonly queued: number } {
  const size = Math.max(1, o.size ?? DEFAULT_WORKERS);
  const maxSize = Math.max(size, o.maxSize ?? 4 * size);
  const stallMs = o.stallMs ?? DEFAULT_STALL_MS;
  const names = new Set(o.plugins ?? RESIDENT_PLUGINS);
  const data: WorkerData = {
    registryModule: o.registryModule ?? new URL("../../resident/registry.js", import.meta.url).href,
    registryExport: o.registryExport ?? "workerRegistry",
    ...(o.registryArg !== undefined ? { registryArg: o.registryArg } : {}),
  };
  const slots: Slot[] = [];
  const queue: Job[] = [];
  let nextId = 1;
  let closed = false;
  let stallTimer: ReturnType<typeof setTimeout> | undefined;
  /** Workers asked to end, until they have. */
  const ending = new Set<Promise<void>>();

  /** Asks an idle worker to close what it holds and end; terminates it if it has not within END_GRACE_MS. */
  function end(slot: Slot): Promise<void> {
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(
        () =>
          void slot.worker.terminate().then(
            () => resolve(),
            () => resolve(),
          ),
        END_GRACE_MS,
      );
      timer.unref?.();
      slot.worker.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      slot.worker.ref(); // whoever awaits close() sees it end
      slot.worker.postMessage({ close: true } satisfies WorkerClose);
    }).finally(() => ending.delete(done));
    ending.add(done);
    return done;
  }

  /**
   * Takes a worker out of the pool, failing its call. `idle`: it runs nothing, and is asked to end
   * (end()); otherwise it is terminated at once. With `refill`, waiting calls then go to the others.
   */
  function retire(slot: Slot, why: string, refill = true, idle = false): void {
    if (slot.dead) return;
    slot.dead = true;
    const i = slots.indexOf(slot);
    if (i >= 0) slots.splice(i, 1);
    const job = slot.job;
    slot.job = undefined;
    job?.settle({ code: 1, stdout: "", stderr: `podnet plugin worker stopped: ${why}` });
    if (idle && !job) void end(slot);
    else void slot.worker.terminate().catch(() => {});
    if (refill) pump();
  }

  function spawn(extra: boolean): Slot {
    const worker = new Worker(new URL("./plugin-worker.js", import.meta.url), { workerData: data });
    worker.unref();
    let loaded!: () => void;
    const slot: Slot = { worker, ready: new Promise<void>((r) => (loaded = r)), extra, dead: false };
    worker.once("exit", () => loaded());
    worker.on("message", (m: WorkerReply) => {
      if ("log" in m) return o.log?.(m.log);
      if ("ready" in m) return loaded();
      const job = slot.job;
      if (!job || job.id !== m.id) return;
      slot.job = undefined;
      worker.unref();
      job.settle({
        code: m.code,
        stdout: m.stdout,
        stderr: m.stderr,
        queuedMs: (job.started ?? job.called) - job.called,
        runMs: m.runMs,
      });
      pump();
    });
    worker.on("error", (e) => {
      o.log?.(`podnet plugin worker failed: ${e.message}`);
      retire(slot, e.message);
    });
    worker.on("exit", (code) => retire(slot, `exit code ${code}`));
    slots.push(slot);
    return slot;
  }

  function start(slot: Slot, job: Job): void {
    slot.job = job;
    job.started = performance.now();
    slot.worker.ref();
    const msg: WorkerRequest = {
      id: job.id,
      plugin: job.req.plugin,
      ...(job.req.cwd !== undefined ? { cwd: job.req.cwd } : {}),
      env: job.req.env,
      stdin: new Uint8Array(job.req.stdin),
    };
    slot.worker.postMessage(msg);
  }

  /** Hands waiting calls to free workers (growing the pool up to `size`); extra workers with nothing to do end. */
  function pump(): void {
    if (closed) return;
    while (queue.length > 0) {
      const slot = slots.find((s) => !s.job && !s.dead) ?? (slots.length < size ? spawn(false) : undefined);
      if (!slot) break;
      const job = queue.shift()!;
      if (job.opts.stillWanted && !job.opts.stillWanted()) {
        job.settle(SKIPPED);
        continue;
      }
      start(slot, job);
    }
    for (const s of slots.filter((s) => s.extra && !s.job)) retire(s, "no longer needed", false, true);
    if (queue.length === 0) {
      clearTimeout(stallTimer);
      stallTimer = undefined;
    } else if (!stallTimer) {
      stallTimer = setTimeout(onStall, stallMs);
      stallTimer.unref?.();
    }
  }

  /** Every worker stayed busy for stallMs with calls waiting: one extra worker (calls may be waiting on calls). */
  function onStall(): void {
    stallTimer = undefined;
    if (closed || queue.length === 0) return;
    if (slots.length < maxSize) {
      o.log?.(
        `podnet plugin workers: all ${slots.length} busy for ${stallMs} ms with ${queue.length} call(s) waiting; starting one more`,
      );
      spawn(true);
    }
    pump();
  }

  return {
    get workers() {
      return slots.length;
    },
    get queued() {
      return queue.length;
    },
    has: (p) => names.has(p),
    async warm() {
      while (!closed && slots.length < size) spawn(false);
      await Promise.all(slots.map((s) => s.ready));
    },
    call(req, opts = {}) {
      if (closed) return Promise.resolve({ code: 1, stdout: "", stderr: "podnet plugin workers are closed" });
      return new Promise<HostResponse>((resolve) => {
        const job: Job = {
          id: nextId++,
          req,
          opts,
          called: performance.now(),
          settle(r) {
            clearTimeout(job.timer);
            resolve(r);
          },
        };
        if (opts.timeoutMs) {
          job.timer = setTimeout(() => {
            const q = queue.indexOf(job);
            if (q >= 0) queue.splice(q, 1);
            resolve(TIMED_OUT);
            const slot = slots.find((s) => s.job === job);
            if (slot) {
              slot.job = undefined; // answered: retire() must not answer it again
              retire(slot, `a ${req.plugin} call timed out after ${opts.timeoutMs} ms`);
            }
          }, opts.timeoutMs);
          job.timer.unref?.();
        }
        queue.push(job);
        pump();
      });
    },
    async close() {
      closed = true;
      clearTimeout(stallTimer);
      for (const job of queue.splice(0))
        job.settle({ code: 1, stdout: "", stderr: "podnet plugin worker stopped: closing" });
      const all = slots.splice(0);
      const stops: Array<Promise<unknown>> = [...ending];
      for (const s of all) {
        s.dead = true;
        const job = s.job;
        s.job = undefined;
        job?.settle({ code: 1, stdout: "", stderr: "podnet plugin worker stopped: closing" });
        // an idle worker closes what it holds; one still running a call is stopped where it is
        stops.push(job ? s.worker.terminate().catch(() => 0) : end(s));
      }
      await Promise.all(stops);
    },
  };
}
