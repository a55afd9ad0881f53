// The resident plugin server: answers launcher requests by running podnet's plugin functions
// in-process through the same SDK dispatcher a plugin executable uses (handle(), host.ts), on a
// PluginHost (host.ts): the daemons' worker threads, so that a call waiting in the kernel holds up
// neither this thread nor any other pod's call.
//
// The socket is the kernel layer's safe unix listener (root only, plus an optional group, checked
// with SO_PEERCRED on every connection). A request is read as it streams in, bounded as it goes
// (protocol.ts); one that is malformed or too large is answered with a CNI error at once. Calls of
// one attachment (plugin, container ID, interface) run one after another in arrival order — a DEL
// sent after an ADD that its runtime gave up on still runs after that ADD — and calls of different
// attachments run side by side. A request whose launcher has already gone (it timed out, or was
// killed) is not started: checked when it arrives and again when a worker takes it.
import type { Socket } from "node:net";
import { CniCode, CniError } from "../cni/index.js";
import { clientGone, describePeer, listenUnix, type SocketGroup, type UnixListener } from "../kernel/unix-listener.js";
import { KeyedMutex } from "../util/keyed-mutex.js";
import type { HostResponse, PluginHost } from "./host.js";
import { ProtocolError, RequestDecoder, encodeResponse, type LaunchRequest } from "./protocol.js";

export interface ServeStats {
  /** Requests run. */
  calls: number;
  /** Of those, the ones that answered an error. */
  errors: number;
  /** Requests not started because their launcher had gone. */
  skipped: number;
  /** Malformed or oversized requests, answered with a CNI error. */
  malformed: number;
  /** Connections refused by the peer check. */
  rejected: number;
}

export const newServeStats = (): ServeStats => ({ calls: 0, errors: 0, skipped: 0, malformed: 0, rejected: 0 });

/** A connection that sends nothing for this long is dropped. */
export const REQUEST_IDLE_TIMEOUT_MS = 60_000;

/** The answer to a request that could not be read: a CNI error, as a plugin would print it. */
export function errorResponse(code: number, msg: string): Buffer {
  return encodeResponse({ code: 1, stdout: JSON.stringify(new CniError(code, msg).toWire()), stderr: "" });
}

export interface ServeOptions {
  readonly stats?: ServeStats;
  /** Members of this group may use the socket too. */
  readonly group?: SocketGroup;
  /** Problems worth a line in the log (bad requests, refused peers, skipped calls). */
  readonly onError?: (e: Error) => void;
  /** Whether a connection's launcher has gone (default clientGone: one poll(2), nothing read). */
  readonly gone?: (conn: Socket) => boolean;
  /** Each request run (the daemons' metrics): the plugin and CNI_COMMAND as sent, whether it answered without error, how long it took. */
  readonly onCall?: (c: { plugin: string; command: string; ok: boolean; seconds: number }) => void;
  /** Each request not run, with why (what `stats` counts as malformed, skipped and rejected). */
  readonly onRefused?: (reason: "malformed" | "skipped" | "rejected") => void;
}

/**
 * The attachment a call acts on, for ordering calls (undefined: no container — VERSION, STATUS,
 * GC — nothing to order). The plugin is part of it: a plugin the daemon runs may call another
 * through a launcher (an IPAM plugin) for the same container, and must not wait for itself.
 */
export function attachmentKey(req: LaunchRequest): string | undefined {
  const id = req.env["CNI_CONTAINERID"];
  return id ? `${req.plugin}\0${id}\0${req.env["CNI_IFNAME"] ?? ""}` : undefined;
}

/** PODNET_TRACE=1: where a resident call's time went outside the plugin (its own line says what it did). */
function traceLine(req: LaunchRequest, ordered: number, res: HostResponse, total: number): string {
  const queued = res.queuedMs ?? 0;
  const run = res.runMs ?? total;
  const f = (ms: number) => `${Math.max(0, ms).toFixed(2)}ms`;
  return `podnet trace resident ${req.plugin} ${req.env["CNI_COMMAND"] ?? ""}: order=${f(ordered)} queue=${f(queued)} handoff=${f(total - ordered - queued - run)} run=${f(run)} total=${f(total)}\n`;
}

