// Selecting the one network plugin (InitNetworkPlugin) and the PluginManager every caller goes
// through: operations on one pod are serialised, different pods run in parallel, every call is
// timed and counted, and errors carry the kubelet's wording.
import { networkPluginMetrics, type NetworkPluginMetrics, TextMetricsRegistry } from "./metrics.js";
import { qualifiedNameErrors } from "./names.js";
import { type HairpinMode, type Host, type NetworkPlugin, type PodNetworkStatus, podFullName } from "./plugin.js";
import { KeyedMutex } from "../../util/keyed-mutex.js";
import { errorMessage } from "../../util/error-message.js";
import { PodnetError } from "../../util/errors.js";

export type OperationType = "set_up_pod" | "tear_down_pod" | "get_pod_network_status" | "verify_pod";

export interface PluginManagerDeps {
  readonly metrics?: NetworkPluginMetrics;
  /** Monotonic milliseconds. */
  readonly now?: () => number;
}

export class PluginManager {
  readonly plugin: NetworkPlugin;
  readonly metrics: NetworkPluginMetrics;
  private readonly locks = new KeyedMutex();
  private readonly now: () => number;

  constructor(plugin: NetworkPlugin, deps: PluginManagerDeps = {}) {
    this.plugin = plugin;
    this.metrics = deps.metrics ?? networkPluginMetrics(new TextMetricsRegistry());
    this.now = deps.now ?? (() => performance.now());
  }

  pluginName(): string {
    return this.plugin.name();
  }

  /** Passed straight through (no lock), like the kubelet. */
  event(name: string, details: Readonly<Record<string, unknown>>): void {
    this.plugin.event(name, details);
  }

  status(): Error | null {
    return this.plugin.status();
  }

  private async op<T>(
    type: OperationType,
    namespace: string,
    name: string,
    fn: () => Promise<T>,
    wrap: (full: string, e: unknown) => Error,
  ): Promise<T> {
    const labels = { operation_type: type, plugin_name: this.plugin.name() };
    const full = podFullName(namespace, name);
    const t0 = this.now();
    try {
      return await this.locks.run(full, fn);
    } catch (e) {
      this.metrics.errors.inc(labels);
      throw wrap(full, e);
    } finally {
      this.metrics.operations.inc(labels);
      this.metrics.duration.observe(labels, (this.now() - t0) / 1000);
    }
  }

  setUpPod(
    namespace: string,
    name: string,
    sandboxID: string,
    annotations: Readonly<Record<string, string>> = {},
    options: Readonly<Record<string, string>> = {},
  ): Promise<void> {
    return this.op(
      "set_up_pod",
      namespace,
      name,
      () => this.plugin.setUpPod(namespace, name, sandboxID, annotations, options),
      (full, e) =>
        new NetworkPluginError(
          `networkPlugin ${this.plugin.name()} failed to set up pod "${full}" network: ${errorMessage(e)}`,
          e,
        ),
    );
  }

  tearDownPod(namespace: string, name: string, sandboxID: string): Promise<void> {
    return this.op(
      "tear_down_pod",
      namespace,
      name,
      () => this.plugin.tearDownPod(namespace, name, sandboxID),
      (full, e) =>
        new NetworkPluginError(
          `networkPlugin ${this.plugin.name()} failed to teardown pod "${full}" network: ${errorMessage(e)}`,
          e,
        ),
    );
  }

  getPodNetworkStatus(namespace: string, name: string, sandboxID: string): Promise<PodNetworkStatus | null> {
    return this.op(
      "get_pod_network_status",
      namespace,
      name,
      () => this.plugin.getPodNetworkStatus(namespace, name, sandboxID),
      (full, e) =>
        new NetworkPluginError(
          `networkPlugin ${this.plugin.name()} failed on the status hook for pod "${full}": ${errorMessage(e)}`,
          e,
        ),
    );
  }

  /** The plugin's verifyPod ([] when it has none: its pods are trusted). */
  verifyPod(
    namespace: string,
    name: string,
    sandboxID: string,
    annotations: Readonly<Record<string, string>> = {},
  ): Promise<string[]> {
    const verify = this.plugin.verifyPod;
    if (!verify) return Promise.resolve([]);
    return this.op(
      "verify_pod",
      namespace,
      name,
      () => verify.call(this.plugin, namespace, name, sandboxID, annotations),
      (full, e) =>
        new NetworkPluginError(
          `networkPlugin ${this.plugin.name()} failed to verify pod "${full}" network: ${errorMessage(e)}`,
          e,
        ),
    );
  }

  /** Under the pod's lock too, so it never overlaps a teardown of the same pod. */
  async reattachPod(namespace: string, name: string, sandboxID: string): Promise<void> {
    if (!this.plugin.reattachPod) return;
    await this.locks.run(podFullName(namespace, name), () => this.plugin.reattachPod!(namespace, name, sandboxID));
  }
}

export class NetworkPluginError extends PodnetError {
  override name = "NetworkPluginError";
  readonly code = "PODNET_NETWORK_PLUGIN";
  constructor(message: string, cause: unknown) {
    super(message, { cause });
  }
}

/** Thrown when no plugin could be selected; the message lists every problem found. */
export class PluginSelectionError extends PodnetError {
  override name = "PluginSelectionError";
  readonly code = "PODNET_PLUGIN_SELECTION";
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join("; "));
    this.problems = problems;
  }
}

export interface InitArgs {
  readonly host: Host;
  readonly hairpinMode: HairpinMode;
  readonly nonMasqueradeCIDR: string;
  readonly mtu: number;
}

/** The names accepted for the noop plugin: "" (the kubelet's only way) and "noop" (podnet's, as cri-dockerd's "no-op"). */
export const NOOP_SELECTORS: readonly string[] = ["", "noop"];

/**
 * InitNetworkPlugin: "" (or "noop") → the noop plugin, initialised; otherwise the probed plugin with
 * that name. Badly named or duplicate probed plugins are errors too (the kubelet's rule, which
 * fails start-up even when the wanted plugin is fine).
 */
export async function initNetworkPlugin(
  probed: readonly NetworkPlugin[],
  name: string,
  makeNoop: () => NetworkPlugin,
  args: InitArgs,
): Promise<NetworkPlugin> {
  if (NOOP_SELECTORS.includes(name)) {
    const noop = makeNoop();
    await noop.init(args.host, args.hairpinMode, args.nonMasqueradeCIDR, args.mtu);
    return noop;
  }
  const problems: string[] = [];
  const byName = new Map<string, NetworkPlugin>();
  for (const p of probed) {
    const n = p.name();
    const errs = qualifiedNameErrors(n);
    if (errs.length) {
      problems.push(`network plugin has invalid name: ${JSON.stringify(n)}: ${errs.join(", ")}`);
      continue;
    }
    if (byName.has(n)) {
      problems.push(`network plugin ${JSON.stringify(n)} was registered more than once`);
      continue;
    }
    byName.set(n, p);
  }
  const chosen = byName.get(name);
  if (chosen) {
    try {
      await chosen.init(args.host, args.hairpinMode, args.nonMasqueradeCIDR, args.mtu);
    } catch (e) {
      problems.push(`network plugin ${JSON.stringify(name)} failed init: ${errorMessage(e)}`);
    }
  } else {
    const known = ["noop", ...byName.keys()];
    problems.push(`network plugin ${JSON.stringify(name)} not found (probed: ${known.join(", ")})`);
  }
  if (problems.length) throw new PluginSelectionError(problems);
  return chosen!;
}
