// `podnet node` flags: the kubelet's network flags with their defaults, plus podnet's own. Pure:
// argv in, validated options out; a bad value is a UsageError naming the flag and the value.
import { parseArgs } from "node:util";
import { tryParseCidr } from "../../ip/index.js";
import { DEFAULT_NETWORK_PLUGIN_DIR } from "../plugins/exec/exec.js";
import { isLogLevel, type LogLevel } from "../core/log.js";
import { NOOP_SELECTORS } from "../core/manager.js";
import { qualifiedNameErrors } from "../core/names.js";
import {
  DEFAULT_CNI_BIN_DIR,
  DEFAULT_CNI_CACHE_DIR,
  DEFAULT_CNI_CONF_DIR,
  DEFAULT_SOCKET,
  DEFAULT_STATE_DIR,
  KUBENET_PRIMARY_BIN_DIR,
} from "./paths.js";
import { HAIRPIN_MODES } from "../core/plugin.js";
import { splitBinDirs } from "./probe.js";
import { validatePodCIDR } from "../sandbox/runtime.js";
import { PodnetError } from "../../util/errors.js";
import {
  CLUSTER_NODE_FLAGS,
  type ClusterFlagName,
  type ClusterNodeOptions,
  parseClusterNodeOptions,
} from "./cluster-options.js";
import { type BindAddress, parseBindAddress } from "./bind-address.js";

export interface NodeOptions {
  readonly networkPlugin: string;
  readonly networkPluginDir: string;
  readonly cniBinDirs: readonly string[];
  readonly cniConfDir: string;
  readonly cniCacheDir: string;
  readonly networkPluginMtu: number;
  readonly nonMasqueradeCIDR: string;
  readonly podCIDR: string;
  readonly hairpinMode: string;
  readonly makeIptablesUtilChains: boolean;
  readonly socket: string;
  /** Members of this group (a name or GID) may use the sockets too ("" = root only). */
  readonly socketGroup: string;
  /** Serve podnet's CNI plugins to the resident-mode launchers on this socket ("" = off). */
  readonly cniSocket: string;
  readonly stateDir: string;
  readonly ipamDataDir?: string;
  /** Searched by kubenet before --cni-bin-dir (the kubelet's fixed /opt/cni/bin); "" for none. */
  readonly kubenetBinDir: string;
  readonly modprobe: boolean;
  /** Run podnet's own CNI plugins inside the daemon (worker threads) instead of exec'ing them. */
  readonly inProcessPlugins: boolean;
  readonly logLevel: LogLevel;
  /** Serve /metrics, /healthz and /readyz over TCP here (absent: off). */
  readonly metricsBindAddress?: BindAddress;
  /** Cluster networking (--cluster-cidr, --etcd-endpoints, …); undefined: this node stands alone. */
  readonly cluster?: ClusterNodeOptions;
}

export class UsageError extends PodnetError {
  override name = "UsageError";
  readonly code = "PODNET_USAGE";
}