/** Reads, checks and runs one launcher request on an accepted connection. */
function serveConnection(conn: Socket, host: PluginHost, order: KeyedMutex, opts: ServeOptions): void {
  const stats = opts.stats;
  const gone = opts.gone ?? ((c: Socket) => clientGone(c));
  const dec = new RequestDecoder();
  let failed = false;
  const refuse = (e: Error) => {
    failed = true;
    if (stats) stats.malformed++;
    opts.onRefused?.("malformed");
    opts.onError?.(e);
    const code = e instanceof ProtocolError ? e.cniCode : CniCode.DecodingFailure;
    // Answer and close at once: the launcher's blocked write fails (EPIPE) and it reads this.
    conn.end(errorResponse(code, `podnet daemon: bad request: ${e.message}`), () => conn.destroy());
  };
  const skip = (req: LaunchRequest) => {
    if (stats) stats.skipped++;
    opts.onRefused?.("skipped");
    opts.onError?.(new Error(`skipped ${req.plugin} ${req.env["CNI_COMMAND"] ?? ""}: its launcher has gone`));
    conn.destroy();
  };
  conn.setTimeout(REQUEST_IDLE_TIMEOUT_MS, () => conn.destroy());
  conn.on("error", (e) => opts.onError?.(e));
  conn.on("data", (c: Buffer) => {
    if (failed) return;
    try {
      dec.push(c);
    } catch (e) {
      refuse(e as Error);
    }
  });
  conn.on("end", () => {
    if (failed) return;
    conn.setTimeout(0);
    if (dec.empty) {
      conn.destroy(); // a liveness probe (another daemon checking the socket), not a request
      return;
    }
    let req: LaunchRequest;
    try {
      req = dec.end();
    } catch (e) {
      refuse(e as Error);
      return;
    }
    if (gone(conn)) return skip(req);
    const key = attachmentKey(req);
    const t0 = performance.now();
    const run = async (): Promise<void> => {
      const release = key !== undefined ? await order.acquire(key) : undefined;
      const ordered = performance.now() - t0;
      try {
        // Asked again when a worker takes the call: it may have waited for its attachment or a worker.
        const res = await host.call(req, { stillWanted: () => !gone(conn) });
        if (res.skipped) return skip(req);
        if (stats) {
          stats.calls++;
          if (res.code !== 0) stats.errors++;
        }
        opts.onCall?.({
          plugin: req.plugin,
          command: req.env["CNI_COMMAND"] ?? "",
          ok: res.code === 0,
          seconds: (performance.now() - t0) / 1000,
        });
        const trace = req.env["PODNET_TRACE"] === "1" ? traceLine(req, ordered, res, performance.now() - t0) : "";
        conn.end(encodeResponse(trace ? { ...res, stderr: res.stderr + trace } : res));
      } finally {
        release?.();
      }
    };
    run().catch((e: Error) => {
      opts.onError?.(e);
      conn.destroy();
    });
  });
}

/** Serves the plugins of `host` on the unix socket `socketPath` (see src/kernel/unix-listener.ts). */
export function serveResident(socketPath: string, host: PluginHost, opts: ServeOptions = {}): Promise<UnixListener> {
  const order = new KeyedMutex();
  return listenUnix(socketPath, (conn) => serveConnection(conn, host, order, opts), {
    // the launcher shuts down its side after the request; we still answer
    allowHalfOpen: true,
    ...(opts.group ? { group: opts.group } : {}),
    onReject: (peer) => {
      if (opts.stats) opts.stats.rejected++;
      opts.onRefused?.("rejected");
      opts.onError?.(
        new Error(
          `refused a connection on ${socketPath} from ${describePeer(peer)}: not root${opts.group ? ` or group ${opts.group.name}` : ""}`,
        ),
      );
    },
  });
}
