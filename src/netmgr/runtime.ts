// The sandbox side (what dockershim did around the plugin): a pod becomes a sandbox with its own
// netns, is set up through the PluginManager, checkpointed before and after, and torn down on
// delete — or on failure, so nothing is left half set up. A restarted daemon reads the checkpoints:
// live pods are re-attached, pods whose netns is gone (or whose setup was interrupted) are torn down,
// and the plugin's gc() releases whatever belongs to no known pod.
import { extractPodBandwidth, type PodBandwidth } from "./bandwidth.js";
import type { CheckpointStore, SandboxRecord } from "./checkpoint.js";
import { type Logger, nullLogger } from "./log.js";
import type { PluginManager } from "./manager.js";
import { dnsOption, type PodSpec } from "./pod-manifest.js";
import {
  type Host, isInvalidPod, NET_PLUGIN_EVENT_POD_CIDR_CHANGE, NET_PLUGIN_EVENT_POD_CIDR_CHANGE_DETAIL_CIDR, type PodNetworkStatus, type PortMapping,
} from "./plugin.js";
import { tryParseCidr } from "../ip/index.js";

/** An error with the HTTP status the API answers with. */
export class PodError extends Error {
  override name = "PodError";
  readonly status: 400 | 404 | 409 | 500 | 503;
  constructor(status: PodError["status"], message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.status = status;
  }
}

export interface NetnsOps {
  /** `ip netns add NAME` → path */
  add(name: string): Promise<string>;
  /** `ip netns del NAME` (no error when gone) */
  del(name: string): Promise<void>;
  /** Is `path` a network namespace? */
  exists(path: string): boolean;
}

export interface PodRuntimeDeps {
  readonly manager: PluginManager;
  readonly store: CheckpointStore;
  readonly netns: NetnsOps;
  readonly newID: () => string;
  readonly log?: Logger;
  /** Wall clock (ISO timestamps). */
  readonly now?: () => Date;
  /** Monotonic ms. */
  readonly monotonic?: () => number;
  /** Prefix of the netns names the daemon creates (default "podnet-"). */
  readonly netnsPrefix?: string;
  /** Persists the accepted pod CIDR. */
  readonly saveNodeState?: (s: { podCIDR?: string }) => void;
}

export interface PodView {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly sandboxID: string;
  readonly netns: string;
  readonly hostNetwork: boolean;
  readonly phase: SandboxRecord["phase"];
  readonly ips: readonly string[];
  readonly hostPorts: ReadonlyArray<PortMapping>;
  readonly bandwidth: PodBandwidth;
  readonly createdAt: string;
  readonly setupMs?: number;
  /** How long the plugin's teardown took (in the answer to a delete only). */
  readonly teardownMs?: number;
  readonly plugin: string;
}

export interface PodStatusView extends PodView {
  /** Fresh from the plugin's status hook (null: the plugin has no opinion). */
  readonly status: PodNetworkStatus | null;
  readonly statusError?: string;
}

