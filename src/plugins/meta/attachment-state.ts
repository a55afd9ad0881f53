// Per-attachment state files of the meta plugins (portmap, bandwidth): what an ADD installed, so
// that DEL needs only the attachment's identity — no runtimeConfig, no netns, no listing of the
// kernel's state. One small JSON file per attachment, written to a temporary name and renamed:
//
//   <dataDir>/<network>/<containerID>-<ifname>
//
// A network's directory goes with its last attachment. A write racing that removal (its
// temporary file's directory gone) makes the directory again and retries.
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readJson } from "../../cni/index.js";

/** The subset of node:fs/promises the stores use. */
export interface StateFs {
  mkdir(path: string, opts: { recursive: true; mode?: number }): Promise<unknown>;
  readFile(path: string, encoding: "utf8"): Promise<string>;
  writeFile(path: string, data: string, opts?: { mode?: number }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  /** rmdir(2): fails (ENOTEMPTY) unless the directory is empty. */
  rmdir(path: string): Promise<void>;
}

/**
 * Synchronous calls behind the async interface: a plugin process has nothing else to do while a
 * ~100-byte state file is read or written, and each fs.promises call costs a thread-pool round trip.
 */
export const nodeStateFs: StateFs = {
  mkdir: async (p, o) => mkdirSync(p, o),
  readFile: async (p, e) => readFileSync(p, e),
  writeFile: async (p, d, o) => writeFileSync(p, d, o),
  rename: async (a, b) => renameSync(a, b),
  unlink: async (p) => unlinkSync(p),
  readdir: async (p) => readdirSync(p),
  rmdir: async (p) => rmdirSync(p),
};

export interface AttachmentState {
  readonly version: 1;
  readonly network: string;
  readonly containerID: string;
  readonly ifName: string;
}

const isENOENT = (e: unknown) => (e as NodeJS.ErrnoException)?.code === "ENOENT";
/** A write retried this often finds its directory removed each time only under a storm of removals. */
const MAX_WRITE_ATTEMPTS = 5;

export class AttachmentStore<S extends AttachmentState> {
  readonly fs: StateFs;
  readonly dir: string;
  constructor(fs: StateFs, dir: string) {
    this.fs = fs;
    this.dir = dir;
  }

  path(network: string, containerID: string, ifName: string): string {
    return join(this.dir, network, `${containerID}-${ifName}`);
  }

  /** The state, or undefined when there is no file or it is torn or foreign (DEL then reads the kernel). */
  async read(network: string, containerID: string, ifName: string): Promise<S | undefined> {
    return this.readFile(join(this.dir, network), `${containerID}-${ifName}`);
  }

  async readFile(dir: string, file: string): Promise<S | undefined> {
    let text: string;
    try {
      text = await this.fs.readFile(join(dir, file), "utf8");
    } catch (e) {
      if (isENOENT(e)) return undefined;
      throw e;
    }
    try {
      const s = readJson(text) as S;
      return s && s.version === 1 ? s : undefined;
    } catch {
      return undefined;
    }
  }

  async write(s: S): Promise<void> {
    const dir = join(this.dir, s.network);
    for (let attempt = 0; ; attempt++) {
      await this.fs.mkdir(dir, { recursive: true, mode: 0o755 });
      const tmp = join(dir, `.tmp-${randomBytes(6).toString("hex")}`);
      try {
        // A full disk fails the write after the file was created: the catch removes it too.
        await this.fs.writeFile(tmp, `${JSON.stringify(s)}\n`, { mode: 0o600 });
        await this.fs.rename(tmp, this.path(s.network, s.containerID, s.ifName));
        return;
      } catch (e) {
        await this.fs.unlink(tmp).catch(() => {});
        // The directory went with another attachment's removal between mkdir and write: again.
        if (isENOENT(e) && attempt < MAX_WRITE_ATTEMPTS - 1) continue;
        throw e;
      }
    }
  }

  /** Removes the attachment's state file, and the network's directory when that was its last one. */
  async remove(network: string, containerID: string, ifName: string): Promise<void> {
    try {
      await this.fs.unlink(this.path(network, containerID, ifName));
    } catch (e) {
      if (!isENOENT(e)) throw e;
    }
    try {
      await this.fs.rmdir(join(this.dir, network));
    } catch {
      // other attachments (or a write in flight) still there, or already gone
    }
  }

  /** The state files of one network (temp files skipped); [] when there are none. */
  async files(network: string): Promise<string[]> {
    try {
      return (await this.fs.readdir(join(this.dir, network))).filter((f) => !f.startsWith("."));
    } catch (e) {
      if (isENOENT(e)) return [];
      throw e;
    }
  }

  /** Every attachment with a state file: [network, file name] (temp files and the lock skipped). */
  async list(): Promise<Array<{ network: string; file: string }>> {
    let nets: string[];
    try {
      nets = await this.fs.readdir(this.dir);
    } catch (e) {
      if (isENOENT(e)) return [];
      throw e;
    }
    const out: Array<{ network: string; file: string }> = [];
    for (const n of nets) {
      if (n === "lock" || n.startsWith(".")) continue;
      let files: string[];
      try {
        files = await this.files(n);
      } catch {
        continue;
      }
      for (const f of files) out.push({ network: n, file: f });
    }
    return out;
  }
}
