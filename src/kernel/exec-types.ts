// What starting a process means in podnet: the options, the result, the two ports (`Exec` for
// commands, `RawExec` for CNI plugins) and their errors. exec.ts implements them (with spawn.ts,
// the addon's posix_spawn) and is where the rest of the code takes them from.
import { PodnetError } from "../util/errors.js";

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
    const first =
      stderr.split("\n").find((l) => l.trim() !== "") ??
      (cause instanceof Error ? cause.message : `exit status ${exitCode}`);
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
