// Locates and loads the native addon (native/podnet_netlink.c). The only import of it in podnet.
//
// Where it is looked for, in order (first that exists wins):
//   1. $PODNET_ADDON (a path to the .node file);
//   2. next to the running script (realpath of process.argv[1]): plugin bundles ship it beside them;
//   3. native/build/Release/podnet_netlink.node in the nearest ancestor of this module's directory,
//      then of the running script's directory, then of the working directory (a checkout: dist/…,
//      build/…, bench/…, bin/…).
// Works from the ESM build (dist/) and from esbuild's CommonJS bundles (where __dirname exists).
import { existsSync, realpathSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ADDON_FILE = "podnet_netlink.node";

/** Who is at the other end of a unix socket, as the kernel recorded it at connect() (SO_PEERCRED). */
export interface PeerCred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups at connect() (SO_PEERGROUPS; empty on kernels before 4.13). */
  readonly groups: readonly number[];
}

export interface Addon {
  /** Netlink socket opened inside the netns at `netnsPath` (null: the thread's own), bound, CLOEXEC. */
  nlOpen(netnsPath: string | null, protocol: number): number;
  nlSend(fd: number, buf: Uint8Array): number;
  /** One datagram, or null when nothing arrived within `timeoutMs`. */
  nlRecv(fd: number, timeoutMs: number): Buffer | null;
  close(fd: number): void;
  sysctlRead(netnsPath: string | null, key: string): string;
  sysctlWrite(netnsPath: string | null, key: string, value: string): void;
  /** flock(2); false when LOCK_NB was given and the lock is held elsewhere. */
  flock(fd: number, op: number): boolean;
  /** SO_PEERCRED + SO_PEERGROUPS of a connected unix socket. */
  peerCred(fd: number): PeerCred;
  /** True once the peer of a unix stream socket has closed its end (POLLHUP); reads nothing. */
  peerHungUp(fd: number): boolean;
  /** inotify_init1(IN_NONBLOCK | IN_CLOEXEC); events are read with fs.readSync. Optional: an addon built before it lacks it. */
  inotifyInit?(): number;
  /** inotify_add_watch(2): the watch descriptor (the same one again for the same inode). */
  inotifyAddWatch?(fd: number, path: string, mask: number): number;
  inotifyRmWatch?(fd: number, wd: number): void;
  /**
   * posix_spawn(3) of `path` with three pipes (the returned fds are the parent's ends, CLOEXEC) and
   * default signal handling; throws the errno of a failed start. Optional, as the inotify calls.
   */
  spawn?(
    path: string,
    argv: readonly string[],
    envp: readonly string[],
    cwd: string | null,
  ): { pid: number; stdin: number; stdout: number; stderr: number };
  /**
   * waitpid(pid, WNOHANG) after waiting up to `timeoutMs` (0–1000, default 0) for the child to
   * exit (a pidfd poll, blocking this thread): null while it runs; its exit code or terminating
   * signal number once reaped.
   */
  waitPid?(pid: number, timeoutMs?: number): { code: number | null; signal: number | null } | null;
  readonly LOCK_SH: number;
  readonly LOCK_EX: number;
  readonly LOCK_NB: number;
  readonly LOCK_UN: number;
}

let cached: Addon | undefined;

function moduleDir(): string | undefined {
  // CommonJS bundle: __dirname is the bundle's directory. ESM: import.meta.url.
  if (typeof __dirname === "string") return __dirname;
  try {
    return dirname(fileURLToPath(import.meta.url));
  } catch {
    return undefined;
  }
}

function scriptDir(): string | undefined {
  const s = process.argv[1];
  if (!s) return undefined;
  try {
    return dirname(realpathSync(s));
  } catch {
    return dirname(resolve(s));
  }
}

function inAncestors(start: string | undefined, out: string[]): void {
  if (!start) return;
  let dir = resolve(start);
  for (;;) {
    out.push(join(dir, "native", "build", "Release", ADDON_FILE));
    const up = dirname(dir);
    if (up === dir) return;
    dir = up;
  }
}

/** Every path `loadAddon` would try, in order. */
export function addonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  if (env.PODNET_ADDON) out.push(resolve(env.PODNET_ADDON));
  const sd = scriptDir();
  if (sd) out.push(join(sd, ADDON_FILE));
  const md = moduleDir();
  if (md) out.push(join(md, ADDON_FILE));
  inAncestors(md, out);
  inAncestors(sd, out);
  inAncestors(process.cwd(), out);
  return [...new Set(out)];
}

/** Loads the addon once per process (per thread). Throws an Error listing every path tried. */
export function loadAddon(): Addon {
  if (cached) return cached;
  const tried = addonCandidates();
  for (const p of tried) {
    if (!existsSync(p)) continue;
    // process.dlopen, not require: node:module costs ~10 ms of start-up in a plugin bundle.
    const m = { exports: {} as Addon };
    process.dlopen(m, p);
    cached = m.exports;
    return cached;
  }
  throw new Error(
    `podnet: cannot find the native addon ${ADDON_FILE}; build it with \`npm run install\` ` +
      `(node-gyp) or set PODNET_ADDON; tried:\n  ${tried.join("\n  ")}`,
  );
}
