// Which entries of a directory changed since a long-lived process last looked, exactly: inotify.
//
// A daemon that keeps a directory's contents in memory (host-local's reservations) asks, each time
// it holds the directory's lock, what changed since its previous look, and re-reads only that. The
// kernel queues an event during the very system call that creates, removes, renames, writes or
// chmods an entry, so once every writer is excluded (they all take the same lock first), draining
// the queue gives every change up to now. Timestamps could not: a directory's mtime is the coarse
// clock on most kernels, and two changes within one tick look like one.
//
// The answer is "all" (look at everything) whenever that is not known: the first look, a queue
// overflow, the directory removed, renamed or replaced (the path now names another inode). Only
// local file systems are watched: inotify does not see changes made by another host (NFS, CIFS,
// FUSE, cluster file systems), so there `watch` answers undefined and the caller reads everything.
// Not seen either: writes through a hard link elsewhere or a shared mmap — no CNI writer does that.
import { readSync, statfsSync } from "node:fs";
import { endianness } from "node:os";
import { loadAddon, type Addon } from "./addon.js";

/** <sys/inotify.h> */
export const IN = {
  MODIFY: 0x2,
  ATTRIB: 0x4,
  CLOSE_WRITE: 0x8,
  MOVED_FROM: 0x40,
  MOVED_TO: 0x80,
  CREATE: 0x100,
  DELETE: 0x200,
  DELETE_SELF: 0x400,
  MOVE_SELF: 0x800,
  UNMOUNT: 0x2000,
  Q_OVERFLOW: 0x4000,
  IGNORED: 0x8000,
  ONLYDIR: 0x1000000,
} as const;

const WATCH_MASK =
  IN.MODIFY |
  IN.ATTRIB |
  IN.CLOSE_WRITE |
  IN.MOVED_FROM |
  IN.MOVED_TO |
  IN.CREATE |
  IN.DELETE |
  IN.DELETE_SELF |
  IN.MOVE_SELF |
  IN.ONLYDIR;

/** statfs f_type of the local file systems whose changes inotify reports in full. */
export const LOCAL_FS_TYPES: ReadonlySet<number> = new Set([
  0xef53, // ext2/3/4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0x01021994, // tmpfs
  0x858458f6, // ramfs
  0xf2f52010, // f2fs
  0x2fc12fc1, // zfs
  0xca451a4e, // bcachefs
  0x794c7630, // overlayfs
]);

/** At most this many directories are watched at once; the least recently asked about goes first. */
export const MAX_WATCHED_DIRS = 256;
const READ_BUF = 64 * 1024;

/** Names changed since the previous look, or "all" when that is not known. */
export type DirChanges = ReadonlySet<string> | "all";

export interface DirWatcher {
  /**
   * What changed in the directory at `path` since the previous call for the same path: `dir` is
   * the same object for as long as `path` names the same watched directory (a key for what the
   * caller keeps about it); `changed` is "all" on the first call for it. Undefined when the
   * directory cannot be watched exactly (not a local file system, no inotify, an error): the caller
   * reads everything. Exact up to now when every writer of the directory is excluded meanwhile.
   */
  changes(path: string): { readonly dir: object; readonly changed: DirChanges } | undefined;
  close(): void;
}

/** The system calls the watcher makes (a fake can stand in). */
export interface InotifyOps {
  init(): number;
  addWatch(fd: number, path: string, mask: number): number;
  rmWatch(fd: number, wd: number): void;
  /** Bytes read into `buf`; 0 when nothing is queued (EAGAIN). */
  read(fd: number, buf: Buffer): number;
  close(fd: number): void;
  /** statfs(2) f_type */
  fsType(path: string): number;
}

/** InotifyOps over the addon; undefined when the addon predates inotify (or cannot be loaded). */
export function addonInotifyOps(addon: () => Addon = loadAddon): InotifyOps | undefined {
  let a: Addon;
  try {
    a = addon();
  } catch {
    return undefined;
  }
  const { inotifyInit, inotifyAddWatch, inotifyRmWatch } = a;
  if (!inotifyInit || !inotifyAddWatch || !inotifyRmWatch) return undefined;
  return {
    init: () => inotifyInit.call(a),
    addWatch: (fd, path, mask) => inotifyAddWatch.call(a, fd, path, mask),
    rmWatch: (fd, wd) => inotifyRmWatch.call(a, fd, wd),
    read(fd, buf) {
      try {
        return readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") return 0;
        throw e;
      }
    },
    // the addon's close(2): the fd is the addon's, and node:fs warns when a worker thread closes
    // a descriptor that node:fs did not open
    close: (fd) => a.close(fd),
    fsType: (path) => statfsSync(path).type,
  };
}

