// host-local's store kept in memory by a long-lived process (the resident daemon, the node
// manager's plugin workers), so that an ADD no longer reads every reservation (Go's does, for its
// duplicate check): O(changes) file reads per operation instead of O(pods).
//
// What is kept, per store directory: every top-level file that is not a directory with its trimmed
// content (reservations, last_reserved_ip.N, the lock file, anything else: Go's ReleaseByID
// compares them all), the parsed reservations, and the names of subdirectories (Go's walks descend
// into them; with any, the walking operations read the disk as before). It is brought up to date
// only with the store lock held, from the directory watcher's exact list of names changed since the
// previous look (src/kernel/dir-watch.ts: inotify sees Go's host-local too, which takes the same
// lock); whenever the watcher cannot say, everything is read again, as without a cache. So the view
// is the disk's, exactly, every time it is used.
//
// Bounded: a file longer than MAX_FILE_CHARS (no owner key is) is not kept, and its directory is
// then read from the disk as without a cache; neither is a directory whose files hold more than
// MAX_DIR_CHARS in all (a data dir pointed at something that is not a store).
import type { DirChanges } from "../../../kernel/dir-watch.js";
import type { Reservation } from "./reservation.js";

/** A store directory's top level, as the disk has it now. */
export interface StoreDirView {
  /** Top-level files (everything but directories) and their trimmed contents; unreadable ones are left out. */
  readonly files: ReadonlyMap<string, string>;
  /** The reservation files among them (IP-named), parsed. */
  readonly reservations: ReadonlyMap<string, Reservation>;
  /** Whether the directory has subdirectories. */
  readonly hasSubdirs: boolean;
}

/** Longest file content kept (a reservation holds an ID, CRLF and an interface name). */
export const MAX_FILE_CHARS = 64 * 1024;
/** Most content kept per directory, in all. */
export const MAX_DIR_CHARS = 16 * 1024 * 1024;

interface DirState {
  readonly files: Map<string, string>;
  readonly reservations: Map<string, Reservation>;
  readonly subdirs: Set<string>;
  /** Files not kept for their size: while there is any, the view is not served. */
  readonly oversized: Set<string>;
  chars: number;
}

/** How the cache reads the disk (the Store's own readers). */
export interface StoreReader {
  /** Top-level entries of the directory. */
  entries(): Promise<Array<{ name: string; isDirectory: boolean }>>;
  /** A file's trimmed content; throws the fs error (EISDIR for a directory, ENOENT when gone). */
  read(name: string): Promise<string>;
  /** The reservation a file of this name and content is, or undefined for names that are not IPs. */
  reservation(name: string, content: string): Reservation | undefined;
}

/** Per-directory views, keyed by the watcher's directory key (one per watched inode and path). */
export class StoreCache {
  readonly #dirs = new WeakMap<object, DirState>();

  /**
   * The view of the directory the watcher answered `changes` for, brought up to date. Call with
   * the store lock held, right after asking the watcher.
   */
  async view(
    changes: { readonly dir: object; readonly changed: DirChanges },
    reader: StoreReader,
  ): Promise<StoreDirView | undefined> {
    let st = this.#dirs.get(changes.dir);
    if (!st || changes.changed === "all") {
      st = await scan(reader);
      this.#dirs.set(changes.dir, st);
    } else {
      for (const name of changes.changed) await reread(st, reader, name);
    }
    if (st.oversized.size > 0 || st.chars > MAX_DIR_CHARS) {
      // Not a store to keep: read from the disk, and everything again once it is one.
      this.#dirs.delete(changes.dir);
      return undefined;
    }
    return { files: st.files, reservations: st.reservations, hasSubdirs: st.subdirs.size > 0 };
  }
}

const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

/** Files read between two yields to the event loop during a full scan (a daemon serves other calls meanwhile). */
const SCAN_CHUNK = 32;
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function scan(reader: StoreReader): Promise<DirState> {
  const st: DirState = {
    files: new Map(),
    reservations: new Map(),
    subdirs: new Set(),
    oversized: new Set(),
    chars: 0,
  };
  for (const [i, ent] of (await reader.entries()).entries()) {
    if (i > 0 && i % SCAN_CHUNK === 0) await yieldToEventLoop();
    if (ent.isDirectory) st.subdirs.add(ent.name);
    else await reread(st, reader, ent.name);
  }
  return st;
}

async function reread(st: DirState, reader: StoreReader, name: string): Promise<void> {
  st.chars -= st.files.get(name)?.length ?? 0;
  st.files.delete(name);
  st.reservations.delete(name);
  st.subdirs.delete(name);
  st.oversized.delete(name);
  let content: string;
  try {
    content = await reader.read(name);
  } catch (e) {
    if (errCode(e) === "EISDIR") st.subdirs.add(name);
    return; // gone, or unreadable: left out, as a full read leaves it out
  }
  if (content.length > MAX_FILE_CHARS) {
    st.oversized.add(name);
    return;
  }
  st.files.set(name, content);
  st.chars += content.length;
  const r = reader.reservation(name, content);
  if (r) st.reservations.set(name, r);
}
