// Per-attachment state: exactly what an ADD installed, so that DEL needs only the attachment's
// identity (network, container ID, ifname) — no port mappings, no netns, no listing of the rule
// set. One small JSON file per attachment, written to a temporary name and renamed:
//
//   <dataDir>/<network>/<containerID>-<ifname>
//
// `scope` ties the file to one boot of one network namespace: after a reboot (rules gone, files
// kept) a stale file must not make DEL remove a key that another pod holds now.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Backend } from "./config.js";
import type { IptFamilyState } from "./iptables.js";
import type { NftElement } from "./nftables.js";

export const DEFAULT_DATA_DIR = "/var/lib/cni/podnet-portmap";

export interface UdpFlow {
  readonly family: 4 | 6;
  readonly hostPort: number;
  readonly podIP: string;
}

export interface PortmapState {
  readonly version: 1;
  readonly scope: string;
  readonly backend: Backend;
  readonly network: string;
  readonly containerID: string;
  readonly ifName: string;
  /** nftables: the attachment's chain and the map elements that jump to it. */
  readonly chain?: string;
  readonly elements?: readonly NftElement[];
  /** iptables: per family ("4"/"6"), the rules this attachment appended. */
  readonly iptables?: Readonly<Record<string, IptFamilyState>>;
  /** UDP host ports (their conntrack entries are flushed on DEL too). */
  readonly udp: readonly UdpFlow[];
}

/** The subset of node:fs/promises used here. */
export interface StateFs {
  mkdir(path: string, opts: { recursive: true; mode?: number }): Promise<unknown>;
  readFile(path: string, encoding: "utf8"): Promise<string>;
  writeFile(path: string, data: string, opts?: { mode?: number }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
}

const isENOENT = (e: unknown) => (e as NodeJS.ErrnoException)?.code === "ENOENT";

export class StateStore {
  readonly fs: StateFs;
  readonly dir: string;
  constructor(fs: StateFs, dir: string) {
    this.fs = fs;
    this.dir = dir;
  }

  path(network: string, containerID: string, ifName: string): string {
    return join(this.dir, network, `${containerID}-${ifName}`);
  }

  async read(network: string, containerID: string, ifName: string): Promise<PortmapState | undefined> {
    let text: string;
    try {
      text = await this.fs.readFile(this.path(network, containerID, ifName), "utf8");
    } catch (e) {
      if (isENOENT(e)) return undefined;
      throw e;
    }
    try {
      const s = JSON.parse(text) as PortmapState;
      return s && s.version === 1 ? s : undefined;
    } catch {
      return undefined; // a torn or foreign file: treated as no state (DEL then reads the kernel)
    }
  }

  async write(s: PortmapState): Promise<void> {
    const dir = join(this.dir, s.network);
    await this.fs.mkdir(dir, { recursive: true, mode: 0o755 });
    const final = this.path(s.network, s.containerID, s.ifName);
    const tmp = join(dir, `.tmp-${randomBytes(6).toString("hex")}`);
    await this.fs.writeFile(tmp, JSON.stringify(s) + "\n", { mode: 0o600 });
    try {
      await this.fs.rename(tmp, final);
    } catch (e) {
      await this.fs.unlink(tmp).catch(() => {});
      throw e;
    }
  }

  async remove(network: string, containerID: string, ifName: string): Promise<void> {
    try {
      await this.fs.unlink(this.path(network, containerID, ifName));
    } catch (e) {
      if (!isENOENT(e)) throw e;
    }
  }

  /** Every attachment with a state file: [network, file name] (temp files and the lock skipped). */
  async list(): Promise<Array<{ network: string; file: string }>> {
    const out: Array<{ network: string; file: string }> = [];
    let nets: string[];
    try {
      nets = await this.fs.readdir(this.dir);
    } catch (e) {
      if (isENOENT(e)) return out;
      throw e;
    }
    for (const n of nets) {
      if (n === "lock" || n.startsWith(".")) continue;
      let files: string[];
      try {
        files = await this.fs.readdir(join(this.dir, n));
      } catch {
        continue;
      }
      for (const f of files) if (!f.startsWith(".")) out.push({ network: n, file: f });
    }
    return out;
  }
}
