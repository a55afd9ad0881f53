// Where podnet's plugin functions run when no process is started for a call: a PluginHost over a
// Registry of plugins, each call run by handle() through the SDK's dispatcher. The
// resident server (server.ts) and the node manager's in-process invoker hand every call to one.
// Two kinds: this thread (localPluginHost: tests, embedders), or worker threads
// (src/netmgr/invoke/plugin-workers.ts: the daemons — the kernel layer's netlink calls are
// synchronous and a veth delete waits ~20 ms in the kernel, which must stall neither the daemon's
// event loop nor the other pods' calls).
import { CniCode, CniError } from "../cni/index.js";
import { dispatch } from "../sdk/dispatch.js";
import type { PluginAbout, PluginFuncs } from "../sdk/types.js";
import { atCwd, type CallContext } from "./call-context.js";
import type { LaunchRequest, LaunchResponse } from "./protocol.js";

/** A plugin the daemon serves: its about, and a fresh instance per call (closed after it). */
export interface ResidentPlugin {
  readonly about: PluginAbout;
  make(ctx?: CallContext): { readonly funcs: PluginFuncs; close(): void };
}

export type Registry = ReadonlyMap<string, ResidentPlugin>;

/** A registry holding something for as long as its thread serves (a directory watcher): close() releases it. */
export type ClosableRegistry = Registry & { close(): void };

/** A registry entry for plugin functions that hold nothing per call. */
export const stateless = (funcs: PluginFuncs, about: PluginAbout): ResidentPlugin => ({
  about,
  make: () => ({ funcs, close: () => {} }),
});

/** Runs one request through the dispatcher and captures what a plugin process would print. */
export async function handle(
  registry: Registry,
  req: LaunchRequest,
  isOwnNetns?: (p: string) => boolean,
): Promise<LaunchResponse> {
  const p = registry.get(req.plugin);
  if (!p) {
    const err = new CniError(CniCode.PluginNotAvailable, `the podnet daemon has no plugin "${req.plugin}"`);
    return { code: 1, stdout: JSON.stringify(err.toWire()), stderr: "" };
  }
  let stdout = "";
  let stderr = "";
  const at = atCwd(req.cwd);
  const inst = p.make(req.cwd !== undefined ? { cwd: req.cwd } : {});
  const ownNetns = isOwnNetns && at ? (path: string) => isOwnNetns(at(path)) : isOwnNetns;
  try {
    const code = await dispatch(
      {
        env: req.env,
        readStdin: async () => req.stdin,
        writeStdout: (t) => {
          stdout += t;
        },
        writeStderr: (t) => {
          stderr += t;
        },
        ...(ownNetns ? { isOwnNetns: ownNetns } : {}),
        now: () => performance.now(),
      },
      inst.funcs,
      p.about,
    );
    return { code, stdout, stderr };
  } finally {
    inst.close();
  }
}

export interface CallOptions {
  /**
   * Stop waiting after this long (counted from the call, queueing included): the answer is
   * `timedOut`; a worker host also terminates the worker that was running it.
   */
  readonly timeoutMs?: number;
  /**
   * Asked when the call is about to start, after any wait for a free worker: false (its caller has
   * gone) → the call is not started and the answer is `skipped`.
   */
  readonly stillWanted?: () => boolean;
}

export type HostResponse = LaunchResponse & {
  /** Not finished within timeoutMs. */
  readonly timedOut?: boolean;
  /** Not started: stillWanted() said no. */
  readonly skipped?: boolean;
  /** ms from call() until the call started (waiting for a free worker). */
  readonly queuedMs?: number;
  /** ms the plugin ran (handle() on the thread that ran it). */
  readonly runMs?: number;
};

/** Runs one plugin call the way the plugin's executable would, without starting a process. */
export interface PluginHost {
  /** Whether the host serves this plugin name. */
  has(plugin: string): boolean;
  /** The call's exit code and output (see HostResponse for calls that did not run to the end). */
  call(req: LaunchRequest, opts?: CallOptions): Promise<HostResponse>;
  /** Starts what the first call would otherwise start (workers); settles when that is done. */
  warm?(): Promise<void>;
  close(): Promise<void>;
}

export const SKIPPED: HostResponse = Object.freeze({ code: 1, stdout: "", stderr: "", skipped: true });
export const TIMED_OUT: HostResponse = Object.freeze({ code: 1, stdout: "", stderr: "", timedOut: true });

/** Runs the registry's plugins on this thread, one call after another as they await. */
export function localPluginHost(registry: Registry, opts: { isOwnNetns?: (p: string) => boolean } = {}): PluginHost {
  return {
    has: (p) => registry.has(p),
    async call(req, o = {}) {
      if (o.stillWanted && !o.stillWanted()) return SKIPPED;
      const t0 = performance.now();
      const run = handle(registry, req, opts.isOwnNetns).then(
        (r): HostResponse => ({ ...r, queuedMs: 0, runMs: performance.now() - t0 }),
      );
      if (!o.timeoutMs) return run;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<HostResponse>((r) => {
        timer = setTimeout(() => r(TIMED_OUT), o.timeoutMs);
      });
      try {
        return await Promise.race([run, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {},
  };
}
