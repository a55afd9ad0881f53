// The on-disk store, byte-compatible with Go's host-local (backend/disk), so that Go and podnet
// can share one directory:
//
//   <dataDir>/<network>/            mkdir -p, 0755
//     <ip>                          "<containerID>\r\n<ifname>", no newline, 0644; exists = reserved
//     last_reserved_ip.<N>          text of the last IP reserved from range set N, 0644
//     lock                          flock(LOCK_EX) for every operation (Go's filemutex on this file)
//
// File names are Go's net.IP.String(): "10.1.0.5", "fd00:200::5". Files written before plugins
// v0.8.0 hold only "<containerID>"; they still match on the ID alone.
//
// Writes are crash-safe where Go's are not: a reservation is written to a temporary file and then
// hard-linked to its name (link(2) fails with EEXIST exactly like O_CREAT|O_EXCL, and the name
// never exists without its content), so a crash cannot leave an empty, ownerless reservation.
// `last_reserved_ip.N` is rewritten in place, as Go does: it only says where round robin resumes,
// so a torn write costs nothing but that position (an unparsable one restarts at rangeStart, a
// wrong one skips ahead), and a second new file per ADD would cost as much as the reservation
// itself (creating a file is ≈ 0.35 ms on ext4; rewriting one ≈ 0.1 ms). Temporary files start
// with ".podnet-tmp-": Go ignores them (they are not IP addresses), and GC removes leftovers. A
// write that fails (a full disk fails it after the file was created) removes what it created.
import { join } from "node:path";
import type { DirChanges } from "../../../kernel/dir-watch.js";
import { type IP, formatIP, parseIPExact } from "../../../ip/index.js";
import { ownedBy, parseReservation, type Reservation, reservationIP, reservationKey } from "./reservation.js";
import type { StoreCache, StoreDirView, StoreReader } from "./store-cache.js";

export const LAST_IP_FILE_PREFIX = "last_reserved_ip.";
export const LOCK_FILE = "lock";
export const TMP_PREFIX = ".podnet-tmp-";
/** Go creates reservation and last-IP files with 0644 (before umask). */
const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

/** The subset of node:fs/promises the store uses (a fake can implement it). */
export interface StoreFs {
  mkdir(path: string, opts: { recursive: true; mode: number }): Promise<unknown>;
  readdir(
    path: string,
    opts: { withFileTypes: true },
  ): Promise<Array<{ name: string; isDirectory(): boolean; isFile(): boolean }>>;
  readFile(path: string, encoding: "utf8"): Promise<string>;
  writeFile(path: string, data: string, opts: { mode: number; flag: "w" | "wx" }): Promise<void>;
  link(existingPath: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /**
   * Optional fast path for scanning the store: a synchronous read is several times cheaper than
   * fs.promises.readFile (one call instead of open/fstat/read/close round trips: 200 files ≈ 4 ms
   * against ≈ 18 ms). The scan yields to the event loop every SYNC_SCAN_CHUNK files, so a daemon
   * serving other calls on the same thread is blocked a fraction of a millisecond at a time.
   */
  readFileSync?(path: string, encoding: "utf8"): string;
  /**
   * Optional, for a long-lived process: which entries of the directory at `path` changed since the
   * previous call for it (src/kernel/dir-watch.ts), so that a StoreCache re-reads only those.
   */
  changes?(path: string): { readonly dir: object; readonly changed: DirChanges } | undefined;
}

/** A held lock. */
export interface Lock {
  release(): Promise<void> | void;
}
/** Takes an exclusive lock on the file at `path` (creating it), waiting as long as it takes. */
export type LockFn = (path: string) => Promise<Lock>;

const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

/** Files read at once when scanning the store (each read is a few thread-pool round trips). */
const READ_PARALLELISM = 64;
/** Files read synchronously between two yields to the event loop (≈ 20 µs each). */
export const SYNC_SCAN_CHUNK = 32;
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Unique enough: temporary files are created with O_EXCL (a clash fails loudly) and under the lock. */
const rand = () =>
  Math.floor(Math.random() * 2 ** 32)
    .toString(16)
    .padStart(8, "0");
const tmpName = () => TMP_PREFIX + rand() + rand();

export class Store {
  readonly dir: string;
  readonly #fs: StoreFs;
  readonly #lock: LockFn;
  readonly #cache: StoreCache | undefined;

  private constructor(fs: StoreFs, lock: LockFn, dir: string, cache: StoreCache | undefined) {
    this.#fs = fs;
    this.#lock = lock;
    this.dir = dir;
    this.#cache = cache;
  }

  /**
   * Go's disk.New: `mkdir -p <dataDir>/<network>` (0755). With a `cache` (and an fs that reports
   * changes), the reads of every file are served from memory kept exact under the lock.
   */
  static async open(fs: StoreFs, lock: LockFn, dataDir: string, network: string, cache?: StoreCache): Promise<Store> {
    const dir = join(dataDir, network);
    await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
    return new Store(fs, lock, dir, cache);
  }

