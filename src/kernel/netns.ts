// Named network namespaces (/run/netns/NAME), as `ip netns` manages them. Creating one needs
// unshare + a bind mount, which iproute2 already does well, so add/del spawn `ip netns` through the
// injected Exec (tests, the demo and the node manager use them; plugins never do).
import { existsSync, statfsSync, statSync } from "node:fs";
import { KernelError } from "./errors.js";
import type { Exec } from "./exec.js";

export const NETNS_RUN_DIR = "/run/netns";
/** statfs(2) f_type of nsfs, the filesystem namespace files live on. */
export const NSFS_MAGIC = 0x6e736673;

export function netnsPath(name: string): string {
  return `${NETNS_RUN_DIR}/${name}`;
}

function checkName(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,200}$/.test(name) || name === "." || name === "..") {
    throw new RangeError(`invalid netns name ${JSON.stringify(name)}`);
  }
}

/**
 * True when `path` is the network namespace this process (every thread of it) runs in — skel's
 * ErrInvalidNetNS check. False when either cannot be stat'ed (skel then skips the check).
 */
export function isOwnNetns(path: string): boolean {
  const a = netnsIdentity(path);
  return a !== undefined && a === netnsIdentity("/proc/self/ns/net");
}

/**
 * "dev:ino" of the namespace file at `path` (following /proc's links): equal for every path that
 * names the same namespace (/run/netns/X, /proc/PID/ns/net, a bind mount). Undefined when it
 * cannot be stat'ed.
 */
export function netnsIdentity(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/** True when `path` is a namespace file (on nsfs): a bound /run/netns/X or /proc/PID/ns/net. Never throws. */
export function isNetnsFile(path: string): boolean {
  try {
    return statfsSync(path).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

function classify(op: string, e: unknown): KernelError {
  const stderr = (e as { stderr?: unknown } | undefined)?.stderr;
  const text = typeof stderr === "string" && stderr !== "" ? stderr : String(e);
  const errno = /File exists/i.test(text)
    ? "EEXIST"
    : /No such file|does not exist/i.test(text)
      ? "ENOENT"
      : /Permission denied|Operation not permitted/i.test(text)
        ? "EPERM"
        : "EIO";
  return new KernelError(op, errno, { extack: text.trim().split("\n")[0] ?? "", cause: e });
}

/** `ip netns add NAME` → its path. */
export async function netnsAdd(exec: Exec, name: string): Promise<string> {
  checkName(name);
  try {
    await exec.run(["ip", "netns", "add", name]);
  } catch (e) {
    throw classify(`ip netns add ${name}`, e);
  }
  return netnsPath(name);
}

/** `ip netns del NAME`; nothing to do when it does not exist. */
export async function netnsDel(exec: Exec, name: string): Promise<void> {
  checkName(name);
  if (!existsSync(netnsPath(name))) return;
  try {
    await exec.run(["ip", "netns", "del", name]);
  } catch (e) {
    if (!existsSync(netnsPath(name))) return;
    throw classify(`ip netns del ${name}`, e);
  }
}
