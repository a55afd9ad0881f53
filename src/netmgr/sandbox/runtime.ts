// The sandbox side (what dockershim did around the plugin): a pod becomes a sandbox with its own
// netns, is set up through the PluginManager and torn down on delete — or on failure, so nothing is
// left half set up. Every pod moves through the lifecycle of lifecycle.ts: each step (create + set
// up, teardown, restart handling) runs holding the pod's lock from its first check to its last
// checkpoint write, so a DELETE during a set-up waits for it and then tears the pod down, and a
// POST during a teardown waits for it (then creates the pod, or answers 409 naming the phase if the
// teardown failed). The checkpoint names the phase before the work of that phase starts, so a
// restarted daemon knows what was interrupted: set-ups are undone, teardowns finished, and every
// "ready" pod is re-attached and verified by its plugin — repaired (torn down and set up again in
// the same sandbox) when something is missing, "failed" with the reason when that does not work.
// The plugin's gc() then releases whatever belongs to no known pod.
import { extractPodBandwidth, type PodBandwidth } from "../core/bandwidth.js";
import type { CheckpointStore, SandboxRecord } from "./checkpoint.js";
import { nameTakenMessage, nextPhase, restartAction } from "./lifecycle.js";
import { type Logger, nullLogger } from "../core/log.js";
import type { PluginManager } from "../core/manager.js";
import { dnsOption, type PodSpec } from "./pod-manifest.js";
import {
  type Host,
  isInvalidPod,
  NET_PLUGIN_EVENT_POD_CIDR_CHANGE,
  NET_PLUGIN_EVENT_POD_CIDR_CHANGE_DETAIL_CIDR,
  type PodNetworkStatus,
  type PortMapping,
} from "../core/plugin.js";
import { CidrListError, parseCidrList } from "../../ip/index.js";
import { KeyedMutex } from "../../util/keyed-mutex.js";
import { errorMessage } from "../../util/error-message.js";
import { PodnetError } from "../../util/errors.js";

export class PodError extends PodnetError {
  override name = "PodError";
  readonly code = "PODNET_POD";
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
  /**
   * The identity of the namespace `path` names (its device and inode, e.g. "4:4026532281"), the
   * same for every path to it (/run/netns/x, /proc/PID/ns/net, a bind mount); undefined when it
   * cannot be stat'ed.
   */
  id(path: string): string | undefined;
  /** Is `path` the node's own network namespace (the one the daemon runs in)? */
  isNodeNetns(path: string): boolean;
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
  /** Why the pod is "failed" or stuck "tearing-down". */
  readonly reason?: string;
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
  /** Verified: everything there. */
  readonly reattached: string[];
  /** Interrupted set-ups and teardowns, and pods whose sandbox is gone: removed. */
  readonly tornDown: string[];
  /** Something was missing: torn down and set up again, ready. */
  readonly repaired: string[];
  /** Something was missing and the repair failed (or the pod had failed before): phase "failed". */
  readonly failed: string[];
  readonly corrupt: string[];
  readonly released: string[];
  readonly errors: string[];
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

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
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
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

/**
 * Validates a pod CIDR string ("v4", "v6" or "v4,v6": one per family, room for pods; host bits are
 * masked later, as the kubelet does); throws PodError(400) naming the field and the value.
 */
export function validatePodCIDR(value: string, field = "podCIDR"): string {
  if (value.trim() === "") throw new PodError(400, `${field}: must not be empty`);
  try {
    parseCidrList(value, { hostBits: "mask", minHostBits: 2 });
  } catch (e) {
    if (e instanceof CidrListError) throw new PodError(400, `${field}: ${e.message}`);
    throw e;
  }
  return value
    .split(",")
    .map((s) => s.trim())
    .join(",");
}

const ms = (d: number) => Math.round(d * 10) / 10;
const withoutReason = (r: SandboxRecord): SandboxRecord => {
  const { reason: _, ...rest } = r;
  return rest;
};

export class PodRuntime implements Host {
  private readonly deps: PodRuntimeDeps;
  private readonly log: Logger;
  private readonly byID = new Map<string, SandboxRecord>();
  private readonly byKey = new Map<string, string>();
  /** The one serialisation point of a pod ("namespace/name"): held for a whole step of its lifecycle. */
  private readonly locks = new KeyedMutex<string>();
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
      throw new Error(`failed to read the checkpoint of sandbox "${sandboxID}": ${errorMessage(e)}`, { cause: e });
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
    return [...this.byID.values()]
      .sort((a, b) => key(a.namespace, a.name).localeCompare(key(b.namespace, b.name)))
      .map(viewOf);
  }

