// The cluster side of `podnet node`: joins the cluster (a block per family, sticky), keeps the
// heartbeat, watches every node and keeps this node's routes to them programmed through a
// RoutePort. Side effects enter as deps: the store, the clock, the route port, the logger and the
// local state file. Failures of the store never stop it: the node keeps the block it remembers and
// the routes it has, and retries with back-off until the store answers again.
import { type Cidr, formatNetwork, parseCidr } from "../ip/index.js";
import { AllocationError, collectExpired, joinCluster, writeHeartbeat } from "./allocator.js";
import { Backoff } from "./backoff.js";
import type { ClusterRange } from "./blocks.js";
import { type Clock, type ClusterLogger, sleep } from "./deps.js";
import type { KeyLayout } from "./keys.js";
import type { LocalStateStore } from "./local-state.js";
import type { Backend, NodeRecord, VtepInfo } from "./node-record.js";
import { type NodeChange, NodeRegistry } from "./registry.js";
import {
  type Change,
  type Entry,
  type PeerMode,
  type PeerPlan,
  type RoutePort,
  type SelfView,
  diffEntries,
  diffPeers,
  parseSelf,
  planPeer,
  podMtu,
} from "./routes.js";
import { type ClusterStore, type Lease, StoreError } from "./store.js";
import { Mutex } from "../util/keyed-mutex.js";

export const DEFAULT_NODE_TTL_MS = 24 * 3600_000;
/** How many nodes, on average, look for expired nodes per period. */
const GC_COLLECTORS = 5;

export interface ClusterAgentOptions {
  readonly name: string;
  readonly nodeIPs: readonly string[];
  readonly backend: Backend;
  /** This node's VXLAN endpoint (absent with --backend=host-gw). */
  readonly vtep?: VtepInfo;
  readonly vxlanDevice?: string;
  /** This node's directly connected subnets (network form). */
  readonly connected: readonly string[];
  readonly ranges: readonly ClusterRange[];
  /** --pod-cidr. */
  readonly podCIDRs?: readonly Cidr[];
  /** --node-ttl (default 24 h). */
  readonly nodeTtlMs?: number;
  /** Heartbeat period (default ttl/24, at most 1 h, at least 1 s). */
  readonly heartbeatIntervalMs?: number;
  /** Period of the full route resync against the kernel (default 5 min). */
  readonly resyncIntervalMs?: number;
  /** Changes arriving within this window are programmed in one batch (default 20 ms). */
  readonly routeBatchMs?: number;
}

export interface ClusterAgentDeps {
  readonly store: ClusterStore;
  readonly keys: KeyLayout;
  readonly clock: Clock;
  readonly routes: RoutePort;
  readonly log: ClusterLogger;
  readonly state: LocalStateStore;
  readonly random?: () => number;
  /** Called with the seconds each route programming batch took (for the daemon's histogram). */
  readonly observeRouteProgramming?: (seconds: number) => void;
}

/** Plain numbers for the daemon's /metrics. */
export interface ClusterMetrics {
  /** Node records known (this node included). */
  nodesKnown: number;
  /** Route programming batches: count, total and last duration in seconds. */
  routeProgrammingCount: number;
  routeProgrammingSecondsTotal: number;
  routeProgrammingSecondsLast: number;
  /** Store calls that failed (every one retried). */
  etcdErrors: number;
  /** Node watches re-established (broken connection or compaction). */
  watchRestarts: number;
  /** Claim transactions that lost a race. */
  allocationConflicts: number;
  heartbeatFailures: number;
  /** Route changes the kernel refused. */
  routeFailures: number;
}

export interface PeerStatus {
  readonly name: string;
  readonly nodeIPs: readonly string[];
  readonly podCIDRs: readonly string[];
  readonly backend: Backend;
  readonly mode: PeerMode;
  readonly routesInPlace: boolean;
  readonly problems: readonly string[];
}

export type AgentPhase = "starting" | "provisional" | "joined" | "stopped";

