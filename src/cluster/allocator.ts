// Node pod CIDR allocation over the ClusterStore (the controller manager's --allocate-node-cidrs,
// done by the nodes themselves):
// - a block is one key, <prefix>/blocks/<block> → holder; a claim is one transaction that succeeds
//   only when no overlapping block key exists (keys.ts: conflictConditions) and the node's record
//   is unchanged since it was read, and writes the block, the record and the heartbeat together;
// - a node keeps what it holds (sticky, keyed by name), then tries what it held before (its record,
//   its local state file), then a --pod-cidr, and only then takes a free block: the lowest one
//   first; after a lost race it draws among the lowest 4^k free blocks (k = races lost), so that
//   a thousand nodes starting at once settle in about log4(1000) rounds instead of 1000;
// - blocks are freed only by removeNode() or by collectExpired() once the node's heartbeat key
//   (attached to a lease of --node-ttl) has expired in etcd; both are compare-and-swap on every
//   key they delete, so they never race a node that is coming back.
import { type Cidr, type Family, formatNetwork, parseCidr } from "../ip/index.js";
import { type ClusterRange, blockCount, cidrWithin, nthFreeBlock } from "./blocks.js";
import type { ClusterLogger } from "./deps.js";
import type { KeyLayout } from "./keys.js";
import {
  type Backend,
  type NodeRecord,
  type VtepInfo,
  decodeHeartbeat,
  decodeRecord,
  encodeHeartbeat,
  encodeRecord,
  recordBlocks,
} from "./node-record.js";
import type { ClusterStore, Condition, KeyValue, WriteOp } from "./store.js";
import { PodnetError } from "../util/errors.js";

export type AllocationErrorKind = "exhausted" | "overlap" | "outside" | "config-mismatch" | "contended";

