// Assembling the node manager from its options and the system's side effects: probe, select and
// init the plugin, wrap it in the PluginManager, restore the checkpointed pods, serve the API.
// `podnet node` (src/cli/node.ts) only adds process handling around this.
import { join } from "node:path";
import type { Exec, RawExec } from "../../kernel/exec.js";
import type { Kernel } from "../../kernel/types.js";
import { openTcNetlink, type TcNetlink } from "../../kernel/tc-netlink.js";
import { CniRuntime } from "../../libcni/index.js";
import { createApiHandler } from "./api-server.js";
import { serveApi } from "./api-socket.js";
import { checkSocketPath, resolveGroup, type SocketGroup, type UnixListener } from "../../kernel/unix-listener.js";
import { createCheckpointStore, readNodeState, writeNodeState } from "../sandbox/checkpoint.js";
import { createCniPlugin } from "../plugins/cni/cni.js";
import { createExecPlugin, type ExecPluginFs } from "../plugins/exec/exec.js";
import { InProcessInvoker, type PluginHost } from "../invoke/inprocess-invoker.js";
import { podnetPluginCheck } from "../../sdk/bundle.js";
import { createIPTables, type IPTables } from "../../kernel/iptables.js";
import { ensureKubeletUtilChains } from "./iptables-util.js";
import {
  createKubenetPlugin,
  type KubenetCluster,
  type KubenetFs,
  type KubenetPlugin,
} from "../plugins/kubenet/kubenet.js";
import { DEFAULT_VXLAN_DEVICE } from "../../cluster/index.js";
import { findPluginDir } from "../plugins/kubenet/binaries.js";
import { BRIDGE_NAME, REQUIRED_CNI_PLUGINS } from "../plugins/kubenet/config.js";
import { createShaper } from "../plugins/kubenet/shaper.js";
import type { Logger } from "../core/log.js";
import { initNetworkPlugin, NOOP_SELECTORS, PluginManager } from "../core/manager.js";
import { type MetricsRegistry, networkPluginMetrics } from "../core/metrics.js";
import { PromMetricsRegistry } from "./prom-registry.js";
import {
  type BuildInfo,
  type IpamRangeUsage,
  registerBuildInfo,
  registerIpamMetrics,
  registerNetworkReady,
  registerPodMetrics,
  registerResidentMetrics,
} from "./node-metrics.js";
import { createMetricsHandler, type MetricsServer, serveMetrics } from "./metrics-server.js";
import { type BindAddress, formatBindAddress } from "./bind-address.js";
import { type NetworkConfigList, parseConf } from "../../cni/index.js";
import type { CniPlugin } from "../plugins/cni/cni.js";
import { createNoopPlugin } from "../plugins/noop/noop.js";
import type { NodeOptions } from "./options.js";
import {
  CNI_PLUGIN_NAME,
  CNI_TIMEOUT_SEC,
  effectiveHairpinMode,
  type Host,
  KUBENET_PLUGIN_NAME,
  type NetworkPlugin,
} from "../core/plugin.js";
import { errorMessage } from "../../util/error-message.js";
import type { PortOpener, ConntrackClearer } from "../plugins/kubenet/hostport.js";
import { workerPluginHost } from "../invoke/plugin-workers.js";
import { checkRequiredBinaries, describeFound, probeNetworkPlugins, type ProbeResult } from "./probe.js";
import { PodRuntime, type RestoreReport } from "../sandbox/runtime.js";
import { isOwnNetns, netnsIdentity } from "../../kernel/netns.js";
import { RESIDENT_PLUGINS } from "../../resident/registry.js";
import { serveResident } from "../../resident/server.js";
import { PodnetError } from "../../util/errors.js";
import { type ClusterNode, ClusterStartError, prepareClusterNode } from "./cluster.js";

export interface SystemDeps {
  readonly kernel: Kernel;
  /** Commands (iptables, ebtables, modprobe, conntrack). */
  readonly exec: Exec;
  /** Plugin executables. */
  readonly rawExec: RawExec;
  readonly fs: ExecPluginFs & KubenetFs;
  /** The environment plugins run with. */
  readonly pluginEnv: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  readonly openPort: PortOpener;
  readonly clearConntrack?: ConntrackClearer;
  readonly watchDir?: (dir: string, onChange: () => void) => () => void;
  readonly newID: () => string;
  /** IPTables per family (default: iptables / ip6tables through `exec`). */
  readonly iptables?: { v4: IPTables; v6: IPTables };
  /** Where podnet's own plugins run in-process (default: worker threads, started on first use). */
  readonly pluginHost?: PluginHost;
  /** tc over netlink for kubenet's shaper (default: a socket in the daemon's netns). */
  readonly tc?: TcNetlink;
  /** What podnet_build_info says (default: all "unknown"). */
  readonly buildInfo?: BuildInfo;
  /** host-local's usage of each range set of a network (for /metrics; without it, no IPAM series). */
  readonly ipamUsage?: (network: NetworkConfigList) => Promise<readonly IpamRangeUsage[]>;
}