export class ClusterAgent {
  private readonly o: ClusterAgentOptions;
  private readonly d: ClusterAgentDeps;
  private readonly registry: NodeRegistry;
  private readonly random: () => number;
  private readonly ttlMs: number;
  private readonly heartbeatMs: number;
  private readonly abort = new AbortController();
  private blocks: string[] = [];
  private lease: Lease | undefined;
  private phaseNow: AgentPhase = "starting";
  private self: SelfView;
  private parsedSelf: ReturnType<typeof parseSelf>;
  /**
   * Per peer, the record whose plan was last programmed (the registry's own object: nothing is
   * copied). Its plan is what is believed in the kernel; it is computed again when needed (about a
   * microsecond), which keeps no plan per peer in memory — with 1,000 peers that is most of what a
   * node would otherwise hold beyond the records themselves.
   */
  private readonly applied = new Map<string, NodeRecord>();
  /** Peers whose entries are not all in place (a problem, or a change the kernel refused): usually none. */
  private readonly notInPlace = new Set<string>();
  /** Peers reached over VXLAN (for the pods' MTU). */
  private readonly overVxlan = new Set<string>();
  private dirty = new Set<string>();
  private reconcileTimer: unknown;
  private resyncTimer: unknown;
  private heartbeatTimer: unknown;
  private gcTimer: unknown;
  /** Route programming: one reconcile at a time, in the order they were scheduled. */
  private readonly routing = new Mutex();
  private needFullResync = true;
  private joining: Promise<void> | undefined;
  /** The first registration (start()); joined() hands it out. */
  private firstJoin: Promise<void> | undefined;
  /** Why the last join attempt failed (cleared once joined). */
  private joinErr: Error | undefined;
  private readonly heartbeatBackoff: Backoff;
  private readonly resyncBackoff: Backoff;
  private readonly blockListeners = new Set<(blocks: readonly string[]) => void>();
  private readonly routeListeners = new Set<() => void>();
  private readonly counters = {
    routeProgrammingCount: 0,
    routeProgrammingSecondsTotal: 0,
    routeProgrammingSecondsLast: 0,
    etcdErrors: 0,
    allocationConflicts: 0,
    heartbeatFailures: 0,
    routeFailures: 0,
  };

  constructor(o: ClusterAgentOptions, d: ClusterAgentDeps) {
    this.o = o;
    this.d = d;
    this.random = d.random ?? Math.random;
    this.ttlMs = o.nodeTtlMs ?? DEFAULT_NODE_TTL_MS;
    if (this.ttlMs < 10_000) throw new RangeError(`--node-ttl ${this.ttlMs} ms is shorter than 10 s`);
    this.heartbeatMs = o.heartbeatIntervalMs ?? Math.max(1000, Math.min(3600_000, Math.floor(this.ttlMs / 24)));
    this.heartbeatBackoff = new Backoff({ random: this.random, initialMs: 1000, maxMs: 60_000 });
    this.resyncBackoff = new Backoff({ random: this.random, initialMs: 1000, maxMs: 60_000 });
    this.self = this.selfView();
    this.parsedSelf = parseSelf(this.self);
    this.registry = new NodeRegistry({ store: d.store, keys: d.keys, clock: d.clock, log: d.log, random: this.random });
    this.registry.subscribe((c) => this.onNodes(c));
  }

  // --- public API ------------------------------------------------------------------------------

  /**
   * Starts: resolves with this node's blocks once they are known, from the store, or at once from
   * the local state file when this node held blocks before (registration then goes on in the
   * background until the store answers). Rejects on configuration errors (AllocationError:
   * exhausted, overlap, outside, config-mismatch) when no block is known.
   */
  async start(): Promise<readonly string[]> {
    let remembered: Cidr[] = [];
    try {
      const st = await this.d.state.read();
      if (st && st.name === this.o.name)
        remembered = st.podCIDRs
          .map((s) => parseCidr(s))
          .filter((c) => this.o.ranges.some((r) => r.cidr.network.family === c.network.family));
    } catch (e) {
      this.d.log.warn("the local cluster state file is unreadable; ignoring it", { err: e });
    }
    const explicit = this.o.podCIDRs ?? [];
    const provisional = this.o.ranges.map(
      (r) =>
        explicit.find((c) => c.network.family === r.cidr.network.family) ??
        remembered.find((c) => c.network.family === r.cidr.network.family),
    );
    const joined = this.joinLoop(remembered);
    this.firstJoin = joined;
    void this.registry.start();
    if (provisional.every((c) => c !== undefined) && provisional.length > 0) {
      this.setBlocks(provisional.map((c) => formatNetwork(c!)));
      this.phaseNow = "provisional";
      joined.catch((e) =>
        this.d.log.error("registering with the cluster failed; keeping the remembered block", { err: e }),
      );
      return this.blocks;
    }
    await joined;
    return this.blocks;
  }

