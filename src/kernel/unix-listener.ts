// The one way podnet's root daemons listen on a unix socket (`podnet node --socket` and
// `--cni-socket`, `podnet resident --socket`). Whoever can connect to these sockets can make root
// run programs, so the socket is never reachable by anyone else, not even for a microsecond:
//
//   1. The socket's directory must be trusted: a directory, owned by root (or by this process's
//      user), not writable by group or others; every parent up to "/" owned the same way and not
//      group/other-writable unless sticky (/tmp: nobody else can rename a root-owned entry there).
//      A missing directory is created 0700 (0750 root:GROUP with a socket group), parents 0755.
//   2. The socket is bound inside a private 0700 directory made for the purpose next to its final
//      name, given its final mode (0600, or 0660 root:GROUP) and owner there, and only then
//      hard-linked under its final name: the process umask never matters and no mode is widened
//      on a reachable socket.
//   3. The final name is taken only when it is free or holds a stale socket (one nobody answers
//      on): a live daemon's socket, a regular file, a directory or a symlink is refused, naming
//      what holds it. The check and the link happen under a flock on the directory, and link(2)
//      never replaces anything.
//   4. Every connection's peer is checked with SO_PEERCRED before a byte is read: root (or this
//      process's user) only, plus members of the socket group when one is given; anyone else is
//      answered `rejectAnswer` (if any), disconnected and reported.
//
// See docs/security.md for the threat model.
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  unlinkSync,
  type Stats,
} from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { loadAddon, type Addon, type PeerCred } from "./addon.js";
import { PodnetError } from "../util/errors.js";

/** The group that may use a socket besides root (`--socket-group`). */
export interface SocketGroup {
  readonly name: string;
  readonly gid: number;
}

/** Who may connect: these users, and members of `gid` (primary or supplementary) when given. */
export interface PeerPolicy {
  readonly uids: readonly number[];
  readonly gid?: number;
}

/** A socket path that podnet refuses to use; the message names the path and the reason. */
export class SocketPathError extends PodnetError {
  override name = "SocketPathError";
  readonly code = "PODNET_SOCKET_PATH";
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.path = path;
  }
}

/** sun_path holds 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH = 107;
/** How long a start-up waits for another process's check-and-link on the same directory. */
const DIR_LOCK_TIMEOUT_MS = 10_000;
/** How long a refused peer may still send (discarded) after its answer, before it is disconnected. */
const REJECT_LINGER_MS = 1_000;
/** How long the liveness probe of an existing socket waits for connect(2). */
const PROBE_TIMEOUT_MS = 2_000;

const octal = (mode: number) => `0${(mode & 0o7777).toString(8).padStart(3, "0")}`;

/** The users a root daemon trusts with its sockets and their directories: root, and itself. */
export function trustedUids(): number[] {
  const me = process.geteuid?.() ?? 0;
  return me === 0 ? [0] : [0, me];
}

/** True when `peer` may talk to the daemon under `policy`. */
export function peerAllowed(peer: PeerCred, policy: PeerPolicy): boolean {
  if (policy.uids.includes(peer.uid)) return true;
  if (policy.gid === undefined) return false;
  return peer.gid === policy.gid || peer.groups.includes(policy.gid);
}

/** "uid 1001 pid 4242" — for logs and errors. */
export function describePeer(peer: PeerCred | undefined): string {
  return peer ? `uid ${peer.uid} gid ${peer.gid} pid ${peer.pid}` : "an unidentified peer";
}

/**
 * Why a directory is not safe to hold a root daemon's socket (undefined: it is). `leaf` is the
 * socket's own directory, which must not be group/other-writable at all; a parent may be when it is
 * sticky. Pure.
 */
export function unsafeDirReason(
  st: Pick<Stats, "uid" | "mode"> & { isDirectory(): boolean },
  leaf: boolean,
  uids: readonly number[],
): string | undefined {
  if (!st.isDirectory()) return "is not a directory";
  const who = `owner uid ${st.uid}, mode ${octal(st.mode)}`;
  if (!uids.includes(st.uid)) return `is not owned by root (${who})`;
  const writable = st.mode & 0o022;
  if (writable && (leaf || !(st.mode & 0o1000))) {
    const by = [st.mode & 0o020 ? "group" : "", st.mode & 0o002 ? "others" : ""].filter(Boolean).join(" and ");
    return `is writable by ${by}${leaf ? "" : " and not sticky"} (${who})`;
  }
  return undefined;
}

