// The ClusterStore over etcd v3's gRPC API, through the `etcd3` client's connection pool (endpoint
// list with fail-over, TLS credentials, retries of idempotent calls) and its generated RPC stubs.
// The watch is driven here on the raw Watch stream rather than etcd3's Watcher: podnet resumes a
// broken watch from the revision after the last event it delivered (as etcd's Go client does),
// and tells a compacted start revision (the watch must re-list) from a broken connection.
import { Etcd3, type IOptions } from "etcd3";
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
import { StoreError, prefixEnd } from "./store.js";
import { Backoff } from "./backoff.js";
import { ClusterConfigError } from "./blocks.js";

export interface EtcdTls {
  /** PEM: the CA that signed the servers' certificates (--etcd-cafile). */
  readonly ca: Buffer;
  /** PEM client certificate and key (--etcd-certfile, --etcd-keyfile), both or neither. */
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export interface EtcdStoreOptions {
  /** http://host:port, https://host:port or unix:///path (--etcd-endpoints). */
  readonly endpoints: readonly string[];
  readonly tls?: EtcdTls;
  /** Deadline of each unary call (default 5 s). */
  readonly requestTimeoutMs?: number;
  /** A connection of its own instead of one shared with other clients to the same endpoints (simulations). */
  readonly ownConnection?: boolean;
  /** Wall clock for deadlines (default Date.now). */
  readonly now?: () => number;
}

/** Checks "--etcd-endpoints=URL[,URL…]": one scheme for all, host:port or a unix socket path. */
export function parseEtcdEndpoints(text: string, field = "--etcd-endpoints"): string[] {
  const list = text.split(",").map((s) => s.trim());
  if (list.length === 0 || list.some((s) => s === ""))
    throw new ClusterConfigError(field, `${JSON.stringify(text)} is not a comma-separated list of URLs`);
  const schemes = new Set<string>();
  for (const e of list) {
    const m =
      /^(https?):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})\/?$/.exec(e) ?? /^(unix):\/\/(\/[^\0]+)$/.exec(e);
    if (!m)
      throw new ClusterConfigError(
        field,
        `${JSON.stringify(e)} is not http://HOST:PORT, https://HOST:PORT or unix:///PATH`,
      );
    if (m[1] !== "unix" && Number(m[3]) > 65535)
      throw new ClusterConfigError(field, `${JSON.stringify(e)}: port ${m[3]} is not in 1..65535`);
    schemes.add(m[1] === "unix" ? "http" : m[1]!);
  }
  if (schemes.size > 1) throw new ClusterConfigError(field, `${JSON.stringify(text)} mixes http and https endpoints`);
  return list;
}

/** Reads the TLS files as flannel and the API server take them (--etcd-cafile/certfile/keyfile). */
export async function loadEtcdTls(
  files: { cafile?: string; certfile?: string; keyfile?: string },
  readFile: (path: string) => Promise<Buffer>,
): Promise<EtcdTls | undefined> {
  const { cafile, certfile, keyfile } = files;
  if (!cafile && !certfile && !keyfile) return undefined;
  if (!cafile) throw new ClusterConfigError("--etcd-cafile", "is required with --etcd-certfile/--etcd-keyfile");
  if (!certfile !== !keyfile)
    throw new ClusterConfigError(
      certfile ? "--etcd-keyfile" : "--etcd-certfile",
      "--etcd-certfile and --etcd-keyfile go together",
    );
  const read = async (flag: string, path: string) => {
    try {
      const b = await readFile(path);
      if (b.length > 1 << 20) throw new Error(`${b.length} bytes is more than 1 MiB`);
      if (!b.toString("latin1").includes("-----BEGIN ")) throw new Error("not PEM");
      return b;
    } catch (e) {
      throw new ClusterConfigError(flag, `${path}: ${(e as Error).message}`);
    }
  };
  return {
    ca: await read("--etcd-cafile", cafile),
    ...(certfile && keyfile
      ? { cert: await read("--etcd-certfile", certfile), key: await read("--etcd-keyfile", keyfile) }
      : {}),
  };
}

const CREATE = 1; // etcdserverpb.Compare.CompareTarget
const MOD = 2;
const EQUAL = 0; // etcdserverpb.Compare.CompareResult

function toStoreError(e: unknown, what: string): StoreError {
  if (e instanceof StoreError) return e;
  const err = e as Error & { code?: number };
  const msg = err?.message ?? String(e);
  if (/lease not found|requested lease not found/i.test(msg) || err?.name === "EtcdLeaseInvalidError")
    return new StoreError("lease-not-found", `etcd: ${what}: ${msg}`, { cause: e });
  if (/too many operations/i.test(msg)) return new StoreError("invalid", `etcd: ${what}: ${msg}`, { cause: e });
  return new StoreError("unavailable", `etcd: ${what}: ${msg}`, { cause: e });
}

