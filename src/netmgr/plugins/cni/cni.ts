// The `cni` network plugin (dockershim network/cni): the first valid config of the conf dir in
// lexicographic order, re-read when the directory changes (and every 5 s), loopback always added,
// CNI_ARGS with the pod's identity and a runtimeConfig built from the pod.
//
// podnet departures, each fixing a leak or an ambiguity of the kubelet:
// - ipRanges carries one range set per pod CIDR family (the kubelet sent "v4,v6" as one subnet);
// - DEL replays the config and arguments the ADD was made with (from the libcni cache), so a
//   changed or removed conf dir no longer blocks teardown or deletes through the wrong chain;
// - pod IPs come from the ADD result (kept in the libcni cache), the netns is read only as a fallback;
// - `dns` is passed on Linux too (only plugins with the capability see it).
// As in the kubelet, --network-plugin-mtu and the hairpin mode are not used here: the config decides.
import {
  CniCode,
  CniError,
  isObject,
  parseConf,
  parseConfList,
  readJson,
  specHas,
  toCurrent,
  type AnyResult,
  type NetworkConfigList,
} from "../../../cni/index.js";
import type { NetOps } from "../../../kernel/types.js";
import { confFiles, loadConfFile, type RuntimeConf } from "../../../libcni/index.js";
import { bandwidthCapability, extractPodBandwidth } from "../../core/bandwidth.js";
import { isAlreadyGone, type CniInvoker } from "../../invoke/cni-invoker.js";
import { type Logger, nullLogger } from "../../core/log.js";
import {
  CNI_PLUGIN_NAME,
  DEFAULT_INTERFACE_NAME,
  type Host,
  InvalidPodError,
  podCidrOfEvent,
  type NetworkPlugin,
  type PodNetworkStatus,
  type PortMapping,
  statusFromIPs,
} from "../../core/plugin.js";
import { readPodIPs } from "../podips.js";
import { tryParseCidr } from "../../../ip/index.js";
import { errorMessage } from "../../../util/error-message.js";

export const LOOPBACK_NETWORK = `{"cniVersion":"0.2.0","name":"cni-loopback","plugins":[{"type":"loopback"}]}`;
export const DEFAULT_SYNC_INTERVAL_MS = 5000;

export interface CniPluginDeps {
  readonly invoker: CniInvoker;
  readonly confDir: string;
  /** NetOps inside a pod's netns (to read its addresses when no result is cached). */
  readonly netns: (path: string) => NetOps;
  readonly log?: Logger;
  readonly syncIntervalMs?: number;
  /** Calls `onChange` when the conf dir changes; returns a stop function (fs.watch in the daemon). */
  readonly watchDir?: (dir: string, onChange: () => void) => () => void;
}

export interface DefaultNetwork {
  readonly list: NetworkConfigList;
  readonly file: string;
  readonly capabilities: readonly string[];
}

export interface CniPlugin extends NetworkPlugin {
  /** Re-reads the conf dir now (what the 5 s loop and the watcher do). */
  syncNetworkConfig(): Promise<void>;
  defaultNetwork(): DefaultNetwork | undefined;
}

/** CNI_ARGS the kubelet sends, in its order. */
export function cniArgs(namespace: string, name: string, sandboxID: string): Array<[string, string]> {
  return [
    ["IgnoreUnknown", "1"],
    ["K8S_POD_NAMESPACE", namespace],
    ["K8S_POD_NAME", name],
    ["K8S_POD_INFRA_CONTAINER_ID", sandboxID],
  ];
}

/** `portMappings` capability entries: hostPort > 0 only, protocol lower-cased, hostIP passed through. */
export function portMappingsCapability(
  pms: readonly PortMapping[],
): Array<{ hostPort: number; containerPort: number; protocol: string; hostIP: string }> {
  return pms
    .filter((p) => p.hostPort > 0)
    .map((p) => ({
      hostPort: p.hostPort,
      containerPort: p.containerPort,
      protocol: p.protocol.toLowerCase(),
      hostIP: p.hostIP,
    }));
}

/** `ipRanges`: one range set per pod CIDR ("10.0.0.0/24,fd00::/64" → [[{subnet:v4}],[{subnet:v6}]]). */
export function ipRangesCapability(podCidr: string): Array<Array<{ subnet: string }>> {
  return podCidr
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((subnet) => [{ subnet }]);
}

/** The CRI DNSConfig JSON under options.dns → the `dns` capability. */
export function dnsCapability(text: string): { servers: string[]; searches: string[]; options: string[] } {
  let o: unknown;
  try {
    o = readJson(text);
  } catch (e) {
    throw new InvalidPodError(`failed to unmarshal dns config ${JSON.stringify(text)}: ${(e as Error).message}`);
  }
  const arr = (k: string): string[] => {
    const v = isObject(o) ? o[k] : undefined;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  };
  return { servers: arr("servers"), searches: arr("searches"), options: arr("options") };
}