export interface RestoreReport {
  readonly reattached: string[];
  readonly tornDown: string[];
  readonly corrupt: string[];
  readonly released: string[];
  readonly errors: string[];
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;
const msg = (e: unknown) => (e instanceof Error ? e.message : String(e));

function bandwidthOf(annotations: Readonly<Record<string, string>>): PodBandwidth {
  try {
    return extractPodBandwidth(annotations);
  } catch {
    return {};
  }
}

export function viewOf(r: SandboxRecord): PodView {
  return {
    namespace: r.namespace,
    name: r.name,
    uid: r.uid,
    sandboxID: r.id,
    netns: r.netns,
    hostNetwork: r.hostNetwork,
    phase: r.phase,
    ips: r.ips,
    hostPorts: r.portMappings.filter((p) => p.hostPort > 0),
    bandwidth: bandwidthOf(r.annotations),
    createdAt: r.createdAt,
    ...(r.setupMs !== undefined ? { setupMs: r.setupMs } : {}),
    plugin: r.plugin,
  };
}

/** Two host ports collide when port and protocol match and either host IP is "all" or both are equal. */
export function hostPortsCollide(a: PortMapping, b: PortMapping): boolean {
  if (a.hostPort <= 0 || a.hostPort !== b.hostPort || a.protocol !== b.protocol) return false;
  const all = (ip: string) => ip === "" || ip === "0.0.0.0" || ip === "::";
  return all(a.hostIP) || all(b.hostIP) || a.hostIP === b.hostIP;
}

/** Validates a pod CIDR string ("v4", "v6" or "v4,v6"); throws PodError(400) naming the value. */
export function validatePodCIDR(value: string, field = "podCIDR"): string {
  const parts = value.split(",").map((s) => s.trim());
  if (value.trim() === "") throw new PodError(400, `${field}: must not be empty`);
  for (const p of parts) {
    if (!tryParseCidr(p)) throw new PodError(400, `${field}: ${JSON.stringify(p)} is not a CIDR (want e.g. "10.200.0.0/24" or "10.200.0.0/24,fd00:200::/64")`);
  }
  if (parts.length > 2) throw new PodError(400, `${field}: at most one CIDR per IP family, got ${JSON.stringify(value)}`);
  return parts.join(",");
}

export class PodRuntime implements Host {
  private readonly deps: PodRuntimeDeps;
  private readonly log: Logger;
  private readonly byID = new Map<string, SandboxRecord>();
  private readonly byKey = new Map<string, string>();
  private podCIDR = "";

  constructor(deps: PodRuntimeDeps) {
    this.deps = deps;
    this.log = deps.log ?? nullLogger;
  }

  private now(): string {
    return (this.deps.now?.() ?? new Date()).toISOString();
  }
  private mono(): number {
    return this.deps.monotonic?.() ?? performance.now();
  }

  // Host ---------------------------------------------------------------------------------------

  async getNetNS(sandboxID: string): Promise<string> {
    const r = this.byID.get(sandboxID) ?? this.deps.store.read(sandboxID);
    if (!r) throw new Error(`sandbox "${sandboxID}" not found`);
    if (r.hostNetwork || r.netns === "" || !this.deps.netns.exists(r.netns)) {
      throw new Error(`cannot find network namespace for the terminated container "${sandboxID}"`);
    }
    return r.netns;
  }

  async getPodPortMappings(sandboxID: string): Promise<PortMapping[]> {
    const r = this.byID.get(sandboxID);
    if (r) return [...r.portMappings];
    try {
      return [...(this.deps.store.read(sandboxID)?.portMappings ?? [])];
    } catch (e) {
      throw new Error(`failed to read the checkpoint of sandbox "${sandboxID}": ${msg(e)}`, { cause: e });
    }
  }

  // Node ---------------------------------------------------------------------------------------

  /** UpdateRuntimeConfig: validates, forwards a non-empty CIDR as the event, persists it. */
  setPodCIDR(value: string, field = "podCIDR"): string {
    const cidr = validatePodCIDR(value, field);
    this.deps.manager.event(NET_PLUGIN_EVENT_POD_CIDR_CHANGE, { [NET_PLUGIN_EVENT_POD_CIDR_CHANGE_DETAIL_CIDR]: cidr });
    if (this.podCIDR === "") {
      this.podCIDR = cidr;
      this.deps.saveNodeState?.({ podCIDR: cidr });
    }
    return this.podCIDR;
  }

  currentPodCIDR(): string {
    return this.podCIDR;
  }

  // Pods ---------------------------------------------------------------------------------------

  listPods(): PodView[] {
    return [...this.byID.values()].sort((a, b) => key(a.namespace, a.name).localeCompare(key(b.namespace, b.name))).map(viewOf);
  }

  findPod(namespace: string, name: string): SandboxRecord | undefined {
    const id = this.byKey.get(key(namespace, name));
    return id ? this.byID.get(id) : undefined;
  }

  private put(r: SandboxRecord, persist = true): void {
    this.byID.set(r.id, r);
    this.byKey.set(key(r.namespace, r.name), r.id);
    if (persist) this.deps.store.write(r);
  }

  private forget(r: SandboxRecord): void {
    this.byID.delete(r.id);
    if (this.byKey.get(key(r.namespace, r.name)) === r.id) this.byKey.delete(key(r.namespace, r.name));
    this.deps.store.delete(r.id);
  }

