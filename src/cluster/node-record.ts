// What a node publishes about itself (<prefix>/nodes/<name>) and its heartbeat
// (<prefix>/heartbeats/<name>), as JSON, and their checked decoding: a record comes from another
// machine, so it is bounded in size, every field is validated, and a bad one is rejected whole.
import { type Cidr, formatNetwork, parseCidr, parseIP, formatIP, tryParseCidr, tryParseIP } from "../ip/index.js";
import { isNodeName } from "./keys.js";
import { v4Network, v4Value } from "./ip-fast.js";
import { PodnetError } from "../util/errors.js";

export type Backend = "auto" | "host-gw" | "vxlan";
export const BACKENDS: readonly Backend[] = ["auto", "host-gw", "vxlan"];

/** A node's VXLAN endpoint: the MAC of its vxlan device, the VNI and UDP port it listens on. */
export interface VtepInfo {
  readonly mac: string;
  readonly vni: number;
  readonly port: number;
}

export interface NodeRecord {
  readonly name: string;
  /** The addresses peers send to (--node-ip), at most one per family; the first is the VXLAN underlay. */
  readonly nodeIPs: readonly string[];
  /** The node's blocks in network form, IPv4 first; empty while it has none. */
  readonly podCIDRs: readonly string[];
  /** The node's --backend. */
  readonly backend: Backend;
  /** Present when the node can terminate VXLAN. */
  readonly vtep?: VtepInfo;
  /** The --pod-cidr blocks it asked for (not allocated by the cluster). */
  readonly requested?: readonly string[];
}

export interface Heartbeat {
  /** Milliseconds since the epoch, the node's clock. */
  readonly time: number;
}

/** Upper bound on a record's JSON. */
export const MAX_RECORD_BYTES = 4096;

export class RecordError extends PodnetError {
  override name = "RecordError";
  readonly code = "PODNET_CLUSTER_RECORD";
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function encodeRecord(r: NodeRecord): string {
  const out: Record<string, unknown> = { name: r.name, nodeIPs: r.nodeIPs, podCIDRs: r.podCIDRs, backend: r.backend };
  if (r.vtep) out["vtep"] = r.vtep;
  if (r.requested?.length) out["requested"] = r.requested;
  return JSON.stringify(out);
}

function fail(name: string, why: string): never {
  throw new RecordError(`node record ${JSON.stringify(name)}: ${why}`);
}

function strings(v: unknown, max: number): v is string[] {
  return Array.isArray(v) && v.length <= max && v.every((s) => typeof s === "string" && s.length <= 64);
}

/** Decodes and validates a record; `keyName` is the name in its key, which must match. */
export function decodeRecord(text: string, keyName: string): NodeRecord {
  if (text.length > MAX_RECORD_BYTES) fail(keyName, `${text.length} bytes is more than ${MAX_RECORD_BYTES}`);
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    fail(keyName, `not JSON (${(e as Error).message})`);
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) fail(keyName, "not a JSON object");
  const r = o as Record<string, unknown>;
  if (r["name"] !== keyName || !isNodeName(keyName))
    fail(keyName, `name ${JSON.stringify(r["name"])} does not match its key`);
  if (!strings(r["nodeIPs"], 2) || r["nodeIPs"].length === 0)
    fail(keyName, "nodeIPs is not a list of one or two addresses");
  const nodeIPs =
    canonicalList(r["nodeIPs"], (t) => {
      if (v4Value(t) !== undefined) return [4, t];
      const ip = tryParseIP(t) ?? fail(keyName, `nodeIPs: ${JSON.stringify(t)} is not an IP address`);
      return [ip.family, formatIP(ip)];
    }) ?? fail(keyName, "nodeIPs has two addresses of one family");
  if (!strings(r["podCIDRs"], 2)) fail(keyName, "podCIDRs is not a list of at most two CIDRs");
  const podCIDRs =
    canonicalList(r["podCIDRs"], (t) => {
      if (v4Network(t)) return [4, t];
      const c = tryParseCidr(t) ?? fail(keyName, `podCIDRs: ${JSON.stringify(t)} is not a CIDR`);
      return [c.network.family, formatNetwork(c)];
    }) ?? fail(keyName, "podCIDRs has two CIDRs of one family");
  const backend = r["backend"];
  if (typeof backend !== "string" || !(BACKENDS as readonly string[]).includes(backend))
    fail(keyName, `backend ${JSON.stringify(backend)} is not one of ${BACKENDS.join(", ")}`);
  const out: { -readonly [K in keyof NodeRecord]: NodeRecord[K] } = {
    name: keyName,
    nodeIPs,
    podCIDRs,
    backend: backend as Backend,
  };
  if (r["vtep"] !== undefined) {
    const v = r["vtep"] as Record<string, unknown>;
    if (typeof v !== "object" || v === null || typeof v["mac"] !== "string" || !MAC.test(v["mac"]))
      fail(keyName, "vtep.mac is not a lower-case MAC address");
    if (!Number.isInteger(v["vni"]) || (v["vni"] as number) < 1 || (v["vni"] as number) > 0xffffff)
      fail(keyName, "vtep.vni is not in 1..16777215");
    if (!Number.isInteger(v["port"]) || (v["port"] as number) < 1 || (v["port"] as number) > 65535)
      fail(keyName, "vtep.port is not in 1..65535");
    // the parsed object itself when it holds nothing else (records are kept for every peer: no copy)
    out.vtep =
      Object.keys(v).length === 3
        ? (v as unknown as VtepInfo)
        : { mac: v["mac"] as string, vni: v["vni"] as number, port: v["port"] as number };
  }
  if (r["requested"] !== undefined) {
    if (!strings(r["requested"], 2)) fail(keyName, "requested is not a list of at most two CIDRs");
    out.requested = r["requested"].map((t) =>
      formatNetwork(tryParseCidr(t) ?? fail(keyName, `requested: ${JSON.stringify(t)} is not a CIDR`)),
    );
  }
  return out;
}

/**
 * A list of one or two addresses or CIDRs in canonical text, at most one per family: the list
 * itself when it already is (what podnet writes), else a canonical copy; undefined when two share
 * a family. `canon` gives an element's family and canonical text (or throws).
 */
function canonicalList(list: readonly string[], canon: (t: string) => [4 | 6, string]): readonly string[] | undefined {
  let copy: string[] | undefined;
  let first: 4 | 6 | undefined;
  for (let i = 0; i < list.length; i++) {
    const [family, text] = canon(list[i]!);
    if (i === 1 && family === first) return undefined;
    first ??= family;
    if (text !== list[i] && !copy) copy = list.slice(0, i);
    copy?.push(text);
  }
  return copy ?? list;
}

export function encodeHeartbeat(h: Heartbeat): string {
  return JSON.stringify({ time: h.time });
}

export function decodeHeartbeat(text: string): Heartbeat | undefined {
  if (text.length > 256) return undefined;
  try {
    const o = JSON.parse(text) as { time?: unknown };
    return typeof o.time === "number" && Number.isFinite(o.time) ? { time: o.time } : undefined;
  } catch {
    return undefined;
  }
}

/** The record's blocks as parsed CIDRs. */
export const recordBlocks = (r: NodeRecord): Cidr[] => r.podCIDRs.map((s) => parseCidr(s));

/** The record's node address of a family, if any. */
export function nodeIPOf(r: NodeRecord, family: 4 | 6): string | undefined {
  return r.nodeIPs.find((s) => parseIP(s).family === family);
}

/** Two records say the same thing (used to skip no-op updates). */
export const sameRecord = (a: NodeRecord, b: NodeRecord): boolean => encodeRecord(a) === encodeRecord(b);
