// Sandbox checkpoints: what a restarted daemon needs to know its pods (dockershim's
// <root>/sandbox/<id> checkpoint, with podnet's fields beside it). One JSON file per sandbox under
// <stateDir>/sandboxes/, written to a temp name and renamed; a file whose checksum does not match is
// corrupt, reported and deleted. The node's own state (the pod CIDR) lives in <stateDir>/node.json.
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readJson } from "../../cni/index.js";
import { isPodPhase, type PodPhase } from "./lifecycle.js";
import type { PortMapping, Protocol } from "../core/plugin.js";
import { PodnetError } from "../../util/errors.js";
import { writeFileAtomicSync } from "../../util/atomic-write.js";

export const CHECKPOINT_VERSION = "v1";

/** Where a sandbox is in its life (lifecycle.ts); written at every change, before the work starts. */
export type SandboxPhase = PodPhase;

export interface SandboxRecord {
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** The netns path ("" for host-network pods). */
  readonly netns: string;
  /** podnet created the netns (and deletes it with the pod). */
  readonly ownsNetns: boolean;
  readonly hostNetwork: boolean;
  readonly portMappings: readonly PortMapping[];
  readonly annotations: Readonly<Record<string, string>>;
  /** options passed to SetUpPod (`dns`). */
  readonly options: Readonly<Record<string, string>>;
  readonly plugin: string;
  readonly createdAt: string;
  readonly phase: SandboxPhase;
  /** Why the pod is "failed" or stuck "tearing-down" (or being repaired): what was found, what failed. */
  readonly reason?: string;
  /** Last addresses seen, IPv4 first. */
  readonly ips: readonly string[];
  /** Milliseconds SetUpPod took. */
  readonly setupMs?: number;
}

/** 32-bit FNV-1a over UTF-8 bytes. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, "utf8")) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

interface CheckpointFile {
  version: string;
  name: string;
  namespace: string;
  data: {
    port_mappings?: Array<{ protocol: string; container_port: number; host_port?: number; host_ip?: string }>;
    host_network?: boolean;
  };
  podnet: Omit<SandboxRecord, "namespace" | "name" | "portMappings" | "hostNetwork">;
  checksum: number;
}

/** The checkpoint file's JSON for a record (pure). */
export function encodeCheckpoint(r: SandboxRecord): string {
  const data: CheckpointFile["data"] = {};
  if (r.portMappings.length) {
    data.port_mappings = r.portMappings.map((p) => ({
      protocol: p.protocol.toLowerCase(),
      container_port: p.containerPort,
      ...(p.hostPort ? { host_port: p.hostPort } : {}),
      ...(p.hostIP ? { host_ip: p.hostIP } : {}),
    }));
  }
  if (r.hostNetwork) data.host_network = true;
  const { namespace, name, portMappings: _pm, hostNetwork: _hn, ...podnet } = r;
  const checksum = fnv1a32(JSON.stringify({ data, podnet }));
  const f: CheckpointFile = { version: CHECKPOINT_VERSION, name, namespace, data, podnet, checksum };
  return `${JSON.stringify(f, null, 2)}\n`;
}

export class CorruptCheckpointError extends PodnetError {
  override name = "CorruptCheckpointError";
  readonly code = "PODNET_CHECKPOINT_CORRUPT";
}

const toProtocol = (p: string): Protocol =>
  p.toLowerCase() === "udp" ? "UDP" : p.toLowerCase() === "sctp" ? "SCTP" : "TCP";

/** Parses and verifies a checkpoint file (pure); throws CorruptCheckpointError. */
export function decodeCheckpoint(text: string): SandboxRecord {
  let f: CheckpointFile;
  try {
    f = readJson(text, { nullPrototypes: false }) as CheckpointFile;
  } catch (e) {
    throw new CorruptCheckpointError(`checkpoint is not JSON: ${(e as Error).message}`);
  }
  if (
    typeof f !== "object" ||
    f === null ||
    f.version !== CHECKPOINT_VERSION ||
    typeof f.podnet !== "object" ||
    f.podnet === null ||
    typeof f.data !== "object"
  ) {
    throw new CorruptCheckpointError("checkpoint has an unknown format");
  }
  if (fnv1a32(JSON.stringify({ data: f.data, podnet: f.podnet })) !== f.checksum)
    throw new CorruptCheckpointError("checkpoint checksum mismatch");
  // a phase this version does not know (written by a newer one): finish it as a teardown, which
  // releases everything and is safe whatever the pod's state
  const phase: SandboxPhase = isPodPhase(f.podnet.phase) ? f.podnet.phase : "tearing-down";
  return {
    ...f.podnet,
    phase,
    namespace: f.namespace,
    name: f.name,
    hostNetwork: f.data.host_network === true,
    portMappings: (f.data.port_mappings ?? []).map((p) => ({
      protocol: toProtocol(p.protocol),
      containerPort: p.container_port,
      hostPort: p.host_port ?? 0,
      hostIP: p.host_ip ?? "",
    })),
  };
}

export interface CheckpointStore {
  write(r: SandboxRecord): void;
  /** undefined when absent; a corrupt file is deleted and reported (CorruptCheckpointError). */
  read(id: string): SandboxRecord | undefined;
  delete(id: string): void;
  /** Every readable checkpoint, plus the IDs of corrupt ones (already deleted). */
  list(): { records: SandboxRecord[]; corrupt: Array<{ id: string; error: string }> };
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function createCheckpointStore(stateDir: string): CheckpointStore {
  const dir = join(stateDir, "sandboxes");
  const file = (id: string) => {
    if (!ID_RE.test(id)) throw new RangeError(`invalid sandbox id ${JSON.stringify(id)}`);
    return join(dir, `${id}.json`);
  };
  const store: CheckpointStore = {
    write(r) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileAtomicSync(file(r.id), encodeCheckpoint(r));
    },
    read(id) {
      let text: string;
      try {
        text = readFileSync(file(id), "utf8");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw e;
      }
      try {
        return decodeCheckpoint(text);
      } catch (e) {
        rmSync(file(id), { force: true });
        throw e;
      }
    },
    delete(id) {
      rmSync(file(id), { force: true });
    },
    list() {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return { records: [], corrupt: [] };
      }
      const records: SandboxRecord[] = [];
      const corrupt: Array<{ id: string; error: string }> = [];
      for (const n of names.filter((x) => x.endsWith(".json")).sort()) {
        const id = n.slice(0, -".json".length);
        try {
          const r = store.read(id);
          if (r) records.push(r);
        } catch (e) {
          corrupt.push({ id, error: (e as Error).message });
        }
      }
      return { records, corrupt };
    },
  };
  return store;
}

export interface NodeState {
  /** The pod CIDR the plugin accepted (re-sent after a restart when no --pod-cidr is given). */
  readonly podCIDR?: string;
}

export function readNodeState(stateDir: string): NodeState {
  try {
    const o = readJson(readFileSync(join(stateDir, "node.json"), "utf8"), { nullPrototypes: false }) as NodeState;
    return typeof o === "object" && o !== null ? o : {};
  } catch {
    return {};
  }
}

export function writeNodeState(stateDir: string, s: NodeState): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileAtomicSync(join(stateDir, "node.json"), `${JSON.stringify(s, null, 2)}\n`);
}