  private netnsName(path: string): string | undefined {
    const m = /^\/run\/netns\/([^/]+)$/.exec(path);
    return m?.[1];
  }

  private async dropNetns(r: SandboxRecord): Promise<void> {
    if (!r.ownsNetns || r.netns === "") return;
    const n = this.netnsName(r.netns);
    if (n) await this.deps.netns.del(n).catch((e: unknown) => this.log.warn("failed to delete the sandbox netns", { netns: r.netns, err: e }));
  }

  /** RunPodSandbox + SetUpPod. On any failure everything done so far is undone. */
  async runPod(spec: PodSpec, opts: { netns?: string } = {}): Promise<PodView> {
    const k = key(spec.namespace, spec.name);
    const existing = this.byKey.get(k);
    if (existing) throw new PodError(409, `pod "${k}" already exists (sandbox ${existing.slice(0, 12)})`);
    for (const pm of spec.portMappings) {
      if (pm.hostPort <= 0) continue;
      for (const other of this.byID.values()) {
        const hit = other.portMappings.find((o) => hostPortsCollide(pm, o));
        if (hit) {
          throw new PodError(409, `hostPort ${pm.hostPort}/${pm.protocol}${pm.hostIP ? ` on ${pm.hostIP}` : ""} is already used by pod "${key(other.namespace, other.name)}"`);
        }
      }
    }
    if (!spec.hostNetwork) {
      const notReady = this.deps.manager.status();
      if (notReady) throw new PodError(503, `network is not ready: ${notReady.message}`);
    }
    if (opts.netns !== undefined && !this.deps.netns.exists(opts.netns)) {
      throw new PodError(400, `netns: ${JSON.stringify(opts.netns)} is not a network namespace`);
    }
    const id = this.deps.newID();
    let rec: SandboxRecord = {
      id,
      namespace: spec.namespace,
      name: spec.name,
      uid: spec.uid,
      netns: "",
      ownsNetns: false,
      hostNetwork: spec.hostNetwork,
      portMappings: spec.portMappings,
      annotations: spec.annotations,
      options: spec.dns ? { dns: dnsOption(spec.dns) } : {},
      plugin: this.deps.manager.pluginName(),
      createdAt: this.now(),
      phase: "setting-up",
      ips: [],
    };
    this.put(rec, false); // reserves the name and the host ports before the first await
    try {
      if (!spec.hostNetwork) {
        if (opts.netns !== undefined) {
          rec = { ...rec, netns: opts.netns };
        } else {
          const path = await this.deps.netns.add(`${this.deps.netnsPrefix ?? "podnet-"}${id.slice(0, 12)}`);
          rec = { ...rec, netns: path, ownsNetns: true };
        }
      }
      this.put(rec);
    } catch (e) {
      await this.dropNetns(rec);
      this.forget(rec);
      throw new PodError(500, `failed to create the sandbox of pod "${k}": ${msg(e)}`, e);
    }
    if (spec.hostNetwork) {
      rec = { ...rec, phase: "ready" };
      this.put(rec);
      this.log.info("host-network pod: networking skipped", { pod: k, sandbox: id });
      return viewOf(rec);
    }
    const t0 = this.mono();
    try {
      await this.deps.manager.setUpPod(spec.namespace, spec.name, id, rec.annotations, rec.options);
    } catch (e) {
      try {
        await this.deps.manager.tearDownPod(spec.namespace, spec.name, id);
      } catch (te) {
        this.log.warn("teardown after a failed setup failed", { pod: k, err: te });
      }
      await this.dropNetns(rec);
      this.forget(rec);
      throw new PodError(isInvalidPod(e) ? 400 : 500, `failed to set up sandbox "${id.slice(0, 12)}" network for pod "${k}": ${msg(e)}`, e);
    }
    const setupMs = Math.round((this.mono() - t0) * 10) / 10;
    let ips: readonly string[] = [];
    try {
      ips = (await this.deps.manager.getPodNetworkStatus(spec.namespace, spec.name, id))?.ips ?? [];
    } catch (e) {
      this.log.warn("failed to read pod IPs after setup", { pod: k, err: e });
    }
    rec = { ...rec, phase: "ready", ips, setupMs };
    this.put(rec);
    this.log.info("pod network set up", { pod: k, sandbox: id, ips, ms: setupMs });
    return viewOf(rec);
  }