interface RawKv {
  key: Buffer;
  value: Buffer;
  create_revision: string;
  mod_revision: string;
  lease: string;
}

const kvOf = (k: RawKv): KeyValue => ({
  key: k.key.toString("utf8"),
  value: k.value.toString("utf8"),
  createRevision: Number(k.create_revision),
  modRevision: Number(k.mod_revision),
  lease: k.lease && k.lease !== "0" ? String(k.lease) : "",
});

/** A gRPC duplex stream as grpc-js hands it out (a Node Duplex). */
interface RawStream extends NodeJS.EventEmitter {
  write(msg: unknown): boolean;
  end(): void;
  /** Cancels the call: a half-closed watch stays open on etcd's side and keeps the channel (and the process) alive. */
  cancel?(): void;
}

/** Ends a stream for good: no more events, errors swallowed, the call cancelled. */
function dropStream(s: RawStream | undefined): void {
  if (!s) return;
  s.removeAllListeners();
  s.on("error", () => {});
  s.end();
  s.cancel?.();
}

/** Request and byte counters (for benchmarks and the daemon's debug output). */
export interface EtcdStoreCounters {
  requests: number;
  watchEvents: number;
  watchResponses: number;
}

export class EtcdStore implements ClusterStore {
  private readonly client: Etcd3;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly watches = new Set<{ close(): void }>();
  private closed = false;
  readonly counters: EtcdStoreCounters = { requests: 0, watchEvents: 0, watchResponses: 0 };

