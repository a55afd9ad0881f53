// Cluster networking inside `podnet node` (docs/cluster.md, "What `podnet node` calls"): the
// etcd store from the --etcd-* flags, the node's addresses (--node-ip or discovered), podnet's
// VXLAN device (unless --backend=host-gw), the connected subnets, and the ClusterAgent over the
// netlink route port, with its state file in --state-dir. The daemon hands the node's blocks to
// the network plugin as its pod CIDR, asks it for the pods' MTU, serves its status on
// GET /v1/cluster and its numbers on /metrics.
import { mkdirSync, promises as fsp } from "node:fs";
import { join } from "node:path";
import {
  AllocationError,
  ClusterAgent,
  ClusterConfigError,
  type ClusterStore,
  DEFAULT_VXLAN_DEVICE,
  type KeyLayout,
  NetlinkRoutePort,
  type VxlanDevice,
  connectedSubnets,
  defaultNodeIPs,
  ensureVxlanDevice,
  fileLocalState,
  linkOfAddress,
  openEtcdStore,
  syncVxlanAddresses,
  systemClock,
} from "../../cluster/index.js";
import { formatNetwork } from "../../ip/index.js";
import type { NetOps } from "../../kernel/types.js";
import { errorMessage } from "../../util/error-message.js";
import { PodnetError } from "../../util/errors.js";
import type { Logger } from "../core/log.js";
import { Histogram, type MetricsRegistry, SampledMetric } from "../core/metrics.js";
import type { ClusterNodeOptions } from "./cluster-options.js";

/** The agent's remembered blocks, in --state-dir. */
export const CLUSTER_STATE_FILE = "cluster.json";
/** How long start-up waits for the first registration before serving without it (etcd down). */
export const DEFAULT_JOIN_WAIT_MS = 3000;
/** How often the node's own addresses and VXLAN device are looked at again. */
const SELF_CHECK_MS = 30_000;

export interface ClusterNodeDeps {
  /** The node's own network namespace. */
  readonly ops: NetOps;
  readonly log: Logger;
  readonly stateDir: string;
  /** Links whose subnets are the pods', not the node's network (kubenet's cbr0). */
  readonly podLinks: readonly string[];
  readonly readFile?: (path: string) => Promise<Buffer>;
  /** The store (tests); default: etcd from the flags. */
  readonly store?: { store: ClusterStore; keys: KeyLayout };
  readonly joinWaitMs?: number;
}

export interface ClusterNode {
  readonly agent: ClusterAgent;
  readonly nodeIPs: readonly string[];
  readonly vxlan: VxlanDevice | undefined;
  /** --cluster-cidr, network form, IPv4 first. */
  readonly clusterCIDRs: readonly string[];
  /** The pods' MTU for a detected MTU: lowered while any peer is reached over VXLAN. */
  podMtu(mtu: number): number;
  /**
   * Starts registering; `onBlocks` gets the node's blocks whenever they are first known or change.
   * Resolves once they are known, or after the join wait (etcd unreachable and nothing
   * remembered: the node then serves, not ready, and keeps retrying); rejects when the cluster
   * refuses this node within the wait (overlapping --pod-cidr, exhausted, other cluster flags).
   */
  start(onBlocks: (blocks: readonly string[]) => void): Promise<void>;
  /** Why pods cannot be set up yet (no block), or undefined. */
  notReadyReason(): string | undefined;
  /** GET /v1/cluster. */
  status(): Record<string, unknown>;
  /** The short form in GET /v1/node. */
  summary(): Record<string, unknown>;
  registerMetrics(reg: MetricsRegistry): void;
  close(): Promise<void>;
}

const ROUTE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

const fail = (e: unknown): never => {
  throw e instanceof ClusterConfigError ? new ClusterStartError(e.message) : e;
};

/** A cluster setting that cannot work on this node (the daemon reports it and exits). */
export class ClusterStartError extends PodnetError {
  override name = "ClusterStartError";
  readonly code = "PODNET_CLUSTER_START";
}

export async function prepareClusterNode(c: ClusterNodeOptions, d: ClusterNodeDeps): Promise<ClusterNode> {
  // The store first (it reads the TLS files; nothing connects yet): bad flags stop the start before
  // anything is made. Later failures close it again.
  const { store, keys } = d.store ?? (await openEtcdStore(c.etcd, d.readFile ?? ((p) => fsp.readFile(p))).catch(fail));
  try {
    return await prepare(c, d, store, keys);
  } catch (e) {
    store.close();
    throw e;
  }
}