export class AllocationError extends PodnetError {
  override name = "AllocationError";
  readonly code = "PODNET_CLUSTER_ALLOCATION";
  readonly kind: AllocationErrorKind;
  constructor(kind: AllocationErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

/** What a node is and asks for. */
export interface SelfSpec {
  readonly name: string;
  readonly nodeIPs: readonly string[];
  readonly backend: Backend;
  readonly vtep?: VtepInfo;
  /** --pod-cidr, at most one per family. */
  readonly podCIDRs?: readonly Cidr[];
}

export interface AllocatorDeps {
  readonly store: ClusterStore;
  readonly keys: KeyLayout;
  readonly log: ClusterLogger;
  readonly random: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** Wall clock (ms), written into heartbeats. */
  readonly now: () => number;
}

export interface JoinOptions {
  readonly ranges: readonly ClusterRange[];
  readonly self: SelfSpec;
  /** Blocks this node held before, from its local state file. */
  readonly remembered?: readonly Cidr[];
  /** The lease the heartbeat key is attached to (or its grant under way: awaited beside the first reads). */
  readonly lease: string | PromiseLike<string>;
  /** Blocks known taken (the registry's view): saves a read per join and per lost race. */
  readonly taken?: () => Iterable<Cidr>;
}

export interface JoinResult {
  readonly record: NodeRecord;
  /** The record's mod revision after the join. */
  readonly modRevision: number;
  /** Transactions that lost a race (for metrics). */
  readonly conflicts: number;
  /** Blocks remembered locally that the node could not get back (another node holds them now). */
  readonly lost: readonly string[];
}

interface ClusterConfigDoc {
  clusterCIDRs: string[];
  nodeCIDRMaskSizes: number[];
}

const describeRange = (r: ClusterRange) => `cluster CIDR ${formatNetwork(r.cidr)}`;
const familyOf = (c: Cidr): Family => c.network.family;

/**
 * Stores the cluster CIDRs and mask sizes on first use; afterwards refuses a node whose flags
 * differ (every node must cut the same blocks).
 */
export async function ensureClusterConfig(
  store: ClusterStore,
  keys: KeyLayout,
  ranges: readonly ClusterRange[],
): Promise<void> {
  const doc: ClusterConfigDoc = {
    clusterCIDRs: ranges.map((r) => formatNetwork(r.cidr)),
    nodeCIDRMaskSizes: ranges.map((r) => r.maskSize),
  };
  const text = JSON.stringify(doc);
  let existing = await store.get(keys.config);
  if (!existing) {
    // another node may write it first: its value comes back in the same round trip
    const r = await store.txn(
      [{ kind: "absent", key: keys.config }],
      [{ kind: "put", key: keys.config, value: text }],
      [keys.config],
    );
    if (r.succeeded) return;
    existing = r.elseKvs?.[0];
    if (!existing) return ensureClusterConfig(store, keys, ranges);
  }
  if (existing.value === text) return;
  let stored: ClusterConfigDoc | undefined;
  try {
    stored = JSON.parse(existing.value) as ClusterConfigDoc;
  } catch {
    /* reported below */
  }
  const theirs = stored
    ? `--cluster-cidr=${stored.clusterCIDRs?.join(",")} --node-cidr-mask-size=${stored.nodeCIDRMaskSizes?.join(",")}`
    : JSON.stringify(existing.value.slice(0, 200));
  const ours = `--cluster-cidr=${doc.clusterCIDRs.join(",")} --node-cidr-mask-size=${doc.nodeCIDRMaskSizes.join(",")}`;
  throw new AllocationError(
    "config-mismatch",
    `this node's ${ours} differs from the cluster's ${theirs} (stored in ${keys.config}); every node must use the same values`,
  );
}

/** The holders of blocks overlapping `c` (one read of every block key). */
async function holdersOf(deps: AllocatorDeps, c: Cidr): Promise<Array<{ block: string; holder: string }>> {
  const { kvs } = await deps.store.list(deps.keys.blocks);
  const out: Array<{ block: string; holder: string }> = [];
  for (const kv of kvs) {
    const b = deps.keys.parseBlock(kv.key);
    if (b && familyOf(b) === familyOf(c) && (cidrWithin(b, c) || cidrWithin(c, b)))
      out.push({ block: formatNetwork(b), holder: kv.value });
  }
  return out;
}

/** Every block key in the store, parsed (the authoritative "taken" set). */
async function allBlocks(deps: AllocatorDeps): Promise<Cidr[]> {
  const { kvs } = await deps.store.list(deps.keys.blocks);
  return kvs.map((kv) => deps.keys.parseBlock(kv.key)).filter((b): b is Cidr => b !== undefined);
}

class Joiner {
  private modRevision = 0;
  private leaseId = "";
  private held: Cidr[] = [];
  /** A claim wrote the record and heartbeat already in this pass. */
  private wrote = false;
  conflicts = 0;
  readonly lost: string[] = [];

  private readonly deps: AllocatorDeps;
  private readonly o: JoinOptions;

  constructor(deps: AllocatorDeps, o: JoinOptions) {
    this.deps = deps;
    this.o = o;
  }

  private record(blocks: readonly Cidr[]): NodeRecord {
    const s = this.o.self;
    const podCIDRs = [...blocks].sort((a, b) => familyOf(a) - familyOf(b)).map(formatNetwork);
    return {
      name: s.name,
      nodeIPs: [...s.nodeIPs],
      podCIDRs,
      backend: s.backend,
      ...(s.vtep ? { vtep: s.vtep } : {}),
      ...(s.podCIDRs?.length ? { requested: s.podCIDRs.map(formatNetwork) } : {}),
    };
  }

  private baseOps(blocks: readonly Cidr[]): WriteOp[] {
    const { keys, now } = this.deps;
    return [
      { kind: "put", key: keys.node(this.o.self.name), value: encodeRecord(this.record(blocks)) },
      {
        kind: "put",
        key: keys.heartbeat(this.o.self.name),
        value: encodeHeartbeat({ time: now() }),
        lease: this.leaseId,
      },
    ];
  }

  /** One claim transaction; "won", "lost" (an overlapping block exists) or "stale" (our record moved). */
  private async claim(r: ClusterRange, c: Cidr): Promise<"won" | "lost" | "stale"> {
    const { keys, store } = this.deps;
    const conds: Condition[] = [
      ...keys.conflictConditions(c, r.cidr.prefix),
      { kind: "modRevision", key: keys.node(this.o.self.name), equals: this.modRevision },
    ];
    const next = [...this.held.filter((h) => familyOf(h) !== familyOf(c)), c];
    const recordKey = keys.node(this.o.self.name);
    const blockKey = keys.block(c);
    const res = await store.txn(
      conds,
      [{ kind: "put", key: blockKey, value: this.o.self.name }, ...this.baseOps(next)],
      [recordKey, blockKey],
    );
    if (res.succeeded) {
      this.held = next;
      this.modRevision = res.revision;
      this.wrote = true;
      return "won";
    }
    const [rec, block] = res.elseKvs ?? [await store.get(recordKey), await store.get(blockKey)];
    if ((rec?.modRevision ?? 0) !== this.modRevision) {
      // A retried transaction whose first answer was lost may have won already.
      if (block?.value === this.o.self.name && rec?.modRevision === block.modRevision) {
        this.held = next;
        this.modRevision = rec.modRevision;
        this.wrote = true;
        return "won";
      }
      return "stale";
    }
    this.conflicts++;
    return "lost";
  }

  /** Reads our record and keeps the blocks it lists that are still ours. */
  async readOwn(): Promise<Cidr[]> {
    const { keys, store, log } = this.deps;
    const kv = await store.get(keys.node(this.o.self.name));
    this.modRevision = kv?.modRevision ?? 0;
    if (!kv) return [];
    let listed: Cidr[] = [];
    try {
      listed = recordBlocks(decodeRecord(kv.value, this.o.self.name));
    } catch (e) {
      log.warn("own node record is unreadable; registering anew", { err: e });
    }
    const owners = await Promise.all(listed.map((b) => store.get(keys.block(b))));
    this.held = listed.filter((_, i) => owners[i]?.value === this.o.self.name);
    return listed.filter((_, i) => owners[i]?.value !== this.o.self.name && owners[i] === undefined);
  }

  async run(): Promise<JoinResult> {
    const { keys } = this.deps;
    // the first reads and the lease at once: one round trip before the first claim, not three
    const [, listed, lease] = await Promise.all([
      ensureClusterConfig(this.deps.store, keys, this.o.ranges),
      this.readOwn(),
      this.o.lease,
    ]);
    this.leaseId = lease;
    let formerlyListed = listed;
    for (let stale = 0; ; stale++) {
      if (stale > 20)
        throw new AllocationError(
          "contended",
          `node ${this.o.self.name}: its record ${keys.node(this.o.self.name)} keeps changing under it; is another node running with the same --node-name?`,
        );
      const outcome = await this.claimAll(formerlyListed);
      if (outcome === "done") break;
      formerlyListed = await this.readOwn();
    }
    return {
      record: this.record(this.held),
      modRevision: this.modRevision,
      conflicts: this.conflicts,
      lost: this.lost,
    };
  }

  /** Claims a block per family; "stale" when our record changed underneath (re-read and redo). */
  private async claimAll(formerlyListed: readonly Cidr[]): Promise<"done" | "stale"> {
    const { keys, store, log } = this.deps;
    const explicit = this.o.self.podCIDRs ?? [];
    this.wrote = false;
    for (const r of this.o.ranges) {
      const f = familyOf(r.cidr);
      const want = explicit.find((c) => familyOf(c) === f);
      const have = this.held.find((c) => familyOf(c) === f);
      if (want) {
        if (!cidrWithin(want, r.cidr))
          throw new AllocationError(
            "outside",
            `--pod-cidr ${formatNetwork(want)} is not inside the ${describeRange(r)}`,
          );
        if (have && formatNetwork(have) === formatNetwork(want)) continue;
        if (have) {
          // --pod-cidr changed: give the old block back first (it may overlap the new one).
          const res = await store.txn(
            [{ kind: "modRevision", key: keys.node(this.o.self.name), equals: this.modRevision }],
            [{ kind: "delete", key: keys.block(have) }, ...this.baseOps(this.held.filter((h) => h !== have))],
          );
          if (!res.succeeded) return "stale";
          log.info("released the old block for the new --pod-cidr", {
            old: formatNetwork(have),
            new: formatNetwork(want),
          });
          this.held = this.held.filter((h) => h !== have);
          this.modRevision = res.revision;
        }
        const got = await this.claim(r, want);
        if (got === "stale") return "stale";
        if (got === "lost") {
          const holders = (await holdersOf(this.deps, want)).filter((h) => h.holder !== this.o.self.name);
          const who = holders.map((h) => `node ${JSON.stringify(h.holder)} holds ${h.block}`).join("; ");
          throw new AllocationError(
            "overlap",
            `--pod-cidr ${formatNetwork(want)} overlaps a block of another node: ${who || "(the holder has just released it; try again)"}`,
          );
        }
        continue;
      }
      if (have) continue;
      // Sticky: what our record listed (freed meanwhile), then what the local state file remembers.
      const former = [...formerlyListed, ...(this.o.remembered ?? [])].filter(
        (c) => familyOf(c) === f && cidrWithin(c, r.cidr),
      );
      let done = false;
      for (const c of former) {
        const got = await this.claim(r, c);
        if (got === "stale") return "stale";
        if (got === "won") {
          log.info("registered the block this node held before", { block: formatNetwork(c) });
          done = true;
          break;
        }
        const holders = (await holdersOf(this.deps, c)).filter((h) => h.holder !== this.o.self.name);
        log.warn("the block this node held before is now another node's; taking a new one", {
          block: formatNetwork(c),
          holders,
        });
        this.lost.push(formatNetwork(c));
      }
      if (done) continue;
      const got = await this.allocate(r);
      if (got === "stale") return "stale";
    }
    if (!this.wrote) {
      // Nothing left to claim: (re)write the record and heartbeat in one compare-and-swap.
      const cur = await store.get(keys.node(this.o.self.name));
      const text = encodeRecord(this.record(this.held));
      const res = await store.txn(
        [{ kind: "modRevision", key: keys.node(this.o.self.name), equals: this.modRevision }],
        cur?.value === text ? this.baseOps(this.held).slice(1) : this.baseOps(this.held),
      );
      if (!res.succeeded) return "stale";
      if (cur?.value !== text) this.modRevision = res.revision;
    }
    return "done";
  }

  /** The lowest free block, or after lost races one among the lowest 4^k. */
  private async allocate(r: ClusterRange): Promise<"won" | "stale"> {
    const { log } = this.deps;
    const lostHere = new Set<string>();
    let taken: Cidr[] = this.o.taken ? [...this.o.taken()] : await allBlocks(this.deps);
    let refreshedAfterExhaustion = false;
    for (let k = 0; ; k++) {
      const known = [...taken, ...this.held, ...[...lostHere].map((s) => parseCidr(s))];
      let cand: Cidr | undefined;
      if (k > 0) {
        const window = 4 ** Math.min(k, 12);
        cand = nthFreeBlock(r, known, Math.floor(this.deps.random() * window));
      }
      cand ??= nthFreeBlock(r, known, 0);
      if (!cand) {
        if (!refreshedAfterExhaustion) {
          refreshedAfterExhaustion = true;
          const collected = await collectExpired(this.deps);
          if (collected.length) log.info("collected expired nodes to make room", { nodes: collected });
          taken = await allBlocks(this.deps);
          lostHere.clear();
          continue;
        }
        throw new AllocationError(
          "exhausted",
          `the ${describeRange(r)} has no free /${r.maskSize} block: all ${blockCount(r)} are taken (free one with \`podnet cluster remove-node NAME\`, or use a larger --cluster-cidr or a longer --node-cidr-mask-size)`,
        );
      }
      refreshedAfterExhaustion = false;
      const got = await this.claim(r, cand);
      if (got !== "lost") {
        if (got === "won") log.info("allocated a block", { block: formatNetwork(cand), attempts: k + 1 });
        return got;
      }
      lostHere.add(formatNetwork(cand));
      // The view catches up on its own; re-read now and then in case it cannot (no watch yet).
      if (k % 8 === 7) {
        taken = this.o.taken ? [...this.o.taken()] : await allBlocks(this.deps);
        if (k % 16 === 15) taken = await allBlocks(this.deps);
      } else if (this.o.taken) taken = [...this.o.taken()];
      await this.deps.sleep(Math.floor(this.deps.random() * Math.min(50, 2 ** k)));
    }
  }
}

/**
 * Registers this node: keeps or claims one block per cluster range and writes its record and
 * heartbeat. O(1) writes when the node is new or returning; reads its own record and block keys.
 */
export function joinCluster(deps: AllocatorDeps, o: JoinOptions): Promise<JoinResult> {
  return new Joiner(deps, o).run();
}

/** Rewrites the heartbeat (its lease renewed separately). */
export async function writeHeartbeat(
  deps: Pick<AllocatorDeps, "store" | "keys" | "now">,
  name: string,
  lease: string,
): Promise<void> {
  await deps.store.txn(
    [],
    [{ kind: "put", key: deps.keys.heartbeat(name), value: encodeHeartbeat({ time: deps.now() }), lease }],
  );
}

interface Snapshot {
  records: Map<string, KeyValue>;
  heartbeats: Map<string, KeyValue>;
  blocks: Map<string, KeyValue[]>;
}

async function snapshot(deps: Pick<AllocatorDeps, "store" | "keys">): Promise<Snapshot> {
  const { store, keys } = deps;
  const [nodes, hbs, blocks] = await Promise.all([
    store.list(keys.nodes),
    store.list(keys.heartbeats),
    store.list(keys.blocks),
  ]);
  const byName = (kvs: readonly KeyValue[]) => {
    const m = new Map<string, KeyValue>();
    for (const kv of kvs) {
      const n = keys.nameOf(kv.key);
      if (n) m.set(n, kv);
    }
    return m;
  };
  const b = new Map<string, KeyValue[]>();
  for (const kv of blocks.kvs) if (keys.parseBlock(kv.key)) b.set(kv.value, [...(b.get(kv.value) ?? []), kv]);
  return { records: byName(nodes.kvs), heartbeats: byName(hbs.kvs), blocks: b };
}

/** Deletes `name`'s record, heartbeat and blocks as they were read, or nothing if any changed. */
async function deleteNodeKeys(
  deps: Pick<AllocatorDeps, "store" | "keys">,
  name: string,
  s: Snapshot,
  requireNoHeartbeat: boolean,
): Promise<boolean> {
  const { store, keys } = deps;
  const conds: Condition[] = [];
  const ops: WriteOp[] = [];
  const rec = s.records.get(name);
  const hb = s.heartbeats.get(name);
  conds.push({ kind: "modRevision", key: keys.node(name), equals: rec?.modRevision ?? 0 });
  if (rec) ops.push({ kind: "delete", key: rec.key });
  if (requireNoHeartbeat) conds.push({ kind: "absent", key: keys.heartbeat(name) });
  else if (hb) {
    conds.push({ kind: "modRevision", key: hb.key, equals: hb.modRevision });
    ops.push({ kind: "delete", key: hb.key });
  }
  for (const b of s.blocks.get(name) ?? []) {
    conds.push({ kind: "modRevision", key: b.key, equals: b.modRevision });
    ops.push({ kind: "delete", key: b.key });
  }
  if (ops.length === 0) return true;
  return (await store.txn(conds, ops)).succeeded;
}

/**
 * Frees the blocks and record of every node whose heartbeat has expired (its lease of --node-ttl
 * ran out in etcd, so the rule needs no agreement on clocks). Each node is one compare-and-swap:
 * a node that came back in the meantime has rewritten its keys and is left alone. Returns the
 * names collected.
 */
export async function collectExpired(deps: Pick<AllocatorDeps, "store" | "keys" | "log">): Promise<string[]> {
  const s = await snapshot(deps);
  const names = new Set<string>();
  for (const n of s.records.keys()) if (!s.heartbeats.has(n)) names.add(n);
  for (const n of s.blocks.keys()) if (!s.records.has(n) && !s.heartbeats.has(n)) names.add(n);
  const out: string[] = [];
  for (const n of [...names].sort()) {
    if (await deleteNodeKeys(deps, n, s, true)) {
      out.push(n);
      deps.log.info("freed the blocks of a node absent longer than --node-ttl", {
        node: n,
        blocks: (s.blocks.get(n) ?? [])
          .map((b) => deps.keys.parseBlock(b.key))
          .filter((b) => b)
          .map((b) => formatNetwork(b!)),
      });
    }
  }
  return out;
}

export interface RemoveResult {
  /** false: no such node. */
  readonly removed: boolean;
  readonly blocks: readonly string[];
  /** Its heartbeat was still there: a running node registers again (stop it first). */
  readonly wasAlive: boolean;
}

/** `podnet cluster remove-node NAME`: frees the node's blocks, deletes its record and heartbeat. */
export async function removeNode(deps: Pick<AllocatorDeps, "store" | "keys">, name: string): Promise<RemoveResult> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const s = await snapshot(deps);
    const blocks = (s.blocks.get(name) ?? []).map((b) => deps.keys.parseBlock(b.key)!).map(formatNetwork);
    const exists = s.records.has(name) || s.heartbeats.has(name) || blocks.length > 0;
    if (!exists) return { removed: false, blocks: [], wasAlive: false };
    if (await deleteNodeKeys(deps, name, s, false)) return { removed: true, blocks, wasAlive: s.heartbeats.has(name) };
  }
  throw new AllocationError(
    "contended",
    `remove-node ${name}: its keys kept changing during 10 attempts; is it running? stop it first`,
  );
}

