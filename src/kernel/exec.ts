// The one place that starts processes (`ip netns add`, `tc`, `nft -f -`, `iptables-restore`, and
// CNI plugins), through the addon's posix_spawn (spawn.ts) or, without it, node:child_process.
// Everything else receives an `Exec` or a `RawExec` and can be handed a fake.
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { ExecError, ExecStartError, type Exec, type ExecResult, type RawExec } from "./exec-types.js";
import { loadAddon } from "./addon.js";
import { nativeRun, nativeSpawnOf, type NativeSpawn } from "./spawn.js";

export {
  ExecError,
  ExecStartError,
  isNotStarted,
  type Exec,
  type ExecOptions,
  type ExecResult,
  type RawExec,
} from "./exec-types.js";

// node:child_process is loaded on first use: importing it costs 6-8 ms of a plugin's start-up
// (with the addon's spawn, a plugin never loads it).
let spawnFn: typeof import("node:child_process").spawn | undefined;
const loadSpawn = async () => (spawnFn ??= (await import("node:child_process")).spawn);

// posix_spawn through the addon when it has it (spawn.ts: no fork, so the cost does not grow with
// the caller's memory); child_process otherwise.
let native: NativeSpawn | null | undefined;
function nativeSpawn(): NativeSpawn | undefined {
  if (native === undefined) {
    try {
      native = nativeSpawnOf(loadAddon()) ?? null;
    } catch {
      native = null;
    }
  }
  return native ?? undefined;
}

export const nodeRawExec: RawExec = {
  async run(file, args, opts = {}) {
    const ns = nativeSpawn();
    if (ns) return nativeRun(ns, file, args, opts);
    const spawn = await loadSpawn();
    return new Promise((resolve, reject) => {
      const child: ChildProcessWithoutNullStreams = spawn(file, args, {
        env: (opts.env ?? process.env) as NodeJS.ProcessEnv,
        stdio: ["pipe", "pipe", "pipe"],
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      let started = false;
      const timer =
        opts.timeoutMs && opts.timeoutMs > 0
          ? setTimeout(() => {
              timedOut = true;
              child.kill("SIGKILL");
            }, opts.timeoutMs)
          : undefined;
      child.once("spawn", () => (started = true));
      child.stdout.on("data", (b: Buffer) => out.push(b));
      child.stderr.on("data", (b: Buffer) => err.push(b));
      child.once("error", (e: NodeJS.ErrnoException) => {
        if (started) return;
        if (timer) clearTimeout(timer);
        reject(new ExecStartError(file, e.code ?? "UNKNOWN", `${file}: ${e.message}`));
      });
      child.once("close", (code, signal) => {
        if (timer) clearTimeout(timer);
        if (!started) return;
        resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut });
      });
      child.stdin.on("error", () => {}); // EPIPE when the child exits without reading stdin
      if (opts.deferredStdin) {
        Promise.resolve(opts.deferredStdin).then(
          (b) => child.stdin.end(b),
          () => child.stdin.end(""),
        );
      } else {
        child.stdin.end(opts.stdin ?? "");
      }
    });
  },
};

/** Runs commands with LC_ALL=C (so their error text can be classified). */
export const nodeExec: Exec = {
  async run(argv, opts = {}) {
    const [cmd, ...args] = argv;
    if (!cmd) throw new TypeError("exec: empty argv");
    let r: ExecResult;
    try {
      r = await nodeRawExec.run(cmd, args, { ...opts, env: { ...(opts.env ?? process.env), LC_ALL: "C" } });
    } catch (e) {
      throw new ExecError(argv, null, "", "", e);
    }
    const stdout = r.stdout.toString();
    if (r.code === 0) return stdout;
    const stderr = r.timedOut ? `timed out after ${opts.timeoutMs} ms\n${r.stderr}` : r.stderr.toString();
    throw new ExecError(argv, r.code, stdout, stderr);
  },
};