  findPod(namespace: string, name: string): SandboxRecord | undefined {
    const id = this.byKey.get(key(namespace, name));
    return id ? this.byID.get(id) : undefined;
  }

  /**
   * Checkpoints `r` (unless `persist` is false), then records it: a checkpoint that cannot be
   * written (a full disk) changes nothing. Synchronous: no other step interleaves.
   */
  private put(r: SandboxRecord, persist = true): void {
    if (persist) this.deps.store.write(r);
    this.byID.set(r.id, r);
    this.byKey.set(key(r.namespace, r.name), r.id);
  }

  private forget(r: SandboxRecord): void {
    this.byID.delete(r.id);
    if (this.byKey.get(key(r.namespace, r.name)) === r.id) this.byKey.delete(key(r.namespace, r.name));
    this.deps.store.delete(r.id);
  }

  /**
   * The one log line of a pod network's set-up or teardown ("pod network set-up", "pod network
   * teardown"): the pod, its sandbox and plugin, result "ok" or "error" (then at level error, with
   * the error), how long the plugin took, and why it ran when not for the pod's own create or
   * delete (`cause`: "set-up failed", "repair", …).
   */
  private logStep(
    step: "set-up" | "teardown",
    r: SandboxRecord,
    durationMs: number,
    o: { error?: unknown; ips?: readonly string[]; cause?: string } = {},
  ): void {
    const fields = {
      pod: key(r.namespace, r.name),
      sandbox: r.id,
      plugin: r.plugin,
      result: o.error === undefined ? "ok" : "error",
      durationMs,
      ...(o.ips ? { ips: o.ips } : {}),
      ...(o.cause ? { cause: o.cause } : {}),
      ...(o.error !== undefined ? { error: errorMessage(o.error) } : {}),
    };
    if (o.error === undefined) this.log.info(`pod network ${step}`, fields);
    else this.log.error(`pod network ${step}`, fields);
  }

  /** The plugin's teardown of `r`, timed and logged; rejects with its error. */
  private async tearDownLogged(r: SandboxRecord, cause?: string): Promise<number> {
    const t0 = this.mono();
    try {
      await this.deps.manager.tearDownPod(r.namespace, r.name, r.id);
    } catch (e) {
      this.logStep("teardown", r, ms(this.mono() - t0), { error: e, ...(cause ? { cause } : {}) });
      throw e;
    }
    const d = ms(this.mono() - t0);
    this.logStep("teardown", r, d, cause ? { cause } : {});
    return d;
  }

  private netnsName(path: string): string | undefined {
    const m = /^\/run\/netns\/([^/]+)$/.exec(path);
    return m?.[1];
  }

  private async dropNetns(r: SandboxRecord): Promise<void> {
    if (!r.ownsNetns || r.netns === "") return;
    const n = this.netnsName(r.netns);
    if (n)
      await this.deps.netns
        .del(n)
        .catch((e: unknown) => this.log.warn("failed to delete the sandbox netns", { netns: r.netns, err: e }));
  }

  /**
   * A netns the client names must be a network namespace that is neither the node's own nor any
   * pod's (compared by identity, not by path): set-up, and the clean-up of a failed set-up, would
   * otherwise change the network of whatever lives there. Checked before anything is made.
   */
  private checkClientNetns(path: string): void {
    const field = `netns: ${JSON.stringify(path)}`;
    const id = this.deps.netns.exists(path) ? this.deps.netns.id(path) : undefined;
    if (id === undefined) throw new PodError(400, `${field} is not a network namespace`);
    if (this.deps.netns.isNodeNetns(path)) throw new PodError(409, `${field} is the node's own network namespace`);
    for (const other of this.byID.values()) {
      if (other.netns === "" || this.deps.netns.id(other.netns) !== id) continue;
      throw new PodError(
        409,
        `${field} is the network namespace of pod "${key(other.namespace, other.name)}" (sandbox ${other.id.slice(0, 12)})`,
      );
    }
  }

