// Reading a file or a descriptor with a ceiling: never more than `maxBytes + 1` bytes are read,
// whatever the file claims or turns out to be (/dev/zero, a growing file, a pipe that never ends).
// Files named by configuration must be regular files: a FIFO would block the reader forever and a
// device has no end.
import * as fs from "node:fs";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { PodnetError } from "../util/errors.js";

const CHUNK = 64 * 1024;

/** A read that found more than its ceiling (code "EFBIG") or something that is not a regular file ("EINVAL"). */
export class BoundedReadError extends PodnetError {
  override name = "BoundedReadError";
  readonly code = "PODNET_BOUNDED_READ";
  readonly errno: "EFBIG" | "EINVAL";
  constructor(errno: "EFBIG" | "EINVAL", message: string) {
    super(message);
    this.errno = errno;
  }
}

const tooLarge = (what: string, maxBytes: number) =>
  new BoundedReadError("EFBIG", `${what} is larger than ${maxBytes} bytes`);

/**
 * Up to `maxBytes + 1` bytes from `fd` (until EOF), for a caller that reports "too large" itself
 * (the JSON reader does, with its own message). `blocked` is true when a non-blocking descriptor
 * had nothing more for now (EAGAIN): the caller goes on asynchronously from `bytes`.
 */
export function readFdUpTo(fd: number, maxBytes: number): { bytes: Buffer; blocked: boolean } {
  // One uninitialised buffer of the ceiling: its pages are only touched as bytes arrive, so memory
  // follows what was sent (never twice that, as collecting chunks and concatenating them would).
  const buf = Buffer.allocUnsafe(maxBytes + 1);
  let total = 0;
  let blocked = false;
  while (total <= maxBytes) {
    let n: number;
    try {
      n = readSync(fd, buf, total, Math.min(CHUNK, maxBytes + 1 - total), null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      blocked = true;
      break;
    }
    if (n === 0) break;
    total += n;
  }
  return { bytes: buf.subarray(0, total), blocked };
}

/**
 * The whole regular file at `path`; throws BoundedReadError beyond `maxBytes`, fs errors as they
 * come. `anyFile` (for a user's own command line: `-f /dev/stdin`, `-f <(…)`) also reads pipes and
 * devices, still never more than `maxBytes + 1` bytes.
 */
export function readFileBounded(path: string, maxBytes: number, opts: { anyFile?: boolean } = {}): Buffer {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
  const fd = openSync(path, opts.anyFile ? constants.O_RDONLY : constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() && !opts.anyFile) throw new BoundedReadError("EINVAL", `${path} is not a regular file`);
    if (st.size > maxBytes) throw tooLarge(path, maxBytes);
    const { bytes } = readFdUpTo(fd, maxBytes);
    if (bytes.length > maxBytes) throw tooLarge(path, maxBytes);
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/**
 * readFileBounded through the thread pool (for daemons serving other calls meanwhile). fs.promises
 * is reached only when called: loading it costs a plugin executable ~2 ms of start-up.
 */
export async function readFileBoundedAsync(path: string, maxBytes: number): Promise<Buffer> {
  const h = await fs.promises.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await h.stat();
    if (!st.isFile()) throw new BoundedReadError("EINVAL", `${path} is not a regular file`);
    if (st.size > maxBytes) throw tooLarge(path, maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    while (total <= maxBytes) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
      const { bytesRead } = await h.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
    }
    if (total > maxBytes) throw tooLarge(path, maxBytes);
    return Buffer.concat(chunks, total);
  } finally {
    await h.close();
  }
}
