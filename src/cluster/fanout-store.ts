// One upstream watch per prefix shared by many watchers in one process: the first watch opens it,
// the events are kept in a log from its start revision, and each watcher gets the events from its
// own start revision onwards (replayed from the log, then live). Requests pass straight through.
// The benchmark uses it to simulate many nodes behind one connection; it is also the shape of a
// fan-out proxy (Calico's Typha) should one ever be needed (docs/cluster.md).
import type {
  ClusterStore,
  Condition,
  KeyValue,
  Lease,
  ListResult,
  TxnResult,
  Watch,
  WatchEvent,
  WatchHandler,
  WriteOp,
} from "./store.js";

interface Sub {
  next: number;
  handler: WatchHandler;
  closed: boolean;
  /** Events waiting for the replay to be delivered (keeps revision order). */
  pending: WatchEvent[] | undefined;
}

interface Upstream {
  from: number;
  watch: Watch | undefined;
  log: WatchEvent[];
  subs: Set<Sub>;
  dead: boolean;
}

export class FanoutStore implements ClusterStore {
  private readonly base: ClusterStore;
  private readonly ups = new Map<string, Upstream>();
  /** Upstream watches opened (for the benchmark's report). */
  upstreamWatches = 0;

  constructor(base: ClusterStore) {
    this.base = base;
  }

  get(key: string): Promise<KeyValue | undefined> {
    return this.base.get(key);
  }
  list(prefix: string): Promise<ListResult> {
    return this.base.list(prefix);
  }
  txn(conditions: readonly Condition[], ops: readonly WriteOp[], elseGet?: readonly string[]): Promise<TxnResult> {
    return this.base.txn(conditions, ops, elseGet);
  }
  delete(key: string): Promise<boolean> {
    return this.base.delete(key);
  }
  grantLease(ttlSeconds: number): Promise<Lease> {
    return this.base.grantLease(ttlSeconds);
  }
  keepAlive(lease: Lease): Promise<void> {
    return this.base.keepAlive(lease);
  }
  revokeLease(lease: Lease): Promise<void> {
    return this.base.revokeLease(lease);
  }

  watch(prefix: string, fromRevision: number, handler: WatchHandler): Watch {
    let up = this.ups.get(prefix);
    if (up && (up.dead || fromRevision < up.from)) {
      if (up.subs.size === 0 || up.dead) {
        up.watch?.close();
        this.ups.delete(prefix);
        up = undefined;
      } else {
        // Older than the shared log: this watcher gets an upstream watch of its own.
        return this.base.watch(prefix, fromRevision, handler);
      }
    }
    if (!up) up = this.open(prefix, fromRevision);
    const replay = up.log.filter((e) => e.modRevision >= fromRevision);
    const sub: Sub = {
      next: replay.length ? replay[replay.length - 1]!.modRevision + 1 : fromRevision,
      handler,
      closed: false,
      pending: replay.length ? replay : undefined,
    };
    up.subs.add(sub);
    const u = up;
    if (sub.pending) {
      queueMicrotask(() => {
        const evs = sub.pending!;
        sub.pending = undefined;
        if (!sub.closed) handler.onEvents(evs, evs[evs.length - 1]!.modRevision);
      });
    }
    return {
      close: () => {
        sub.closed = true;
        u.subs.delete(sub);
      },
    };
  }

  private open(prefix: string, from: number): Upstream {
    const up: Upstream = { from, watch: undefined, log: [], subs: new Set(), dead: false };
    this.ups.set(prefix, up);
    this.upstreamWatches++;
    up.watch = this.base.watch(prefix, from, {
      onEvents: (events, revision) => {
        up.log.push(...events);
        for (const s of up.subs) {
          if (s.closed) continue;
          const mine = events.filter((e) => e.modRevision >= s.next);
          if (mine.length === 0) continue;
          s.next = mine[mine.length - 1]!.modRevision + 1;
          if (s.pending) s.pending.push(...mine);
          else s.handler.onEvents(mine, revision);
        }
      },
      onCompacted: (rev) => {
        up.dead = true;
        for (const s of [...up.subs]) if (!s.closed) s.handler.onCompacted(rev);
        up.subs.clear();
      },
      onRestart: (err) => {
        for (const s of up.subs) if (!s.closed) s.handler.onRestart?.(err);
      },
    });
    return up;
  }

  close(): void {
    for (const up of this.ups.values()) up.watch?.close();
    this.ups.clear();
    this.base.close();
  }
}