/** Whether members of `gid` can search (reach entries of) a directory. Pure. */
export function groupCanSearch(st: Pick<Stats, "gid" | "mode">, gid: number): boolean {
  return (st.mode & 0o001) !== 0 || ((st.mode & 0o010) !== 0 && st.gid === gid);
}

/**
 * Checks the socket directory `dir` and every parent (their real paths); returns the real path of
 * `dir`. Throws SocketPathError naming the first unsafe directory.
 */
export function checkSocketDir(dir: string, o: { uids?: readonly number[]; group?: SocketGroup } = {}): string {
  const uids = o.uids ?? trustedUids();
  const real = realpathSync(dir);
  const via = real !== dir ? ` (the real path of ${dir})` : "";
  for (let p = real, leaf = true; ; p = dirname(p), leaf = false) {
    const st = lstatSync(p);
    const why = unsafeDirReason(st, leaf, uids);
    if (why) {
      const what = leaf ? `socket directory ${p}${via}` : `${p}, a parent of the socket directory ${real},`;
      throw new SocketPathError(
        dir,
        `refusing ${what} ${why}: it must be owned by root and not writable by group or others`,
      );
    }
    if (o.group && !groupCanSearch(st, o.group.gid)) {
      throw new SocketPathError(
        dir,
        `socket group ${o.group.name}: members cannot reach ${p} (group gid ${st.gid}, mode ${octal(st.mode)}); ` +
          `make it searchable by the group (e.g. root:${o.group.name} 0750) or remove it so podnet creates it`,
      );
    }
    if (p === "/") return real;
  }
}

/**
 * Makes sure the socket directory exists and is safe; returns its real path. Missing directories
 * are created one by one (parents 0755, the socket's own 0700 or root:GROUP 0750), each created
 * with at most its final mode; an existing directory is only checked, never changed.
 */
export function prepareSocketDir(dir: string, o: { uids?: readonly number[]; group?: SocketGroup } = {}): string {
  const missing: string[] = [];
  for (let p = resolve(dir); ; p = dirname(p)) {
    try {
      lstatSync(p);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      missing.unshift(p);
      if (p === "/") break;
    }
  }
  for (const p of missing) {
    const leaf = p === missing[missing.length - 1];
    const mode = !leaf ? 0o755 : o.group ? 0o750 : 0o700;
    try {
      mkdirSync(p, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") continue; // made meanwhile: checked below
      throw e;
    }
    if (leaf && o.group) chownSync(p, process.geteuid?.() ?? 0, o.group.gid);
    chmodSync(p, mode); // the umask may have taken bits away; never more than `mode`
  }
  return checkSocketDir(dir, o);
}

/** What a path holds before a daemon takes it. */
export type Occupant =
  | { readonly kind: "free" }
  | { readonly kind: "stale" }
  | { readonly kind: "live"; readonly peer?: PeerCred }
  | { readonly kind: "other"; readonly what: string };

function kindOf(st: Stats): string {
  if (st.isFile()) return "a regular file";
  if (st.isDirectory()) return "a directory";
  if (st.isSymbolicLink()) return "a symbolic link";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a socket";
}

const fdOf = (s: Socket): number => (s as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;

/** A socket path's occupant: nothing, a stale socket, a live daemon (with its credentials), or something else. */
export async function inspectSocketPath(path: string, addon: () => Addon = loadAddon): Promise<Occupant> {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { kind: "free" };
    throw e;
  }
  if (!st.isSocket()) return { kind: "other", what: kindOf(st) };
  return new Promise<Occupant>((done) => {
    const s = connect({ path });
    const timer = setTimeout(() => finish({ kind: "live" }), PROBE_TIMEOUT_MS);
    function finish(o: Occupant) {
      clearTimeout(timer);
      s.destroy();
      done(o);
    }
    s.once("connect", () => {
      let peer: PeerCred | undefined;
      try {
        peer = addon().peerCred(fdOf(s));
      } catch {
        peer = undefined;
      }
      finish(peer ? { kind: "live", peer } : { kind: "live" });
    });
    s.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ECONNREFUSED") finish({ kind: "stale" });
      else if (e.code === "ENOENT") finish({ kind: "free" });
      else if (e.code === "EAGAIN")
        finish({ kind: "live" }); // its backlog is full: very much alive
      else finish({ kind: "other", what: `a socket that cannot be probed (${e.code ?? e.message})` });
    });
  });
}

