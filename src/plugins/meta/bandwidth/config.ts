// bandwidth configuration: the Go plugin's four fields, from the config or (only when none of
// them is at the top level, as Go's embedded pointer behaves) from the `bandwidth` capability;
// keys matched without case (containerd sends {"IngressRate":…}). Validation as Go's, with
// errors that name the field and the value, plus what Go lets through and then mishandles:
// negative or fractional numbers, and a rate under one byte per second.
import {
  CniCode,
  CniError,
  canonicalKeys,
  getCI,
  isObject,
  type AnyResult,
  type JsonObject,
  type Result,
} from "../../../cni/index.js";
import { prevResultAsCurrent, readPrevResult } from "../../../sdk/prev-result.js";

export const BW_KEYS = ["ingressRate", "ingressBurst", "egressRate", "egressBurst"] as const;
export type BwKey = (typeof BW_KEYS)[number];

export interface BandwidthEntry {
  /** bits/s; 0: no limit */
  readonly ingressRate: number;
  /** bits */
  readonly ingressBurst: number;
  readonly egressRate: number;
  readonly egressBurst: number;
}

export interface BandwidthConf {
  readonly name: string;
  readonly cniVersion: string;
  readonly bandwidth: BandwidthEntry | undefined;
  /** Where the limits came from (for messages). */
  readonly source: "config" | "runtimeConfig.bandwidth" | undefined;
  /** podnet: per-attachment state directory (default /var/lib/cni/podnet-bandwidth). */
  readonly dataDir: string | undefined;
  readonly prevResult: Result | undefined;
  /** The prevResult as read: what ADD passes on when there is nothing to shape. */
  readonly passThrough: AnyResult | undefined;
}

/** Kubernetes' "no burst given": kubelet, containerd and CRI-O all send math.MaxInt32 bits. */
export const K8S_UNLIMITED_BURST = 2147483647;
const MAX_U32 = 0xffff_ffff;

const bad = (msg: string) => new CniError(CniCode.InvalidNetworkConfig, `invalid bandwidth config: ${msg}`);

function num(o: JsonObject, key: BwKey, where: string): number {
  const raw = o[key];
  if (raw === undefined || raw === null) return 0;
  const name = where ? `${where}.${key}` : key;
  if (typeof raw !== "number" || !Number.isFinite(raw))
    throw bad(`"${name}" must be a number, got ${JSON.stringify(raw)}`);
  if (!Number.isInteger(raw)) throw bad(`"${name}" must be a whole number of bits, got ${raw}`);
  if (raw < 0) throw bad(`"${name}" must not be negative, got ${raw}`);
  if (raw > Number.MAX_SAFE_INTEGER) throw bad(`"${name}" is too large, got ${raw}`);
  return raw;
}

/** Go's validateRateAndBurst, per direction, naming the fields and values. */
export function validateRateAndBurst(bw: BandwidthEntry, dir: "ingress" | "egress", where: string): void {
  const p = where ? `${where}.` : "";
  const rate = bw[`${dir}Rate`];
  const burst = bw[`${dir}Burst`];
  const r = `"${p}${dir}Rate"`;
  const b = `"${p}${dir}Burst"`;
  if (rate !== 0 && burst === 0) throw bad(`${r} is ${rate} but ${b} is 0: if rate is set, burst must also be set`);
  if (rate === 0 && burst !== 0) throw bad(`${b} is ${burst} but ${r} is 0: if burst is set, rate must also be set`);
  if (Math.floor(burst / 8) >= MAX_U32) throw bad(`${b} is ${burst}: burst cannot be more than 4GB`);
  if (rate !== 0 && rate < 8) throw bad(`${r} must be at least 8 bits/s (one byte per second), got ${rate}`);
}

export function parseConfig(netconf: JsonObject, cniVersion: string): BandwidthConf {
  const top = canonicalKeys(netconf, ["name", "cniVersion", "runtimeConfig", "dataDir", ...BW_KEYS]);
  const name = top["name"];
  if (typeof name !== "string") throw bad(`"name" must be a string, got ${JSON.stringify(name)}`);
  const dataDir = top["dataDir"];
  if (dataDir !== undefined && typeof dataDir !== "string")
    throw bad(`"dataDir" must be a string, got ${JSON.stringify(dataDir)}`);
  let entry: JsonObject | undefined;
  let source: BandwidthConf["source"];
  if (BW_KEYS.some((k) => k in top)) {
    entry = top;
    source = "config";
  } else {
    const rc = top["runtimeConfig"];
    const cap = isObject(rc) ? getCI(rc, "bandwidth") : undefined;
    if (cap !== undefined && cap !== null) {
      if (!isObject(cap)) throw bad(`"runtimeConfig.bandwidth" must be an object, got ${JSON.stringify(cap)}`);
      entry = canonicalKeys(cap, BW_KEYS);
      source = "runtimeConfig.bandwidth";
    }
  }
  let bandwidth: BandwidthEntry | undefined;
  if (entry) {
    const where = source === "config" ? "" : "runtimeConfig.bandwidth";
    bandwidth = {
      ingressRate: num(entry, "ingressRate", where),
      ingressBurst: num(entry, "ingressBurst", where),
      egressRate: num(entry, "egressRate", where),
      egressBurst: num(entry, "egressBurst", where),
    };
    validateRateAndBurst(bandwidth, "ingress", where);
    validateRateAndBurst(bandwidth, "egress", where);
  }
  const passThrough = readPrevResult(netconf, cniVersion);
  return {
    name,
    cniVersion,
    bandwidth,
    source,
    dataDir: typeof dataDir === "string" ? dataDir : undefined,
    prevResult: passThrough && prevResultAsCurrent(passThrough, cniVersion),
    passThrough,
  };
}

export const isZero = (b: BandwidthEntry | undefined): boolean =>
  !b || (b.ingressRate === 0 && b.ingressBurst === 0 && b.egressRate === 0 && b.egressBurst === 0);

export const shapesIngress = (b: BandwidthEntry | undefined): boolean => !!b && b.ingressRate > 0 && b.ingressBurst > 0;
export const shapesEgress = (b: BandwidthEntry | undefined): boolean => !!b && b.egressRate > 0 && b.egressBurst > 0;