export const NODE_FLAGS = {
  config: {
    default: "",
    help: "a YAML file of flags: each flag's name is a key (`pod-cidr: 10.200.0.0/24`); flags given here override it (docs/node-config.example.yaml)",
  },
  "network-plugin": {
    default: "",
    help: 'the network plugin: "" or noop (default), cni, kubenet, or an exec plugin\'s name',
  },
  "network-plugin-dir": {
    default: DEFAULT_NETWORK_PLUGIN_DIR,
    help: "directory probed for exec plugins (<dir>/<name>/<name>)",
  },
  "cni-bin-dir": { default: DEFAULT_CNI_BIN_DIR, help: "comma-separated directories searched for CNI plugins" },
  "cni-conf-dir": {
    default: DEFAULT_CNI_CONF_DIR,
    help: "CNI network configs (the first valid one, lexicographically, is used)",
  },
  "cni-cache-dir": { default: DEFAULT_CNI_CACHE_DIR, help: "libcni result cache" },
  "network-plugin-mtu": {
    default: "0",
    help: "MTU for kubenet's bridge and veths; 0 = the smallest MTU of the up, non-loopback interfaces (1460 if none)",
  },
  "non-masquerade-cidr": {
    default: "10.0.0.0/8",
    help: "kubenet masquerades traffic leaving this range; 0.0.0.0/0 disables it",
  },
  "pod-cidr": { default: "", help: 'the node\'s pod CIDR ("v4", "v6" or "v4,v6"); also settable through the API' },
  "hairpin-mode": { default: "promiscuous-bridge", help: `${HAIRPIN_MODES.join(" | ")}` },
  "make-iptables-util-chains": {
    default: "true",
    help: "create the kubelet's KUBE-MARK-MASQ / KUBE-POSTROUTING chains",
  },
  socket: {
    default: DEFAULT_SOCKET,
    help: "the API's unix socket (root only; its directory must be root-owned and not group/other-writable)",
  },
  "socket-group": {
    default: "",
    help: 'members of this group (name or GID) may use the API and CNI sockets too (root:GROUP 0660 in a 0750 directory); "" = root only',
  },
  "cni-socket": {
    default: "",
    help: 'also serve podnet\'s CNI plugins in-process to the resident-mode launchers on this socket (as `podnet resident`; e.g. /run/podnet/cni.sock); "" = off',
  },
  "metrics-bind-address": {
    default: "",
    help: 'serve /metrics, /healthz and /readyz over TCP on HOST:PORT (e.g. 127.0.0.1:9966, [::1]:9966; port 0: any free one); "" = off',
  },
  "state-dir": { default: DEFAULT_STATE_DIR, help: "sandbox checkpoints and node state" },
  "ipam-data-dir": {
    default: "",
    help: "host-local dataDir for kubenet (default: host-local's /var/lib/cni/networks)",
  },
  "kubenet-bin-dir": {
    default: KUBENET_PRIMARY_BIN_DIR,
    help: 'searched by kubenet before --cni-bin-dir for bridge, host-local, loopback ("" for none)',
  },
  modprobe: { default: "true", help: "run `modprobe br-netfilter` at start (as the kubelet does)" },
  "in-process-plugins": {
    default: "true",
    help: "kubenet: run podnet's own bridge/host-local/loopback inside the daemon instead of exec'ing them (other plugins are always exec'd); false: always exec",
  },
  "log-level": { default: "info", help: "debug | info | warn | error" },
  ...CLUSTER_NODE_FLAGS,
} as const;

export type FlagName = keyof typeof NODE_FLAGS;
export const BOOLEAN_FLAGS: readonly FlagName[] = ["make-iptables-util-chains", "modprobe", "in-process-plugins"];
/** Flags whose value is a whole number (a config file gives them as YAML integers). */
export const INTEGER_FLAGS: readonly FlagName[] = ["network-plugin-mtu"];
/** Comma-separated flags (a config file may give them as YAML lists too). */
export const LIST_FLAGS: readonly FlagName[] = [
  "cni-bin-dir",
  "pod-cidr",
  "cluster-cidr",
  "etcd-endpoints",
  "node-ip",
  "node-cidr-mask-size",
];

export function nodeUsage(): string {
  const lines = Object.entries(NODE_FLAGS).map(
    ([k, f]) => `  --${k.padEnd(26)} ${f.help}${f.default !== "" ? ` (default ${JSON.stringify(f.default)})` : ""}`,
  );
  return `usage: podnet node [flags]\n\nRuns the node network manager: one network plugin, a local API on a unix socket, /metrics.\n\nflags:\n${lines.join("\n")}\n`;
}

function bool(flag: string, v: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new UsageError(`--${flag}: must be true or false, got ${JSON.stringify(v)}`);
}

