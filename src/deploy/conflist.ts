// The CNI network config `podnet install --conflist` writes (<conf-dir>/10-podnet.conflist): the
// chain a containerd or CRI-O node runs for every pod, as those runtimes read it with Go's libcni.
//
//   bridge      podnet0, the pods' gateway, masquerading what leaves the pod CIDR, hairpin on (a
//               pod reaching itself through a Service address)
//   host-local  one range set per family of --pod-cidr, a default route per family
//   portmap     hostPorts: the runtime passes `portMappings` (capability)
//   bandwidth   the kubernetes.io/{ingress,egress}-bandwidth annotations: `bandwidth` (capability)
//
// loopback is not listed: containerd and CRI-O bring up `lo` themselves. cniVersion 1.0.0 is the
// newest that libcni 1.1 (containerd 1.7, CRI-O 1.2x) accepts.
import { type Cidr, CidrListError, formatCidr, parseCidrList } from "../ip/index.js";
import { PodnetError } from "../util/errors.js";

export const CONFLIST_FILE = "10-podnet.conflist";
export const DEFAULT_NETWORK_NAME = "podnet";
export const DEFAULT_POD_CIDR = "10.88.0.0/16";
export const CONFLIST_BRIDGE = "podnet0";
export const CONFLIST_CNI_VERSION = "1.0.0";

export class ConflistError extends PodnetError {
  override name = "ConflistError";
  readonly code = "PODNET_INSTALL_CONFLIST";
}

/** "10.88.0.0/16", "fd00:88::/64" or both, comma-separated (one per family, network addresses, room for pods). */
export function parsePodCIDRs(text: string): Cidr[] {
  try {
    return parseCidrList(text, { minHostBits: 2 });
  } catch (e) {
    if (e instanceof CidrListError) throw new ConflistError(`--pod-cidr: ${e.message}`, { cause: e });
    throw e;
  }
}

export interface ConflistOptions {
  readonly name: string;
  readonly podCIDRs: readonly Cidr[];
}

/** The config list as a JSON object, in the order the plugins run. */
export function podnetConflist(o: ConflistOptions): Record<string, unknown> {
  return {
    cniVersion: CONFLIST_CNI_VERSION,
    name: o.name,
    plugins: [
      {
        type: "bridge",
        bridge: CONFLIST_BRIDGE,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          ranges: o.podCIDRs.map((c) => [{ subnet: formatCidr(c) }]),
          routes: o.podCIDRs.map((c) => ({ dst: c.ip.family === 4 ? "0.0.0.0/0" : "::/0" })),
        },
      },
      { type: "portmap", capabilities: { portMappings: true } },
      { type: "bandwidth", capabilities: { bandwidth: true } },
    ],
  };
}

export const conflistText = (o: ConflistOptions): string => `${JSON.stringify(podnetConflist(o), null, 2)}\n`;
