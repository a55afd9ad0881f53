// The node's own memory of its blocks, so that it keeps them across restarts and etcd outages:
// one small JSON file (written to a temporary name and renamed, mode 0600, never through a
// symlink), or an in-memory copy for tests.
import { constants, promises as fsp } from "node:fs";
import { formatNetwork, tryParseCidr } from "../ip/index.js";
import { isNodeName } from "./keys.js";
import { PodnetError } from "../util/errors.js";
import { writeFileAtomic } from "../util/atomic-write.js";

export interface LocalState {
  readonly name: string;
  /** Blocks this node held last, network form, IPv4 first. */
  readonly podCIDRs: readonly string[];
}

export interface LocalStateStore {
  /** undefined when nothing was remembered (or the file is unreadable: it is then reported, not trusted). */
  read(): Promise<LocalState | undefined>;
  write(s: LocalState): Promise<void>;
}

const MAX_STATE_BYTES = 4096;

export class LocalStateError extends PodnetError {
  override name = "LocalStateError";
  readonly code = "PODNET_CLUSTER_LOCAL_STATE";
}

/** Parses the file's text; throws LocalStateError naming what is wrong. */
export function decodeLocalState(text: string, where: string): LocalState {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new LocalStateError(`${where}: not JSON (${(e as Error).message})`);
  }
  const r = o as { name?: unknown; podCIDRs?: unknown };
  if (typeof r !== "object" || r === null || typeof r.name !== "string" || !isNodeName(r.name))
    throw new LocalStateError(`${where}: "name" is not a node name`);
  if (!Array.isArray(r.podCIDRs) || r.podCIDRs.length > 2)
    throw new LocalStateError(`${where}: "podCIDRs" is not a list of at most two CIDRs`);
  const podCIDRs = r.podCIDRs.map((s) => {
    const c = typeof s === "string" ? tryParseCidr(s) : undefined;
    if (!c) throw new LocalStateError(`${where}: "podCIDRs": ${JSON.stringify(s)} is not a CIDR`);
    return formatNetwork(c);
  });
  return { name: r.name, podCIDRs };
}

export const encodeLocalState = (s: LocalState): string =>
  `${JSON.stringify({ name: s.name, podCIDRs: s.podCIDRs })}\n`;

/** The state in a file at `path` (its directory must exist: the daemon's state directory). */
export function fileLocalState(path: string): LocalStateStore {
  return {
    async read() {
      let fh: fsp.FileHandle;
      try {
        fh = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw e;
      }
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw new LocalStateError(`${path}: not a regular file`);
        if (st.size > MAX_STATE_BYTES)
          throw new LocalStateError(`${path}: ${st.size} bytes is more than ${MAX_STATE_BYTES}`);
        const buf = Buffer.alloc(MAX_STATE_BYTES + 1);
        const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
        return decodeLocalState(buf.subarray(0, bytesRead).toString("utf8"), path);
      } finally {
        await fh.close();
      }
    },
    async write(s) {
      await writeFileAtomic(path, encodeLocalState(s), { mode: 0o600, fsync: true });
    },
  };
}

/** The state in memory (tests, simulations); `initial` is what a previous run left. */
export function memoryLocalState(
  initial?: LocalState,
): LocalStateStore & { current: LocalState | undefined; writes: number } {
  const m = {
    current: initial,
    writes: 0,
    async read() {
      return m.current;
    },
    async write(s: LocalState) {
      m.current = { name: s.name, podCIDRs: [...s.podCIDRs] };
      m.writes++;
    },
  };
  return m;
}