export class StartupError extends PodnetError {
  override name = "StartupError";
  readonly code = "PODNET_STARTUP";
}

export interface RunningNode {
  readonly options: NodeOptions;
  readonly probe: ProbeResult;
  readonly manager: PluginManager;
  readonly runtime: PodRuntime;
  /** What /metrics serves. */
  readonly metrics: MetricsRegistry;
  readonly restore: RestoreReport;
  /** The API's socket. */
  readonly server: UnixListener;
  /** Where /metrics, /healthz and /readyz are served over TCP (--metrics-bind-address; the port bound). */
  readonly metricsAddress?: BindAddress;
  nodeInfo(): Record<string, unknown>;
  /** Stops serving and background work; pods and their state stay (a restart re-attaches them). */
  close(): Promise<void>;
}

const dedup = (xs: readonly string[]) => [...new Set(xs)];

/** What start-up made that must be let go of, in the order it was made: undone in reverse, by a failed start or by close(). */
class Closers {
  private readonly list: Array<() => unknown> = [];
  add(...fns: Array<() => unknown>): void {
    this.list.push(...fns);
  }
  /** Runs every closer, last made first; throws the first failure once all have run. */
  async closeAll(): Promise<void> {
    let first: { e: unknown } | undefined;
    for (const c of this.list.splice(0).reverse()) {
      try {
        await c();
      } catch (e) {
        first ??= { e };
      }
    }
    if (first) throw first.e;
  }
}

/** A plugin the daemon can select, and what it does once it was selected and initialised. */
interface Candidate {
  readonly plugin: NetworkPlugin;
  started?(): Promise<void>;
  /** The network config pods are set up with now (its host-local ranges feed /metrics). */
  network?(): NetworkConfigList | undefined;
}

export async function startNode(o: NodeOptions, sys: SystemDeps): Promise<RunningNode> {
  const closers = new Closers();
  try {
    return await start(o, sys, closers);
  } catch (e) {
    await closers.closeAll().catch(() => {});
    throw e;
  }
}

