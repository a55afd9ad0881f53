// kubenet (dockershim network/kubenet, 1.21–1.23): a cbr0 bridge per node built with the CNI
// bridge + host-local + loopback plugins, plus the kubelet-side extras — the masquerade rule,
// hostports (iptables + held sockets), tc shaping on cbr0, promiscuous-bridge hairpin with ebtables
// dedup — and dual stack. Not ready until it has a pod CIDR.
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
import { join } from "node:path";
import { parseConf, toCurrent, type NetworkConfigList } from "../../../cni/index.js";
import type { Exec } from "../../../kernel/exec.js";
import type { Kernel } from "../../../kernel/types.js";
import { isNotFound } from "../../../kernel/errors.js";
import { formatNetwork, ipFamily, type Cidr } from "../../../ip/index.js";
import { extractPodBandwidth, type PodBandwidth } from "../../core/bandwidth.js";
import { isAlreadyGone, type CniInvoker } from "../../invoke/cni-invoker.js";
import { HostportManager, hostportChainName, type ConntrackClearer, type PortOpener } from "./hostport.js";
import type { IPTables, PendingRestore } from "../../../kernel/iptables.js";
import { type Logger, nullLogger } from "../../core/log.js";
import { chooseMtu, type MtuChoice } from "./mtu.js";
import { enableBridgeNetfilter } from "../noop/noop.js";
import {
  DEFAULT_INTERFACE_NAME, type HairpinMode, type Host, KUBENET_PLUGIN_NAME, type PortMapping,
  podCidrOfEvent, type NetworkPlugin, type PodNetworkStatus, statusFromIPs,
} from "../../core/plugin.js";
import { readPodIPs } from "../podips.js";
import { createEbtablesDedup, type EbtablesDedup } from "./ebtables.js";
import { BRIDGE_NAME, KUBENET_NETWORK_NAME, LOOPBACK_CONFIG, masqRuleArgs, parsePodCIDRs, renderNetConfig, REQUIRED_CNI_PLUGINS, type PodCIDRs } from "./config.js";
import type { PreparedLimit, Shaper } from "./shaper.js";
import { noTimer, phaseTimer, type PhaseTimer } from "./trace.js";
import { errorMessage } from "../../../util/error-message.js";

export const DAD_SYSCTL = "net/ipv6/conf/default/dad_transmits";

/** The file-system reads kubenet makes (bin dir listings, host-local leases). */
export interface KubenetFs {
  /** Names in a directory. */
  list(dir: string): string[];
  readFile(path: string): string;
}

