// kubenet (dockershim network/kubenet, 1.21–1.23): a cbr0 bridge per node built with the CNI
// bridge + host-local + loopback plugins, plus the kubelet-side extras — the masquerade rule,
// hostports (iptables + held sockets), tc shaping on cbr0, promiscuous-bridge hairpin with ebtables
// dedup — and dual stack. Not ready until it has a pod CIDR.
//
// Its state is explicit: the node settings init() fixes (the runtime host, hairpin mode, MTU, the
// masquerade rule) and the pod network (network.ts), not ready until the pod CIDR arrives, then
// ready with the CIDRs and the bridge config; what needs the network is handed the ready one.
// Each concern has its module: which plugins run (binaries.ts), the masquerade rule
// (masquerade.ts), hostports in both families (pod-hostports.ts over hostport.ts), shaping
// (pod-shaping.ts over shaper.ts), promiscuous cbr0 and the dedup rules (hairpin.ts, ebtables.ts),
// DAD (dad.ts), host-local's leases (leases.ts), the pods' addresses (pod-ips.ts). This file runs
// the pod's steps in their order.
//
// podnet departures: bandwidth annotations are checked before anything is created; hostport rules
// are removed on teardown even when the pod's IPs are unknown (they are named from the sandbox ID);
// IPv6 pods are shaped with ip6 filters; gc() releases the leases, chains and tc classes of pods
// that no longer exist (the kubelet only did the leases, and only after a failed setup); the
// dedup rules are synced once per (MAC, pod CIDRs) instead of on every pod; the masquerade rule is
// re-checked at most once a minute, off the pod's path, instead of after every pod operation; the
// KUBE-HOSTPORTS chain and its jumps are made at init (the kubelet made them on the first hostPort
// pod), after which each pod's hostport rules are one iptables-restore (hostport.ts);
// teardown removes the veth (CNI DEL), the hostport rules and the shaping at the same time (each
// waits on the kernel, ~20 ms). PODNET_TRACE=1 (deps.trace) logs each SetUpPod/TearDownPod phase.
// Kept as the kubelet had it: one masquerade rule, for the family of --non-masquerade-cidr; the
// egress limit's filter (`match ip src <pod>`) sits on cbr0's egress as well, which the pod's own
// outgoing traffic does not cross, so it rarely applies (kubernetes#44231); ingress limits work.
import { parseConf, toCurrent, type AnyResult } from "../../../cni/index.js";
import type { Exec } from "../../../kernel/exec.js";
import type { Kernel } from "../../../kernel/types.js";
import { isNotFound } from "../../../kernel/errors.js";
import type { IPTables, PendingRestore } from "../../../kernel/iptables.js";
import { ipFamily, type Family } from "../../../ip/index.js";
import { errorMessage } from "../../../util/error-message.js";
import { extractPodBandwidth, type PodBandwidth } from "../../core/bandwidth.js";
import { type Logger, nullLogger } from "../../core/log.js";
import {
  DEFAULT_INTERFACE_NAME,
  type HairpinMode,
  type Host,
  KUBENET_PLUGIN_NAME,
  type PortMapping,
  podCidrOfEvent,
  type NetworkPlugin,
  type PodNetworkStatus,
  statusFromIPs,
} from "../../core/plugin.js";
import type { CniInvoker } from "../../invoke/cni-invoker.js";
import { isAlreadyGone } from "../../invoke/cni-invoker.js";
import { enableBridgeNetfilter } from "../br-netfilter.js";
import { readPodIPs } from "../podips.js";
import { kubenetPlugins, missingPluginsMessage, type DirLister } from "./binaries.js";
import { BRIDGE_NAME, KUBENET_NETWORK_NAME, LOOPBACK_CONFIG, type PodCIDRs } from "./config.js";
import { containerDad } from "./dad.js";
import { createEbtablesDedup, type EbtablesDedup } from "./ebtables.js";
import { promiscuousBridge } from "./hairpin.js";
import type { ConntrackClearer, PortOpener } from "./hostport.js";
import { leasedIPs, readLeases, type LeaseFs } from "./leases.js";
import { Masquerade } from "./masquerade.js";
import { chooseMtu, FALLBACK_MTU, type MtuChoice } from "./mtu.js";
import { NOT_READY, podCidrText, podNetworkFor, type PodNetwork, type ReadyNetwork } from "./network.js";
import { PodHostports, type PodRef } from "./pod-hostports.js";
import { PodIPs } from "./pod-ips.js";
import { cidrOfIP, PodShaping } from "./pod-shaping.js";
import type { PreparedLimit, Shaper } from "./shaper.js";
import { noTimer, phaseTimer, type PhaseTimer } from "../../../util/phase-timer.js";