async function start(o: NodeOptions, sys: SystemDeps, closers: Closers): Promise<RunningNode> {
  const log = sys.log;
  closers.add(() => sys.kernel.close());
  // Who besides root may use the sockets, and whether they can be had: settled before anything is touched.
  let group: SocketGroup | undefined;
  try {
    if (o.socketGroup !== "") group = resolveGroup(o.socketGroup);
  } catch (e) {
    throw new StartupError(errorMessage(e));
  }
  for (const [flag, path] of [
    ["--socket", o.socket],
    ["--cni-socket", o.cniSocket],
  ] as const) {
    if (path === "") continue;
    try {
      await checkSocketPath(path, group ? { group } : {});
    } catch (e) {
      throw new StartupError(`${flag} ${path}: ${errorMessage(e)}`);
    }
  }
  const kubenetBinDirs = dedup([...(o.kubenetBinDir ? [o.kubenetBinDir] : []), ...o.cniBinDirs]);
  const probe = probeNetworkPlugins(
    { cniBinDirs: o.cniBinDirs, kubenetBinDirs, networkPluginDir: o.networkPluginDir },
    sys.fs,
  );
  log.info("probed network plugins", {
    cniBinDirs: describeFound(probe.cniBinDirs),
    execPlugins: probe.execPlugins.map((e) => e.name),
  });
  const isNoop = NOOP_SELECTORS.includes(o.networkPlugin);
  if (!isNoop) {
    const missing = checkRequiredBinaries(o.networkPlugin, probe);
    if (missing) throw new StartupError(`network plugin ${JSON.stringify(o.networkPlugin)}: ${missing}`);
  }
  let hairpin: ReturnType<typeof effectiveHairpinMode>;
  try {
    hairpin = effectiveHairpinMode(o.hairpinMode, o.networkPlugin);
  } catch (e) {
    throw new StartupError(errorMessage(e));
  }
  if (hairpin.warning) log.warn(hairpin.warning);

  const ipt = sys.iptables ?? {
    v4: createIPTables(sys.exec, false, { spareRestore: true }),
    v6: createIPTables(sys.exec, true, { spareRestore: true }),
  };
  closers.add(
    () => ipt.v6.close?.(),
    () => ipt.v4.close?.(),
  );
  if (o.makeIptablesUtilChains && !isNoop) {
    try {
      await ensureKubeletUtilChains(ipt.v4);
    } catch (e) {
      log.warn("failed to ensure the kubelet's iptables chains", { err: e });
    }
    await ensureKubeletUtilChains(ipt.v6).catch((e: unknown) => log.debug("no ip6tables util chains", { err: e }));
  }

  // Cluster networking: the node's addresses, its VXLAN device and the store, before the plugin
  // (kubenet's MTU rule skips the VXLAN device; its pods' MTU follows the peers).
  let cluster: ClusterNode | undefined;
  if (o.cluster) {
    try {
      cluster = await prepareClusterNode(o.cluster, {
        ops: sys.kernel.netns(null),
        log,
        stateDir: o.stateDir,
        podLinks: [BRIDGE_NAME],
      });
    } catch (e) {
      if (e instanceof ClusterStartError) throw new StartupError(e.message);
      throw e;
    }
    const c = cluster;
    closers.add(() => c.close());
  }

  const runtimeOptions = (path: readonly string[]) => ({
    path,
    cacheDir: o.cniCacheDir,
    exec: sys.rawExec,
    baseEnv: sys.pluginEnv,
    timeoutMs: CNI_TIMEOUT_SEC * 1000,
    onStderr: (t: string) => log.debug("plugin stderr", { text: t.trim() }),
    netnsExists: (p: string) => sys.kernel.netnsExists(p),
  });
  const cniRuntime = (path: readonly string[]) => new CniRuntime(runtimeOptions(path));

  // kubenet runs podnet's own plugins in-process when its bin dir resolves to them (README,
  // "Plugins: exec'd or resident"); Go's or anyone else's are exec'd. --in-process-plugins=false:
  // always exec.
  let pluginHost: PluginHost | undefined;
  const host_ = () =>
    (pluginHost ??= sys.pluginHost ?? workerPluginHost({ log: (m) => log.debug("plugin log", { text: m.trim() }) }));
  const isPodnetPlugin = podnetPluginCheck();
  const pluginCalls = { inProcess: 0, exec: 0 };
  const kubenetInvoker = (path: readonly string[]) =>
    o.inProcessPlugins
      ? new InProcessInvoker({ ...runtimeOptions(path), host: host_(), isPodnetPlugin, stats: pluginCalls })
      : cniRuntime(path);
  /** How kubenet runs bridge/host-local/loopback from `dir`: "in-process", "exec", or "mixed". */
  const kubenetPluginMode = (dir: string | undefined): "in-process" | "exec" | "mixed" => {
    if (!o.inProcessPlugins || !dir) return "exec";
    const own = REQUIRED_CNI_PLUGINS.filter((p) => isPodnetPlugin(join(dir, p), p)).length;
    return own === REQUIRED_CNI_PLUGINS.length ? "in-process" : own === 0 ? "exec" : "mixed";
  };
  const tc = sys.tc ?? openTcNetlink(null);
  closers.add(
    () => tc.close(),
    () => pluginHost?.close(),
  );

  let runtime: PodRuntime | undefined;
  const host: Host = {
    getNetNS: (id) => runtime!.getNetNS(id),
    getPodPortMappings: (id) => runtime!.getPodPortMappings(id),
  };
  // The kubelet constructs cni and kubenet always; only the selected one is initialised here.
  const candidates: Candidate[] = [
    {
      plugin: createCniPlugin({
        invoker: cniRuntime(o.cniBinDirs),
        confDir: o.cniConfDir,
        netns: (p) => sys.kernel.netns(p),
        log: log.child({ plugin: CNI_PLUGIN_NAME }),
        ...(sys.watchDir ? { watchDir: sys.watchDir } : {}),
      }),
      network(this: Candidate) {
        return (this.plugin as CniPlugin).defaultNetwork()?.list;
      },
    },
    {
      plugin: createKubenetPlugin({
        binDirs: kubenetBinDirs,
        invokerFor: kubenetInvoker,
        shaper: createShaper(tc, BRIDGE_NAME),
        trace: sys.pluginEnv["PODNET_TRACE"] === "1",
        kernel: sys.kernel,
        exec: sys.exec,
        iptables: ipt.v4,
        iptables6: ipt.v6,
        openPort: sys.openPort,
        ...(sys.clearConntrack ? { clearConntrack: sys.clearConntrack } : {}),
        fs: sys.fs,
        ...(o.ipamDataDir !== undefined ? { ipamDataDir: o.ipamDataDir } : {}),
        log: log.child({ plugin: KUBENET_PLUGIN_NAME }),
        modprobe: o.modprobe,
        describePlugins: (dir) => ({
          pluginMode: kubenetPluginMode(dir),
          ...(o.inProcessPlugins ? { pluginCalls: { ...pluginCalls } } : {}),
        }),
        ...(cluster ? { cluster: kubenetCluster(cluster) } : {}),
      }),
      async started() {
        const dir = findPluginDir(kubenetBinDirs, sys.fs);
        const mode = kubenetPluginMode(dir);
        log.info("kubenet CNI plugins", { dir, mode });
        // the first pod should not wait for the workers to load the plugins (~100 ms)
        if (mode !== "exec") await host_().warm?.();
      },
      network(this: Candidate) {
        const text = (this.plugin as KubenetPlugin).netConfig();
        return text === undefined ? undefined : parseConf(text);
      },
    },
    ...probe.execPlugins.map((info) => ({
      plugin: createExecPlugin(info, {
        exec: sys.rawExec,
        fs: sys.fs,
        env: sys.pluginEnv,
        log: log.child({ plugin: info.name }),
      }),
    })),
  ];
  let plugin: NetworkPlugin;
  try {
    plugin = await initNetworkPlugin(
      candidates.map((c) => c.plugin),
      o.networkPlugin,
      () => createNoopPlugin({ sysctl: sys.kernel.sysctl, exec: sys.exec, log, modprobe: o.modprobe }),
      {
        host,
        hairpinMode: hairpin.mode,
        nonMasqueradeCIDR: o.nonMasqueradeCIDR,
        mtu: o.networkPluginMtu,
      },
    );
  } catch (e) {
    throw new StartupError(`didn't find a compatible network plugin with the given settings: ${errorMessage(e)}`);
  }
  for (const w of plugin.warnings?.() ?? []) log.warn(w);
  const initialised = plugin;
  closers.add(() => initialised.close?.());
  const selected = candidates.find((c) => c.plugin === initialised);
  await selected?.started?.();

  const metrics = new PromMetricsRegistry();
  const manager = new PluginManager(plugin, { metrics: networkPluginMetrics(metrics) });
  cluster?.registerMetrics(metrics);
  const store = createCheckpointStore(o.stateDir);
  const rt = new PodRuntime({
    manager,
    store,
    netns: {
      add: (n) => sys.kernel.netnsAdd(n),
      del: (n) => sys.kernel.netnsDel(n),
      exists: (p) => sys.kernel.netnsExists(p),
      id: netnsIdentity,
      isNodeNetns: isOwnNetns,
    },
    newID: sys.newID,
    log,
    saveNodeState: (s) => writeNodeState(o.stateDir, s),
  });
  runtime = rt;
  registerBuildInfo(metrics, sys.buildInfo ?? { version: "unknown", commit: "unknown", node: "unknown" });
  registerNetworkReady(metrics, plugin.name(), () => notReady());
  registerPodMetrics(metrics, () => rt.listPods());
  const network = selected?.network?.bind(selected);
  const ipamUsage = sys.ipamUsage;
  if (network && ipamUsage) {
    let lastError = "";
    registerIpamMetrics(
      metrics,
      async () => {
        const n = network();
        return n ? ipamUsage(n) : [];
      },
      {
        stateKey: () =>
          `${network()?.bytes.toString() ?? ""} ${rt
            .listPods()
            .map((p) => `${p.sandboxID}:${p.phase}`)
            .join(",")}`,
        onError: (e) => {
          // once per distinct problem, not once per scrape
          if (errorMessage(e) !== lastError) log.warn("cannot read host-local's usage for /metrics", { err: e });
          lastError = errorMessage(e);
        },
      },
    );
  }

  // On a cluster node the pod CIDR is the node's block (--pod-cidr is registered as it).
  if (cluster) {
    try {
      await cluster.start((blocks) => {
        try {
          rt.setPodCIDR(blocks.join(","), "the node's block");
        } catch (e) {
          log.error("the cluster's block is not a pod CIDR", { blocks, err: e });
        }
      });
    } catch (e) {
      throw new StartupError(`cluster networking: ${errorMessage(e)}`);
    }
  }
  const podCIDR = cluster ? "" : o.podCIDR || readNodeState(o.stateDir).podCIDR || "";
  if (podCIDR) {
    try {
      rt.setPodCIDR(podCIDR, o.podCIDR ? "--pod-cidr" : "saved podCIDR");
    } catch (e) {
      throw new StartupError(errorMessage(e));
    }
  }
  const restore = await rt.restore();
  if (
    restore.reattached.length ||
    restore.tornDown.length ||
    restore.repaired.length ||
    restore.failed.length ||
    restore.released.length ||
    restore.corrupt.length
  ) {
    log.info("restored state", { ...restore });
  }
  for (const e of restore.errors) log.warn("restore problem", { error: e });

  const started = new Date().toISOString();
  const nodeInfo = (): Record<string, unknown> => {
    const st = manager.status();
    const waiting = cluster?.notReadyReason();
    return {
      plugin: plugin.name(),
      ready: st === null && waiting === undefined,
      ...(waiting !== undefined
        ? { reason: "NetworkPluginNotReady", message: `network plugin is not ready: ${waiting}` }
        : st
          ? { reason: "NetworkPluginNotReady", message: `network plugin is not ready: ${st.message}` }
          : {}),
      warnings: plugin.warnings?.() ?? [],
      podCIDR: rt.currentPodCIDR(),
      hairpinMode: hairpin.mode,
      nonMasqueradeCIDR: o.nonMasqueradeCIDR,
      pods: rt.listPods().length,
      started,
      ...plugin.nodeInfo?.(),
      ...(cluster ? { cluster: cluster.summary() } : {}),
    };
  };

  /** Why the node is not ready for pods (null: ready), as /v1/node says: /readyz and podnet_network_ready. */
  const notReady = (): string | null => {
    const info = nodeInfo();
    return info["ready"] === true ? null : String(info["message"] ?? "network plugin is not ready");
  };

  const onReject = (socket: string) => (who: string) =>
    log.warn("refused a connection", { socket, peer: who, allowed: group ? `root, group ${group.name}` : "root" });
  let server: UnixListener;
  try {
    server = await serveApi(
      createApiHandler({
        runtime: rt,
        nodeInfo,
        metrics: () => metrics.render(),
        ready: notReady,
        log,
        ...(cluster ? { cluster: () => cluster!.status() } : {}),
      }),
      o.socket,
      {
        ...(group ? { group } : {}),
        onReject: onReject(o.socket),
      },
    );
  } catch (e) {
    throw new StartupError(`--socket ${o.socket}: ${errorMessage(e)}`);
  }
  closers.add(() => server.close());
  // Resident mode: the launchers in build/resident (podnet install) hand their calls here.
  if (o.cniSocket) {
    let cniServer: UnixListener;
    const observer = registerResidentMetrics(metrics, RESIDENT_PLUGINS);
    try {
      // On the worker threads of kubenet's in-process plugins; the first calls wait for them to load.
      void host_().warm?.();
      cniServer = await serveResident(o.cniSocket, host_(), {
        ...(group ? { group } : {}),
        onError: (e) => log.warn("resident plugin request", { socket: o.cniSocket, error: e.message }),
        onCall: (c) => observer.onCall(c),
        onRefused: (r) => observer.onRefused(r),
      });
    } catch (e) {
      throw new StartupError(`--cni-socket ${o.cniSocket}: ${errorMessage(e)}`);
    }
    closers.add(() => cniServer.close());
  }
  let metricsServer: MetricsServer | undefined;
  if (o.metricsBindAddress) {
    try {
      metricsServer = await serveMetrics(
        o.metricsBindAddress,
        createMetricsHandler({
          render: () => metrics.render(),
          contentType: metrics.contentType,
          ready: notReady,
          log,
        }),
      );
    } catch (e) {
      throw new StartupError(`--metrics-bind-address ${formatBindAddress(o.metricsBindAddress)}: ${errorMessage(e)}`);
    }
    const served = metricsServer;
    closers.add(() => served.close());
    log.info("serving /metrics, /healthz and /readyz", { address: formatBindAddress(served.address) });
  }
  const st = manager.status();
  log.info("podnet node is serving", {
    socket: o.socket,
    plugin: plugin.name(),
    ready: st === null,
    ...(st ? { reason: st.message } : {}),
  });

  return {
    options: o,
    probe,
    manager,
    runtime: rt,
    metrics,
    restore,
    server,
    ...(metricsServer ? { metricsAddress: metricsServer.address } : {}),
    nodeInfo,
    close: () => closers.closeAll(),
  };
}

/** What kubenet needs of the cluster: the CIDRs it must not masquerade, the pods' MTU, the link its MTU rule skips. */
function kubenetCluster(c: ClusterNode): KubenetCluster {
  return { cidrs: c.clusterCIDRs, podMtu: (mtu) => c.podMtu(mtu), ignoreLinks: [DEFAULT_VXLAN_DEVICE] };
}
