// The node-side network plugin contract (kubelet pkg/kubelet/dockershim/network/plugins.go, 1.21–1.23
// shape): one plugin per node, chosen by name, driven through the pod lifecycle.
import { ipFamily } from "../../ip/index.js";
import { PodnetError, type PodnetErrorCode } from "../../util/errors.js";

/** Name the noop plugin reports (DefaultPluginName). */
export const NOOP_PLUGIN_NAME = "kubernetes.io/no-op";
export const CNI_PLUGIN_NAME = "cni";
export const KUBENET_PLUGIN_NAME = "kubenet";

/** The only event ever sent, and its one detail key. */
export const NET_PLUGIN_EVENT_POD_CIDR_CHANGE = "pod-cidr-change";
export const NET_PLUGIN_EVENT_POD_CIDR_CHANGE_DETAIL_CIDR = "pod-cidr";

/**
 * The pod CIDR carried by a pod-cidr-change event; undefined for any other event, and (with the
 * kubelet's warning) for one without the detail.
 */
export function podCidrOfEvent(
  name: string,
  details: Readonly<Record<string, unknown>>,
  warn: (m: string) => void,
): string | undefined {
  if (name !== NET_PLUGIN_EVENT_POD_CIDR_CHANGE) return undefined;
  const v = details[NET_PLUGIN_EVENT_POD_CIDR_CHANGE_DETAIL_CIDR];
  if (typeof v !== "string") {
    warn(`${NET_PLUGIN_EVENT_POD_CIDR_CHANGE} event didn't contain pod CIDR`);
    return undefined;
  }
  return v;
}

/** Plugin applies the bandwidth annotations itself (1.3 – ≈1.10; nothing reads it since). */
export const NET_PLUGIN_CAPABILITY_SHAPING = 1;

/** CNI_IFNAME of the pod's interface. */
export const DEFAULT_INTERFACE_NAME = "eth0";
/** Deadline of one SetUp/TearDown CNI sequence, slightly under the kubelet's 4 min request timeout. */
export const CNI_TIMEOUT_SEC = 220;
/** MTU 0: the plugin decides. */
export const USE_DEFAULT_MTU = 0;

export const HAIRPIN_MODES = ["promiscuous-bridge", "hairpin-veth", "none"] as const;
export type HairpinMode = (typeof HAIRPIN_MODES)[number];

export type Protocol = "TCP" | "UDP" | "SCTP";

export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: Protocol;
  /** "" = all addresses. */
  readonly hostIP: string;
}

/** v1beta1 PodNetworkStatus: `ip` is ips[0] (IPv4 first on dual-stack pods). */
export interface PodNetworkStatus {
  readonly ip: string;
  readonly ips: readonly string[];
}

/** What the runtime gives a plugin (NamespaceGetter + PortMappingGetter). */
export interface Host {
  /** Path of the sandbox's netns; rejects when the sandbox has none (any more). Never resolves "". */
  getNetNS(sandboxID: string): Promise<string>;
  /** The sandbox's port mappings from its checkpoint ([] when there is none). */
  getPodPortMappings(sandboxID: string): Promise<PortMapping[]>;
}

export interface NetworkPlugin {
  /** Called once, before anything else. Rejecting makes plugin selection fail (fatal at start-up). */
  init(host: Host, hairpinMode: HairpinMode, nonMasqueradeCIDR: string, mtu: number): Promise<void>;
  /** Fire-and-forget; never throws. Only `pod-cidr-change` is defined. */
  event(name: string, details: Readonly<Record<string, unknown>>): void;
  name(): string;
  capabilities(): ReadonlySet<number>;
  setUpPod(
    namespace: string,
    name: string,
    sandboxID: string,
    annotations: Readonly<Record<string, string>>,
    options: Readonly<Record<string, string>>,
  ): Promise<void>;
  /** Must tolerate repeats and a netns that is already gone. */
  tearDownPod(namespace: string, name: string, sandboxID: string): Promise<void>;
  /** null: "no opinion" (noop, exec with empty output). */
  getPodNetworkStatus(namespace: string, name: string, sandboxID: string): Promise<PodNetworkStatus | null>;
  /** null = ready to set up pods; otherwise why not. */
  status(): Error | null;

  // podnet extensions (optional)
  /** After a daemon restart: re-take what only lived in memory (cached IPs, held hostport sockets). */
  reattachPod?(namespace: string, name: string, sandboxID: string): Promise<void>;
  /**
   * After a daemon restart (after reattachPod): whether everything setUpPod made for the pod is
   * still there — its interface and addresses in the netns, its IPAM lease, its hostport rules, its
   * shaping. Returns what is missing, one sentence each ([] = intact); rejects only when it could
   * not look. A plugin without this hook is trusted (its pods stay "ready").
   */
  verifyPod?(
    namespace: string,
    name: string,
    sandboxID: string,
    annotations: Readonly<Record<string, string>>,
  ): Promise<string[]>;
  /** Releases IPs, rules and limits of sandboxes that are not in `live`; returns what it released. */
  gc?(live: ReadonlySet<string>): Promise<string[]>;
  /** Non-fatal problems worth showing (e.g. br_netfilter missing). */
  warnings?(): readonly string[];
  /** What the node's API shows of this plugin beyond the common fields (kubenet: MTU, plugin dir; cni: the network). */
  nodeInfo?(): Record<string, unknown>;
  /** Stops background work (config re-sync) and closes held resources. */
  close?(): Promise<void>;
}

/** `<podName>_<podNamespace>`: the kubelet's unambiguous pod key. */
export const podFullName = (namespace: string, name: string): string => `${name}_${namespace}`;

export const isHairpinMode = (s: string): s is HairpinMode => (HAIRPIN_MODES as readonly string[]).includes(s);

/**
 * The hairpin mode the plugin is initialised with: promiscuous-bridge only makes sense for kubenet
 * (others fall back to hairpin-veth); anything unknown is an error.
 */
export function effectiveHairpinMode(mode: string, pluginName: string): { mode: HairpinMode; warning?: string } {
  if (!isHairpinMode(mode))
    throw new RangeError(
      `--hairpin-mode: unknown value: ${JSON.stringify(mode)} (want one of ${HAIRPIN_MODES.join(", ")})`,
    );
  if (mode === "promiscuous-bridge" && pluginName !== KUBENET_PLUGIN_NAME) {
    return {
      mode: "hairpin-veth",
      warning: `hairpin mode "promiscuous-bridge" requires --network-plugin=kubenet; falling back to "hairpin-veth"`,
    };
  }
  return { mode };
}

/** PodNetworkStatus from a list of addresses, IPv4 first (stable otherwise). */
export function statusFromIPs(ips: readonly string[]): PodNetworkStatus | null {
  if (ips.length === 0) return null;
  const v4 = ips.filter((ip) => ipFamily(ip) !== 6);
  const v6 = ips.filter((ip) => ipFamily(ip) === 6);
  const all = [...v4, ...v6];
  return { ip: all[0]!, ips: all };
}

/** A pod the plugin cannot set up because of its own spec (a bad annotation or option): the
 * caller's fault, not the node's. Plugins throw it (or wrap it as `cause`). */
export class InvalidPodError extends PodnetError {
  override name = "InvalidPodError";
  readonly code: PodnetErrorCode = "PODNET_INVALID_POD";
}

/** True when `e` or any error in its cause chain is an InvalidPodError. */
export function isInvalidPod(e: unknown): boolean {
  for (let x: unknown = e, i = 0; x instanceof Error && i < 10; x = x.cause, i++)
    if (x instanceof InvalidPodError) return true;
  return false;
}