  /** RunPodSandbox + SetUpPod, holding the pod's lock throughout. On any failure everything done so far is undone. */
  runPod(spec: PodSpec, opts: { netns?: string } = {}): Promise<PodView> {
    return this.locks.run(key(spec.namespace, spec.name), () => this.create(spec, opts));
  }

  private async create(spec: PodSpec, opts: { netns?: string }): Promise<PodView> {
    const k = key(spec.namespace, spec.name);
    // From here to the first put() nothing awaits: the checks and the reservation are one step
    // for every other pod too (they hold other keys, but run on the same thread).
    const existing = this.findPod(spec.namespace, spec.name);
    if (existing) throw new PodError(409, nameTakenMessage(k, existing.id, existing.phase, existing.reason));
    for (const pm of spec.portMappings) {
      if (pm.hostPort <= 0) continue;
      for (const other of this.byID.values()) {
        const hit = other.portMappings.find((o) => hostPortsCollide(pm, o));
        if (hit) {
          throw new PodError(
            409,
            `hostPort ${pm.hostPort}/${pm.protocol}${pm.hostIP ? ` on ${pm.hostIP}` : ""} is already used by pod "${key(other.namespace, other.name)}"`,
          );
        }
      }
    }
    if (!spec.hostNetwork) {
      const notReady = this.deps.manager.status();
      if (notReady) throw new PodError(503, `network is not ready: ${notReady.message}`);
      if (opts.netns !== undefined) this.checkClientNetns(opts.netns);
    }
    const id = this.deps.newID();
    const ownNetnsName = `${this.deps.netnsPrefix ?? "podnet-"}${id.slice(0, 12)}`;
    const owns = !spec.hostNetwork && opts.netns === undefined;
    let rec: SandboxRecord = {
      id,
      namespace: spec.namespace,
      name: spec.name,
      uid: spec.uid,
      netns: spec.hostNetwork ? "" : (opts.netns ?? `/run/netns/${ownNetnsName}`),
      ownsNetns: owns,
      hostNetwork: spec.hostNetwork,
      portMappings: spec.portMappings,
      annotations: spec.annotations,
      options: spec.dns ? { dns: dnsOption(spec.dns) } : {},
      plugin: this.deps.manager.pluginName(),
      createdAt: this.now(),
      phase: nextPhase("absent", "create"),
      ips: [],
    };
    // reserves the name, the host ports and the netns; checkpointed first, so a restart undoes
    // whatever follows (the netns included)
    this.put(rec);
    if (owns) {
      try {
        const path = await this.deps.netns.add(ownNetnsName);
        if (path !== rec.netns) {
          rec = { ...rec, netns: path };
          this.put(rec);
        }
      } catch (e) {
        await this.dropNetns(rec);
        this.forget(rec);
        throw new PodError(500, `failed to create the sandbox of pod "${k}": ${errorMessage(e)}`, e);
      }
    }
    if (spec.hostNetwork) {
      rec = { ...rec, phase: nextPhase(rec.phase, "set-up") };
      this.put(rec);
      this.log.info("host-network pod: networking skipped", { pod: k, sandbox: id });
      return viewOf(rec);
    }
    const t0 = this.mono();
    try {
      await this.deps.manager.setUpPod(spec.namespace, spec.name, id, rec.annotations, rec.options);
    } catch (e) {
      this.logStep("set-up", rec, ms(this.mono() - t0), { error: e });
      await this.undo(rec, "set-up failed");
      throw new PodError(
        isInvalidPod(e) ? 400 : 500,
        `failed to set up sandbox "${id.slice(0, 12)}" network for pod "${k}": ${errorMessage(e)}`,
        e,
      );
    }
    const setupMs = ms(this.mono() - t0);
    const ready: SandboxRecord = {
      ...rec,
      phase: nextPhase(rec.phase, "set-up"),
      ips: await this.readIPs(rec),
      setupMs,
    };
    try {
      this.put(ready);
    } catch (e) {
      const err = new Error(`failed to checkpoint sandbox "${id.slice(0, 12)}" of pod "${k}": ${errorMessage(e)}`, {
        cause: e,
      });
      this.logStep("set-up", rec, setupMs, { error: err });
      await this.undo(rec, "checkpoint failed"); // a pod that a restart would not know as ready is not ready
      throw new PodError(500, err.message, e);
    }
    this.logStep("set-up", ready, setupMs, { ips: ready.ips });
    return viewOf(ready);
  }