export interface NodeRow {
  readonly name: string;
  readonly nodeIPs: readonly string[];
  readonly podCIDRs: readonly string[];
  readonly backend: Backend;
  /** ms since the epoch (the node's clock); undefined when its heartbeat has expired. */
  readonly lastHeartbeat?: number;
}

/** `podnet cluster nodes`: every node record with its last heartbeat, by name. */
export async function listNodes(deps: Pick<AllocatorDeps, "store" | "keys">): Promise<NodeRow[]> {
  const { store, keys } = deps;
  const [nodes, hbs] = await Promise.all([store.list(keys.nodes), store.list(keys.heartbeats)]);
  const beats = new Map<string, number>();
  for (const kv of hbs.kvs) {
    const n = keys.nameOf(kv.key);
    const h = decodeHeartbeat(kv.value);
    if (n && h) beats.set(n, h.time);
  }
  const rows: NodeRow[] = [];
  for (const kv of nodes.kvs) {
    const n = keys.nameOf(kv.key);
    if (!n) continue;
    let r: NodeRecord;
    try {
      r = decodeRecord(kv.value, n);
    } catch {
      continue;
    }
    const hb = beats.get(n);
    rows.push({
      name: n,
      nodeIPs: r.nodeIPs,
      podCIDRs: r.podCIDRs,
      backend: r.backend,
      ...(hb !== undefined ? { lastHeartbeat: hb } : {}),
    });
  }
  return rows.sort((a, b) => (a.name < b.name ? -1 : 1));
}
