// A resident call runs in the daemon's process but must behave as if the plugin had been exec'd
// in the caller's working directory: a relative host-local `dataDir`, `resolvConf` or
// `rangeFromFile`, a relative portmap/bandwidth `dataDir`, a relative CNI_NETNS or CNI_PATH entry
// all mean "relative to the caller". process.chdir() is process-global and the daemon serves many
// calls at once, so instead every dependency through which a plugin reaches a path (files, locks,
// the kernel's netns paths, the processes it starts) is wrapped per call to resolve relative
// paths against the caller's cwd. Plugins, the SDK and what they print are unchanged: the config
// and CNI_NETNS keep their relative text (a result's `sandbox` stays as given).
import type { Exec, RawExec } from "../kernel/exec.js";
import type { Kernel } from "../kernel/types.js";
import type { StateFs } from "../plugins/meta/attachment-state.js";
import type { HostLocalFs } from "../plugins/ipam/host-local/host-local.js";

/** What the daemon knows about the caller of one call. */
export interface CallContext {
  /** The caller's working directory (absolute); absent: the daemon's own (netmgr's in-process calls). */
  readonly cwd?: string;
}

/** Path resolution for one call: relative paths against `cwd`, the rest unchanged. */
export type At = (path: string) => string;

/**
 * `cwd/p` for a relative, non-empty `p` — concatenated, not normalised, so that the kernel walks
 * exactly what it would have walked from `cwd` (`link/..` follows the link, as in the exec'd plugin).
 */
export function atCwd(cwd: string | undefined): At | undefined {
  if (cwd === undefined || cwd === "") return undefined;
  const base = cwd.endsWith("/") ? cwd : `${cwd}/`;
  return (p) => (p === "" || p.startsWith("/") ? p : base + p);
}

export function storeFsAt(fs: HostLocalFs, at: At): HostLocalFs {
  return {
    readFileLimited: (p, max) => fs.readFileLimited(at(p), max),
    mkdir: (p, o) => fs.mkdir(at(p), o),
    readdir: (p, o) => fs.readdir(at(p), o),
    readFile: (p, e) => fs.readFile(at(p), e),
    writeFile: (p, d, o) => fs.writeFile(at(p), d, o),
    link: (a, b) => fs.link(at(a), at(b)),
    unlink: (p) => fs.unlink(at(p)),
    ...(fs.readFileSync ? { readFileSync: (p: string, e: "utf8") => fs.readFileSync!(at(p), e) } : {}),
    ...(fs.changes ? { changes: (p: string) => fs.changes!(at(p)) } : {}),
  };
}

export function stateFsAt(fs: StateFs, at: At): StateFs {
  return {
    mkdir: (p, o) => fs.mkdir(at(p), o),
    readFile: (p, e) => fs.readFile(at(p), e),
    writeFile: (p, d, o) => fs.writeFile(at(p), d, o),
    rename: (a, b) => fs.rename(at(a), at(b)),
    unlink: (p) => fs.unlink(at(p)),
    readdir: (p) => fs.readdir(at(p)),
    rmdir: (p) => fs.rmdir(at(p)),
  };
}

/** Commands and delegated plugins start in the caller's cwd, as they would from the exec'd plugin. */
export function execAt(exec: Exec, cwd: string): Exec {
  return { run: (argv, opts = {}) => exec.run(argv, { cwd, ...opts }) };
}

export function rawExecAt(exec: RawExec, at: At, cwd: string): RawExec {
  return { run: (file, args, opts = {}) => exec.run(at(file), args, { cwd, ...opts }) };
}

/** The kernel with a call's netns paths and lock paths resolved against its cwd. */
export function kernelAt(k: Kernel, at: At): Kernel {
  const ns = (p: string | null) => (p === null ? null : at(p));
  return {
    netns: (p) => k.netns(ns(p)),
    sysctl: { read: (n, key) => k.sysctl.read(ns(n), key), write: (n, key, v) => k.sysctl.write(ns(n), key, v) },
    lock: (p, o) => k.lock(at(p), o),
    netnsExists: (p) => k.netnsExists(at(p)),
    netnsAdd: (name) => k.netnsAdd(name),
    netnsDel: (name) => k.netnsDel(name),
    close: () => k.close(),
  };
}
