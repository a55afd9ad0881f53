// podnet's own metrics, beside the kubelet's network plugin operations (core/metrics.ts): the
// build, the network's readiness, pods by phase, host ports, host-local IPAM usage per range, and
// the resident plugin server's calls. Gauges are read from the current state on each scrape (IPAM
// from disk, at most once per IPAM_CACHE_MS). Counts only: no pod name, address or container ID
// becomes a label (docs/security.md, "Metrics").
import { Counter, Gauge, Histogram, type MetricsRegistry } from "../core/metrics.js";
import { POD_PHASES } from "../sandbox/lifecycle.js";
import type { PodView } from "../sandbox/runtime.js";

export interface BuildInfo {
  readonly version: string;
  /** The git commit podnet was built from ("unknown" when not known). */
  readonly commit: string;
  /** The Node running it (process.version). */
  readonly node: string;
}

/** podnet_build_info{version,commit,node_version} 1 */
export function registerBuildInfo(reg: MetricsRegistry, info: BuildInfo): void {
  const g = reg.register(
    new Gauge(
      "podnet_build_info",
      "podnet's version, the git commit it was built from and the Node version running it; always 1.",
      ["version", "commit", "node_version"],
    ),
  );
  g.set({ version: info.version, commit: info.commit, node_version: info.node }, 1);
}

/** podnet_network_ready: 1 once the node is ready for pods (what /readyz answers; `notReady` says why not, null when ready), else 0. */
export function registerNetworkReady(reg: MetricsRegistry, plugin: string, notReady: () => string | null): void {
  reg.register(
    new Gauge(
      "podnet_network_ready",
      "Whether the network plugin is ready for pods (1) or not (0).",
      ["plugin_name"],
      (g) => g.set({ plugin_name: plugin }, notReady() === null ? 1 : 0),
    ),
  );
}

/** podnet_pods{phase} (every phase, 0 included) and podnet_hostports{protocol}. */
export function registerPodMetrics(reg: MetricsRegistry, pods: () => readonly PodView[]): void {
  reg.register(
    new Gauge("podnet_pods", "Pods known to the node manager, by lifecycle phase.", ["phase"], (g) => {
      const n = new Map<string, number>(POD_PHASES.map((p) => [p, 0]));
      for (const p of pods()) n.set(p.phase, (n.get(p.phase) ?? 0) + 1);
      for (const [phase, v] of n) g.set({ phase }, v);
    }),
  );
  reg.register(
    new Gauge("podnet_hostports", "Host ports held for pods, by protocol.", ["protocol"], (g) => {
      const n = new Map<string, number>([
        ["tcp", 0],
        ["udp", 0],
        ["sctp", 0],
      ]);
      for (const p of pods())
        for (const hp of p.hostPorts) n.set(hp.protocol.toLowerCase(), (n.get(hp.protocol.toLowerCase()) ?? 0) + 1);
      for (const [protocol, v] of n) g.set({ protocol }, v);
    }),
  );
}

/** How full one range set of a host-local network is. */
export interface IpamRangeUsage {
  readonly network: string;
  /** Go's RangeSet.String ("10.200.3.1-10.200.3.254"), as `podnet ipam list` shows it. */
  readonly rangeSet: string;
  readonly subnets: readonly string[];
  readonly used: number;
  /** Addresses the set can hand out (its gateway excluded). */
  readonly capacity: number;
}

/** IPAM usage is read from disk at most this often, however often /metrics is scraped. */
export const IPAM_CACHE_MS = 5_000;

/**
 * podnet_ipam_addresses_used / podnet_ipam_addresses_capacity {network, range, subnet}: from
 * `read()` (the node network's host-local store), cached for IPAM_CACHE_MS — or until `stateKey()`
 * changes (the network config, the pods this daemon set up: what it knows changes the leases;
 * the time bounds what others, such as a runtime calling CNI itself, may have changed). A read
 * that fails is reported through `onError` and leaves the series empty for that scrape.
 */
export function registerIpamMetrics(
  reg: MetricsRegistry,
  read: () => Promise<readonly IpamRangeUsage[]>,
  o: { now?: () => number; cacheMs?: number; stateKey?: () => string; onError?: (e: unknown) => void } = {},
): void {
  const now = o.now ?? (() => performance.now());
  let cached: { at: number; key: string; value: Promise<readonly IpamRangeUsage[]> } | undefined;
  const usage = (): Promise<readonly IpamRangeUsage[]> => {
    const key = o.stateKey?.() ?? "";
    if (!cached || cached.key !== key || now() - cached.at >= (o.cacheMs ?? IPAM_CACHE_MS)) {
      const value = read().catch((e: unknown) => {
        o.onError?.(e);
        cached = undefined;
        return [];
      });
      cached = { at: now(), key, value };
    }
    return cached.value;
  };
  const labels = ["network", "range", "subnet"];
  const set = (pick: (u: IpamRangeUsage) => number) => async (g: Gauge) => {
    for (const u of await usage())
      g.set({ network: u.network, range: u.rangeSet, subnet: u.subnets.join(",") }, pick(u));
  };
  reg.register(
    new Gauge(
      "podnet_ipam_addresses_used",
      "Addresses leased by host-local in each range set of the node's network.",
      labels,
      set((u) => u.used),
    ),
  );
  reg.register(
    new Gauge(
      "podnet_ipam_addresses_capacity",
      "Addresses host-local can hand out in each range set of the node's network (gateway excluded).",
      labels,
      set((u) => u.capacity),
    ),
  );
}

/** The CNI commands a resident call is counted under (anything else: "other"). */
const COMMANDS = new Set(["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"]);

export interface ResidentCall {
  readonly plugin: string;
  readonly command: string;
  readonly ok: boolean;
  readonly seconds: number;
}

export type RefusedReason = "malformed" | "skipped" | "rejected";

/** What the resident server reports calls and refusals to (src/resident/server.ts ServeOptions). */
export interface ResidentObserver {
  onCall(c: ResidentCall): void;
  onRefused(reason: RefusedReason): void;
}

/**
 * podnet_resident_calls_total{plugin,command,result}, podnet_resident_call_duration_seconds
 * {plugin,command} and podnet_resident_requests_refused_total{reason}. Labels come from fixed
 * sets (the served plugins, the CNI commands): a caller cannot make new series.
 */
export function registerResidentMetrics(reg: MetricsRegistry, plugins: readonly string[]): ResidentObserver {
  const calls = reg.register(
    new Counter(
      "podnet_resident_calls_total",
      "CNI calls served to the resident-mode launchers, by plugin, command and result (ok or error).",
      ["plugin", "command", "result"],
    ),
  );
  const duration = reg.register(
    new Histogram(
      "podnet_resident_call_duration_seconds",
      "Time to run a CNI call served to a resident-mode launcher, by plugin and command.",
      ["plugin", "command"],
    ),
  );
  const refused = reg.register(
    new Counter(
      "podnet_resident_requests_refused_total",
      "Requests not run: malformed or oversized, skipped (the launcher had gone), or rejected (peer not allowed).",
      ["reason"],
    ),
  );
  const known = new Set(plugins);
  return {
    onCall(c) {
      const plugin = known.has(c.plugin) ? c.plugin : "unknown";
      const command = COMMANDS.has(c.command) ? c.command : "other";
      calls.inc({ plugin, command, result: c.ok ? "ok" : "error" });
      duration.observe({ plugin, command }, c.seconds);
    },
    onRefused(reason) {
      refused.inc({ reason });
    },
  };
}
