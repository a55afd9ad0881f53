// Lists of CIDRs as flags and APIs take them: "10.200.0.0/16", "fd00:200::/48" or both joined with
// "," — at most one per address family (a dual-stack node or cluster). The one parser behind every
// such value (--pod-cidr of `podnet node` and `podnet install`, a pod CIDR from the API or the
// cluster, --cluster-cidr); each caller prefixes the flag or field it parsed.
import { PodnetError } from "../util/errors.js";
import { type Cidr, formatNetwork, parseCidr } from "./cidr.js";
import { bitLen } from "./ip.js";

/** A list refused; the message names the element at fault and why, without the caller's field. */
export class CidrListError extends PodnetError {
  override name = "CidrListError";
  readonly code = "PODNET_CIDR_LIST";
}

export interface CidrListOptions {
  /**
   * An element with host bits set ("10.0.0.1/24"): refused, naming its network (default), or taken
   * as its network (the kubelet masks the pod CIDR it is given).
   */
  readonly hostBits?: "reject" | "mask";
  /**
   * The fewest host bits an element must leave: 2 for pods (a network address, a gateway, a pod).
   * Default 0.
   */
  readonly minHostBits?: number;
}

/**
 * The CIDRs of `text` in the order given, each with `ip` its network when `hostBits` is "mask";
 * throws CidrListError for an empty element, more than two, two of one family, text that is not a
 * CIDR, and what the options refuse.
 */
export function parseCidrList(text: string, o: CidrListOptions = {}): Cidr[] {
  const parts = text.split(",").map((s) => s.trim());
  if (parts.some((p) => p === ""))
    throw new CidrListError(`${JSON.stringify(text)} is not a comma-separated list of CIDRs`);
  if (parts.length > 2)
    throw new CidrListError(`${JSON.stringify(text)} has ${parts.length} CIDRs; at most one IPv4 and one IPv6`);
  const out: Cidr[] = [];
  for (const p of parts) {
    let c: Cidr;
    try {
      c = parseCidr(p);
    } catch (e) {
      throw new CidrListError(`${JSON.stringify(p)} is not a CIDR: ${(e as Error).message}`, { cause: e });
    }
    if (c.ip.value !== c.network.value) {
      if (o.hostBits !== "mask")
        throw new CidrListError(`${JSON.stringify(p)} has host bits set (did you mean ${formatNetwork(c)}?)`);
      c = { ip: c.network, prefix: c.prefix, network: c.network };
    }
    const family = c.network.family;
    const max = bitLen(family) - (o.minHostBits ?? 0);
    if (c.prefix > max) throw new CidrListError(`${JSON.stringify(p)} is too small for pods (at most /${max})`);
    if (out.some((x) => x.network.family === family))
      throw new CidrListError(`${JSON.stringify(text)} has two IPv${family} CIDRs; at most one per family`);
    out.push(c);
  }
  return out;
}
