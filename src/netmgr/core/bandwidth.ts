// Pod bandwidth annotations (pkg/util/bandwidth ExtractPodBandwidthResources): Kubernetes
// quantities in bits per second, each between 1k and 1P.
import { InvalidPodError } from "./plugin.js";
import { parseQuantity, QuantityError, quantityValue } from "./quantity.js";
import type { PodnetErrorCode } from "../../util/errors.js";

export const INGRESS_BANDWIDTH_ANNOTATION = "kubernetes.io/ingress-bandwidth";
export const EGRESS_BANDWIDTH_ANNOTATION = "kubernetes.io/egress-bandwidth";

/** "1k" and "1P": the kubelet's limits of a reasonable rate. */
export const MIN_BANDWIDTH = 1_000n;
export const MAX_BANDWIDTH = 1_000_000_000_000_000n;

/** Burst the kubelet passes with every rate: math.MaxInt32 bits ("effectively no limit"). */
export const CNI_MAX_BURST = 2_147_483_647;

export interface PodBandwidth {
  /** bits/s into the pod */
  readonly ingress?: number;
  /** bits/s out of the pod */
  readonly egress?: number;
}

/** An invalid bandwidth annotation; the message names the annotation and its value. */
export class BandwidthError extends InvalidPodError {
  override name = "BandwidthError";
  override readonly code: PodnetErrorCode = "PODNET_BANDWIDTH_ANNOTATION";
  readonly annotation: string;
  readonly value: string;
  constructor(annotation: string, value: string, why: string, cause?: unknown) {
    super(
      `metadata.annotations["${annotation}"]: ${JSON.stringify(value)}: ${why}`,
      cause === undefined ? undefined : { cause },
    );
    this.annotation = annotation;
    this.value = value;
  }
}

function parseRate(annotation: string, text: string): number {
  let v: bigint;
  try {
    v = quantityValue(parseQuantity(text));
  } catch (e) {
    if (e instanceof QuantityError) throw new BandwidthError(annotation, text, e.message, e);
    throw e;
  }
  if (v < MIN_BANDWIDTH) throw new BandwidthError(annotation, text, "resource is unreasonably small (< 1kbit)");
  if (v > MAX_BANDWIDTH) throw new BandwidthError(annotation, text, "resource is unreasonably large (> 1Pbit)");
  return Number(v);
}

/** Ingress first, then egress, as the kubelet checks them. Missing keys mean no limit. */
export function extractPodBandwidth(annotations: Readonly<Record<string, string>> | undefined): PodBandwidth {
  if (!annotations) return {};
  const out: { ingress?: number; egress?: number } = {};
  const ing = annotations[INGRESS_BANDWIDTH_ANNOTATION];
  if (ing !== undefined) out.ingress = parseRate(INGRESS_BANDWIDTH_ANNOTATION, ing);
  const eg = annotations[EGRESS_BANDWIDTH_ANNOTATION];
  if (eg !== undefined) out.egress = parseRate(EGRESS_BANDWIDTH_ANNOTATION, eg);
  return out;
}

export interface CniBandwidthEntry {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

/** The `bandwidth` capability argument, or undefined when neither direction is limited. */
export function bandwidthCapability(bw: PodBandwidth): CniBandwidthEntry | undefined {
  if (bw.ingress === undefined && bw.egress === undefined) return undefined;
  return {
    ...(bw.ingress !== undefined ? { ingressRate: bw.ingress, ingressBurst: CNI_MAX_BURST } : {}),
    ...(bw.egress !== undefined ? { egressRate: bw.egress, egressBurst: CNI_MAX_BURST } : {}),
  };
}

/** "10Mbit/s", "1.5Gbit/s" — for tables and logs. */
export function formatRate(bits: number): string {
  const units: Array<[number, string]> = [
    [1e15, "Pbit/s"],
    [1e12, "Tbit/s"],
    [1e9, "Gbit/s"],
    [1e6, "Mbit/s"],
    [1e3, "kbit/s"],
  ];
  for (const [f, u] of units) {
    if (bits >= f) {
      const v = bits / f;
      return `${Number.isInteger(v) ? v : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)}${u}`;
    }
  }
  return `${bits}bit/s`;
}