  private async readIPs(r: SandboxRecord): Promise<readonly string[]> {
    try {
      return (await this.deps.manager.getPodNetworkStatus(r.namespace, r.name, r.id))?.ips ?? [];
    } catch (e) {
      this.log.warn("failed to read pod IPs after setup", { pod: key(r.namespace, r.name), err: e });
      return [];
    }
  }

  /** After a failed (or interrupted) set-up: teardown (best effort: gc releases what is left), netns, record. The pod is gone. */
  private async undo(r: SandboxRecord, cause: string): Promise<void> {
    if (!r.hostNetwork) await this.tearDownLogged(r, cause).catch(() => {});
    await this.dropNetns(r);
    this.forget(r);
  }

  /** StopPodSandbox + RemovePodSandbox, holding the pod's lock (after a set-up in progress). */
  stopPod(namespace: string, name: string): Promise<PodView> {
    return this.locks.run(key(namespace, name), () => this.remove(namespace, name));
  }

  private async remove(namespace: string, name: string): Promise<PodView> {
    const r = this.findPod(namespace, name);
    if (!r) throw new PodError(404, `pod "${key(namespace, name)}" not found`);
    const { teardownMs } = await this.teardown(r);
    return { ...viewOf(r), ...(teardownMs !== undefined ? { teardownMs } : {}) };
  }

  /**
   * "tearing-down" checkpointed, then the plugin's teardown, the netns, the record. A failed
   * teardown keeps the pod "tearing-down" with the reason (a DELETE or the next start retries)
   * and rejects with a PodError(500).
   */
  private async teardown(r: SandboxRecord, cause?: string): Promise<{ teardownMs?: number }> {
    let rec: SandboxRecord = { ...r, phase: nextPhase(r.phase, "delete") };
    this.put(rec);
    let teardownMs: number | undefined;
    if (!rec.hostNetwork) {
      try {
        teardownMs = await this.tearDownLogged(rec, cause);
      } catch (e) {
        rec = { ...rec, phase: nextPhase(rec.phase, "teardown-failed"), reason: `teardown failed: ${errorMessage(e)}` };
        this.put(rec);
        throw new PodError(500, errorMessage(e), e);
      }
    }
    await this.dropNetns(rec);
    this.forget(rec);
    return teardownMs !== undefined ? { teardownMs } : {};
  }

  async podStatus(namespace: string, name: string): Promise<PodStatusView> {
    const r = this.findPod(namespace, name);
    if (!r) throw new PodError(404, `pod "${key(namespace, name)}" not found`);
    if (r.hostNetwork || r.phase !== "ready") return { ...viewOf(r), status: null };
    try {
      const st = await this.deps.manager.getPodNetworkStatus(namespace, name, r.id);
      // only if nothing changed the pod meanwhile (no await between the check and the write)
      if (st && st.ips.join(",") !== r.ips.join(",") && this.byID.get(r.id) === r) this.put({ ...r, ips: st.ips });
      return { ...viewOf(this.byID.get(r.id) ?? r), status: st };
    } catch (e) {
      return { ...viewOf(r), status: null, statusError: errorMessage(e) };
    }
  }

  /**
   * After a restart (and after the pod CIDR event), before the API serves: each checkpointed pod
   * as restartAction() says, under its lock; then the plugin's gc() with the pods that remain.
   */
  async restore(): Promise<RestoreReport> {
    const report: { [K in keyof RestoreReport]: string[] } = {
      reattached: [],
      tornDown: [],
      repaired: [],
      failed: [],
      corrupt: [],
      released: [],
      errors: [],
    };
    const { records, corrupt } = this.deps.store.list();
    for (const c of corrupt) {
      report.corrupt.push(c.id);
      this.log.warn("deleted a corrupt checkpoint", { sandbox: c.id, error: c.error });
    }
    for (const r of records) await this.locks.run(key(r.namespace, r.name), () => this.restoreOne(r, report));
    const gc = this.deps.manager.plugin.gc;
    if (gc) {
      try {
        report.released.push(...(await gc.call(this.deps.manager.plugin, new Set(this.byID.keys()))));
      } catch (e) {
        report.errors.push(`gc: ${errorMessage(e)}`);
      }
    }
    return report;
  }