  /**
   * Settles with the first registration started by start(): resolves with this node's blocks once
   * the store has them, rejects with the AllocationError that refused them (exhausted, overlap,
   * outside, config-mismatch). Store failures never reject it: they are retried.
   */
  async joined(): Promise<readonly string[]> {
    if (!this.firstJoin) throw new Error("ClusterAgent.joined() before start()");
    await this.firstJoin;
    return this.blocks;
  }

  /** Why registering has not succeeded yet (the last attempt's error); undefined once joined. */
  get joinError(): Error | undefined {
    return this.joinErr;
  }

  /** Diffs every peer against the route port's list at the next pass (e.g. after the VXLAN device was recreated). */
  resync(): void {
    this.needFullResync = true;
    for (const n of this.registry.nodes.keys()) this.dirty.add(n);
    this.scheduleReconcile();
  }

  async stop(): Promise<void> {
    this.phaseNow = "stopped";
    this.abort.abort();
    this.registry.stop();
    for (const t of [this.reconcileTimer, this.resyncTimer, this.heartbeatTimer, this.gcTimer])
      if (t !== undefined) this.d.clock.clearTimeout(t);
    await this.routing.run(() => {}); // the reconciles already queued finish first
  }

  get phase(): AgentPhase {
    return this.phaseNow;
  }

  /** This node's blocks (network form, IPv4 first); empty until known. */
  get podCIDRs(): readonly string[] {
    return this.blocks;
  }

  /** Called whenever this node's blocks change (first known, or replaced after losing them). */
  onBlocks(fn: (blocks: readonly string[]) => void): () => void {
    this.blockListeners.add(fn);
    return () => this.blockListeners.delete(fn);
  }

  /** Called after each route programming pass. */
  onRoutes(fn: () => void): () => void {
    this.routeListeners.add(fn);
    return () => this.routeListeners.delete(fn);
  }