  constructor(o: EtcdStoreOptions) {
    if (o.endpoints.length === 0) throw new ClusterConfigError("--etcd-endpoints", "no endpoint given");
    this.timeoutMs = o.requestTimeoutMs ?? 5000;
    this.now = o.now ?? Date.now;
    const opts: IOptions = {
      hosts: [...o.endpoints],
      dialTimeout: this.timeoutMs,
      grpcOptions: {
        "grpc.max_receive_message_length": 64 << 20,
        ...(o.ownConnection ? { "grpc.use_local_subchannel_pool": 1 } : {}),
      },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: this.now() + this.timeoutMs }),
      ...(o.tls
        ? {
            credentials: {
              rootCertificate: o.tls.ca,
              ...(o.tls.cert && o.tls.key ? { certChain: o.tls.cert, privateKey: o.tls.key } : {}),
            },
          }
        : {}),
    };
    this.client = new Etcd3(opts);
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError("unavailable", `etcd: ${what}: the client is closed`);
    this.counters.requests++;
    try {
      return await fn();
    } catch (e) {
      throw toStoreError(e, what);
    }
  }

  get(key: string): Promise<KeyValue | undefined> {
    return this.call(`get ${key}`, async () => {
      const r = await this.client.kv.range({ key: Buffer.from(key) });
      const k = (r.kvs as unknown as RawKv[])[0];
      return k ? kvOf(k) : undefined;
    });
  }

  list(prefix: string): Promise<ListResult> {
    return this.call(`list ${prefix}`, async () => {
      const r = await this.client.kv.range({ key: Buffer.from(prefix), range_end: Buffer.from(prefixEnd(prefix)) });
      return { revision: Number(r.header.revision), kvs: (r.kvs as unknown as RawKv[]).map(kvOf) };
    });
  }

  txn(conditions: readonly Condition[], ops: readonly WriteOp[], elseGet: readonly string[] = []): Promise<TxnResult> {
    return this.call("txn", async () => {
      const compare = conditions.map((c) =>
        c.kind === "absent"
          ? {
              key: Buffer.from(c.key),
              ...(c.rangeEnd !== undefined ? { range_end: Buffer.from(c.rangeEnd) } : {}),
              target: CREATE,
              result: EQUAL,
              create_revision: "0",
            }
          : { key: Buffer.from(c.key), target: MOD, result: EQUAL, mod_revision: String(c.equals) },
      );
      const success = ops.map((op) =>
        op.kind === "put"
          ? {
              request_put: {
                key: Buffer.from(op.key),
                value: Buffer.from(op.value),
                ...(op.lease ? { lease: op.lease } : {}),
              },
            }
          : { request_delete_range: { key: Buffer.from(op.key) } },
      );
      const failure = elseGet.map((k) => ({ request_range: { key: Buffer.from(k) } }));
      const r = await this.client.kv.txn({ compare, success, failure });
      if (r.succeeded) return { succeeded: true, revision: Number(r.header.revision) };
      const responses = (r.responses ?? []) as unknown as Array<{ response_range?: { kvs: RawKv[] } }>;
      const elseKvs = elseGet.map((_, i) => {
        const k = responses[i]?.response_range?.kvs?.[0];
        return k ? kvOf(k) : undefined;
      });
      return { succeeded: false, revision: Number(r.header.revision), elseKvs };
    });
  }

  delete(key: string): Promise<boolean> {
    return this.call(`delete ${key}`, async () => {
      const r = await this.client.kv.deleteRange({ key: Buffer.from(key) });
      return Number(r.deleted) > 0;
    });
  }

  grantLease(ttlSeconds: number): Promise<Lease> {
    return this.call("lease grant", async () => {
      const r = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 });
      if (r.error) throw new StoreError("invalid", `etcd: lease grant: ${r.error}`);
      return { id: String(r.ID), ttlSeconds: Number(r.TTL) };
    });
  }

  keepAlive(lease: Lease): Promise<void> {
    return this.call(`lease keep-alive ${lease.id}`, async () => {
      const stream = (await this.client.leaseClient.leaseKeepAlive()) as unknown as RawStream;
      try {
        const res = await new Promise<{ TTL: string }>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no answer in ${this.timeoutMs} ms`)), this.timeoutMs);
          stream.once("data", (d: { TTL: string }) => {
            clearTimeout(timer);
            resolve(d);
          });
          stream.once("error", (e: Error) => {
            clearTimeout(timer);
            reject(e);
          });
          stream.write({ ID: lease.id });
        });
        if (Number(res.TTL) <= 0)
          throw new StoreError("lease-not-found", `etcd: lease ${lease.id} not found (expired or revoked)`);
      } finally {
        dropStream(stream);
      }
    });
  }

  revokeLease(lease: Lease): Promise<void> {
    return this.call(`lease revoke ${lease.id}`, async () => {
      await this.client.leaseClient.leaseRevoke({ ID: lease.id });
    });
  }

  /** Compacts the key history up to `revision` (tests; etcd's --auto-compaction does it in production). */
  compact(revision: number): Promise<void> {
    return this.call("compact", async () => {
      await this.client.kv.compact({ revision: String(revision), physical: true });
    });
  }

  watch(prefix: string, fromRevision: number, handler: WatchHandler): Watch {
    let next = fromRevision;
    let closed = false;
    let stream: RawStream | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const backoff = new Backoff({ initialMs: 100, maxMs: 5000 });
    const w = {
      close: () => {
        closed = true;
        this.watches.delete(w);
        if (timer) clearTimeout(timer);
        const s = stream;
        stream = undefined;
        dropStream(s);
      },
    };
    const restart = (err: Error) => {
      if (closed) return;
      const s = stream;
      stream = undefined;
      dropStream(s);
      handler.onRestart?.(err);
      timer = setTimeout(() => void open(), backoff.next());
    };
    const open = async () => {
      if (closed) return;
      this.counters.requests++;
      let s: RawStream;
      try {
        s = (await this.client.watchClient.watch()) as unknown as RawStream;
      } catch (e) {
        restart(toStoreError(e, "watch"));
        return;
      }
      if (closed) {
        dropStream(s);
        return;
      }
      stream = s;
      s.on(
        "data",
        (res: {
          created?: boolean;
          canceled?: boolean;
          compact_revision?: string;
          cancel_reason?: string;
          events?: Array<{ type: string | number; kv: RawKv }>;
          header?: { revision: string };
        }) => {
          if (closed || stream !== s) return;
          this.counters.watchResponses++;
          if (res.canceled) {
            const compacted = Number(res.compact_revision ?? 0);
            if (compacted > 0) {
              w.close();
              handler.onCompacted(compacted);
            } else
              restart(
                new StoreError(
                  "unavailable",
                  `etcd: watch ${prefix} canceled: ${res.cancel_reason || "no reason given"}`,
                ),
              );
            return;
          }
          if (res.created) backoff.reset();
          const evs = res.events ?? [];
          if (evs.length === 0) return;
          const out: WatchEvent[] = evs.map((e) => {
            const del = e.type === "Delete" || e.type === "DELETE" || e.type === 1;
            const kv = kvOf(e.kv);
            return {
              type: del ? "delete" : "put",
              key: kv.key,
              value: del ? "" : kv.value,
              modRevision: kv.modRevision,
            };
          });
          this.counters.watchEvents += out.length;
          const last = out[out.length - 1]!.modRevision;
          next = last + 1;
          handler.onEvents(out, last);
        },
      );
      s.on("error", (e: Error) => restart(toStoreError(e, `watch ${prefix}`)));
      s.on("end", () => restart(new StoreError("unavailable", `etcd: watch ${prefix}: stream ended`)));
      s.write({
        create_request: {
          key: Buffer.from(prefix),
          range_end: Buffer.from(prefixEnd(prefix)),
          start_revision: String(next),
        },
      });
    };
    this.watches.add(w);
    void open();
    return w;
  }

  close(): void {
    this.closed = true;
    for (const w of [...this.watches]) w.close();
    this.client.close();
  }
}
