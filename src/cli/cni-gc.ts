// `podnet cni gc NET`: libcni's GC (src/libcni/api.ts gcNetworkList) told which attachments are
// still in use — the runtime's list, CNI 1.1's `cni.dev/valid-attachments` — and saying what it
// removed: each stale cached attachment it DEL'd through the chain, then what the plugins' own
// GC released (host-local leases, podnet portmap/bandwidth state), seen by comparing their
// stores before and after. `--dry-run` prints what would go and changes nothing.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import {
  isObject,
  readJson,
  validateContainerID,
  validateIfName,
  type JsonObject,
  type NetworkConfigList,
} from "../cni/index.js";
import { formatIP } from "../ip/index.js";
import { readFdUpTo, readFileBounded } from "../kernel/read-bounded.js";
import type { CniRuntime } from "../libcni/api.js";
import { loadIPAMConfig } from "../plugins/ipam/host-local/config.js";
import { validOwner } from "../plugins/ipam/host-local/host-local.js";
import { syncFs } from "../plugins/ipam/host-local/sync-fs.js";
import { AttachmentStore, nodeStateFs } from "../plugins/meta/attachment-state.js";
import { hostLocalSections, readLeases } from "./ipam.js";
import { PodnetError } from "../util/errors.js";

export interface Attachment {
  readonly containerID: string;
  readonly ifname: string;
}

/** Largest valid-attachments file read (a node's worth is a few KiB). */
export const MAX_VALID_ATTACHMENTS_BYTES = 16 << 20;

export class ValidAttachmentsError extends PodnetError {
  override name = "ValidAttachmentsError";
  readonly code = "PODNET_VALID_ATTACHMENTS";
}

function checked(a: Attachment, where: string): Attachment {
  try {
    validateContainerID(a.containerID);
    validateIfName(a.ifname);
  } catch (e) {
    throw new ValidAttachmentsError(
      `${where}: ${(e as Error).message}${(e as { details?: string }).details ? ` (${(e as { details?: string }).details})` : ""}`,
    );
  }
  return a;
}

/** "CONTAINERID/IFNAME" (a container ID never holds a "/"). */
export function parseAttachmentArg(s: string): Attachment {
  const i = s.indexOf("/");
  if (i < 0) throw new ValidAttachmentsError(`--valid-attachment ${JSON.stringify(s)}: want CONTAINERID/IFNAME`);
  return checked({ containerID: s.slice(0, i), ifname: s.slice(i + 1) }, `--valid-attachment ${JSON.stringify(s)}`);
}