function occupiedError(path: string, o: Occupant): SocketPathError {
  if (o.kind === "live") {
    const who = o.peer ? ` (pid ${o.peer.pid}, uid ${o.peer.uid})` : "";
    return new SocketPathError(
      path,
      `${path} is in use: another daemon${who} is serving on it; stop it first or choose another socket`,
    );
  }
  const what = o.kind === "other" ? o.what : "in use";
  return new SocketPathError(path, `${path} is ${what}, not a stale socket; refusing to replace it`);
}

/** An exclusive flock(2) on a directory, for the check-and-link of one socket. */
async function lockDir(dir: string, addon: () => Addon): Promise<() => void> {
  const a = addon();
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  const started = Date.now();
  try {
    for (let wait = 1; !a.flock(fd, a.LOCK_EX | a.LOCK_NB); wait = Math.min(wait * 2, 20)) {
      if (Date.now() - started > DIR_LOCK_TIMEOUT_MS)
        throw new SocketPathError(
          dir,
          `${dir}: another process holds its lock for more than ${DIR_LOCK_TIMEOUT_MS} ms`,
        );
      await new Promise((r) => setTimeout(r, wait));
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return () => closeSync(fd); // closing the only fd releases the flock
}

/**
 * The checks of listenUnix without taking the name: for a daemon that has work to do before it
 * listens, so that a bad or occupied socket path fails the start before anything is touched.
 */
export async function checkSocketPath(
  path: string,
  o: { group?: SocketGroup; addon?: () => Addon } = {},
): Promise<void> {
  const { final } = socketTarget(path, o.group);
  await takeable(path, final, o.addon ?? loadAddon);
}

/** The socket's directory (prepared and checked) and its final real path. */
function socketTarget(path: string, group: SocketGroup | undefined): { uids: number[]; dir: string; final: string } {
  const abs = resolve(path);
  const uids = trustedUids();
  const dir = prepareSocketDir(dirname(abs), { uids, ...(group ? { group } : {}) });
  return { uids, dir, final: join(dir, basename(abs)) };
}

/** What holds `final` when it may be taken (nothing, or a stale socket); throws otherwise. */
async function takeable(path: string, final: string, addon: () => Addon): Promise<Occupant> {
  const occ = await inspectSocketPath(final, addon);
  if (occ.kind === "live" || occ.kind === "other") throw occupiedError(path, occ);
  return occ;
}

export interface ListenOptions {
  /** Members of this group may connect too; the socket is then root:GROUP 0660 in a 0750 directory. */
  readonly group?: SocketGroup;
  /** Written to a rejected peer before it is disconnected (e.g. an HTTP 403). */
  readonly rejectAnswer?: string | Buffer;
  /** Called for every rejected connection (log the uid and pid). */
  readonly onReject?: (peer: PeerCred | undefined) => void;
  /** Keep the socket writable after the peer shuts down its side (the launchers do). */
  readonly allowHalfOpen?: boolean;
  readonly addon?: () => Addon;
}

export interface UnixListener {
  /** The socket's real path (its directory's symlinks resolved). */
  readonly path: string;
  readonly server: Server;
  /** Connections accepted and not yet closed. */
  connections(): number;
  /** Stops accepting, drops every connection and removes the socket (only if it is still ours). */
  close(): Promise<void>;
}

/**
 * Listens on the unix socket `path` as described at the top of this file; `onConnection` gets
 * only connections from allowed peers, with their credentials, before any byte has been read.
 */
export async function listenUnix(
  path: string,
  onConnection: (conn: Socket, peer: PeerCred) => void,
  o: ListenOptions = {},
): Promise<UnixListener> {
  const addon = o.addon ?? loadAddon;
  if (typeof addon().peerCred !== "function" || typeof addon().peerHungUp !== "function") {
    // Otherwise every peer would be refused for want of a credential check.
    throw new Error("the native addon predates the socket peer checks (peerCred): rebuild it with `npm run install`");
  }
  const { uids, dir, final } = socketTarget(path, o.group);
  const tmpDir = join(dir, `.pn-${randomBytes(4).toString("hex")}`);
  const tmpSock = join(tmpDir, "s");
  for (const p of [final, tmpSock]) {
    if (Buffer.byteLength(p) > MAX_SOCKET_PATH)
      throw new SocketPathError(path, `socket path ${p} is longer than ${MAX_SOCKET_PATH} bytes`);
  }
  const policy: PeerPolicy = { uids, ...(o.group ? { gid: o.group.gid } : {}) };
  const open = new Set<Socket>();
  const server = createServer({ allowHalfOpen: o.allowHalfOpen ?? false }, (conn) => {
    let peer: PeerCred | undefined;
    try {
      peer = addon().peerCred(fdOf(conn));
    } catch {
      peer = undefined;
    }
    if (!peer || !peerAllowed(peer, policy)) {
      conn.on("error", () => {});
      o.onReject?.(peer);
      if (o.rejectAnswer === undefined) {
        conn.destroy();
        return;
      }
      // Answer, then discard what the peer still sends for a moment: closing at once would make
      // its own write fail (EPIPE) before it reads the answer.
      conn.resume();
      conn.end(o.rejectAnswer);
      const linger = setTimeout(() => conn.destroy(), REJECT_LINGER_MS);
      linger.unref();
      conn.once("close", () => clearTimeout(linger));
      return;
    }
    open.add(conn);
    conn.once("close", () => open.delete(conn));
    conn.on("error", () => {}); // a peer resetting its connection must never crash the daemon
    onConnection(conn, peer);
  });

  const unlock = await lockDir(dir, addon);
  let made = false;
  try {
    const occ = await takeable(path, final, addon);
    mkdirSync(tmpDir, { mode: 0o700 });
    made = true;
    await new Promise<void>((ok, fail) => {
      server.once("error", fail);
      server.listen(tmpSock, () => {
        server.off("error", fail);
        ok();
      });
    });
    // Still only reachable by root (0700 directory): final mode and owner, then publish.
    chmodSync(tmpSock, o.group ? 0o660 : 0o600);
    if (o.group) chownSync(tmpSock, process.geteuid?.() ?? 0, o.group.gid);
    if (occ.kind === "stale") rmSync(final, { force: true });
    try {
      linkSync(tmpSock, final);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST")
        throw occupiedError(path, await inspectSocketPath(final, addon));
      throw e;
    }
  } catch (e) {
    server.close();
    throw e;
  } finally {
    if (made) rmSync(tmpDir, { recursive: true, force: true });
    unlock();
  }
  const mine = lstatSync(final);
  return {
    path: final,
    server,
    connections: () => open.size,
    async close() {
      await new Promise<void>((r) => {
        server.close(() => r());
        for (const c of open) c.destroy();
      });
      try {
        const st = lstatSync(final);
        if (st.ino === mine.ino && st.dev === mine.dev) unlinkSync(final);
      } catch {
        // already gone
      }
    },
  };
}

/**
 * True when the peer of an accepted connection has gone (closed its end) — a cheap check (one
 * poll(2), nothing read) to repeat before starting any work for it.
 */
export function clientGone(conn: Socket, addon: () => Addon = loadAddon): boolean {
  if (conn.destroyed) return true;
  const fd = fdOf(conn);
  if (fd < 0) return true;
  try {
    return addon().peerHungUp(fd);
  } catch {
    return true;
  }
}

/**
 * `--socket-group` → the group: a numeric GID, or a name from /etc/group (groups from other
 * name services: give the GID).
 */
export function resolveGroup(
  spec: string,
  readGroupFile: () => string = () => readFileSync("/etc/group", "utf8"),
): SocketGroup {
  if (/^[0-9]+$/.test(spec)) {
    const gid = Number(spec);
    if (gid > 0xfffffffe) throw new RangeError(`--socket-group: GID ${spec} is out of range`);
    return { name: spec, gid };
  }
  if (spec === "" || /[:\s]/.test(spec))
    throw new RangeError(`--socket-group: ${JSON.stringify(spec)} is not a group name`);
  let text = "";
  try {
    text = readGroupFile();
  } catch (e) {
    throw new RangeError(
      `--socket-group: cannot read /etc/group to find ${JSON.stringify(spec)}: ${(e as Error).message}; give a numeric GID`,
    );
  }
  for (const line of text.split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === spec && gid !== undefined && /^[0-9]+$/.test(gid)) return { name: spec, gid: Number(gid) };
  }
  throw new RangeError(
    `--socket-group: no group ${JSON.stringify(spec)} in /etc/group (give a numeric GID for groups from other name services)`,
  );
}