/** buildCNIRuntimeConf: pure, so a bad annotation fails before anything is created. */
export function buildRuntimeConf(p: {
  namespace: string;
  name: string;
  sandboxID: string;
  netns: string;
  annotations: Readonly<Record<string, string>>;
  options: Readonly<Record<string, string>>;
  portMappings: readonly PortMapping[];
  podCidr: string;
}): RuntimeConf {
  let bw: ReturnType<typeof bandwidthCapability>;
  try {
    bw = bandwidthCapability(extractPodBandwidth(p.annotations));
  } catch (e) {
    throw new Error(`failed to get pod bandwidth from annotations: ${(e as Error).message}`, { cause: e });
  }
  const caps: Record<string, unknown> = { portMappings: portMappingsCapability(p.portMappings) };
  if (bw) caps["bandwidth"] = bw;
  if (p.podCidr !== "") caps["ipRanges"] = ipRangesCapability(p.podCidr);
  if (p.options["dns"] !== undefined) caps["dns"] = dnsCapability(p.options["dns"]);
  return {
    containerID: p.sandboxID,
    netns: p.netns,
    ifName: DEFAULT_INTERFACE_NAME,
    args: cniArgs(p.namespace, p.name, p.sandboxID),
    capabilityArgs: caps,
  };
}

/** Addresses of a result (any version), bare. */
export function resultIPs(r: AnyResult): string[] {
  const cur = toCurrent(r);
  return (cur.ips ?? []).map((ip) => ip.address.split("/")[0]!).filter(Boolean);
}

/** Parses cached config bytes back into a list (a .conflist has "plugins"; a .conf does not). */
export function listFromCachedConfig(bytes: Buffer): NetworkConfigList {
  let o: unknown;
  try {
    o = readJson(bytes);
  } catch (e) {
    throw new CniError(CniCode.DecodingFailure, `cached network config is not JSON: ${(e as Error).message}`);
  }
  return isObject(o) && Array.isArray(o["plugins"]) ? parseConfList(bytes) : parseConf(bytes);
}