  /** StopPodSandbox + RemovePodSandbox: teardown (errors keep the pod, to retry), then forget. */
  async stopPod(namespace: string, name: string): Promise<PodView> {
    const r = this.findPod(namespace, name);
    if (!r) throw new PodError(404, `pod "${key(namespace, name)}" not found`);
    let teardownMs: number | undefined;
    if (!r.hostNetwork) {
      const t0 = this.mono();
      try {
        await this.deps.manager.tearDownPod(namespace, name, r.id);
      } catch (e) {
        throw new PodError(500, msg(e), e);
      }
      teardownMs = Math.round((this.mono() - t0) * 10) / 10;
    }
    await this.dropNetns(r);
    this.forget(r);
    this.log.info("pod network torn down", { pod: key(namespace, name), sandbox: r.id, ...(teardownMs !== undefined ? { ms: teardownMs } : {}) });
    return { ...viewOf(r), ...(teardownMs !== undefined ? { teardownMs } : {}) };
  }

  async podStatus(namespace: string, name: string): Promise<PodStatusView> {
    const r = this.findPod(namespace, name);
    if (!r) throw new PodError(404, `pod "${key(namespace, name)}" not found`);
    if (r.hostNetwork || r.phase !== "ready") return { ...viewOf(r), status: null };
    try {
      const st = await this.deps.manager.getPodNetworkStatus(namespace, name, r.id);
      if (st && st.ips.join(",") !== r.ips.join(",")) this.put({ ...r, ips: st.ips });
      return { ...viewOf(this.byID.get(r.id) ?? r), status: st };
    } catch (e) {
      return { ...viewOf(r), status: null, statusError: msg(e) };
    }
  }

  /** After a restart (and after the pod CIDR event): re-attach, tear down, release. */
  async restore(): Promise<RestoreReport> {
    const report = { reattached: [] as string[], tornDown: [] as string[], corrupt: [] as string[], released: [] as string[], errors: [] as string[] };
    const { records, corrupt } = this.deps.store.list();
    for (const c of corrupt) {
      report.corrupt.push(c.id);
      this.log.warn("deleted a corrupt checkpoint", { sandbox: c.id, error: c.error });
    }
    for (const r of records) {
      const k = key(r.namespace, r.name);
      const alive = r.hostNetwork || (r.netns !== "" && this.deps.netns.exists(r.netns));
      if (r.phase === "ready" && alive) {
        this.put(r, false);
        if (!r.hostNetwork) {
          try {
            await this.deps.manager.reattachPod(r.namespace, r.name, r.id);
            const st = await this.deps.manager.getPodNetworkStatus(r.namespace, r.name, r.id);
            if (st && st.ips.join(",") !== r.ips.join(",")) this.put({ ...r, ips: st.ips });
          } catch (e) {
            report.errors.push(`${k}: ${msg(e)}`);
            this.log.warn("failed to re-attach a pod", { pod: k, err: e });
          }
        }
        report.reattached.push(k);
        continue;
      }
      // gone, or its setup was interrupted: undo whatever was done
      this.byID.set(r.id, r); // so getPodPortMappings/getNetNS answer during the teardown
      try {
        if (!r.hostNetwork) await this.deps.manager.tearDownPod(r.namespace, r.name, r.id);
        await this.dropNetns(r);
        this.forget(r);
        report.tornDown.push(k);
      } catch (e) {
        this.byID.delete(r.id);
        report.errors.push(`${k}: ${msg(e)}`);
        this.log.warn("failed to tear down a pod that is gone; will retry at the next start", { pod: k, err: e });
      }
    }
    const gc = this.deps.manager.plugin.gc;
    if (gc) {
      try {
        report.released.push(...(await gc.call(this.deps.manager.plugin, new Set(this.byID.keys()))));
      } catch (e) {
        report.errors.push(`gc: ${msg(e)}`);
      }
    }
    return report;
  }
}
