// kubenet's pod network as state: not ready until the node's pod CIDR arrives; then ready with the
// pod CIDRs and the bridge config rendered from them, which stay for the daemon's life (the kubelet
// ignores later CIDRs). Pure.
import { parseConf, type NetworkConfigList } from "../../../cni/index.js";
import { formatNetwork } from "../../../ip/index.js";
import { errorMessage } from "../../../util/error-message.js";
import { parsePodCIDRs, renderNetConfig, type PodCIDRs } from "./config.js";

export interface ReadyNetwork {
  readonly ready: true;
  readonly cidrs: PodCIDRs;
  /** The bridge + host-local config list CNI ADD and DEL run. */
  readonly netConfig: NetworkConfigList;
  /** Its text, as rendered. */
  readonly text: string;
  /** The MTU it gives cbr0 and the pods' veths. */
  readonly mtu: number;
}

export type PodNetwork = { readonly ready: false } | ReadyNetwork;

export const NOT_READY: PodNetwork = { ready: false };

/** The pod CIDRs as the event carries them ("v4" or "v4,v6", network addresses). */
export const podCidrText = (c: PodCIDRs): string => c.cidrs.map(formatNetwork).join(",");

export interface RenderOptions {
  readonly mtu: number;
  readonly hairpin: boolean;
  /** host-local dataDir; undefined: host-local's default. */
  readonly dataDir?: string;
}

/** The network for a pod-cidr-change value, or the warning the kubelet logs when there is none. */
export function podNetworkFor(
  value: string,
  o: RenderOptions,
): ReadyNetwork | { readonly ready: false; readonly warning: string } {
  let cidrs: PodCIDRs;
  try {
    cidrs = parsePodCIDRs(value);
  } catch (e) {
    return { ready: false, warning: `Failed to generate CNI network config: ${errorMessage(e)}` };
  }
  const text = renderNetConfig({
    mtu: o.mtu,
    hairpin: o.hairpin,
    podCIDRs: cidrs.cidrs,
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
  });
  try {
    return { ready: true, cidrs, netConfig: parseConf(text), text, mtu: o.mtu };
  } catch (e) {
    return { ready: false, warning: `failed to set up CNI with the kubenet config: ${errorMessage(e)}` };
  }
}