export function createCniPlugin(deps: CniPluginDeps): CniPlugin {
  const log = deps.log ?? nullLogger;
  const loNetwork = parseConfList(LOOPBACK_NETWORK);
  let host: Host | undefined;
  let current: DefaultNetwork | undefined;
  let lastSyncError = "";
  let podCidr = "";
  /** file + bytes → capabilities, for configs that passed validation. */
  const validated = new Map<string, readonly string[]>();
  const podIPs = new Map<string, string[]>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let stopWatch: (() => void) | undefined;
  let syncing: Promise<void> | undefined;
  let again = false;

  async function findDefaultNetwork(): Promise<DefaultNetwork> {
    const files = confFiles(deps.confDir);
    if (files.length === 0) throw new Error(`no networks found in ${deps.confDir}`);
    const skipped: string[] = [];
    for (const file of files) {
      let list: NetworkConfigList;
      try {
        list = loadConfFile(file);
      } catch (e) {
        skipped.push(`${file}: ${(e as Error).message}`);
        continue;
      }
      if (list.plugins.length === 0) {
        skipped.push(`${file}: no plugins`);
        continue;
      }
      const key = `${file}\0${list.bytes.toString("base64")}`;
      let caps = validated.get(key);
      if (!caps) {
        try {
          caps = await deps.invoker.validateNetworkList(list);
        } catch (e) {
          skipped.push(`${file}: ${(e as Error).message}`);
          continue;
        }
        validated.set(key, caps);
      }
      return { list, file, capabilities: caps };
    }
    throw new Error(`no valid networks found in ${deps.confDir}: ${skipped.join("; ")}`);
  }

  async function syncOnce(): Promise<void> {
    try {
      const n = await findDefaultNetwork();
      if (!current || current.file !== n.file || !current.list.bytes.equals(n.list.bytes)) {
        log.info("using CNI network config", { file: n.file, network: n.list.name, capabilities: n.capabilities });
      }
      current = n;
      lastSyncError = "";
    } catch (e) {
      // keep the previous network: a config that turns invalid does not un-ready the node
      const m = (e as Error).message;
      if (m !== lastSyncError) log.warn(`Unable to update cni config: ${m}`);
      lastSyncError = m;
    }
  }

  /** Coalesces concurrent requests: at most one running and one queued. */
  function syncNetworkConfig(): Promise<void> {
    if (syncing) {
      again = true;
      return syncing;
    }
    syncing = (async () => {
      do {
        again = false;
        await syncOnce();
      } while (again);
    })().finally(() => (syncing = undefined));
    return syncing;
  }

  function checkInitialized(): Error | null {
    if (!current) return new Error(`cni config uninitialized${lastSyncError ? `: ${lastSyncError}` : ""}`);
    if (current.capabilities.includes("ipRanges") && podCidr === "")
      return new Error("cni config needs ipRanges but no PodCIDR set");
    return null;
  }

  function needHost(): Host {
    if (!host) throw new Error("cni plugin used before init");
    return host;
  }

  return {
    async init(h) {
      host = h;
      await syncNetworkConfig();
      const every = deps.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
      if (every > 0) {
        timer = setInterval(() => void syncNetworkConfig(), every);
        timer.unref?.();
      }
      if (deps.watchDir) stopWatch = deps.watchDir(deps.confDir, () => void syncNetworkConfig());
    },
    event(name, details) {
      const v = podCidrOfEvent(name, details, (m) => log.warn(m));
      if (v === undefined) return;
      if (podCidr !== "") {
        if (v !== podCidr) log.warn(`Ignoring subsequent pod CIDR update to ${v}`);
        return;
      }
      const bad = v.split(",").find((c) => !tryParseCidr(c.trim()));
      if (bad !== undefined) {
        log.warn(`Ignoring pod CIDR ${JSON.stringify(v)}: ${JSON.stringify(bad)} is not a CIDR`);
        return;
      }
      podCidr = v;
    },
    name: () => CNI_PLUGIN_NAME,
    capabilities: () => new Set<number>(),
    status: () => checkInitialized(),
    syncNetworkConfig,
    defaultNetwork: () => current,
    nodeInfo() {
      const n = current;
      return n
        ? {
            network: {
              name: n.list.name,
              file: n.file,
              cniVersion: n.list.cniVersion,
              plugins: n.list.plugins.map((p) => p.type),
              capabilities: n.capabilities,
            },
          }
        : {};
    },

    async setUpPod(namespace, name, id, annotations, options) {
      const notReady = checkInitialized();
      if (notReady) throw notReady;
      const net = current!;
      let netns: string;
      try {
        netns = await needHost().getNetNS(id);
      } catch (e) {
        throw new Error(`CNI failed to retrieve network namespace path: ${(e as Error).message}`, { cause: e });
      }
      const rt = buildRuntimeConf({
        namespace,
        name,
        sandboxID: id,
        netns,
        annotations,
        options,
        portMappings: await needHost().getPodPortMappings(id),
        podCidr,
      });
      await deps.invoker.addNetworkList(loNetwork, rt);
      const result = await deps.invoker.addNetworkList(net.list, rt);
      const ips = resultIPs(result);
      if (ips.length) podIPs.set(id, ips);
      log.debug("pod network added", { namespace, name, sandbox: id, network: net.list.name, ips });
    },

    async tearDownPod(namespace, name, id) {
      let netns = "";
      try {
        netns = await needHost().getNetNS(id);
      } catch (e) {
        log.debug("teardown without a netns", { sandbox: id, err: e });
      }
      const base = { containerID: id, netns, ifName: DEFAULT_INTERFACE_NAME };
      try {
        await deps.invoker.delNetworkList(loNetwork, { ...base, args: cniArgs(namespace, name, id) });
      } catch (e) {
        log.warn("failed to delete loopback network", { sandbox: id, err: e });
      }
      const cached = deps.invoker.getCachedAttachments(id).filter((a) => a.network !== loNetwork.name);
      const run = async (list: NetworkConfigList, rt: RuntimeConf) => {
        try {
          await deps.invoker.delNetworkList(list, rt);
        } catch (e) {
          if (!isAlreadyGone(e)) throw e;
        }
      };
      if (cached.length > 0) {
        for (const a of cached) {
          await run(listFromCachedConfig(a.config), {
            ...base,
            ifName: a.ifName,
            args: a.cniArgs,
            capabilityArgs: a.capabilityArgs,
          });
        }
      } else {
        const notReady = checkInitialized();
        if (notReady) throw notReady;
        const rt = buildRuntimeConf({
          namespace,
          name,
          sandboxID: id,
          netns,
          annotations: {},
          options: {},
          portMappings: await needHost().getPodPortMappings(id),
          podCidr,
        });
        await run(current!.list, rt);
      }
      podIPs.delete(id);
    },

    async getPodNetworkStatus(_namespace, _name, id): Promise<PodNetworkStatus | null> {
      const known = podIPs.get(id);
      if (known?.length) return statusFromIPs(known);
      if (current) {
        try {
          const r = deps.invoker.getCachedResult(current.list, { containerID: id, ifName: DEFAULT_INTERFACE_NAME });
          const ips = r ? resultIPs(r) : [];
          if (ips.length) {
            podIPs.set(id, ips);
            return statusFromIPs(ips);
          }
        } catch {
          // unreadable cache entry: read the netns below
        }
      }
      let netns: string;
      try {
        netns = await needHost().getNetNS(id);
      } catch (e) {
        throw new Error(`CNI failed to retrieve network namespace path: ${(e as Error).message}`, { cause: e });
      }
      if (!netns)
        throw new Error(`cannot find the network namespace, skipping pod network status for container "${id}"`);
      const ips = await readPodIPs(deps.netns(netns));
      if (ips.length === 0)
        throw new Error(
          `cannot find pod IPs in the network namespace, skipping pod network status for container "${id}"`,
        );
      return statusFromIPs(ips);
    },

    /**
     * Each attachment the pod's ADD left in the libcni cache, checked as its config allows: CHECK
     * through the chain with the cached result (spec ≥ 0.4.0, unless the config disables it);
     * otherwise what the status hook reads — the cached result's addresses on the interface in the
     * pod's netns.
     */
    async verifyPod(_namespace, _name, id) {
      let netns: string;
      try {
        netns = await needHost().getNetNS(id);
      } catch (e) {
        return [errorMessage(e)];
      }
      const attachments = deps.invoker.getCachedAttachments(id).filter((a) => a.network !== loNetwork.name);
      if (attachments.length === 0)
        return [
          `no cached ADD result for sandbox ${id.slice(0, 12)} (its network was never added, or its cache entry is gone)`,
        ];
      const problems: string[] = [];
      for (const a of attachments) {
        let list: NetworkConfigList;
        try {
          list = listFromCachedConfig(a.config);
        } catch (e) {
          problems.push(`network "${a.network}" on ${a.ifName}: the cached config is unreadable: ${errorMessage(e)}`);
          continue;
        }
        const rt: RuntimeConf = {
          containerID: id,
          netns,
          ifName: a.ifName,
          args: a.cniArgs,
          capabilityArgs: a.capabilityArgs,
        };
        if (specHas(list.cniVersion, "CHECK") && !list.disableCheck) {
          try {
            await deps.invoker.checkNetworkList(list, rt);
          } catch (e) {
            problems.push(`network "${list.name}" on ${a.ifName}: CHECK failed: ${errorMessage(e)}`);
          }
          continue;
        }
        let want: string[] = [];
        try {
          const r = deps.invoker.getCachedResult(list, rt);
          want = r ? resultIPs(r) : [];
        } catch (e) {
          problems.push(`network "${list.name}" on ${a.ifName}: the cached result is unreadable: ${errorMessage(e)}`);
          continue;
        }
        const ops = deps.netns(netns);
        if (!(await ops.linkGet(a.ifName))) {
          problems.push(`network "${list.name}": ${a.ifName} is missing in ${netns}`);
          continue;
        }
        const have = new Set((await ops.addrList(a.ifName)).map((x) => x.address));
        for (const ip of want)
          if (!have.has(ip)) problems.push(`network "${list.name}": ${a.ifName} in ${netns} does not have ${ip}`);
      }
      return problems;
    },

    async gc(live) {
      const released: string[] = [];
      const valid = [...live].map((containerID) => ({ containerID, ifname: DEFAULT_INTERFACE_NAME }));
      const stale = deps.invoker.getCachedAttachments().filter((a) => !live.has(a.containerID));
      for (const a of stale) released.push(`${a.network}/${a.containerID}/${a.ifName}`);
      const errs: string[] = [];
      for (const list of [loNetwork, ...(current ? [current.list] : [])]) {
        try {
          await deps.invoker.gcNetworkList(list, { validAttachments: valid });
        } catch (e) {
          errs.push((e as Error).message);
        }
      }
      // attachments made through a config that is no longer the default network
      for (const a of stale) {
        if (a.network === loNetwork.name || (current && a.network === current.list.name)) continue;
        try {
          await deps.invoker.delNetworkList(listFromCachedConfig(a.config), {
            containerID: a.containerID,
            netns: "",
            ifName: a.ifName,
            args: a.cniArgs,
            capabilityArgs: a.capabilityArgs,
          });
        } catch (e) {
          errs.push((e as Error).message);
        }
      }
      if (errs.length) log.warn("cni garbage collection had errors", { errors: errs });
      return released;
    },

    async close() {
      if (timer) clearInterval(timer);
      stopWatch?.();
      await syncing;
    },
  };
}