/** One inotify event: struct inotify_event (host byte order) and its NUL-padded name. */
export interface InotifyEvent {
  readonly wd: number;
  readonly mask: number;
  readonly name: string;
}

export function parseInotifyEvents(buf: Buffer, le = endianness() === "LE"): InotifyEvent[] {
  const out: InotifyEvent[] = [];
  for (let off = 0; off + 16 <= buf.length; ) {
    const wd = le ? buf.readInt32LE(off) : buf.readInt32BE(off);
    const mask = le ? buf.readUInt32LE(off + 4) : buf.readUInt32BE(off + 4);
    const len = le ? buf.readUInt32LE(off + 12) : buf.readUInt32BE(off + 12);
    const raw = buf.subarray(off + 16, Math.min(buf.length, off + 16 + len));
    const nul = raw.indexOf(0);
    out.push({ wd, mask, name: (nul < 0 ? raw : raw.subarray(0, nul)).toString("utf8") });
    off += 16 + len;
  }
  return out;
}

interface Entry {
  readonly path: string;
  readonly wd: number;
  readonly key: object;
  /** Changed names, or undefined once anything unknown happened (an overflow, the directory itself changed). */
  changed: Set<string> | undefined;
}

/**
 * A watcher over one inotify instance, opened on first use. `ops` undefined (an addon without
 * inotify): every `changes` answers undefined.
 */
export function createDirWatcher(ops: InotifyOps | undefined = addonInotifyOps()): DirWatcher {
  let fd: number | undefined;
  let broken = ops === undefined;
  const byPath = new Map<string, Entry>();
  const byWd = new Map<number, Set<Entry>>();
  const buf = Buffer.alloc(READ_BUF);

  const forget = (e: Entry) => {
    byPath.delete(e.path);
    const set = byWd.get(e.wd);
    set?.delete(e);
    if (set?.size === 0) {
      byWd.delete(e.wd);
      try {
        ops!.rmWatch(fd!, e.wd);
      } catch {
        // the directory is gone already (its watch went with it)
      }
    }
  };

  /** Every queued event, routed to the entries of its watch. */
  function drain(): void {
    for (;;) {
      const n = ops!.read(fd!, buf);
      if (n <= 0) return;
      for (const ev of parseInotifyEvents(buf.subarray(0, n))) {
        if (ev.mask & IN.Q_OVERFLOW) {
          for (const e of byPath.values()) e.changed = undefined;
          continue;
        }
        for (const e of byWd.get(ev.wd) ?? []) {
          // An event about the directory itself (removed, renamed, unmounted, its mode changed): unknown.
          if (ev.name === "" || ev.mask & (IN.DELETE_SELF | IN.MOVE_SELF | IN.UNMOUNT | IN.IGNORED))
            e.changed = undefined;
          else e.changed?.add(ev.name);
        }
      }
    }
  }

  return {
    changes(path) {
      if (broken) return undefined;
      try {
        fd ??= ops!.init();
        // Re-resolved on every call: the same inode answers with the same watch descriptor.
        const wd = ops!.addWatch(fd, path, WATCH_MASK);
        drain();
        let e = byPath.get(path);
        if (e && e.wd !== wd) {
          forget(e);
          e = undefined;
        }
        if (!e) {
          if (!LOCAL_FS_TYPES.has(ops!.fsType(path))) {
            if (!byWd.has(wd)) ops!.rmWatch(fd, wd);
            return undefined;
          }
          if (byPath.size >= MAX_WATCHED_DIRS) forget(byPath.values().next().value!);
          e = { path, wd, key: {}, changed: new Set() };
          byPath.set(path, e);
          let set = byWd.get(wd);
          if (!set) {
            set = new Set();
            byWd.set(wd, set);
          }
          set.add(e);
          return { dir: e.key, changed: "all" };
        }
        // most recently used last
        byPath.delete(path);
        byPath.set(path, e);
        const changed: DirChanges = e.changed ?? "all";
        e.changed = new Set();
        return { dir: e.key, changed };
      } catch {
        // EMFILE/ENOSPC (inotify limits), ENOENT, EACCES, a failed read…: no answer for this path
        // this time, and since events may have been lost, none is trusted for any path either.
        if (fd === undefined) broken = true;
        for (const e of byPath.values()) e.changed = undefined;
        return undefined;
      }
    },
    close() {
      if (fd !== undefined) ops!.close(fd);
      fd = undefined;
      byPath.clear();
      byWd.clear();
    },
  };
}
