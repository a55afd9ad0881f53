// The one place that starts processes (`ip netns add`, `tc`, `nft -f -`, `iptables-restore`, and
// CNI plugins), through the addon's posix_spawn (spawn.ts) or, without it, node:child_process.
// Everything else receives an `Exec` or a `RawExec` and can be handed a fake.
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { PodnetError } from "../util/errors.js";
import { loadAddon } from "./addon.js";
import { nativeRun, nativeSpawnOf, type NativeSpawn } from "./spawn.js";

export interface ExecOptions {
  /** Written to the child's stdin (then closed). */
  readonly stdin?: string | Uint8Array;
  /**
   * Instead of `stdin`: the child starts at once and gets this as its input when it settles (a
   * rejection closes stdin empty) — to pay a start-up while the input is still being worked out.
   */
  readonly deferredStdin?: PromiseLike<string | Uint8Array>;
  /** The child's whole environment (default: ours). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly signal?: AbortSignal;
  /** SIGKILL the child after this many milliseconds. */
  readonly timeoutMs?: number;
  readonly cwd?: string;
}

export interface ExecResult {
  /** Exit code, or null when the child was killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly timedOut: boolean;
}

/** Starts a program and reports how it ended; a non-zero exit is not an error here. */
export interface RawExec {
  run(file: string, args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
}

/** Runs a command and resolves with stdout; rejects with ExecError on a non-zero exit. */
export interface Exec {
  run(argv: readonly string[], opts?: ExecOptions): Promise<string>;
}

/** The program could not be started at all (ENOENT, EACCES, ETXTBSY, ...). */
export class ExecStartError extends PodnetError {
  override name = "ExecStartError";
  readonly code = "PODNET_EXEC_START";
  /** The system call's error name ("ENOENT"). */
  readonly errno: string;
  readonly file: string;
  constructor(file: string, errno: string, message: string) {
    super(message);
    this.file = file;
    this.errno = errno;
  }
}

export class ExecError extends PodnetError {
  override name = "ExecError";
  readonly code = "PODNET_EXEC";
  readonly argv: readonly string[];
  /** Exit status, or null when killed by a signal / not started. */
  readonly exitCode: number | null;
  readonly stderr: string;
  readonly stdout: string;
  constructor(argv: readonly string[], exitCode: number | null, stdout: string, stderr: string, cause?: unknown) {
    const first = stderr.split("\n").find((l) => l.trim() !== "") ?? (cause instanceof Error ? cause.message : `exit status ${exitCode}`);
    super(`failed to run "${argv.join(" ")}": ${first.trim()}`, { cause });
    this.argv = argv;
    this.exitCode = exitCode;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

/** The program could not be started at all (not installed, not executable): no exit status. */
export function isNotStarted(e: unknown): boolean {
  return e instanceof ExecError && e.exitCode === null && e.cause instanceof ExecStartError;
}

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
        Promise.resolve(opts.deferredStdin).then((b) => child.stdin.end(b), () => child.stdin.end(""));
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
