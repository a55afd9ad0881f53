// Starting a process without fork(2): the addon's posix_spawn (glibc's is clone(CLONE_VM |
// CLONE_VFORK)). Node's child_process forks, and fork copies the page tables of the whole
// process: ≈ 4 ms per 100 MB resident, during which the calling thread is blocked and every other
// thread that faults a page waits on the address-space lock. The daemons (the resident plugins,
// the node manager with its plugin workers) are 60–120 MB and start a process for most pods
// (iptables-restore, nft), so that cost was on every pod's path and grew with the daemon's heap.
//
// Same contract as child_process.spawn with three pipes: the program is looked up in the child's
// PATH as execvp does, the child gets default signal dispositions and an empty mask, the result
// comes once the child has exited and closed its output. The child is reaped here (libuv reaps
// only the children it started). Used by exec.ts when the addon has `spawn`.
import { accessSync, constants as fsConstants, statSync } from "node:fs";
import type { Socket } from "node:net";
import type { Addon } from "./addon.js";
import { ExecStartError, type ExecOptions, type ExecResult } from "./exec-types.js";

/** The addon's spawn and waitPid. */
export interface NativeSpawn {
  spawn: NonNullable<Addon["spawn"]>;
  waitPid: NonNullable<Addon["waitPid"]>;
}

export function nativeSpawnOf(a: Addon | undefined): NativeSpawn | undefined {
  if (!a?.spawn || !a.waitPid) return undefined;
  return { spawn: a.spawn.bind(a), waitPid: a.waitPid.bind(a) };
}

/** glibc's execvp default when PATH is unset (confstr _CS_PATH). */
const DEFAULT_PATH = "/bin:/usr/bin";

/**
 * The file execvp would run for `file` with this PATH: `file` itself when it has a slash, else
 * the first executable regular file in PATH; undefined (with the errno execvp would report) when none.
 */
export function lookPath(file: string, path: string | undefined): { path?: string; errno: string } {
  if (file === "") return { errno: "ENOENT" };
  if (file.includes("/")) return { path: file, errno: "" };
  let errno = "ENOENT";
  for (const dir of (path ?? DEFAULT_PATH).split(":")) {
    const p = `${dir === "" ? "." : dir}/${file}`;
    try {
      accessSync(p, fsConstants.X_OK);
      if (statSync(p).isFile()) return { path: p, errno: "" };
      errno = "EACCES";
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EACCES") errno = "EACCES";
    }
  }
  return { errno };
}

/** A signal's name; node:os is loaded only when a child was killed (plugin start-up loads no more than it needs). */
async function signalName(n: number): Promise<NodeJS.Signals | null> {
  const { constants } = await import("node:os");
  return (Object.entries(constants.signals).find(([, v]) => v === n)?.[0] as NodeJS.Signals | undefined) ?? null;
}

/**
 * After the child closed its output it is exiting: the first look waits for that up to
 * REAP_BLOCK_MS on this thread (it takes microseconds unless the machine is busy), then the looks
 * are spaced out on timers (a child that handed its output on keeps running).
 */
const REAP_BLOCK_MS = 2;
const REAP_WAITS_MS = [1, 2, 5, 10, 20, 50, 100];

let netModule: typeof import("node:net") | undefined;
const loadNet = async () => (netModule ??= await import("node:net"));

export async function nativeRun(
  ns: NativeSpawn,
  file: string,
  args: readonly string[],
  opts: ExecOptions,
): Promise<ExecResult> {
  const env = opts.env ?? process.env;
  const found = lookPath(file, env["PATH"]);
  if (!found.path) throw new ExecStartError(file, found.errno, `${file}: spawn ${file} ${found.errno}`);
  const envp = Object.entries(env)
    .filter((kv): kv is [string, string] => kv[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  const net = await loadNet();
  let h: { pid: number; stdin: number; stdout: number; stderr: number };
  try {
    h = ns.spawn(found.path, [file, ...args], envp, opts.cwd ?? null);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "UNKNOWN";
    throw new ExecStartError(file, code, `${file}: spawn ${file} ${code}`);
  }
  const pid = h.pid;
  let reaped = false;
  const kill = (sig: NodeJS.Signals) => {
    if (reaped) return; // never signal a pid that may have been reused
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  const stdin: Socket = new net.Socket({ fd: h.stdin, readable: false, writable: true });
  const stdout: Socket = new net.Socket({ fd: h.stdout, readable: true, writable: false });
  const stderr: Socket = new net.Socket({ fd: h.stderr, readable: true, writable: false });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on("data", (b: Buffer) => out.push(b));
  stderr.on("data", (b: Buffer) => err.push(b));
  for (const s of [stdin, stdout, stderr]) s.on("error", () => {}); // EPIPE when the child exits without reading stdin
  let timedOut = false;
  const timer =
    opts.timeoutMs && opts.timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          kill("SIGKILL");
        }, opts.timeoutMs)
      : undefined;
  const onAbort = () => kill("SIGTERM");
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  if (opts.deferredStdin) {
    Promise.resolve(opts.deferredStdin).then(
      (b) => stdin.end(b),
      () => stdin.end(),
    );
  } else {
    stdin.end(opts.stdin ?? "");
  }
  const closed = (s: Socket) =>
    new Promise<void>((r) => (s.destroyed && !s.readable ? r() : s.once("close", () => r())));
  try {
    await Promise.all([closed(stdout), closed(stderr)]);
    // Reap: the child has closed its output, so it is exiting (or it handed its output on; then
    // keep waiting, as child_process does for 'close').
    let status: { code: number | null; signal: number | null } | null = null;
    for (let i = 0; ; i++) {
      status = ns.waitPid(pid, i === 0 ? REAP_BLOCK_MS : 0);
      if (status) break;
      await new Promise((r) => setTimeout(r, REAP_WAITS_MS[Math.min(i, REAP_WAITS_MS.length - 1)]));
    }
    reaped = true;
    return {
      code: status.code,
      signal: status.signal === null ? null : await signalName(status.signal),
      stdout: Buffer.concat(out),
      stderr: Buffer.concat(err),
      timedOut,
    };
  } finally {
    if (timer) clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
    if (!stdin.destroyed) stdin.destroy();
  }
}
