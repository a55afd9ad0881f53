// The in-memory ClusterStore: etcd v3's semantics without a server, for tests and simulations.
// One revision counter bumped once per writing transaction, history kept for watches until
// compact(), range conditions as etcd evaluates them, leases on an injected clock (expired lazily
// on every call, or by expireLeases()), and an outage switch (setAvailable(false)) that fails every
// call with "unavailable" and restarts watches, which resume from their last revision when it ends.
import {
  type ClusterStore,
  type Condition,
  type KeyValue,
  type Lease,
  type ListResult,
  StoreError,
  type TxnResult,
  type Watch,
  type WatchEvent,
  type WatchHandler,
  type WriteOp,
} from "./store.js";

export interface MemoryStoreOptions {
  /** Milliseconds; drives lease expiry. */
  readonly now?: () => number;
  /** How watch deliveries are deferred (default: queueMicrotask, so callers see them after an await). */
  readonly schedule?: (fn: () => void) => void;
  /** Largest number of conditions or operations in one transaction (etcd's --max-txn-ops: 128). */
  readonly maxTxnOps?: number;
}

interface LeaseState {
  ttlSeconds: number;
  deadline: number;
  keys: Set<string>;
}

interface WatchState {
  prefix: string;
  /** The next revision this watch has to deliver. */
  next: number;
  handler: WatchHandler;
  closed: boolean;
  stalled: boolean;
}

export class MemoryStore implements ClusterStore {
  private readonly kv = new Map<string, KeyValue>();
  private readonly history: Array<{ revision: number; events: WatchEvent[] }> = [];
  private readonly leases = new Map<string, LeaseState>();
  private readonly watches = new Set<WatchState>();
  private readonly now: () => number;
  private readonly schedule: (fn: () => void) => void;
  private readonly maxTxnOps: number;
  private rev = 1;
  private compacted = 0;
  private nextLease = 0x1000;
  private available = true;
  /** Calls answered or refused, by method (a simulation's "requests"). */
  readonly calls: Record<string, number> = {};

  constructor(opts: MemoryStoreOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.schedule = opts.schedule ?? queueMicrotask;
    this.maxTxnOps = opts.maxTxnOps ?? 128;
  }

  get revision(): number {
    return this.rev;
  }

  get compactRevision(): number {
    return this.compacted;
  }

  private enter(method: string): void {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
    if (!this.available) throw new StoreError("unavailable", `memory store: ${method}: unavailable (simulated outage)`);
    this.expireLeases();
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.enter("get");
    return this.kv.get(key);
  }

  async list(prefix: string): Promise<ListResult> {
    this.enter("list");
    const kvs = [...this.kv.values()].filter((e) => e.key.startsWith(prefix)).sort((a, b) => cmp(a.key, b.key));
    return { revision: this.rev, kvs };
  }

  async txn(
    conditions: readonly Condition[],
    ops: readonly WriteOp[],
    elseGet: readonly string[] = [],
  ): Promise<TxnResult> {
    this.enter("txn");
    if (conditions.length > this.maxTxnOps || ops.length > this.maxTxnOps) {
      throw new StoreError("invalid", `memory store: transaction has too many operations (at most ${this.maxTxnOps})`);
    }
    for (const op of ops) {
      if (op.kind === "put" && op.lease !== undefined && op.lease !== "" && !this.leases.has(op.lease)) {
        throw new StoreError("lease-not-found", `memory store: lease ${op.lease} not found`);
      }
    }
    if (!conditions.every((c) => this.holds(c)))
      return { succeeded: false, revision: this.rev, elseKvs: elseGet.map((k) => this.kv.get(k)) };
    this.apply(ops);
    return { succeeded: true, revision: this.rev };
  }

  async delete(key: string): Promise<boolean> {
    this.enter("delete");
    if (!this.kv.has(key)) return false;
    this.apply([{ kind: "delete", key }]);
    return true;
  }