  private async restoreOne(r: SandboxRecord, report: { [K in keyof RestoreReport]: string[] }): Promise<void> {
    const k = key(r.namespace, r.name);
    const alive = r.hostNetwork || (r.netns !== "" && this.deps.netns.exists(r.netns));
    const action = restartAction(r.phase, alive);
    switch (action) {
      case "undo":
        this.put(r, false); // so getPodPortMappings/getNetNS answer during the teardown
        await this.undo(r, "restart: the set-up was interrupted");
        report.tornDown.push(k);
        return;
      case "finish-teardown":
        this.put(r, false);
        try {
          await this.teardown(
            r,
            r.phase === "tearing-down" ? "restart: the teardown was interrupted" : "restart: the sandbox is gone",
          );
          report.tornDown.push(k);
        } catch (e) {
          report.errors.push(`${k}: ${errorMessage(e)}`);
          this.log.warn('failed to tear down a pod; it stays "tearing-down" (DELETE or the next start retries)', {
            pod: k,
            err: e,
          });
        }
        return;
      case "keep":
        this.put(r, false);
        report.failed.push(k);
        return;
      case "repair":
        this.put(r, false);
        await this.repair(r, ["a repair was interrupted by a restart"], report);
        return;
      case "verify": {
        this.put(r, false);
        if (r.hostNetwork) {
          report.reattached.push(k);
          return;
        }
        const problems: string[] = [];
        try {
          await this.deps.manager.reattachPod(r.namespace, r.name, r.id);
        } catch (e) {
          problems.push(`re-attaching failed: ${errorMessage(e)}`);
        }
        try {
          problems.push(...(await this.deps.manager.verifyPod(r.namespace, r.name, r.id, r.annotations)));
        } catch (e) {
          problems.push(errorMessage(e));
        }
        if (problems.length > 0) {
          await this.repair(r, problems, report);
          return;
        }
        const ips = await this.readIPs(r);
        const changed = ips.length > 0 && ips.join(",") !== r.ips.join(",");
        this.put({ ...r, phase: nextPhase(r.phase, "verified"), ...(changed ? { ips } : {}) }, changed);
        report.reattached.push(k);
        return;
      }
    }
  }

  /**
   * The restart policy for a pod whose network is not all there: tear down what is left and set it
   * up again in the same sandbox (its netns, its sandbox ID; the address may change). If that
   * fails, the network is torn down and the pod is "failed" with the reason, until deleted.
   */
  private async repair(
    r: SandboxRecord,
    problems: readonly string[],
    report: { repaired: string[]; failed: string[]; errors: string[] },
  ): Promise<void> {
    const k = key(r.namespace, r.name);
    const found = problems.join("; ");
    this.log.warn("pod network is not intact; setting it up again", { pod: k, sandbox: r.id, problems });
    let rec: SandboxRecord = { ...r, phase: nextPhase(r.phase, "broken"), reason: found };
    this.put(rec);
    try {
      await this.tearDownLogged(rec, "repair");
      const t0 = this.mono();
      try {
        await this.deps.manager.setUpPod(rec.namespace, rec.name, rec.id, rec.annotations, rec.options);
      } catch (e) {
        this.logStep("set-up", rec, ms(this.mono() - t0), { error: e, cause: "repair" });
        throw e;
      }
      const setupMs = ms(this.mono() - t0);
      rec = withoutReason({ ...rec, phase: nextPhase(rec.phase, "repaired"), ips: await this.readIPs(rec), setupMs });
      this.put(rec);
      this.logStep("set-up", rec, setupMs, { ips: rec.ips, cause: "repair" });
      report.repaired.push(k);
      this.log.info("pod network repaired", { pod: k, sandbox: rec.id, ips: rec.ips, found });
    } catch (e) {
      await this.tearDownLogged(rec, "repair failed").catch(() => {}); // gc releases what is left
      rec = {
        ...rec,
        phase: nextPhase(rec.phase, "repair-failed"),
        ips: [],
        reason: `${found}; repair failed: ${errorMessage(e)}`,
      };
      this.put(rec);
      report.failed.push(k);
      report.errors.push(`${k}: ${rec.reason}`);
      this.log.warn("pod network could not be repaired; the pod is failed until deleted", {
        pod: k,
        sandbox: rec.id,
        reason: rec.reason,
      });
    }
  }
}