async function prepare(
  c: ClusterNodeOptions,
  d: ClusterNodeDeps,
  store: ClusterStore,
  keys: KeyLayout,
): Promise<ClusterNode> {
  const s = c.settings;
  const log = d.log.child({ component: "cluster" });
  const ops = d.ops;

  // The addresses peers send to: --node-ip, or the source address of the route to the Internet.
  let nodeIPs = [...c.nodeIPs];
  if (nodeIPs.length === 0) {
    nodeIPs = (await defaultNodeIPs(ops)).map((a) => a.ip);
    if (nodeIPs.length === 0)
      throw new ClusterStartError(
        "--node-ip: this node has no route to the Internet to take its address from; pass --node-ip",
      );
    log.info("node IP from the default route", { nodeIPs });
  }
  for (const ip of nodeIPs) await linkOfAddress(ops, ip).catch(fail);

  const vxlanWanted = s.backend !== "host-gw";
  let vxlan: VxlanDevice | undefined;
  if (vxlanWanted) {
    vxlan = await ensureVxlanDevice(ops, { nodeIP: nodeIPs[0]! }).catch(fail);
    if (vxlan.action !== "kept")
      log.info(`VXLAN device ${vxlan.name} ${vxlan.action}`, {
        mtu: vxlan.mtu,
        mac: vxlan.mac,
        underlay: vxlan.underlay,
      });
  }
  const exclude = [...d.podLinks, DEFAULT_VXLAN_DEVICE];
  let connected = await connectedSubnets(ops, { exclude });

  mkdirSync(d.stateDir, { recursive: true, mode: 0o700 });
  const routeSeconds = new Histogram(
    "podnet_cluster_route_programming_duration_seconds",
    "Seconds each batch of route, neighbour and FDB changes to other nodes took to program.",
    [],
    ROUTE_BUCKETS,
  );
  const agent = new ClusterAgent(
    {
      name: s.nodeName,
      nodeIPs,
      backend: s.backend,
      ...(vxlan ? { vtep: vxlan.vtep, vxlanDevice: vxlan.name } : {}),
      connected,
      ranges: s.ranges,
      ...(s.podCIDRs.length ? { podCIDRs: s.podCIDRs } : {}),
      nodeTtlMs: s.nodeTtlMs,
    },
    {
      store,
      keys,
      clock: systemClock,
      routes: new NetlinkRoutePort(ops, { vxlanDevice: DEFAULT_VXLAN_DEVICE }),
      log,
      state: fileLocalState(join(d.stateDir, CLUSTER_STATE_FILE)),
      observeRouteProgramming: (secs) => routeSeconds.observe({}, secs),
    },
  );

  const clusterCIDRs = s.ranges.map((r) => formatNetwork(r.cidr));
  let refused: Error | undefined;
  let selfTimer: ReturnType<typeof setInterval> | undefined;
  let checking = false;
  /** The node's addresses or VXLAN device changed under it (a new address, the device deleted). */
  const selfCheck = async () => {
    if (checking) return;
    checking = true;
    try {
      const now = await connectedSubnets(ops, { exclude });
      let vtepChanged = false;
      if (vxlanWanted && !(await ops.linkGet(DEFAULT_VXLAN_DEVICE))) {
        vxlan = await ensureVxlanDevice(ops, { nodeIP: nodeIPs[0]!, blocks: agent.podCIDRs });
        log.warn(`VXLAN device ${vxlan.name} was missing; recreated it`, { mac: vxlan.mac });
        vtepChanged = true;
      }
      if (vtepChanged || now.join() !== connected.join()) {
        if (now.join() !== connected.join())
          log.info("this node's connected subnets changed", { from: connected, to: now });
        connected = now;
        agent.updateSelf({ connected, ...(vxlan ? { vtep: vxlan.vtep } : {}) }); // a full resync against the kernel
      }
    } catch (e) {
      log.warn("checking this node's addresses failed", { err: e });
    } finally {
      checking = false;
    }
  };

  const settle = async (p: Promise<unknown>, ms: number): Promise<"done" | "timeout"> => {
    let t: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => (t = setTimeout(() => r("timeout"), ms)));
    try {
      return await Promise.race([p.then(() => "done" as const), timeout]);
    } finally {
      clearTimeout(t);
    }
  };

  return {
    agent,
    nodeIPs,
    clusterCIDRs,
    get vxlan() {
      return vxlan;
    },
    podMtu: (mtu) => agent.podMtu(mtu),

    async start(onBlocks) {
      agent.onBlocks((blocks) => {
        onBlocks(blocks);
        if (vxlan)
          void syncVxlanAddresses(ops, vxlan.name, blocks).catch((e: unknown) =>
            log.error("could not put the VTEP addresses on the VXLAN device", { err: e }),
          );
      });
      const registered = agent.start().then(() => agent.joined());
      registered.catch((e: unknown) => {
        refused = e as Error;
        log.error("the cluster refused this node; it stays not ready until restarted with other flags", { err: e });
      });
      selfTimer = setInterval(() => void selfCheck(), SELF_CHECK_MS);
      selfTimer.unref();
      const r = await settle(registered, d.joinWaitMs ?? DEFAULT_JOIN_WAIT_MS).catch((e: unknown) => {
        if (e instanceof AllocationError) throw new ClusterStartError(e.message);
        throw e;
      });
      if (r === "timeout") {
        if (agent.podCIDRs.length)
          log.warn("etcd does not answer; starting with the block this node remembers, registering when etcd is back", {
            podCIDRs: agent.podCIDRs,
            err: agent.joinError,
          });
        else
          log.warn("etcd does not answer and this node remembers no block: not ready until it gets one; retrying", {
            err: agent.joinError,
          });
      }
    },

    notReadyReason() {
      if (agent.podCIDRs.length) return undefined;
      if (refused) return `the cluster refused this node: ${refused.message}`;
      const why = agent.joinError ? errorMessage(agent.joinError) : "registering";
      return `waiting for this node's pod CIDR from the cluster (${why}); retrying`;
    },

    status() {
      return {
        node: s.nodeName,
        phase: agent.phase,
        podCIDRs: agent.podCIDRs,
        nodeIPs,
        backend: s.backend,
        clusterCIDRs,
        nodeCIDRMaskSizes: s.ranges.map((r) => r.maskSize),
        etcd: { endpoints: s.endpoints, prefix: s.keys.prefix },
        vxlan: vxlan ? { device: vxlan.name, mtu: vxlan.mtu, mac: vxlan.mac, underlay: vxlan.underlay } : null,
        ...(refused
          ? { refused: refused.message }
          : agent.joinError
            ? { joinError: errorMessage(agent.joinError) }
            : {}),
        peers: agent.peers(),
        metrics: agent.metrics(),
      };
    },

    summary() {
      return {
        node: s.nodeName,
        phase: agent.phase,
        podCIDRs: agent.podCIDRs,
        nodesKnown: agent.nodesKnown,
        peersInPlace: agent.peersInPlace,
      };
    },

    registerMetrics(reg) {
      const m = () => agent.metrics();
      reg.register(
        new SampledMetric(
          "podnet_cluster_nodes_known",
          "Nodes of the cluster this node knows of (itself included).",
          "gauge",
          () => m().nodesKnown,
        ),
      );
      reg.register(
        new SampledMetric(
          "podnet_cluster_peers_routes_in_place",
          "Other nodes whose routes this node has programmed.",
          "gauge",
          () => agent.peersInPlace,
        ),
      );
      reg.register(routeSeconds);
      reg.register(
        new SampledMetric(
          "podnet_cluster_etcd_errors_total",
          "etcd calls that failed (each is retried).",
          "counter",
          () => m().etcdErrors,
        ),
      );
      reg.register(
        new SampledMetric(
          "podnet_cluster_watch_restarts_total",
          "Times the watch of the node records was re-established (broken connection or compaction).",
          "counter",
          () => m().watchRestarts,
        ),
      );
      reg.register(
        new SampledMetric(
          "podnet_cluster_allocation_conflicts_total",
          "Block claims that lost a race to another node.",
          "counter",
          () => m().allocationConflicts,
        ),
      );
      reg.register(
        new SampledMetric(
          "podnet_cluster_heartbeat_failures_total",
          "Heartbeats that failed (each is retried).",
          "counter",
          () => m().heartbeatFailures,
        ),
      );
      reg.register(
        new SampledMetric(
          "podnet_cluster_route_failures_total",
          "Route, neighbour and FDB changes the kernel refused.",
          "counter",
          () => m().routeFailures,
        ),
      );
    },

    async close() {
      if (selfTimer) clearInterval(selfTimer);
      await agent.stop();
      store.close();
    },
  };
}