  watch(prefix: string, fromRevision: number, handler: WatchHandler): Watch {
    this.calls["watch"] = (this.calls["watch"] ?? 0) + 1;
    if (!Number.isInteger(fromRevision) || fromRevision < 1)
      throw new RangeError(`watch: fromRevision ${fromRevision} is not a revision (>= 1)`);
    const w: WatchState = { prefix, next: fromRevision, handler, closed: false, stalled: !this.available };
    this.watches.add(w);
    this.schedule(() => this.catchUp(w));
    return {
      close: () => {
        w.closed = true;
        this.watches.delete(w);
      },
    };
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    this.enter("grantLease");
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1)
      throw new StoreError("invalid", `memory store: lease TTL ${ttlSeconds} is not a positive number of seconds`);
    const id = (this.nextLease++).toString();
    this.leases.set(id, { ttlSeconds, deadline: this.now() + ttlSeconds * 1000, keys: new Set() });
    return { id, ttlSeconds };
  }

  async keepAlive(lease: Lease): Promise<void> {
    this.enter("keepAlive");
    const l = this.leases.get(lease.id);
    if (!l) throw new StoreError("lease-not-found", `memory store: lease ${lease.id} not found`);
    l.deadline = this.now() + l.ttlSeconds * 1000;
  }

  async revokeLease(lease: Lease): Promise<void> {
    this.enter("revokeLease");
    const l = this.leases.get(lease.id);
    if (!l) throw new StoreError("lease-not-found", `memory store: lease ${lease.id} not found`);
    this.dropLease(lease.id, l);
  }

  close(): void {
    for (const w of this.watches) w.closed = true;
    this.watches.clear();
  }

  // --- test controls -------------------------------------------------------------------------

  /** Deletes the keys of every lease whose deadline has passed (etcd's lessor does this itself). */
  expireLeases(): void {
    const t = this.now();
    for (const [id, l] of this.leases) if (l.deadline <= t) this.dropLease(id, l);
  }

  /** Drops history before `revision`: watches starting earlier are answered with onCompacted. */
  compact(revision: number = this.rev): void {
    if (revision > this.rev)
      throw new RangeError(`compact: revision ${revision} is in the future (current ${this.rev})`);
    this.compacted = Math.max(this.compacted, revision);
    while (this.history.length && this.history[0]!.revision < this.compacted) this.history.shift();
  }

  /** false: every call fails "unavailable" and watches restart; true: watches resume. */
  setAvailable(up: boolean): void {
    if (up === this.available) return;
    this.available = up;
    for (const w of this.watches) {
      if (!up) {
        w.stalled = true;
        this.schedule(() => {
          if (!w.closed)
            w.handler.onRestart?.(new StoreError("unavailable", "memory store: connection lost (simulated outage)"));
        });
      } else {
        w.stalled = false;
        this.schedule(() => this.catchUp(w));
      }
    }
  }

  // --- internals -----------------------------------------------------------------------------

  private holds(c: Condition): boolean {
    if (c.kind === "modRevision") return (this.kv.get(c.key)?.modRevision ?? 0) === c.equals;
    if (c.rangeEnd === undefined) return !this.kv.has(c.key);
    for (const k of this.kv.keys()) if (cmp(k, c.key) >= 0 && cmp(k, c.rangeEnd) < 0) return false;
    return true;
  }

  private apply(ops: readonly WriteOp[]): void {
    const revision = this.rev + 1;
    const events: WatchEvent[] = [];
    for (const op of ops) {
      const old = this.kv.get(op.key);
      if (old?.lease) this.leases.get(old.lease)?.keys.delete(op.key);
      if (op.kind === "put") {
        const lease = op.lease ?? "";
        this.kv.set(op.key, {
          key: op.key,
          value: op.value,
          createRevision: old?.createRevision ?? revision,
          modRevision: revision,
          lease,
        });
        if (lease) this.leases.get(lease)!.keys.add(op.key);
        events.push({ type: "put", key: op.key, value: op.value, modRevision: revision });
      } else if (old) {
        this.kv.delete(op.key);
        events.push({ type: "delete", key: op.key, value: "", modRevision: revision });
      }
    }
    if (events.length === 0) return;
    this.rev = revision;
    this.history.push({ revision, events });
    for (const w of this.watches) if (!w.stalled) this.schedule(() => this.catchUp(w));
  }

  private dropLease(id: string, l: LeaseState): void {
    this.leases.delete(id);
    if (l.keys.size) this.apply([...l.keys].sort(cmp).map((key) => ({ kind: "delete" as const, key })));
  }

  private catchUp(w: WatchState): void {
    if (w.closed || w.stalled || w.next > this.rev) return;
    if (w.next < this.compacted) {
      w.closed = true;
      this.watches.delete(w);
      w.handler.onCompacted(this.compacted);
      return;
    }
    const events: WatchEvent[] = [];
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.history[mid]!.revision < w.next) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.history.length; i++)
      for (const e of this.history[i]!.events) if (e.key.startsWith(w.prefix)) events.push(e);
    const upTo = this.rev;
    w.next = upTo + 1;
    if (events.length) w.handler.onEvents(events, upTo);
  }
}

/** Key order as etcd sorts (bytewise; podnet's keys are ASCII, where that is code-unit order). */
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