/** `host.hostname`: the default --node-name (lower-cased) of cluster networking. */
export function parseNodeArgs(argv: readonly string[], host: { hostname?: string } = {}): NodeOptions {
  // `--modprobe` alone means true, as Go's flag package reads booleans
  const args = argv.map((a) => (BOOLEAN_FLAGS.some((b) => a === `--${b}`) ? `${a}=true` : a));
  let values: Record<string, string | undefined>;
  try {
    const options = Object.fromEntries(Object.keys(NODE_FLAGS).map((k) => [k, { type: "string" as const }]));
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }) as {
      values: Record<string, string | undefined>;
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const get = (k: FlagName): string => values[k] ?? NODE_FLAGS[k].default;

  const networkPlugin = get("network-plugin");
  if (!NOOP_SELECTORS.includes(networkPlugin)) {
    const errs = qualifiedNameErrors(networkPlugin);
    if (errs.length)
      throw new UsageError(
        `--network-plugin: ${JSON.stringify(networkPlugin)} is not a valid plugin name: ${errs.join("; ")}`,
      );
  }
  const mtuText = get("network-plugin-mtu");
  const mtu = /^[0-9]+$/.test(mtuText) ? Number(mtuText) : NaN;
  if (!(mtu === 0 || (mtu >= 68 && mtu <= 65535)))
    throw new UsageError(`--network-plugin-mtu: must be 0 (auto) or 68..65535, got ${JSON.stringify(mtuText)}`);
  const nonMasq = get("non-masquerade-cidr");
  if (!tryParseCidr(nonMasq)) throw new UsageError(`--non-masquerade-cidr: ${JSON.stringify(nonMasq)} is not a CIDR`);
  let podCIDR = get("pod-cidr");
  if (podCIDR !== "") {
    try {
      podCIDR = validatePodCIDR(podCIDR, "--pod-cidr");
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const hairpinMode = get("hairpin-mode");
  if (!(HAIRPIN_MODES as readonly string[]).includes(hairpinMode)) {
    throw new UsageError(
      `--hairpin-mode: unknown value: ${JSON.stringify(hairpinMode)} (want one of ${HAIRPIN_MODES.join(", ")})`,
    );
  }
  const logLevel = get("log-level");
  if (!isLogLevel(logLevel))
    throw new UsageError(`--log-level: must be debug, info, warn or error, got ${JSON.stringify(logLevel)}`);
  const cniBinDirs = splitBinDirs(get("cni-bin-dir"));
  if (cniBinDirs.length === 0) throw new UsageError(`--cni-bin-dir: no directory given`);
  const socket = get("socket");
  if (socket === "") throw new UsageError("--socket: must not be empty");
  const socketGroup = get("socket-group");
  if (socketGroup !== "" && !/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(socketGroup)) {
    throw new UsageError(`--socket-group: ${JSON.stringify(socketGroup)} is not a group name or GID`);
  }
  const ipam = get("ipam-data-dir");
  let metricsBindAddress: BindAddress | undefined;
  if (get("metrics-bind-address") !== "") {
    try {
      metricsBindAddress = parseBindAddress(get("metrics-bind-address"));
    } catch (e) {
      throw new UsageError(`--metrics-bind-address: ${(e as Error).message}`);
    }
  }
  let cluster: ClusterNodeOptions | undefined;
  try {
    cluster = parseClusterNodeOptions(get, (k: ClusterFlagName) => values[k] !== undefined, {
      networkPlugin,
      podCIDR,
      ...(host.hostname !== undefined ? { hostname: host.hostname } : {}),
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {
    networkPlugin,
    networkPluginDir: get("network-plugin-dir"),
    cniBinDirs,
    cniConfDir: get("cni-conf-dir"),
    cniCacheDir: get("cni-cache-dir"),
    networkPluginMtu: mtu,
    nonMasqueradeCIDR: nonMasq,
    podCIDR,
    hairpinMode,
    makeIptablesUtilChains: bool("make-iptables-util-chains", get("make-iptables-util-chains")),
    socket,
    socketGroup,
    cniSocket: get("cni-socket"),
    stateDir: get("state-dir"),
    ...(ipam !== "" ? { ipamDataDir: ipam } : {}),
    kubenetBinDir: get("kubenet-bin-dir"),
    modprobe: bool("modprobe", get("modprobe")),
    inProcessPlugins: bool("in-process-plugins", get("in-process-plugins")),
    logLevel,
    ...(metricsBindAddress ? { metricsBindAddress } : {}),
    ...(cluster ? { cluster } : {}),
  };
}
