// The one way podnet replaces a small file of its own state (the libcni result cache, pod
// checkpoints, the cluster's local state, the install manifest): the bytes go to a new temporary
// file beside it (O_EXCL|O_NOFOLLOW: never through a link, never into a file someone else made),
// get exactly `mode` whatever the umask, and rename(2) puts them in place, so a reader sees the old
// file or the new one, never a part. When anything fails the temporary file is removed.
import { randomBytes } from "node:crypto";
import { closeSync, constants, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface AtomicWriteOptions {
  /** The file's mode (default 0600). */
  readonly mode?: number;
  /** fsync the data before the rename (state that must survive a power loss). */
  readonly fsync?: boolean;
}

const FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** The temporary name beside `path`: hidden, random, ".tmp" at the end. */
const tempPath = (path: string): string =>
  join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);

export function writeFileAtomicSync(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const tmp = tempPath(path);
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  const fd = openSync(tmp, FLAGS, 0o600);
  try {
    try {
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
      fchmodSync(fd, opts.mode ?? 0o600);
      if (opts.fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    // a full disk fails the write after the file was created: leave nothing behind
    rmSync(tmp, { force: true });
    throw e;
  }
}

export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = tempPath(path);
  const fh = await fsp.open(tmp, FLAGS, 0o600);
  try {
    try {
      await fh.writeFile(data);
      await fh.chmod(opts.mode ?? 0o600);
      if (opts.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}
