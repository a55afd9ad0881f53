// The in-process fast path of the CniInvoker seam: podnet's runtime (libcni — chaining, result
// cache, version conversion, error wrapping all unchanged) whose "exec" of a plugin runs podnet's
// own plugin functions inside the daemon instead of starting a Node process for it (~25 ms each).
// A call goes through the very dispatcher a plugin executable runs (src/sdk/dispatch.ts, via the
// resident server's handle()): same env, same stdin bytes, same stdout and exit code — only the
// process start-up is gone. Decided per call, on the file CNI_PATH resolves: podnet's bundle or
// podnet's resident launcher for that name runs in-process; anything else (Go's plugins, a
// third-party plugin) is exec'd as before.
//
// Where the plugin functions run is a PluginHost (src/resident/host.ts): worker threads by default
// (plugin-workers.ts; the kernel calls are synchronous netlink, and deleting a veth blocks ~20 ms,
// which must not stall the daemon's API), or this thread (localPluginHost) for tests and embedders.
import { basename } from "node:path";
import type { ExecOptions, ExecResult, RawExec } from "../../kernel/exec.js";
import { CniRuntime, findInPath, type CniRuntimeOptions } from "../../libcni/index.js";
import { podnetPluginCheck, type PodnetPluginCheck } from "../../sdk/bundle.js";
import type { PluginHost } from "../../resident/host.js";

export { localPluginHost, type PluginHost } from "../../resident/host.js";

export interface InProcessStats {
  inProcess: number;
  exec: number;
}

export interface InProcessExecDeps {
  readonly host: PluginHost;
  /** Runs everything that is not podnet's (and everything, when `forceExec`). */
  readonly fallback: RawExec;
  readonly isPodnetPlugin?: PodnetPluginCheck;
  /** Always exec (the daemon's --in-process-plugins=false). */
  readonly forceExec?: boolean;
  readonly stats?: InProcessStats;
}

const stringEnv = (env: ExecOptions["env"]): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env ?? {})) if (v !== undefined) out[k] = v;
  return out;
};

/** A RawExec that runs podnet's plugins in `host` and execs anything else through `fallback`. */
export function createInProcessExec(deps: InProcessExecDeps): RawExec & { inProcess(file: string): boolean } {
  const check = deps.isPodnetPlugin ?? podnetPluginCheck();
  const inProcess = (file: string) => {
    if (deps.forceExec) return false;
    const name = basename(file);
    return deps.host.has(name) && check(file, name);
  };
  return {
    inProcess,
    async run(file, args, opts = {}): Promise<ExecResult> {
      if (args.length > 0 || !inProcess(file)) {
        if (deps.stats) deps.stats.exec++;
        return deps.fallback.run(file, args, opts);
      }
      if (deps.stats) deps.stats.inProcess++;
      const input = opts.deferredStdin ? await opts.deferredStdin : opts.stdin;
      const stdin = input === undefined ? Buffer.alloc(0) : Buffer.from(input);
      const r = await deps.host.call(
        { plugin: basename(file), env: stringEnv(opts.env), stdin },
        opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {},
      );
      return {
        code: r.timedOut ? null : r.code,
        signal: r.timedOut ? "SIGKILL" : null,
        stdout: Buffer.from(r.stdout),
        stderr: Buffer.from(r.stderr),
        timedOut: r.timedOut === true,
      };
    },
  };
}

export interface InProcessInvokerOptions extends Omit<CniRuntimeOptions, "exec"> {
  readonly host: PluginHost;
  /** How plugins that are not podnet's are run (and all of them with `forceExec`). */
  readonly exec: RawExec;
  readonly isPodnetPlugin?: PodnetPluginCheck;
  readonly forceExec?: boolean;
  /** Counts calls by how they ran (shared between invokers if given). */
  readonly stats?: InProcessStats;
}

/**
 * The CniInvoker the node manager uses for podnet's plugins: a CniRuntime (identical chaining,
 * caching and errors) over createInProcessExec.
 */
export class InProcessInvoker extends CniRuntime {
  readonly stats: InProcessStats;
  private readonly runner: ReturnType<typeof createInProcessExec>;
  private readonly searchPath: readonly string[];

  constructor(opts: InProcessInvokerOptions) {
    const stats: InProcessStats = opts.stats ?? { inProcess: 0, exec: 0 };
    const runner = createInProcessExec({
      host: opts.host,
      fallback: opts.exec,
      ...(opts.isPodnetPlugin ? { isPodnetPlugin: opts.isPodnetPlugin } : {}),
      ...(opts.forceExec ? { forceExec: true } : {}),
      stats,
    });
    super({ ...opts, exec: runner });
    this.stats = stats;
    this.runner = runner;
    this.searchPath = opts.path;
  }

  /** How a plugin of this type would run now: "in-process", "exec", or undefined when not found. */
  mode(type: string): "in-process" | "exec" | undefined {
    let file: string;
    try {
      file = findInPath(type, this.searchPath);
    } catch {
      return undefined;
    }
    return this.runner.inProcess(file) ? "in-process" : "exec";
  }
}