  /** Every other node with the state of this node's routes to it, by name. */
  peers(): PeerStatus[] {
    const out: PeerStatus[] = [];
    for (const [name, r] of this.registry.nodes) {
      if (name === this.o.name) continue;
      const rec = this.applied.get(name);
      const plan = rec ? planPeer(this.parsedSelf, rec) : undefined;
      out.push({
        name,
        nodeIPs: r.nodeIPs,
        podCIDRs: r.podCIDRs,
        backend: r.backend,
        mode: plan?.mode ?? "none",
        routesInPlace: !!plan && rec === r && !this.notInPlace.has(name),
        problems: plan?.problems ?? [],
      });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** How many peers have all their routes in place (cheap; for progress checks). */
  get peersInPlace(): number {
    return this.applied.size - this.notInPlace.size;
  }

  /** Node records known (this node included). */
  get nodesKnown(): number {
    return this.registry.nodes.size;
  }

  metrics(): ClusterMetrics {
    return {
      nodesKnown: this.registry.nodes.size,
      watchRestarts: this.registry.counters.watchRestarts,
      ...this.counters,
      etcdErrors: this.counters.etcdErrors + this.registry.counters.storeErrors,
    };
  }

  /** The pods' MTU for an uplink MTU: lowered by VXLAN's overhead when any peer uses VXLAN. */
  podMtu(linkMtu: number): number {
    const fam = this.parsedSelf.ips[0]?.family ?? 4;
    return podMtu(linkMtu, this.overVxlan.size ? ["vxlan"] : [], fam);
  }

  /** The node's addresses changed (new connected subnets, new VTEP): replans every peer against the kernel's list. */
  updateSelf(u: { connected?: readonly string[]; vtep?: VtepInfo }): void {
    this.self = {
      ...this.self,
      ...(u.connected ? { connected: u.connected } : {}),
      ...(u.vtep ? { vtep: u.vtep } : {}),
    };
    this.parsedSelf = parseSelf(this.self);
    this.resync();
  }

  // --- joining and heartbeats ----------------------------------------------------------------

  private selfView(): SelfView {
    return {
      name: this.o.name,
      nodeIPs: this.o.nodeIPs,
      podCIDRs: this.blocks,
      connected: this.o.connected,
      backend: this.o.backend,
      ...(this.o.vtep ? { vtep: this.o.vtep } : {}),
      ...(this.o.vxlanDevice ? { vxlanDevice: this.o.vxlanDevice } : {}),
    };
  }

  private setBlocks(blocks: string[]): void {
    const changed = blocks.join(",") !== this.blocks.join(",");
    this.blocks = blocks;
    this.self = { ...this.self, podCIDRs: blocks };
    this.parsedSelf = parseSelf(this.self);
    if (changed) for (const l of this.blockListeners) l(blocks);
  }

  /**
   * Blocks of the other nodes as the registry sees them: built only when allocation asks (a joined
   * node never does), each record's blocks parsed once (records are immutable: a change is a new
   * object), and dropped on any change — an event costs O(1) here.
   */
  private taken: Cidr[] | undefined;
  private readonly parsedBlocks = new WeakMap<NodeRecord, Cidr[]>();
  private takenHint = (): Cidr[] => {
    if (!this.taken) {
      const out: Cidr[] = [];
      for (const r of this.registry.nodes.values()) {
        if (r.name === this.o.name) continue;
        let cidrs = this.parsedBlocks.get(r);
        if (!cidrs) {
          cidrs = r.podCIDRs.map((t) => parseCidr(t));
          this.parsedBlocks.set(r, cidrs);
        }
        for (const c of cidrs) out.push(c);
      }
      this.taken = out;
    }
    return this.taken;
  };

  /** Joins (once at a time), retrying store failures with back-off; rejects on configuration errors. */
  private joinLoop(remembered: readonly Cidr[]): Promise<void> {
    this.joining ??= this.join(remembered).finally(() => {
      this.joining = undefined;
    });
    return this.joining;
  }

  private async join(remembered: readonly Cidr[]): Promise<void> {
    const backoff = new Backoff({ random: this.random, initialMs: 500, maxMs: 30_000 });
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        // the lease and the node list (allocation's view of taken blocks) come with the join's first reads
        const lease = this.lease
          ? Promise.resolve(this.lease)
          : this.d.store.grantLease(Math.ceil(this.ttlMs / 1000)).then((l) => (this.lease = l));
        const ready = Promise.all([lease, this.registry.start()]).then(([l]) => l.id);
        const before = this.blocks;
        const res = await joinCluster(
          {
            store: this.d.store,
            keys: this.d.keys,
            log: this.d.log,
            random: this.random,
            sleep: (ms) => sleep(this.d.clock, ms, signal),
            now: () => this.d.clock.now(),
          },
          {
            ranges: this.o.ranges,
            self: { ...this.o, vtep: this.self.vtep },
            remembered: remembered.length ? remembered : before.map((s) => parseCidr(s)),
            lease: ready,
            taken: this.takenHint,
          },
        );
        this.counters.allocationConflicts += res.conflicts;
        if (signal.aborted) return;
        if (before.length && before.join(",") !== res.record.podCIDRs.join(",")) {
          this.d.log.error(
            "this node's block changed: it was freed while the node was away and another node holds it now; pods keep their old addresses until recreated",
            { old: before, new: res.record.podCIDRs },
          );
        }
        this.setBlocks([...res.record.podCIDRs]);
        this.phaseNow = "joined";
        this.joinErr = undefined;
        try {
          await this.d.state.write({ name: this.o.name, podCIDRs: this.blocks });
        } catch (e) {
          this.d.log.error("could not write the local cluster state file", { err: e });
        }
        this.d.log.info("joined the cluster", { node: this.o.name, podCIDRs: this.blocks, conflicts: res.conflicts });
        this.scheduleHeartbeat(this.heartbeatMs);
        this.scheduleGc();
        for (const n of this.registry.nodes.keys()) this.dirty.add(n);
        this.scheduleReconcile();
        return;
      } catch (e) {
        this.joinErr = e as Error;
        if (e instanceof AllocationError) throw e;
        if (e instanceof StoreError && e.kind === "lease-not-found") this.lease = undefined;
        this.counters.etcdErrors++;
        const wait = backoff.next();
        this.d.log.warn("joining the cluster failed; retrying", { err: e, retryInMs: wait });
        await sleep(this.d.clock, wait, signal);
      }
    }
  }