/** The spec's form: a JSON list of {"containerID": …, "ifname": …}. */
export function parseAttachmentsJson(text: string | Buffer, source: string): Attachment[] {
  let v: unknown;
  try {
    v = readJson(text);
  } catch (e) {
    throw new ValidAttachmentsError(`${source}: not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(v))
    throw new ValidAttachmentsError(`${source}: want a JSON list of {"containerID": …, "ifname": …}`);
  return v.map((a: unknown, i) => {
    const id = isObject(a) ? a["containerID"] : undefined;
    const ifname = isObject(a) ? a["ifname"] : undefined;
    if (typeof id !== "string" || typeof ifname !== "string") {
      throw new ValidAttachmentsError(
        `${source}[${i}]: want {"containerID": string, "ifname": string}, got ${JSON.stringify(a)}`,
      );
    }
    return checked({ containerID: id, ifname }, `${source}[${i}]`);
  });
}

/** The file's attachments ("-": stdin), bounded. */
export function readAttachmentsFile(file: string): Attachment[] {
  let bytes: Buffer;
  try {
    if (file === "-") {
      const r = readFdUpTo(0, MAX_VALID_ATTACHMENTS_BYTES);
      if (r.bytes.length > MAX_VALID_ATTACHMENTS_BYTES)
        throw new Error(`larger than ${MAX_VALID_ATTACHMENTS_BYTES} bytes`);
      bytes = r.bytes;
    } else {
      bytes = readFileBounded(file, MAX_VALID_ATTACHMENTS_BYTES);
    }
  } catch (e) {
    throw new ValidAttachmentsError(`cannot read ${file === "-" ? "stdin" : file}: ${(e as Error).message}`);
  }
  return parseAttachmentsJson(bytes, file === "-" ? "stdin" : file);
}

/** Something a plugin keeps for one attachment, which its GC removes when the attachment is not valid. */
export interface Held {
  readonly plugin: string;
  /** "10.88.0.5" for a lease, "state" for a state file. */
  readonly what: string;
  readonly containerID: string;
  /** undefined: a pre-v0.8.0 host-local lease (matched on the container ID alone). */
  readonly ifname: string | undefined;
}

const heldKey = (h: Held) => `${h.plugin}\0${h.what}\0${h.containerID}\0${h.ifname ?? ""}`;

/** host-local's rule (validOwner), which portmap's and bandwidth's (always with an ifname) agree with. */
export const isValid = (h: Pick<Held, "containerID" | "ifname">, valid: readonly Attachment[]): boolean =>
  validOwner(valid)(h);

async function hostLocalHeld(list: NetworkConfigList, raw: JsonObject): Promise<Held[]> {
  const out: Held[] = [];
  for (const section of hostLocalSections(raw)) {
    let dataDir: string;
    try {
      dataDir = (
        await loadIPAMConfig({ ...section, name: list.name, cniVersion: list.cniVersion }, "", {
          readFileLimited: syncFs.readFileLimited,
        })
      ).ipam.dataDir;
      readdirSync(join(dataDir, list.name));
    } catch {
      continue; // not a usable config, or no store (yet): nothing held
    }
    for (const r of await readLeases(dataDir, list.name))
      out.push({ plugin: "host-local", what: formatIP(r.ip), containerID: r.containerID, ifname: r.ifname });
  }
  return out;
}

async function stateHeld(
  list: NetworkConfigList,
  plugin: string,
  raw: JsonObject,
  defaultDir: string,
): Promise<Held[]> {
  const dir = typeof raw["dataDir"] === "string" ? raw["dataDir"] : defaultDir;
  const store = new AttachmentStore(nodeStateFs, dir);
  const out: Held[] = [];
  for (const f of await store.files(list.name).catch(() => [])) {
    const s = await store.readFile(join(dir, list.name), f).catch(() => undefined);
    if (s) out.push({ plugin, what: "state", containerID: s.containerID, ifname: s.ifName });
  }
  return out;
}

/** What podnet's plugins of this list keep per attachment, read from their stores. */
export async function heldByPlugins(list: NetworkConfigList): Promise<Held[]> {
  const out: Held[] = [];
  for (const p of list.plugins) {
    out.push(...(await hostLocalHeld(list, p.raw)));
    if (p.type === "portmap")
      out.push(
        ...(await stateHeld(
          list,
          "portmap",
          p.raw,
          (
            await import("../plugins/meta/portmap/state.js")
          ).DEFAULT_DATA_DIR,
        )),
      );
    if (p.type === "bandwidth")
      out.push(
        ...(await stateHeld(
          list,
          "bandwidth",
          p.raw,
          (
            await import("../plugins/meta/bandwidth/bandwidth.js")
          ).DEFAULT_DATA_DIR,
        )),
      );
  }
  return out;
}

const heldText = (h: Held) =>
  h.what === "state"
    ? `${h.plugin}: the state of ${h.containerID}/${h.ifname}`
    : `${h.plugin}: ${h.what} (${h.containerID}${h.ifname ? `/${h.ifname}` : ""})`;

export interface GcOptions {
  /** undefined: --all (no attachment is valid). */
  readonly valid: readonly Attachment[];
  readonly dryRun: boolean;
  readonly out: (line: string) => void;
}

/** Runs (or, dry, plans) GC of one network; returns the number of errors. */
export async function runGc(rtm: CniRuntime, list: NetworkConfigList, o: GcOptions): Promise<number> {
  if (list.disableGC) {
    o.out(`network ${list.name} has "disableGC": true: nothing done`);
    return 0;
  }
  const before = await heldByPlugins(list);
  if (o.dryRun) {
    for (const a of rtm.staleAttachments(list, o.valid))
      o.out(
        `would delete attachment ${a.containerID}/${a.ifName}${a.netns ? ` (netns ${a.netns})` : ""}: DEL through the chain`,
      );
    for (const h of before.filter((x) => !isValid(x, o.valid))) o.out(`would release ${heldText(h)}`);
    o.out(
      `would run GC on ${list.plugins.map((p) => p.type).join(", ")} with ${o.valid.length} valid attachment${o.valid.length === 1 ? "" : "s"}`,
    );
    return 0;
  }
  let errors = 0;
  try {
    await rtm.gcNetworkList(list, {
      validAttachments: o.valid,
      onDeleted: (a) =>
        o.out(
          `deleted attachment ${a.containerID}/${a.ifName}${a.netns ? ` (netns ${a.netns})` : ""}: DEL through the chain`,
        ),
      onPluginGc: (type, e) => {
        if (e) errors++;
        o.out(`GC ${type}: ${e ? `failed: ${e.message}` : "ok"}`);
      },
    });
  } catch (e) {
    errors = Math.max(errors, 1);
    o.out(`errors: ${(e as Error).message}`);
  }
  const after = new Set((await heldByPlugins(list)).map(heldKey));
  for (const h of before) if (!after.has(heldKey(h))) o.out(`released ${heldText(h)}`);
  return errors;
}