export interface KubenetDeps {
  /** Search order for bridge/host-local/loopback; the first directory holding all three is used first. */
  readonly binDirs: readonly string[];
  /** A CNI invoker searching `path` (the chosen directory first). */
  readonly invokerFor: (path: readonly string[]) => CniInvoker;
  readonly kernel: Pick<Kernel, "netns" | "sysctl">;
  /** tc, ebtables, modprobe. */
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

const HOST_LOCAL_DEFAULT_DATA_DIR = "/var/lib/cni/networks";
const cidrOfIP = (ip: string) => `${ip}/${ipFamily(ip) === 6 ? 128 : 32}`;

export function createKubenetPlugin(deps: KubenetDeps): KubenetPlugin {
  const log = deps.log ?? nullLogger;
  const podIPs = new Map<string, Set<string>>();
  const hostport4 = new HostportManager({ iptables: deps.iptables, openPort: deps.openPort, ...(deps.clearConntrack ? { clearConntrack: deps.clearConntrack } : {}), log });
  const hostport6 = new HostportManager({ iptables: deps.iptables6, openPort: deps.openPort, ...(deps.clearConntrack ? { clearConntrack: deps.clearConntrack } : {}), log });
  const ebtables = deps.ebtables ?? createEbtablesDedup(deps.exec);
  const loConfig = parseConf(LOOPBACK_CONFIG);
  let host: Host | undefined;
  let hairpinMode: HairpinMode = "promiscuous-bridge";
  let nonMasqueradeCIDR = "10.0.0.0/8";
  let mtuChoice: MtuChoice | undefined;
  let cidrs: PodCIDRs | undefined;
  let netConfigText: string | undefined;
  let netConfig: NetworkConfigList | undefined;
  let shaperReady = false;
  const invokers = new Map<string, CniInvoker>();
  const now = deps.now ?? (() => performance.now());
  const timer = (): PhaseTimer => (deps.trace ? phaseTimer(now) : noTimer);
  let masqCheckedAt = -Infinity;
  let masqCheck: Promise<void> | undefined;

  function requiredDir(): string | undefined {
    for (const dir of deps.binDirs) {
      let names: string[];
      try {
        names = deps.fs.list(dir).map((n) => n.trim());
      } catch {
        continue;
      }
      if (REQUIRED_CNI_PLUGINS.every((p) => names.includes(p))) return dir;
    }
    return undefined;
  }

  function invoker(): CniInvoker {
    const chosen = requiredDir();
    const path = chosen ? [chosen, ...deps.binDirs.filter((d) => d !== chosen)] : [...deps.binDirs];
    const key = path.join("\0");
    let inv = invokers.get(key);
    if (!inv) {
      inv = deps.invokerFor(path);
      invokers.set(key, inv);
    }
    return inv;
  }

  function needHost(): Host {
    if (!host) throw new Error("kubenet used before init");
    return host;
  }

  function status(): Error | null {
    if (!netConfig) return new Error("kubenet does not have netConfig. This is most likely due to lack of PodCIDR");
    if (!requiredDir()) {
      return new Error(`could not locate kubenet required CNI plugins [${REQUIRED_CNI_PLUGINS.join(" ")}] at [${deps.binDirs.map((d) => JSON.stringify(d)).join(" ")}]`);
    }
    return null;
  }

  async function ensureMasqRule(): Promise<void> {
    const args = masqRuleArgs(nonMasqueradeCIDR);
    if (!args) return;
    const ipt = ipFamily(nonMasqueradeCIDR) === 6 ? deps.iptables6 : deps.iptables;
    try {
      await ipt.ensureRule("append", "nat", "POSTROUTING", args);
    } catch (e) {
      throw new Error(`failed to ensure that nat chain POSTROUTING jumps to MASQUERADE: ${errorMessage(e)}`, { cause: e });
    }
  }

  /**
   * The kubelet re-ensured the masquerade rule after every pod (an `iptables -C`, ~4 ms); it is a
   * node-wide rule, so it is re-checked in the background, at most once per masqRecheckMs.
   */
  function recheckMasqRule(): void {
    if (masqCheck || now() - masqCheckedAt < (deps.masqRecheckMs ?? 60_000)) return;
    masqCheckedAt = now();
    masqCheck = ensureMasqRule()
      .catch((e: unknown) => log.error("Failed to ensure MASQ rule", { err: e }))
      .finally(() => (masqCheck = undefined));
  }

  async function getShaper(): Promise<Shaper> {
    const shaper = deps.shaper;
    if (!shaperReady) {
      try {
        await shaper.reconcileInterface();
        shaperReady = true;
      } catch (e) {
        log.warn("failed to set up the shaper on cbr0", { err: e });
      }
    }
    return shaper;
  }

  const addPodIP = (id: string, ip: string) => {
    let s = podIPs.get(id);
    if (!s) podIPs.set(id, (s = new Set()));
    s.add(ip);
  };
  const removePodIP = (id: string, ip: string) => {
    const s = podIPs.get(id);
    if (!s) return;
    s.delete(ip);
    if (s.size === 0) podIPs.delete(id);
  };
  const cachedIPs = (id: string): string[] | undefined => {
    const s = podIPs.get(id);
    return s ? [...s] : undefined;
  };
  const managerFor = (ip: string) => (ipFamily(ip) === 6 ? hostport6 : hostport4);

  async function netnsOf(id: string): Promise<string> {
    try {
      return await needHost().getNetNS(id);
    } catch (e) {
      log.debug("no netns for sandbox", { sandbox: id, err: e });
      return "";
    }
  }

  /** Whether the node has IPv6 (its DAD sysctl exists): a node-wide fact, read once. */
  let nodeIPv6: Promise<void> | undefined;
  async function disableContainerDAD(netns: string): Promise<void> {
    if (!netns) throw new Error("pod has no network namespace");
    nodeIPv6 ??= deps.kernel.sysctl.read(null, DAD_SYSCTL).then(
      () => undefined,
      (e: unknown) => {
        throw new Error(`ipv6 not enabled: ${errorMessage(e)}`);
      },
    );
    await nodeIPv6;
    await deps.kernel.sysctl.write(netns, DAD_SYSCTL, "0");
  }

  async function addHostports(
    namespace: string, name: string, id: string, ips: readonly string[],
    known?: readonly PortMapping[], pending?: ReadonlyMap<number, PendingRestore>,
  ): Promise<void> {
    const portMappings = known ?? (await needHost().getPodPortMappings(id));
    if (portMappings.length === 0) return;
    // one manager per family, so both can run at once
    await settleAll(ips.map((ip) => managerFor(ip).add(id, { namespace, name, portMappings, ip, hostNetwork: false }, BRIDGE_NAME, pending?.get(ipFamily(ip) === 6 ? 6 : 4))));
  }

  /** cbr0 promiscuous; returns the dedup sync (best effort, never rejects: ebtables, once per node). */
  async function promiscuousBridge(): Promise<{ dedup: Promise<void> }> {
    const ops = deps.kernel.netns(null);
    const link = await ops.linkGet(BRIDGE_NAME);
    if (!link) throw new Error(`failed to lookup "${BRIDGE_NAME}": Link not found`);
    if (!link.promisc) {
      try {
        await ops.linkSetPromisc(BRIDGE_NAME, true);
      } catch (e) {
        throw new Error(`error setting promiscuous mode on ${BRIDGE_NAME}: ${errorMessage(e)}`, { cause: e });
      }
    }
    const dedup = ebtables.sync(link.mac, cidrs!.cidrs.map((c, i) => ({ gateway: cidrs!.gateways[i]!, podCIDR: formatNet(c) }))).then(
      (warning) => void (warning && log.warn(warning)),
      (e: unknown) => log.warn("failed to sync the ebtables dedup rules", { err: e }),
    );
    return { dedup };
  }

  async function shape(ips: readonly string[], bw: PodBandwidth, prepared?: Map<number, PreparedLimit>): Promise<void> {
    const sh = await getShaper();
    if (bw.ingress === undefined && bw.egress === undefined) return;
    for (const ip of ips) {
      const family = ipFamily(ip) === 6 ? 6 : 4;
      const p = prepared?.get(family);
      prepared?.delete(family);
      try {
        await (p ? p.commit(cidrOfIP(ip)) : sh.reconcileCIDR(cidrOfIP(ip), bw.egress, bw.ingress));
      } catch (e) {
        throw new Error(`failed to add pod to shaper: ${errorMessage(e)}`, { cause: e });
      }
    }
  }

  /**
   * The kubelet's steps — DAD off, loopback, bridge (+ host-local), promiscuous cbr0 and dedup,
   * shaping, hostports — with the waits overlapped: bridge and loopback ADD run at once; while
   * they run, the hostport restore (a process) is started and the shaping classes are made (only
   * the filters need the pod's IP); the restore then finishes while cbr0 and the filters are set
   * up over netlink, and the dedup rules (ebtables, first pod only) are synced meanwhile too.
   */
  async function setup(namespace: string, name: string, id: string, bw: PodBandwidth, t: PhaseTimer): Promise<void> {
    const host = needHost();
    const netns = await host.getNetNS(id);
    try {
      await disableContainerDAD(netns);
    } catch (e) {
      log.debug("failed to disable DAD in container", { sandbox: id, err: e });
    }
    t.mark("dad");
    const portMappings = await host.getPodPortMappings(id);
    const pending = new Map<number, PendingRestore>();
    const prepared = new Map<number, PreparedLimit>();
    try {
      const inv = invoker();
      const rt = { containerID: id, netns };
      // the bridge first: it is the long one, and on a small node the threads compete for CPUs
      const ethAdd = inv.addNetworkList(netConfig!, { ...rt, ifName: DEFAULT_INTERFACE_NAME });
      const adds = Promise.allSettled([inv.addNetworkList(loConfig, { ...rt, ifName: "lo" }), ethAdd]);
      // after the ADDs are under way: starting a process blocks this thread ~2-3 ms (fork + exec)
      if (portMappings.some((pm) => pm.hostPort > 0)) {
        for (const c of cidrs!.cidrs) {
          const p = (c.network.family === 6 ? hostport6 : hostport4).prepareAdd(BRIDGE_NAME);
          if (p) pending.set(c.network.family, p);
        }
      }
      if (bw.ingress !== undefined || bw.egress !== undefined) {
        const sh = await getShaper();
        for (const c of cidrs!.cidrs) {
          try {
            prepared.set(c.network.family, sh.prepare(bw.egress, bw.ingress));
          } catch (e) {
            log.debug("could not make the shaping classes ahead; they are made after the ADD", { err: e });
          }
        }
      }
      const [lo, eth] = await adds;
      if (lo.status === "rejected") throw new Error(`error adding container to network: ${errorMessage(lo.reason)}`, { cause: lo.reason });
      if (eth.status === "rejected") throw new Error(`error adding container to network: ${errorMessage(eth.reason)}`, { cause: eth.reason });
      t.mark("cni-add");
      let ips: string[];
      try {
        const cur = toCurrent(eth.value);
        const addrs = (cur.ips ?? []).map((i) => i.address.split("/")[0]!);
        const v4 = addrs.find((a) => ipFamily(a) !== 6);
        const v6 = addrs.find((a) => ipFamily(a) === 6);
        ips = [...(v4 ? [v4] : []), ...(v6 ? [v6] : [])];
      } catch (e) {
        throw new Error(`unable to understand network config: ${errorMessage(e)}`, { cause: e });
      }
      if (ips.length === 0) throw new Error("cni didn't report ipv4 ipv6");
      for (const ip of ips) addPodIP(id, ip);

      const hostports = addHostports(namespace, name, id, ips, portMappings, pending).then(() => undefined, (e: unknown) => e);
      let dedup: Promise<void> | undefined;
      try {
        if (hairpinMode === "promiscuous-bridge") {
          ({ dedup } = await promiscuousBridge());
          t.mark("promisc");
        }
        await shape(ips, bw, prepared);
        t.mark("shaping");
      } catch (e) {
        await Promise.all([hostports, dedup]); // never let teardown race the hostport add
        throw e;
      }
      const hpErr = await hostports;
      t.mark("hostports");
      if (dedup) {
        await dedup;
        t.mark("dedup");
      }
      if (hpErr !== undefined) throw hpErr;
    } finally {
      for (const p of pending.values()) p.cancel();
      for (const p of prepared.values()) await p.cancel().catch((e: unknown) => log.warn("failed to remove unused shaping classes", { err: e }));
    }
  }

  /**
   * CNI DEL (bridge and loopback), the hostport rules and the shaping, concurrently: each waits on
   * the kernel (a veth delete and an nf_tables delete are ~20 ms of RCU each), none needs another.
   */
  async function teardown(namespace: string, name: string, id: string, t: PhaseTimer = noTimer): Promise<Error | undefined> {
    const netns = await netnsOf(id);
    const inv = invoker();
    // not cached (a restarted daemon): the leases say which addresses the pod had, read before the
    // DEL releases them, so that its hostport rules and limits go now rather than at the next gc
    const ips = cachedIPs(id) ?? nonEmpty(leaseIPs(id));
    let portMappings: Awaited<ReturnType<Host["getPodPortMappings"]>> = [];
    let pmErr: string | undefined;
    try {
      portMappings = await needHost().getPodPortMappings(id);
    } catch (e) {
      pmErr = errorMessage(e);
    }
    t.mark("lookup");
    const timed = <T>(phase: string, p: Promise<T>): Promise<T> => {
      const t0 = now();
      return p.finally(() => t.concurrent(phase, now() - t0));
    };

    const cni = timed("cni-del", (async () => {
      // both DELs at once (the bridge's first), as the ADDs
      const eth = netConfig ? inv.delNetworkList(netConfig, { containerID: id, netns, ifName: DEFAULT_INTERFACE_NAME }) : Promise.resolve();
      const [lo, br] = await Promise.allSettled([inv.delNetworkList(loConfig, { containerID: id, netns, ifName: "lo" }), eth]);
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
    })());

    const hostports = timed("hostports", (async () => {
      const errs: string[] = [];
      if (!ips || ips.length === 0) {
        // no IPs known (e.g. the netns was gone at restart): the hostport chains are named from the
        // sandbox ID, so they can still go; the shaper's classes are left to gc()
        for (const m of [hostport4, hostport6]) {
          await m.remove(id, { namespace, name, portMappings, hostNetwork: false, ip: "" }).catch((e: unknown) => log.warn("failed to remove hostports", { sandbox: id, err: e }));
        }
        return errs;
      }
      if (portMappings.length === 0) return errs;
      for (const ip of ips) {
        try {
          await managerFor(ip).remove(id, { namespace, name, portMappings, hostNetwork: false, ip });
        } catch (e) {
          errs.push(errorMessage(e));
        }
      }
      return errs;
    })());

    const shaping = timed("shaping", (async () => {
      for (const ip of ips ?? []) {
        try {
          await (await getShaper()).reset(cidrOfIP(ip));
        } catch (e) {
          log.debug("failed to remove pod IP from shaper (most pods have no limit)", { ip, err: e });
        }
      }
    })());

    const [cniErrs, hpErrs] = await Promise.all([cni, hostports, shaping]);
    if (!ips || ips.length === 0) return undefined;
    for (const ip of ips) removePodIP(id, ip);
    const errs = [...cniErrs, ...(pmErr !== undefined ? [pmErr] : []), ...hpErrs];
    return errs.length ? new Error(errs.join("; ")) : undefined;
  }

  /** host-local leases of the kubenet network: ip → {containerID, ifName}. */
  function leases(): Array<{ ip: string; containerID: string; ifName: string }> {
    const dir = join(deps.ipamDataDir ?? HOST_LOCAL_DEFAULT_DATA_DIR, KUBENET_NETWORK_NAME);
    let names: string[];
    try {
      names = deps.fs.list(dir);
    } catch {
      return [];
    }
    const out: Array<{ ip: string; containerID: string; ifName: string }> = [];
    for (const n of names) {
      if (!/^[0-9a-fA-F:.]+$/.test(n) || !/[.:]/.test(n)) continue;
      try {
        const [cid, ifn] = deps.fs.readFile(join(dir, n)).split(/\r?\n/);
        if (cid) out.push({ ip: n, containerID: cid.trim(), ifName: (ifn ?? "").trim() || DEFAULT_INTERFACE_NAME });
      } catch {
        // raced with a release
      }
    }
    return out;
  }

  /** The addresses host-local has leased to the sandbox's eth0, IPv4 first. */
  function leaseIPs(id: string): string[] {
    const mine = leases().filter((l) => l.containerID === id && l.ifName === DEFAULT_INTERFACE_NAME).map((l) => l.ip);
    return [...mine.filter((ip) => !ip.includes(":")), ...mine.filter((ip) => ip.includes(":"))];
  }

  /** What is missing of a pod's limits on cbr0. */
  async function verifyShaping(ips: readonly string[], bw: PodBandwidth): Promise<string[]> {
    if (bw.ingress === undefined && bw.egress === undefined) return [];
    const sh = await getShaper();
    const problems: string[] = [];
    for (const ip of ips) problems.push(...(await sh.verify(cidrOfIP(ip), bw.egress, bw.ingress)));
    return problems;
  }

  return {
    async init(h, hairpin, nonMasq, mtu) {
      host = h;
      hairpinMode = hairpin;
      nonMasqueradeCIDR = nonMasq;
      if (mtu === 0) {
        const links = await deps.kernel.netns(null).linkList();
        mtuChoice = chooseMtu(0, links);
        if (mtuChoice.source === "fallback") log.warn(`Failed to find default bridge MTU, using ${mtuChoice.mtu}: ${mtuChoice.reason}`);
        else if (mtuChoice.source === "interface") log.info(`Using interface ${mtuChoice.from} MTU ${mtuChoice.mtu} as bridge MTU`);
      } else {
        mtuChoice = chooseMtu(mtu, []);
      }
      for (const p of await enableBridgeNetfilter({ sysctl: deps.kernel.sysctl, exec: deps.exec, log, modprobe: deps.modprobe !== false }, { ip6tables: false })) log.debug(p);
      await ensureMasqRule();
      masqCheckedAt = now();
      // KUBE-HOSTPORTS and its jumps now rather than on the first hostPort pod (~10 iptables
      // processes on the pod's path otherwise)
      await hostport4.prime(BRIDGE_NAME).catch((e: unknown) => log.warn("failed to prepare the hostport chains; the first hostPort pod will", { err: e }));
    },

    event(name, details) {
      const v = podCidrOfEvent(name, details, (m) => log.warn(m));
      if (v === undefined) return;
      if (netConfig) {
        if (v !== cidrs?.cidrs.map(formatNet).join(",")) log.warn(`Ignoring subsequent pod CIDR update to ${v}`);
        return;
      }
      let parsed: PodCIDRs;
      try {
        parsed = parsePodCIDRs(v);
      } catch (e) {
        log.warn(`Failed to generate CNI network config: ${errorMessage(e)}`);
        return;
      }
      const text = renderNetConfig({
        mtu: mtuChoice?.mtu ?? 1460,
        hairpin: hairpinMode === "hairpin-veth",
        podCIDRs: parsed.cidrs,
        ...(deps.ipamDataDir !== undefined ? { dataDir: deps.ipamDataDir } : {}),
      });
      try {
        netConfig = parseConf(text);
        netConfigText = text;
        cidrs = parsed;
        log.info("kubenet: PodCIDR is set", { podCIDR: v, mtu: mtuChoice?.mtu });
      } catch (e) {
        log.warn(`failed to set up CNI with the kubenet config: ${errorMessage(e)}`);
        netConfig = undefined;
      }
    },

    name: () => KUBENET_PLUGIN_NAME,
    capabilities: () => new Set<number>(),
    status,
    mtu: () => mtuChoice,
    podCIDRs: () => cidrs,
    netConfig: () => netConfigText,
    pluginDir: () => requiredDir(),

    async setUpPod(namespace, name, id, annotations) {
      const notReady = status();
      if (notReady) throw new Error(`kubenet cannot SetUpPod: ${notReady.message}`);
      let bw: PodBandwidth;
      try {
        bw = extractPodBandwidth(annotations);
      } catch (e) {
        throw new Error(`error reading pod bandwidth annotations: ${errorMessage(e)}`, { cause: e });
      }
      const t = timer();
      try {
        await setup(namespace, name, id, bw, t);
      } catch (e) {
        const te = await teardown(namespace, name, id).catch((x: unknown) => x as Error);
        if (te) log.debug("failed to clean up after SetUpPod failure", { namespace, name, err: te });
        throw e;
      }
      recheckMasqRule();
      if (deps.trace) log.info(t.line("kubenet SetUpPod"), { sandbox: id });
    },

    async tearDownPod(namespace, name, id) {
      if (!netConfig) throw new Error("kubenet needs a PodCIDR to tear down pods");
      const t = timer();
      const err = await teardown(namespace, name, id, t);
      if (err) throw err;
      recheckMasqRule();
      if (deps.trace) log.info(t.line("kubenet TearDownPod"), { sandbox: id });
    },

    async getPodNetworkStatus(_namespace, _name, id): Promise<PodNetworkStatus | null> {
      const cached = cachedIPs(id);
      if (cached?.length) return statusFromIPs(cached);
      let netns: string;
      try {
        netns = await needHost().getNetNS(id);
      } catch (e) {
        throw new Error(`kubenet failed to retrieve network namespace path: ${errorMessage(e)}`, { cause: e });
      }
      if (!netns) throw new Error(`cannot find the network namespace, skipping pod network status for container "${id}"`);
      const ips = await readPodIPs(deps.kernel.netns(netns));
      if (ips.length === 0) throw new Error(`cannot find pod IPs in the network namespace, skipping pod network status for container "${id}"`);
      for (const ip of ips) addPodIP(id, ip);
      return statusFromIPs(ips);
    },

    async reattachPod(namespace, name, id) {
      const st = await this.getPodNetworkStatus(namespace, name, id);
      if (st) await addHostports(namespace, name, id, st.ips);
    },

    /**
     * eth0 in the pod's netns with the addresses host-local leased to this sandbox, the hostport
     * chains, jumps, DNATs and held ports for those addresses, and the limits of annotated pods.
     */
    async verifyPod(namespace, name, id, annotations) {
      if (!netConfig) return ["kubenet has no pod CIDR"];
      let netns: string;
      try {
        netns = await needHost().getNetNS(id);
      } catch (e) {
        return [errorMessage(e)];
      }
      const problems: string[] = [];
      const leased = leaseIPs(id);
      if (leased.length === 0) problems.push(`no host-local lease of network "${KUBENET_NETWORK_NAME}" is held by sandbox ${id.slice(0, 12)}`);
      const ops = deps.kernel.netns(netns);
      if (!(await ops.linkGet(DEFAULT_INTERFACE_NAME))) {
        problems.push(`${DEFAULT_INTERFACE_NAME} is missing in ${netns}`);
      } else {
        const have = new Set((await ops.addrList(DEFAULT_INTERFACE_NAME)).map((a) => a.address));
        for (const ip of leased) if (!have.has(ip)) problems.push(`${DEFAULT_INTERFACE_NAME} in ${netns} does not have its leased address ${ip}`);
      }
      const ips = leased.length ? leased : (cachedIPs(id) ?? []);
      const portMappings = await needHost().getPodPortMappings(id);
      for (const ip of ips) problems.push(...(await managerFor(ip).verify(id, { namespace, name, portMappings, ip, hostNetwork: false })));
      let bw: PodBandwidth = {};
      try {
        bw = extractPodBandwidth(annotations);
      } catch {
        // refused at set-up: the pod has no limits
      }
      problems.push(...(await verifyShaping(ips, bw)));
      return problems;
    },

    async gc(live) {
      const released: string[] = [];
      // leases of containers that are gone: DEL with an empty netns releases them
      if (netConfig) {
        const inv = invoker();
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
      const keep = new Set<string>();
      for (const id of live) {
        let pms: Awaited<ReturnType<Host["getPodPortMappings"]>> = [];
        try {
          pms = await needHost().getPodPortMappings(id);
        } catch {
          continue;
        }
        for (const pm of pms) if (pm.hostPort > 0) keep.add(hostportChainName(id, pm));
      }
      for (const m of [hostport4, hostport6]) {
        try {
          for (const c of await m.removeStaleChains(keep)) released.push(`hostport chain ${c}`);
        } catch (e) {
          log.warn("failed to remove stale hostport chains", { ipv6: m.ipv6, err: e });
        }
      }
      // tc classes of addresses no live pod has
      const liveCIDRs = new Set<string>();
      for (const id of live) for (const ip of cachedIPs(id) ?? []) liveCIDRs.add(cidrOfIP(ip));
      for (const id of [...podIPs.keys()]) if (!live.has(id)) podIPs.delete(id);
      try {
        const link = await deps.kernel.netns(null).linkGet(BRIDGE_NAME);
        if (link) {
          const sh = await getShaper();
          for (const c of await sh.getCIDRs()) {
            if (liveCIDRs.has(c)) continue;
            await sh.reset(c).then(() => released.push(`shaping of ${c}`), (e: unknown) => log.warn("failed to reset a stale limit", { cidr: c, err: e }));
          }
          // classes without a filter: made ahead of a filter that never came (a crash in between)
          for (const c of await sh.removeOrphanClasses()) released.push(`shaping class ${c}`);
        }
      } catch (e) {
        if (!isNotFound(e)) log.warn("failed to list shaped addresses", { err: e });
      }
      return released;
    },

    async close() {
      await masqCheck;
      await hostport4.closeAll();
      await hostport6.closeAll();
    },
  };
}

const formatNet = (c: Cidr): string => formatNetwork(c);

const nonEmpty = <T>(xs: T[]): T[] | undefined => (xs.length ? xs : undefined);

/** Waits for every promise; then throws the first rejection (in order), if any. */
async function settleAll(ps: ReadonlyArray<Promise<unknown>>): Promise<void> {
  const rs = await Promise.allSettled(ps);
  for (const r of rs) if (r.status === "rejected") throw r.reason;
}