/** The file-system reads kubenet makes (bin dir listings, host-local leases). */
export interface KubenetFs extends DirLister, LeaseFs {}

export interface KubenetDeps {
  /** Search order for bridge/host-local/loopback; the first directory holding all three is used first. */
  readonly binDirs: readonly string[];
  /** A CNI invoker searching `path` (the chosen directory first). */
  readonly invokerFor: (path: readonly string[]) => CniInvoker;
  readonly kernel: Pick<Kernel, "netns" | "sysctl">;
  /** ebtables, modprobe. */
  readonly exec: Exec;
  readonly iptables: IPTables;
  readonly iptables6: IPTables;
  readonly openPort: PortOpener;
  readonly clearConntrack?: ConntrackClearer;
  readonly fs: KubenetFs;
  /** host-local dataDir; undefined: host-local's default (/var/lib/cni/networks). */
  readonly ipamDataDir?: string;
  readonly log?: Logger;
  /** `modprobe br-netfilter` at init (default true). */
  readonly modprobe?: boolean;
  /** The limits on cbr0. */
  readonly shaper: Shaper;
  readonly ebtables?: EbtablesDedup;
  /** Log where each pod operation's time goes (PODNET_TRACE=1). */
  readonly trace?: boolean;
  /** Monotonic milliseconds (default performance.now). */
  readonly now?: () => number;
  /** The masquerade rule is re-checked after a pod operation when this long has passed (default 60 s). */
  readonly masqRecheckMs?: number;
  /** What the node's API shows of how the CNI plugins in `dir` run (the daemon's in-process invoker knows). */
  readonly describePlugins?: (dir: string | undefined) => Record<string, unknown>;
  /** Cluster networking (docs/cluster.md), when this node is part of a cluster. */
  readonly cluster?: KubenetCluster;
}

/** What kubenet needs to know on a cluster node. */
export interface KubenetCluster {
  /** The cluster CIDRs: other nodes' pods, never masqueraded as destinations. */
  readonly cidrs: readonly string[];
  /** The pods' MTU for the detected MTU, asked at each pod set-up (lowered while any peer is reached over VXLAN). */
  podMtu(mtu: number): number;
  /** Links the MTU rule skips (podnet's VXLAN device, whose MTU is already lowered). */
  readonly ignoreLinks: readonly string[];
}

export interface KubenetPlugin extends NetworkPlugin {
  /** The MTU chosen at init and why. */
  mtu(): MtuChoice | undefined;
  podCIDRs(): PodCIDRs | undefined;
  /** The rendered bridge config (undefined until a pod CIDR arrived). */
  netConfig(): string | undefined;
  /** The directory whose bridge/host-local/loopback are used, if any has all three. */
  pluginDir(): string | undefined;
}

/** What init() fixes for the plugin's life. */
interface NodeSettings {
  readonly host: Host;
  readonly hairpinMode: HairpinMode;
  readonly mtu: MtuChoice;
  readonly masquerade: Masquerade;
}

