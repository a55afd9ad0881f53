// Every node's view of every other node: one list of <prefix>/nodes/ and a watch from the revision
// after it. Each event costs O(1) (a map update) and is handed to the subscriber as a change set;
// a compacted start revision triggers exactly one re-list (reported as one change set against the
// old view); a broken connection is resumed by the store from the last revision delivered.
import { Backoff } from "./backoff.js";
import { type Clock, type ClusterLogger, sleep } from "./deps.js";
import type { KeyLayout } from "./keys.js";
import { type NodeRecord, decodeRecord, sameRecord } from "./node-record.js";
import type { ClusterStore, Watch, WatchEvent } from "./store.js";

export interface NodeChange {
  /** Records added or changed, in event order. */
  readonly upserted: readonly NodeRecord[];
  /** Names whose records were deleted. */
  readonly removed: readonly string[];
  /** The change comes from a full (re-)list. */
  readonly relist: boolean;
  /** The store revision the view is now at. */
  readonly revision: number;
}

export interface RegistryCounters {
  /** Full lists: the first one and one per compaction. */
  lists: number;
  /** Watches re-established: after a compaction or a broken connection. */
  watchRestarts: number;
  /** Store calls that failed (each retried). */
  storeErrors: number;
  /** Records that failed validation and were ignored. */
  invalidRecords: number;
  /** Watch events applied. */
  events: number;
}

export interface RegistryDeps {
  readonly store: ClusterStore;
  readonly keys: KeyLayout;
  readonly clock: Clock;
  readonly log: ClusterLogger;
  readonly random?: () => number;
}

export class NodeRegistry {
  private readonly deps: RegistryDeps;
  private readonly view = new Map<string, NodeRecord>();
  private readonly listeners = new Set<(c: NodeChange) => void>();
  private watch: Watch | undefined;
  private rev = 0;
  private stopped = false;
  private readonly abort = new AbortController();
  private synced: Promise<void> | undefined;
  readonly counters: RegistryCounters = { lists: 0, watchRestarts: 0, storeErrors: 0, invalidRecords: 0, events: 0 };

  constructor(deps: RegistryDeps) {
    this.deps = deps;
  }

  /** All records known, by name. */
  get nodes(): ReadonlyMap<string, NodeRecord> {
    return this.view;
  }

  /** The revision the view reflects (0 before the first list). */
  get revision(): number {
    return this.rev;
  }

  /** Calls `fn` with every change set from now on; returns the unsubscribe function. */
  subscribe(fn: (c: NodeChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Lists (retrying with back-off until the store answers) and starts watching; resolves once listed. */
  start(): Promise<void> {
    this.synced ??= this.relist(false);
    return this.synced;
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    this.watch?.close();
    this.watch = undefined;
  }

  private emit(c: NodeChange): void {
    if (c.upserted.length === 0 && c.removed.length === 0 && !c.relist) return;
    for (const l of this.listeners) l(c);
  }

  private decode(key: string, value: string): NodeRecord | undefined {
    const name = this.deps.keys.nameOf(key);
    if (!name) {
      this.counters.invalidRecords++;
      return undefined;
    }
    try {
      return decodeRecord(value, name);
    } catch (e) {
      this.counters.invalidRecords++;
      this.deps.log.warn("ignoring an invalid node record", { key, err: e });
      return undefined;
    }
  }

  private async relist(restart: boolean): Promise<void> {
    const backoff = new Backoff({ random: this.deps.random ?? Math.random, initialMs: 200, maxMs: 10_000 });
    for (;;) {
      if (this.stopped) return;
      try {
        const res = await this.deps.store.list(this.deps.keys.nodes);
        if (this.stopped) return;
        this.counters.lists++;
        const seen = new Set<string>();
        const upserted: NodeRecord[] = [];
        for (const kv of res.kvs) {
          const r = this.decode(kv.key, kv.value);
          if (!r) continue;
          seen.add(r.name);
          const old = this.view.get(r.name);
          if (!old || !sameRecord(old, r)) upserted.push(r);
          this.view.set(r.name, r);
        }
        const removed = [...this.view.keys()].filter((n) => !seen.has(n));
        for (const n of removed) this.view.delete(n);
        this.rev = res.revision;
        if (restart) this.counters.watchRestarts++;
        this.openWatch();
        this.emit({ upserted, removed, relist: true, revision: this.rev });
        return;
      } catch (e) {
        this.counters.storeErrors++;
        const wait = backoff.next();
        this.deps.log.warn("listing nodes failed; retrying", { err: e, retryInMs: wait });
        await sleep(this.deps.clock, wait, this.abort.signal);
      }
    }
  }

  private openWatch(): void {
    this.watch?.close();
    this.watch = this.deps.store.watch(this.deps.keys.nodes, this.rev + 1, {
      onEvents: (events, revision) => this.apply(events, revision),
      onCompacted: (compactRevision) => {
        if (this.stopped) return;
        this.deps.log.warn("node watch fell behind a compaction; listing again", {
          from: this.rev + 1,
          compactRevision,
        });
        this.watch = undefined;
        void this.relist(true);
      },
      onRestart: (err) => {
        this.counters.watchRestarts++;
        this.counters.storeErrors++;
        this.deps.log.warn("node watch broke; resuming", { from: this.rev + 1, err });
      },
    });
  }

  private apply(events: readonly WatchEvent[], revision: number): void {
    if (this.stopped) return;
    const upserted = new Map<string, NodeRecord>();
    const removed = new Set<string>();
    for (const e of events) {
      this.counters.events++;
      const name = this.deps.keys.nameOf(e.key);
      if (!name) continue;
      if (e.type === "delete") {
        if (this.view.delete(name)) removed.add(name);
        upserted.delete(name);
        continue;
      }
      const r = this.decode(e.key, e.value);
      if (!r) continue;
      const old = this.view.get(name);
      this.view.set(name, r);
      if (removed.size) removed.delete(name);
      // a record is rewritten unchanged only rarely (a node re-registering), so no copy of its text is kept to compare
      if (!old || !sameRecord(old, r)) upserted.set(name, r);
    }
    this.rev = Math.max(this.rev, revision);
    if (upserted.size === 0 && removed.size === 0) return;
    this.emit({ upserted: [...upserted.values()], removed: [...removed], relist: false, revision: this.rev });
  }
}