  private scheduleHeartbeat(ms: number): void {
    if (this.abort.signal.aborted) return;
    if (this.heartbeatTimer !== undefined) this.d.clock.clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = this.d.clock.setTimeout(() => void this.heartbeat(), ms);
  }

  private async heartbeat(): Promise<void> {
    this.heartbeatTimer = undefined;
    if (this.abort.signal.aborted || !this.lease) return;
    try {
      await this.d.store.keepAlive(this.lease);
      await writeHeartbeat(
        { store: this.d.store, keys: this.d.keys, now: () => this.d.clock.now() },
        this.o.name,
        this.lease.id,
      );
      this.heartbeatBackoff.reset();
      this.scheduleHeartbeat(this.heartbeatMs);
    } catch (e) {
      this.counters.heartbeatFailures++;
      this.counters.etcdErrors++;
      if (e instanceof StoreError && e.kind === "lease-not-found") {
        this.d.log.warn("this node's lease expired (away longer than --node-ttl); registering again", { err: e });
        this.lease = undefined;
        this.rejoin();
        return;
      }
      const wait = Math.min(this.heartbeatBackoff.next(), this.heartbeatMs);
      this.d.log.warn("heartbeat failed; retrying", { err: e, retryInMs: wait });
      this.scheduleHeartbeat(wait);
    }
  }

  private rejoin(): void {
    if (this.abort.signal.aborted) return;
    this.joinLoop([]).catch((e) => this.d.log.error("registering again failed", { err: e }));
  }

  private scheduleGc(): void {
    if (this.abort.signal.aborted || this.gcTimer !== undefined) return;
    const period = Math.max(this.heartbeatMs * 2, 10_000);
    this.gcTimer = this.d.clock.setTimeout(
      async () => {
        this.gcTimer = undefined;
        // About GC_COLLECTORS nodes per period look, whatever the cluster's size (each look is three
        // lists of every node): an expired node is collected within a few periods.
        const n = this.registry.nodes.size;
        if (n > GC_COLLECTORS && this.random() * n >= GC_COLLECTORS) return this.scheduleGc();
        try {
          await collectExpired({ store: this.d.store, keys: this.d.keys, log: this.d.log });
        } catch (e) {
          this.counters.etcdErrors++;
          this.d.log.warn("collecting expired nodes failed", { err: e });
        }
        this.scheduleGc();
      },
      period / 2 + this.random() * period,
    );
  }

  // --- routes --------------------------------------------------------------------------------

  private onNodes(c: NodeChange): void {
    for (const r of c.upserted) this.dirty.add(r.name);
    for (const n of c.removed) this.dirty.add(n);
    this.taken = undefined;
    if (c.removed.includes(this.o.name) && this.phaseNow === "joined") {
      this.d.log.warn("this node's record was deleted (remove-node, or expiry while away); registering again");
      this.rejoin();
    }
    this.scheduleReconcile();
  }

  private scheduleReconcile(): void {
    if (this.abort.signal.aborted || this.reconcileTimer !== undefined) return;
    this.reconcileTimer = this.d.clock.setTimeout(() => {
      this.reconcileTimer = undefined;
      void this.routing
        .run(() => this.reconcile())
        .catch((e: unknown) => this.d.log.error("route programming failed", { err: e }));
    }, this.o.routeBatchMs ?? 20);
  }

  private scheduleResync(ms: number): void {
    if (this.abort.signal.aborted) return;
    if (this.resyncTimer !== undefined) this.d.clock.clearTimeout(this.resyncTimer);
    this.resyncTimer = this.d.clock.setTimeout(() => {
      this.resyncTimer = undefined;
      this.needFullResync = true;
      this.scheduleReconcile();
    }, ms);
  }