export function createKubenetPlugin(deps: KubenetDeps): KubenetPlugin {
  const log = deps.log ?? nullLogger;
  const now = deps.now ?? (() => performance.now());
  const timer = (): PhaseTimer => (deps.trace ? phaseTimer(now) : noTimer);
  const plugins = kubenetPlugins(deps.binDirs, deps.fs, deps.invokerFor);
  const hostports = new PodHostports({
    iptables: deps.iptables,
    iptables6: deps.iptables6,
    openPort: deps.openPort,
    ...(deps.clearConntrack ? { clearConntrack: deps.clearConntrack } : {}),
    log,
  });
  const shaping = new PodShaping(deps.shaper, log);
  const ebtables = deps.ebtables ?? createEbtablesDedup(deps.exec);
  const disableDad = containerDad(deps.kernel.sysctl);
  const podIPs = new PodIPs();
  const loConfig = parseConf(LOOPBACK_CONFIG);
  const leases = () => readLeases(deps.fs, deps.ipamDataDir);

  /** Set by init(). */
  let node: NodeSettings | undefined;
  /** Ready once the pod CIDR arrived. */
  let network: PodNetwork = NOT_READY;

  function needNode(): NodeSettings {
    if (!node) throw new Error("kubenet used before init");
    return node;
  }

  /** The network pods are set up in, or why there is none. */
  function readyNetwork(): ReadyNetwork | Error {
    if (!network.ready) return new Error("kubenet does not have netConfig. This is most likely due to lack of PodCIDR");
    if (!plugins.dir()) return new Error(missingPluginsMessage(deps.binDirs));
    return network;
  }

  /** The pods' MTU now: the chosen one, lowered on a cluster node while VXLAN carries pod traffic (an explicit --network-plugin-mtu is used as given). */
  function podMtu(): number {
    const m = node?.mtu ?? { mtu: FALLBACK_MTU, source: "fallback" as const };
    return deps.cluster && m.source !== "flag" ? deps.cluster.podMtu(m.mtu) : m.mtu;
  }

  const renderOptions = (mtu: number) => ({
    mtu,
    hairpin: node?.hairpinMode === "hairpin-veth",
    ...(deps.ipamDataDir !== undefined ? { dataDir: deps.ipamDataDir } : {}),
  });

  /** The network a new pod is set up in: re-rendered when the pods' MTU changed (a peer now needs VXLAN, or no longer does). */
  function networkForNewPod(net: ReadyNetwork): ReadyNetwork {
    const mtu = podMtu();
    if (mtu === net.mtu) return net;
    const n = podNetworkFor(podCidrText(net.cidrs), renderOptions(mtu));
    if (!n.ready) return net;
    log.info("kubenet: the pods' MTU changed; new pods get the new one", { from: net.mtu, to: mtu });
    network = n;
    return n;
  }

  async function netnsOf(id: string): Promise<string> {
    try {
      return await needNode().host.getNetNS(id);
    } catch (e) {
      log.debug("no netns for sandbox", { sandbox: id, err: e });
      return "";
    }
  }

  /**
   * The kubelet's steps — DAD off, loopback, bridge (+ host-local), promiscuous cbr0 and dedup,
   * shaping, hostports — with the waits overlapped: bridge and loopback ADD run at once; while
   * they run, the hostport restore (a process) is started and the shaping classes are made (only
   * the filters need the pod's IP); the restore then finishes while cbr0 and the filters are set
   * up over netlink, and the dedup rules (ebtables, first pod only) are synced meanwhile too.
   */
  async function setup(net: ReadyNetwork, pod: PodRef, bw: PodBandwidth, t: PhaseTimer): Promise<void> {
    const { host, hairpinMode } = needNode();
    const id = pod.sandboxID;
    const netns = await host.getNetNS(id);
    try {
      await disableDad(netns);
    } catch (e) {
      log.debug("failed to disable DAD in container", { sandbox: id, err: e });
    }
    t.mark("dad");
    const portMappings = await host.getPodPortMappings(id);
    const families = net.cidrs.cidrs.map((c) => c.network.family);
    const pending = new Map<Family, PendingRestore>();
    let prepared = new Map<Family, PreparedLimit>();
    try {
      const inv = plugins.invoker();
      const rt = { containerID: id, netns };
      // the bridge first: it is the long one, and on a small node the threads compete for CPUs
      const ethAdd = inv.addNetworkList(net.netConfig, { ...rt, ifName: DEFAULT_INTERFACE_NAME });
      const adds = Promise.allSettled([inv.addNetworkList(loConfig, { ...rt, ifName: "lo" }), ethAdd]);
      // after the ADDs are under way: starting a process blocks this thread ~2-3 ms (fork + exec)
      hostports.prepare(portMappings, families, pending);
      prepared = await shaping.prepare(bw, families);
      const [lo, eth] = await adds;
      if (lo.status === "rejected")
        throw new Error(`error adding container to network: ${errorMessage(lo.reason)}`, { cause: lo.reason });
      if (eth.status === "rejected")
        throw new Error(`error adding container to network: ${errorMessage(eth.reason)}`, { cause: eth.reason });
      t.mark("cni-add");
      const ips = podAddresses(eth.value);
      if (ips.length === 0) throw new Error("cni didn't report ipv4 ipv6");
      for (const ip of ips) podIPs.add(id, ip);

      const hostportsAdded = hostports.add(pod, ips, portMappings, pending).then(
        () => undefined,
        (e: unknown) => e,
      );
      let dedup: Promise<void> | undefined;
      try {
        if (hairpinMode === "promiscuous-bridge") {
          ({ dedup } = await promiscuousBridge(deps.kernel.netns(null), ebtables, net.cidrs, log));
          t.mark("promisc");
        }
        await shaping.apply(ips, bw, prepared);
        t.mark("shaping");
      } catch (e) {
        await Promise.all([hostportsAdded, dedup]); // never let teardown race the hostport add
        throw e;
      }
      const hpErr = await hostportsAdded;
      t.mark("hostports");
      if (dedup) {
        await dedup;
        t.mark("dedup");
      }
      if (hpErr !== undefined) throw hpErr;
    } finally {
      for (const p of pending.values()) p.cancel();
      await shaping.cancel(prepared);
    }
  }

  /**
   * CNI DEL (bridge and loopback), the hostport rules and the shaping, concurrently: each waits on
   * the kernel (a veth delete and an nf_tables delete are ~20 ms of RCU each), none needs another.
   */
  async function teardown(net: ReadyNetwork, pod: PodRef, t: PhaseTimer = noTimer): Promise<Error | undefined> {
    const id = pod.sandboxID;
    const netns = await netnsOf(id);
    const inv = plugins.invoker();
    // not cached (a restarted daemon): the leases say which addresses the pod had, read before the
    // DEL releases them, so that its hostport rules and limits go now rather than at the next gc
    const ips = podIPs.get(id) ?? nonEmpty(leasedIPs(leases(), id));
    let portMappings: readonly PortMapping[] = [];
    let pmErr: string | undefined;
    try {
      portMappings = await needNode().host.getPodPortMappings(id);
    } catch (e) {
      pmErr = errorMessage(e);
    }
    t.mark("lookup");
    const timed = <T>(phase: string, p: Promise<T>): Promise<T> => {
      const t0 = now();
      return p.finally(() => t.add(`${phase}‖`, now() - t0)); // ‖: ran alongside the others
    };

    const cni = timed(
      "cni-del",
      (async () => {
        // both DELs at once (the bridge's first), as the ADDs
        const eth = inv.delNetworkList(net.netConfig, { containerID: id, netns, ifName: DEFAULT_INTERFACE_NAME });
        const [lo, br] = await Promise.allSettled([
          inv.delNetworkList(loConfig, { containerID: id, netns, ifName: "lo" }),
          eth,
        ]);
        const errs: string[] = [];
        if (lo.status === "rejected") {
          log.warn("failed to delete loopback network", { sandbox: id, err: lo.reason });
          errs.push(errorMessage(lo.reason));
        }
        if (br.status === "rejected" && !isAlreadyGone(br.reason)) {
          log.warn(`failed to delete "${DEFAULT_INTERFACE_NAME}" network`, { sandbox: id, err: br.reason });
          errs.push(`error removing container from network: ${errorMessage(br.reason)}`);
        }
        return errs;
      })(),
    );
    // no IPs known (e.g. the netns was gone at restart): the hostport chains still go, the limits are left to gc()
    const hostportsRemoved = timed("hostports", hostports.remove(pod, ips, portMappings));
    const shapingReset = timed("shaping", shaping.reset(ips ?? []));

    const [cniErrs, hpErrs] = await Promise.all([cni, hostportsRemoved, shapingReset]);
    if (!ips || ips.length === 0) return undefined;
    for (const ip of ips) podIPs.remove(id, ip);
    const errs = [...cniErrs, ...(pmErr !== undefined ? [pmErr] : []), ...hpErrs];
    return errs.length ? new Error(errs.join("; ")) : undefined;
  }

  async function getPodNetworkStatus(id: string): Promise<PodNetworkStatus | null> {
    const cached = podIPs.get(id);
    if (cached?.length) return statusFromIPs(cached);
    let netns: string;
    try {
      netns = await needNode().host.getNetNS(id);
    } catch (e) {
      throw new Error(`kubenet failed to retrieve network namespace path: ${errorMessage(e)}`, { cause: e });
    }
    if (!netns) throw new Error(`cannot find the network namespace, skipping pod network status for container "${id}"`);
    const ips = await readPodIPs(deps.kernel.netns(netns));
    if (ips.length === 0)
      throw new Error(
        `cannot find pod IPs in the network namespace, skipping pod network status for container "${id}"`,
      );
    for (const ip of ips) podIPs.add(id, ip);
    return statusFromIPs(ips);
  }

  return {
    async init(host, hairpinMode, nonMasqueradeCIDR, mtu) {
      let mtuChoice: MtuChoice;
      if (mtu === 0) {
        const skip = new Set(deps.cluster?.ignoreLinks ?? []);
        mtuChoice = chooseMtu(
          0,
          (await deps.kernel.netns(null).linkList()).filter((l) => !skip.has(l.name)),
        );
        if (mtuChoice.source === "fallback")
          log.warn(`Failed to find default bridge MTU, using ${mtuChoice.mtu}: ${mtuChoice.reason}`);
        else if (mtuChoice.source === "interface")
          log.info(`Using interface ${mtuChoice.from} MTU ${mtuChoice.mtu} as bridge MTU`);
      } else {
        mtuChoice = chooseMtu(mtu, []);
      }
      const masquerade = new Masquerade({
        nonMasqueradeCIDR,
        iptables: deps.iptables,
        iptables6: deps.iptables6,
        now,
        recheckMs: deps.masqRecheckMs ?? 60_000,
        log,
        ...(deps.cluster ? { clusterCIDRs: deps.cluster.cidrs } : {}),
      });
      node = { host, hairpinMode, mtu: mtuChoice, masquerade };
      for (const p of await enableBridgeNetfilter(
        { sysctl: deps.kernel.sysctl, exec: deps.exec, log, modprobe: deps.modprobe !== false },
        { ip6tables: false },
      ))
        log.debug(p);
      await masquerade.ensure();
      await hostports.prime();
    },

    event(name, details) {
      const v = podCidrOfEvent(name, details, (m) => log.warn(m));
      if (v === undefined) return;
      if (network.ready) {
        if (v !== podCidrText(network.cidrs)) log.warn(`Ignoring subsequent pod CIDR update to ${v}`);
        return;
      }
      const n = podNetworkFor(v, renderOptions(podMtu()));
      if (!n.ready) {
        log.warn(n.warning);
        return;
      }
      network = n;
      log.info("kubenet: PodCIDR is set", { podCIDR: v, mtu: n.mtu });
    },

    name: () => KUBENET_PLUGIN_NAME,
    capabilities: () => new Set<number>(),
    status() {
      const r = readyNetwork();
      return r instanceof Error ? r : null;
    },
    mtu: () => node?.mtu,
    podCIDRs: () => (network.ready ? network.cidrs : undefined),
    netConfig: () => (network.ready ? network.text : undefined),
    pluginDir: () => plugins.dir(),

    nodeInfo() {
      const dir = plugins.dir();
      return {
        mtu: node?.mtu,
        ...(deps.cluster ? { podMtu: podMtu() } : {}),
        pluginDir: dir,
        ...(deps.describePlugins?.(dir) ?? {}),
      };
    },

    async setUpPod(namespace, name, id, annotations) {
      const ready = readyNetwork();
      if (ready instanceof Error) throw new Error(`kubenet cannot SetUpPod: ${ready.message}`);
      const net = networkForNewPod(ready);
      let bw: PodBandwidth;
      try {
        bw = extractPodBandwidth(annotations);
      } catch (e) {
        throw new Error(`error reading pod bandwidth annotations: ${errorMessage(e)}`, { cause: e });
      }
      const pod = { namespace, name, sandboxID: id };
      const t = timer();
      try {
        await setup(net, pod, bw, t);
      } catch (e) {
        const te = await teardown(net, pod).catch((x: unknown) => x as Error);
        if (te) log.debug("failed to clean up after SetUpPod failure", { namespace, name, err: te });
        throw e;
      }
      node?.masquerade.recheck();
      if (deps.trace) log.info(t.line("kubenet SetUpPod"), { sandbox: id });
    },

    async tearDownPod(namespace, name, id) {
      if (!network.ready) throw new Error("kubenet needs a PodCIDR to tear down pods");
      const t = timer();
      const err = await teardown(network, { namespace, name, sandboxID: id }, t);
      if (err) throw err;
      node?.masquerade.recheck();
      if (deps.trace) log.info(t.line("kubenet TearDownPod"), { sandbox: id });
    },

    getPodNetworkStatus: (_namespace, _name, id) => getPodNetworkStatus(id),

    async reattachPod(namespace, name, id) {
      const st = await getPodNetworkStatus(id);
      if (st)
        await hostports.add({ namespace, name, sandboxID: id }, st.ips, await needNode().host.getPodPortMappings(id));
    },

    /**
     * eth0 in the pod's netns with the addresses host-local leased to this sandbox, the hostport
     * chains, jumps, DNATs and held ports for those addresses, and the limits of annotated pods.
     */
    async verifyPod(namespace, name, id, annotations) {
      if (!network.ready) return ["kubenet has no pod CIDR"];
      let netns: string;
      try {
        netns = await needNode().host.getNetNS(id);
      } catch (e) {
        return [errorMessage(e)];
      }
      const problems: string[] = [];
      const leased = leasedIPs(leases(), id);
      if (leased.length === 0)
        problems.push(`no host-local lease of network "${KUBENET_NETWORK_NAME}" is held by sandbox ${id.slice(0, 12)}`);
      const ops = deps.kernel.netns(netns);
      if (!(await ops.linkGet(DEFAULT_INTERFACE_NAME))) {
        problems.push(`${DEFAULT_INTERFACE_NAME} is missing in ${netns}`);
      } else {
        const have = new Set((await ops.addrList(DEFAULT_INTERFACE_NAME)).map((a) => a.address));
        for (const ip of leased)
          if (!have.has(ip))
            problems.push(`${DEFAULT_INTERFACE_NAME} in ${netns} does not have its leased address ${ip}`);
      }
      const ips = leased.length ? leased : (podIPs.get(id) ?? []);
      const portMappings = await needNode().host.getPodPortMappings(id);
      problems.push(...(await hostports.verify({ namespace, name, sandboxID: id }, ips, portMappings)));
      let bw: PodBandwidth = {};
      try {
        bw = extractPodBandwidth(annotations);
      } catch {
        // refused at set-up: the pod has no limits
      }
      problems.push(...(await shaping.verify(ips, bw)));
      return problems;
    },

    async gc(live) {
      const released: string[] = [];
      // leases of containers that are gone: DEL with an empty netns releases them
      if (network.ready) {
        const { netConfig } = network;
        const inv = plugins.invoker();
        const dead = new Map<string, string>();
        for (const l of leases()) if (!live.has(l.containerID)) dead.set(l.containerID, l.ifName);
        for (const [cid, ifName] of dead) {
          try {
            await inv.delNetworkList(netConfig, { containerID: cid, netns: "", ifName });
            released.push(`lease of ${cid}`);
          } catch (e) {
            log.warn("failed to release a stale lease", { container: cid, err: e });
          }
        }
      }
      // hostport chains of pods that are gone
      const livePods: Array<{ sandboxID: string; portMappings: readonly PortMapping[] }> = [];
      for (const id of live) {
        try {
          livePods.push({ sandboxID: id, portMappings: await needNode().host.getPodPortMappings(id) });
        } catch {
          // a pod whose port mappings cannot be read is left out
        }
      }
      released.push(...(await hostports.removeStale(livePods)));
      // tc classes of addresses no live pod has
      const liveCIDRs = new Set<string>();
      for (const id of live) for (const ip of podIPs.get(id) ?? []) liveCIDRs.add(cidrOfIP(ip));
      podIPs.keepOnly(live);
      try {
        if (await deps.kernel.netns(null).linkGet(BRIDGE_NAME))
          released.push(...(await shaping.removeStale(liveCIDRs)));
      } catch (e) {
        if (!isNotFound(e)) log.warn("failed to list shaped addresses", { err: e });
      }
      return released;
    },

    async close() {
      await node?.masquerade.settled();
      await hostports.close();
    },
  };
}

/** The pod's addresses from the bridge's ADD result: its first of each family, IPv4 first. */
function podAddresses(result: AnyResult): string[] {
  try {
    const addrs = (toCurrent(result).ips ?? []).map((i) => i.address.split("/")[0]!);
    const v4 = addrs.find((a) => ipFamily(a) !== 6);
    const v6 = addrs.find((a) => ipFamily(a) === 6);
    return [...(v4 ? [v4] : []), ...(v6 ? [v6] : [])];
  } catch (e) {
    throw new Error(`unable to understand network config: ${errorMessage(e)}`, { cause: e });
  }
}

const nonEmpty = <T>(xs: T[]): T[] | undefined => (xs.length ? xs : undefined);
