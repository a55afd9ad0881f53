// The coordination store behind cluster networking: a small slice of etcd v3's data model (a flat
// ordered key space, one revision counter, multi-key transactions, watches from a revision, leases),
// so that allocation and the node registry are written once and run over etcd (etcd-store.ts) or
// the in-memory store with the same semantics (memory-store.ts). Keys and values are strings.
import { PodnetError } from "../util/errors.js";

/** A key as stored: revisions as etcd counts them (create/mod revision, 0 = never). */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  /** The lease the key is attached to ("" when none). */
  readonly lease: string;
}

/** A read: the keys and the store revision it was taken at. */
export interface ListResult {
  readonly revision: number;
  readonly kvs: readonly KeyValue[];
}

/**
 * A transaction condition. `absent`: no key exists at `key` (or, with `rangeEnd`, at any key in
 * [key, rangeEnd)). `modRevision`: the key's mod revision equals `equals` (0 = the key is absent).
 */
export type Condition =
  | { readonly kind: "absent"; readonly key: string; readonly rangeEnd?: string }
  | { readonly kind: "modRevision"; readonly key: string; readonly equals: number };

/** A transaction write. `lease` attaches the key to a lease granted by this store. */
export type WriteOp =
  | { readonly kind: "put"; readonly key: string; readonly value: string; readonly lease?: string }
  | { readonly kind: "delete"; readonly key: string };

export interface TxnResult {
  readonly succeeded: boolean;
  /** The store revision after the transaction (unchanged when it failed or wrote nothing). */
  readonly revision: number;
  /** When it failed: the keys asked for in `elseGet`, read in the same transaction (undefined: absent). */
  readonly elseKvs?: ReadonlyArray<KeyValue | undefined>;
}

export interface WatchEvent {
  readonly type: "put" | "delete";
  readonly key: string;
  /** "" for deletes. */
  readonly value: string;
  /** The revision of the write (for deletes: the revision of the deletion). */
  readonly modRevision: number;
}

export interface WatchHandler {
  /** Events in revision order; `revision` is the highest revision they cover. */
  onEvents(events: readonly WatchEvent[], revision: number): void;
  /**
   * The requested start revision was compacted away: the watch has ended and the caller must
   * re-list. Called at most once per watch, never after close().
   */
  onCompacted(compactRevision: number): void;
  /** The connection broke and the watch is being resumed from the last delivered revision. */
  onRestart?(err: Error): void;
}

export interface Watch {
  close(): void;
}

export interface Lease {
  readonly id: string;
  readonly ttlSeconds: number;
}

/**
 * The store. Every method may reject with a StoreError: "unavailable" (no endpoint answered; the
 * caller retries with back-off), "lease-not-found" (keepAlive on an expired or revoked lease),
 * "invalid" (a request the store refuses, e.g. too many operations).
 */
export interface ClusterStore {
  get(key: string): Promise<KeyValue | undefined>;
  /** All keys starting with `prefix`, in key order, with the revision of the read. */
  list(prefix: string): Promise<ListResult>;
  /**
   * All conditions hold → `ops` are applied atomically; else nothing is, and the keys in
   * `elseGet` are read instead (one round trip to learn why).
   */
  txn(conditions: readonly Condition[], ops: readonly WriteOp[], elseGet?: readonly string[]): Promise<TxnResult>;
  /** Deletes one key; true when it existed. */
  delete(key: string): Promise<boolean>;
  /**
   * Watches keys starting with `prefix` from `fromRevision` (inclusive). Disconnects are retried
   * and resumed from the revision after the last delivered event.
   */
  watch(prefix: string, fromRevision: number, handler: WatchHandler): Watch;
  grantLease(ttlSeconds: number): Promise<Lease>;
  /** Renews the lease to its full TTL; rejects with StoreError "lease-not-found" when it is gone. */
  keepAlive(lease: Lease): Promise<void>;
  revokeLease(lease: Lease): Promise<void>;
  close(): void;
}

/** Sets a key only when it does not exist. */
export function createIfAbsent(store: ClusterStore, key: string, value: string, lease?: string): Promise<TxnResult> {
  return store.txn([{ kind: "absent", key }], [{ kind: "put", key, value, ...(lease !== undefined ? { lease } : {}) }]);
}

/** Sets a key only when its mod revision is still `modRevision` (0: only when absent). */
export function compareAndSwap(
  store: ClusterStore,
  key: string,
  modRevision: number,
  value: string,
): Promise<TxnResult> {
  return store.txn([{ kind: "modRevision", key, equals: modRevision }], [{ kind: "put", key, value }]);
}

export type StoreErrorKind = "unavailable" | "lease-not-found" | "invalid";

export class StoreError extends PodnetError {
  override name = "StoreError";
  readonly code = "PODNET_CLUSTER_STORE";
  readonly kind: StoreErrorKind;
  constructor(kind: StoreErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

/** The first key after every key that starts with `prefix` (etcd's prefix range end). */
export function prefixEnd(prefix: string): string {
  if (prefix === "") throw new RangeError("an empty prefix has no range end");
  const last = prefix.charCodeAt(prefix.length - 1);
  if (last >= 0xffff) return prefixEnd(prefix.slice(0, -1));
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}