  /**
   * One programming pass. Until the first list of nodes the kernel is left alone (etcd down at
   * start must not remove working routes). The first pass, and one every resyncIntervalMs or after
   * a failure, diffs against the port's list; the others diff only the peers that changed.
   */
  private async reconcile(): Promise<void> {
    if (this.abort.signal.aborted || this.registry.revision === 0 || this.blocks.length === 0) return;
    const full = this.needFullResync;
    const names = full ? new Set([...this.registry.nodes.keys(), ...this.applied.keys()]) : this.dirty;
    this.dirty = new Set();
    /** Peers to update: name, the record now (undefined: gone), its plan. */
    const newPlans: Array<[string, NodeRecord | undefined, PeerPlan | undefined]> = [];
    const pairs: Array<readonly [readonly Entry[] | undefined, readonly Entry[] | undefined]> = [];
    for (const n of names) {
      const r: NodeRecord | undefined = n === this.o.name ? undefined : this.registry.nodes.get(n);
      const old = full ? undefined : this.applied.get(n);
      if (!full && old === r) continue; // the record it was programmed from: nothing to do
      const plan = r ? planPeer(this.parsedSelf, r) : undefined;
      newPlans.push([n, r, plan]);
      // Only the peers that changed, each against what was applied for it: O(change).
      if (!full) pairs.push([old ? planPeer(this.parsedSelf, old).entries : undefined, plan?.entries]);
    }
    let changes: Change[];
    if (full) {
      let actual: Entry[];
      try {
        actual = await this.d.routes.list();
      } catch (e) {
        this.counters.routeFailures++;
        this.d.log.error("listing podnet's routes failed; retrying", { err: e });
        for (const n of names) this.dirty.add(n);
        this.scheduleResync(this.resyncBackoff.next());
        return;
      }
      const desired: Entry[] = [];
      for (const [, , plan] of newPlans) if (plan) for (const e of plan.entries) desired.push(e);
      changes = diffEntries(desired, actual);
    } else changes = diffPeers(pairs);
    const t0 = this.d.clock.monotonic();
    const failedKeys = new Set<Change>();
    if (changes.length) {
      let failed: ReadonlyArray<{ change: Change; error: Error }>;
      try {
        failed = (await this.d.routes.apply(changes)).failed;
      } catch (e) {
        failed = changes.map((change) => ({ change, error: e as Error }));
      }
      for (const f of failed) failedKeys.add(f.change);
      const secs = (this.d.clock.monotonic() - t0) / 1000;
      this.counters.routeProgrammingCount++;
      this.counters.routeProgrammingSecondsTotal += secs;
      this.counters.routeProgrammingSecondsLast = secs;
      this.d.observeRouteProgramming?.(secs);
      if (failed.length) {
        this.counters.routeFailures += failed.length;
        this.d.log.error("the kernel refused route changes; retrying with a full resync", {
          failed: failed.slice(0, 5).map((f) => ({ change: f.change.op, error: f.error.message })),
          count: failed.length,
        });
      }
    }
    const failedEntries = new Set([...failedKeys].map((c) => c.entry));
    for (const [n, r, plan] of newPlans) {
      if (!r || !plan) {
        this.applied.delete(n);
        this.notInPlace.delete(n);
        this.overVxlan.delete(n);
        continue;
      }
      this.applied.set(n, r);
      const ok =
        plan.problems.length === 0 && (failedEntries.size === 0 || !plan.entries.some((e) => failedEntries.has(e)));
      if (!ok) this.notInPlace.add(n);
      else if (this.notInPlace.size) this.notInPlace.delete(n);
      if (plan.mode === "vxlan" || plan.mode === "mixed") this.overVxlan.add(n);
      else if (this.overVxlan.size) this.overVxlan.delete(n);
    }
    if (failedKeys.size) this.scheduleResync(this.resyncBackoff.next());
    else {
      this.resyncBackoff.reset();
      if (full) {
        this.needFullResync = false;
        this.scheduleResync(this.o.resyncIntervalMs ?? 300_000);
      }
    }
    if (full) this.needFullResync = failedKeys.size > 0;
    for (const l of this.routeListeners) l();
  }
}