  /** The cached view of the directory's top level, up to date; undefined without one (read the disk). Call with the lock held. */
  async #view(): Promise<StoreDirView | undefined> {
    if (!this.#cache || !this.#fs.changes) return undefined;
    const changes = this.#fs.changes(this.dir);
    return changes && this.#cache.view(changes, this.#reader);
  }

  readonly #reader: StoreReader = {
    entries: async () =>
      (await this.#fs.readdir(this.dir, { withFileTypes: true })).map((e) => ({
        name: e.name,
        isDirectory: e.isDirectory(),
      })),
    read: async (name) => {
      const path = join(this.dir, name);
      return (
        this.#fs.readFileSync ? this.#fs.readFileSync(path, "utf8") : await this.#fs.readFile(path, "utf8")
      ).trim();
    },
    reservation: (name, content) => {
      const ip = reservationIP(name);
      return ip && { ip, name, ...parseReservation(content) };
    },
  };

  /** flock on `<dir>/lock`; hold it for the whole operation. */
  lock(): Promise<Lock> {
    return this.#lock(join(this.dir, LOCK_FILE));
  }

  /**
   * Reserves `ip` for (id, ifname): false when it is already reserved. On success records it as
   * the last reserved IP of range set `rangeID`. Call with the lock held.
   */
  async reserve(id: string, ifname: string, ip: IP, rangeID: string): Promise<boolean> {
    const name = formatIP(ip);
    const path = join(this.dir, name);
    const created = await this.#createExclusive(path, reservationKey(id, ifname));
    if (!created) return false;
    const last = join(this.dir, LAST_IP_FILE_PREFIX + rangeID);
    try {
      await this.#fs.writeFile(last, name, { mode: FILE_MODE, flag: "w" });
    } catch (e) {
      // What the failed write left (an empty or torn hint) goes with the reservation.
      await this.#fs.unlink(last).catch(() => {});
      await this.#fs.unlink(path).catch(() => {});
      throw e;
    }
    return true;
  }

  /**
   * A new file at `path` holding `data` (O_CREAT|O_EXCL). A write that fails after the file was
   * created (ENOSPC, EDQUOT, EIO) removes it: a failed call leaves nothing behind. EEXIST is
   * rethrown untouched (the file is someone else's).
   */
  async #writeNew(path: string, data: string): Promise<void> {
    try {
      await this.#fs.writeFile(path, data, { mode: FILE_MODE, flag: "wx" });
    } catch (e) {
      if (errCode(e) !== "EEXIST") await this.#fs.unlink(path).catch(() => {});
      throw e;
    }
  }

  /** The file at `path` is created holding `data`, or false when it already exists. */
  async #createExclusive(path: string, data: string): Promise<boolean> {
    const tmp = join(this.dir, tmpName());
    await this.#writeNew(tmp, data); // cleans up after itself
    try {
      try {
        await this.#fs.link(tmp, path);
        return true;
      } catch (e) {
        if (errCode(e) === "EEXIST") return false;
        if (errCode(e) !== "EPERM" && errCode(e) !== "ENOTSUP" && errCode(e) !== "EOPNOTSUPP") throw e;
      }
      // A file system without hard links: fall back to Go's O_CREAT|O_EXCL + write.
      try {
        await this.#writeNew(path, data);
        return true;
      } catch (e) {
        if (errCode(e) === "EEXIST") return false;
        throw e;
      }
    } finally {
      await this.#fs.unlink(tmp).catch(() => {});
    }
  }

  /** The last IP reserved from range set `rangeID`; undefined when missing or unparsable (as Go, no trimming). */
  async lastReservedIP(rangeID: string): Promise<IP | undefined> {
    let text: string;
    try {
      text = await this.#fs.readFile(join(this.dir, LAST_IP_FILE_PREFIX + rangeID), "utf8");
    } catch {
      return undefined; // missing is normal; other errors only cost round-robin this once
    }
    try {
      return parseIPExact(text);
    } catch {
      return undefined;
    }
  }

  /** Every regular file under the store (Go's filepath.Walk), with its path relative to `dir`. */
  async #walk(rel = ""): Promise<string[]> {
    let entries: Awaited<ReturnType<StoreFs["readdir"]>>;
    try {
      entries = await this.#fs.readdir(join(this.dir, rel), { withFileTypes: true });
    } catch (e) {
      if (rel === "") throw e;
      return []; // Go's walk skips what it cannot read below the top
    }
    const out: string[] = [];
    for (const ent of entries) {
      const p = rel === "" ? ent.name : join(rel, ent.name);
      if (ent.isDirectory()) out.push(...(await this.#walk(p)));
      else out.push(p);
    }
    return out;
  }

  async #readTrimmed(rel: string): Promise<string | undefined> {
    try {
      return (await this.#fs.readFile(join(this.dir, rel), "utf8")).trim();
    } catch {
      return undefined;
    }
  }

  /** Trimmed contents of `rels`, read READ_PARALLELISM at a time; unreadable files are left out. */
  async #readAll(rels: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const readSync = this.#fs.readFileSync?.bind(this.#fs);
    if (readSync) {
      for (const [i, rel] of rels.entries()) {
        if (i > 0 && i % SYNC_SCAN_CHUNK === 0) await yieldToEventLoop();
        try {
          out.set(rel, readSync(join(this.dir, rel), "utf8").trim());
        } catch {
          // unreadable: skipped, as Go does
        }
      }
      return out;
    }
    for (let i = 0; i < rels.length; i += READ_PARALLELISM) {
      const chunk = rels.slice(i, i + READ_PARALLELISM);
      const texts = await Promise.all(chunk.map((rel) => this.#readTrimmed(rel)));
      chunk.forEach((rel, j) => {
        const t = texts[j];
        if (t !== undefined) out.set(rel, t);
      });
    }
    return out;
  }

  /** Files holding "<id>\r\n<ifname>", or when there are none, files holding just "<id>". */
  async #filesOwnedBy(id: string, ifname: string): Promise<string[]> {
    // Go walks the whole tree: the cached top level serves when there is nothing below it.
    const view = await this.#view();
    const contents = view && !view.hasSubdirs ? view.files : await this.#readAll(await this.#walk());
    const match = reservationKey(id, ifname);
    const legacy = id.trim();
    const current = [...contents].filter(([, t]) => t === match).map(([rel]) => rel);
    return current.length > 0 ? current : [...contents].filter(([, t]) => t === legacy).map(([rel]) => rel);
  }

  /**
   * Go's ReleaseByID: deletes every file holding "<id>\r\n<ifname>"; when there is none, every
   * file holding just "<id>" (pre-v0.8.0). Unreadable or undeletable files are skipped.
   * Returns the names removed. Call with the lock held.
   */
  async releaseByID(id: string, ifname: string): Promise<string[]> {
    const removed: string[] = [];
    for (const rel of await this.#filesOwnedBy(id, ifname)) {
      try {
        await this.#fs.unlink(join(this.dir, rel));
        removed.push(rel);
      } catch {
        // Go ignores these too
      }
    }
    return removed;
  }

  /** Removes the reservation of `ip` if (id, ifname) still holds it (used to undo a failed ADD). */
  async releaseIP(ip: IP, id: string, ifname: string): Promise<boolean> {
    const name = formatIP(ip);
    if ((await this.#readTrimmed(name)) !== reservationKey(id, ifname)) return false;
    await this.#fs.unlink(join(this.dir, name));
    return true;
  }

  /** Go's FindByID: any file holding "<id>\r\n<ifname>", or else just "<id>". */
  async findByID(id: string, ifname: string): Promise<boolean> {
    return (await this.#filesOwnedBy(id, ifname)).length > 0;
  }

  /** Go's GetByID: the IPs whose files hold "<id>\r\n<ifname>" or just "<id>". */
  async getByID(id: string, ifname: string, reservations?: readonly Reservation[]): Promise<IP[]> {
    return ownedBy(reservations ?? (await this.list()), id, ifname).map((r) => r.ip);
  }

  /** Names of the top-level reservation files (IP-named), without reading them. */
  async reservedNames(): Promise<Set<string>> {
    const out = new Set<string>();
    for (const ent of await this.#fs.readdir(this.dir, { withFileTypes: true })) {
      if (!ent.isDirectory() && reservationIP(ent.name)) out.add(ent.name);
    }
    return out;
  }

  /** Every reservation file with its owner. Unreadable files are left out. */
  async list(): Promise<Reservation[]> {
    const view = await this.#view();
    if (view) return [...view.reservations.values()];
    const contents = await this.#readAll([...(await this.reservedNames())]);
    return [...contents].map(([name, content]) => ({ ip: reservationIP(name)!, name, ...parseReservation(content) }));
  }

  /** Removes one file of the store by name (GC). */
  async remove(name: string): Promise<void> {
    await this.#fs.unlink(join(this.dir, name));
  }

  /** Leftover temporary files (from a crash; only meaningful with the lock held). */
  async tempFiles(): Promise<string[]> {
    const ents = await this.#fs.readdir(this.dir, { withFileTypes: true });
    return ents.filter((e) => !e.isDirectory() && e.name.startsWith(TMP_PREFIX)).map((e) => e.name);
  }

  /** Writes and removes a temporary file: throws when the directory cannot take new files. */
  async probeWritable(): Promise<void> {
    const tmp = join(this.dir, tmpName());
    await this.#writeNew(tmp, "");
    await this.#fs.unlink(tmp);
  }
}
