// The daemons' read-only HTTP endpoints for Prometheus and probes, over TCP on
// --metrics-bind-address (off unless given):
//   GET /metrics   the text exposition format
//   GET /healthz   liveness: "ok" while the daemon's event loop answers
//   GET /readyz    readiness: "ok" once the network plugin is ready (podnet node) or the launchers'
//                  socket is served (podnet resident); 503 with the reason before
// Nothing else: no pod API, no request body is read. The unix-socket API answers /healthz and
// /readyz the same way (probeAnswer). What may bind where: docs/security.md, "Metrics".
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Logger, nullLogger } from "../core/log.js";
import type { BindAddress } from "./bind-address.js";

/** Why the daemon is not ready (null: ready). */
export type Readiness = () => string | null;

/** The answer to a probe path (/healthz, /readyz), or undefined for any other path. */
export function probeAnswer(path: string, ready: Readiness): { status: number; body: string } | undefined {
  if (path === "/healthz") return { status: 200, body: "ok\n" };
  if (path === "/readyz") {
    const why = ready();
    return why === null ? { status: 200, body: "ok\n" } : { status: 503, body: `not ready: ${why}\n` };
  }
  return undefined;
}

export interface MetricsHandlerDeps {
  readonly render: () => Promise<string>;
  readonly contentType: string;
  readonly ready: Readiness;
  readonly log?: Logger;
}

function answer(
  res: ServerResponse,
  status: number,
  body: string,
  head: boolean,
  type = "text/plain; charset=utf-8",
): void {
  res.writeHead(status, {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(head ? undefined : body);
}

/** The request handler of the TCP endpoints (exported for tests that drive it without TCP). */
export function createMetricsHandler(deps: MetricsHandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const log = deps.log ?? nullLogger;
  return (req, res) => {
    const method = req.method ?? "GET";
    // only the path: the query is ignored, a path that is not ours is a 404
    const path = (req.url ?? "/").split("?")[0]!;
    req.resume(); // a body is never read
    if (method !== "GET" && method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      return answer(res, 405, "only GET and HEAD\n", false);
    }
    const head = method === "HEAD";
    const probe = probeAnswer(path, deps.ready);
    if (probe) return answer(res, probe.status, probe.body, head);
    if (path !== "/metrics")
      return answer(res, 404, "not found: this address serves /metrics, /healthz and /readyz\n", head);
    deps.render().then(
      (text) => answer(res, 200, text, head, deps.contentType),
      (e: unknown) => {
        log.error("rendering /metrics failed", { err: e });
        answer(res, 500, "rendering the metrics failed (see the daemon's log)\n", head);
      },
    );
  };
}

export interface MetricsServer {
  /** Where it listens (the port bound, when 0 was asked for). */
  readonly address: BindAddress;
  close(): Promise<void>;
}

/** Connections at once; more wait in the kernel's backlog. */
export const MAX_METRICS_CONNECTIONS = 64;

/** Listens on `at` (TCP) and serves `handler` there; rejects when the address cannot be bound. */
export function serveMetrics(
  at: BindAddress,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<MetricsServer> {
  const server: Server = createServer({ maxHeaderSize: 8 * 1024 }, handler);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = MAX_METRICS_CONNECTIONS;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: at.host, port: at.port, exclusive: true, ipv6Only: at.host.includes(":") }, () => {
      server.off("error", reject);
      const a = server.address() as AddressInfo;
      resolve({
        address: { host: at.host, port: a.port },
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
