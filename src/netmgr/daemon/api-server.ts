// The daemon's local HTTP API on a unix socket (JSON), plus Prometheus /metrics and the probes:
//   GET    /healthz                  liveness: "ok"
//   GET    /readyz                   readiness: "ok" once the network plugin is ready, else 503 and why
//   GET    /v1/node                  plugin, readiness, pod CIDR, warnings
//   POST   /v1/node/pod-cidr         {"podCIDR": "10.200.0.0/24[,fd00:200::/64]"} (409 on a cluster node: its block is the pod CIDR)
//   GET    /v1/cluster               cluster networking: this node, its blocks, every peer and whether its routes are in place
//   GET    /v1/pods                  {"pods": [...]}
//   POST   /v1/pods                  {"pod": <Pod object>, "netns"?: "/run/netns/x"}  → 201
//   GET    /v1/pods/NS/NAME          one pod, with a fresh status from the plugin
//   DELETE /v1/pods/NS/NAME          tear down
//   GET    /metrics                  text exposition format
// Errors: {"error": "...", "field"?: "..."} with 400/403/404/409/413/500/503. Bodies are JSON objects of
// at most MAX_BODY_BYTES, read through the bounded JSON reader (src/cni/json.ts).
import type { IncomingMessage, ServerResponse } from "node:http";
import { JsonInputError, brief, formatBytes, plainObject, readJsonObject } from "../../cni/index.js";
import { type Logger, nullLogger } from "../core/log.js";
import { METRICS_CONTENT_TYPE } from "../core/metrics.js";
import { PodManifestError, podFromObject } from "../sandbox/pod-manifest.js";
import { suggestField } from "../sandbox/pod-fields.js";
import { PodError, type PodRuntime } from "../sandbox/runtime.js";
import { ApiError } from "./api-error.js";
import { probeAnswer, type Readiness } from "./metrics-server.js";
import { errorMessage } from "../../util/error-message.js";

/** Largest request body (a Pod is at most ~1.5 MiB in etcd; podnet's bodies are a few KiB). */
export const MAX_BODY_BYTES = 1 << 20;
/**
 * What the server still reads and throws away after a body passed MAX_BODY_BYTES, so that the
 * 413 goes out once the client has sent everything and is reading (answering while the client
 * still writes, then closing, makes its write fail with EPIPE before it reads the answer). A
 * client that sends even more gets the 413 at once and the connection closed.
 */
export const MAX_DISCARD_BYTES = 16 << 20;

export interface ApiDeps {
  readonly runtime: PodRuntime;
  readonly nodeInfo: () => Record<string, unknown>;
  readonly metrics: () => string | Promise<string>;
  /** Why the node is not ready (null: ready), for /readyz. */
  readonly ready: Readiness;
  readonly log?: Logger;
  /** Cluster networking's status (GET /v1/cluster); absent on a node outside a cluster. */
  readonly cluster?: () => Record<string, unknown>;
}

const tooLarge = () => new ApiError(413, `request body larger than ${formatBytes(MAX_BODY_BYTES)}`);

/**
 * The body, at most MAX_BODY_BYTES kept in memory. Beyond that it is counted and dropped, and the
 * promise rejects with a 413 when the body ends — or as soon as it passes MAX_DISCARD_BYTES more
 * (a declared Content-Length that large: before reading anything).
 */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let over = false;
    const giveUp = () => {
      reject(tooLarge());
      req.removeAllListeners("data");
      req.pause();
    };
    if (Number(req.headers["content-length"] ?? 0) > MAX_BODY_BYTES + MAX_DISCARD_BYTES) return giveUp();
    req.on("data", (c: Buffer) => {
      n += c.length;
      if (!over && n > MAX_BODY_BYTES) {
        over = true;
        chunks.length = 0;
      }
      if (!over) chunks.push(c);
      else if (n > MAX_BODY_BYTES + MAX_DISCARD_BYTES) giveUp();
    });
    req.on("end", () => (over ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    req.on("error", reject);
  });
}

/**
 * The body as a JSON object, through the bounded reader (size, depth, plain data), with only the
 * `fields` the endpoint reads: a typo'd field is refused, never silently ignored.
 */
async function jsonBody(req: IncomingMessage, fields: readonly string[]): Promise<Record<string, unknown>> {
  const body = await readBody(req);
  let o: Record<string, unknown>;
  try {
    o = body.length === 0 ? plainObject() : readJsonObject(body, { maxBytes: MAX_BODY_BYTES });
  } catch (e) {
    if (e instanceof JsonInputError) throw new ApiError(400, `request body is not a JSON object: ${e.message}`);
    throw e;
  }
  for (const k of Object.keys(o)) {
    if (fields.includes(k)) continue;
    const hint = suggestField(k, fields);
    const shape = `{${fields.map((f, i) => `${JSON.stringify(f)}${i === 0 ? "" : "?"}: …`).join(", ")}}`;
    throw new ApiError(
      400,
      `${k}: unknown field (${hint ? `did you mean ${JSON.stringify(hint)}?` : `the body is ${shape}`})`,
      k,
    );
  }
  return o;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === "string" ? body : `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json",
  });
  res.end(text);
}

/** The request handler (exported for tests that drive it without a socket). */
export function createApiHandler(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const log = deps.log ?? nullLogger;
  const rt = deps.runtime;
  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://podnet");
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const m = req.method ?? "GET";
    const probe = m === "GET" ? probeAnswer(url.pathname, deps.ready) : undefined;
    if (probe) return send(res, probe.status, probe.body);
    if (m === "GET" && url.pathname === "/metrics") {
      const text = await deps.metrics();
      res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE });
      res.end(text);
      return;
    }
    if (parts[0] !== "v1") throw new ApiError(404, `no such endpoint: ${m} ${url.pathname}`);
    if (parts[1] === "node" && parts.length === 2 && m === "GET") return send(res, 200, deps.nodeInfo());
    if (parts[1] === "node" && parts[2] === "pod-cidr" && parts.length === 3 && m === "POST") {
      if (deps.cluster)
        throw new ApiError(
          409,
          "this node's pod CIDR is its block of the cluster (--cluster-cidr); ask for a block with --pod-cidr at start",
        );
      const b = await jsonBody(req, ["podCIDR"]);
      if (typeof b["podCIDR"] !== "string")
        throw new ApiError(400, `podCIDR: must be a string, got ${brief(b["podCIDR"])}`, "podCIDR");
      return send(res, 200, { podCIDR: rt.setPodCIDR(b["podCIDR"]) });
    }
    if (parts[1] === "cluster" && parts.length === 2 && m === "GET") {
      if (!deps.cluster) throw new ApiError(404, "this node is not part of a cluster (no --cluster-cidr)");
      return send(res, 200, deps.cluster());
    }
    if (parts[1] === "pods" && parts.length === 2) {
      if (m === "GET") return send(res, 200, { pods: rt.listPods() });
      if (m === "POST") {
        const b = await jsonBody(req, ["pod", "netns"]);
        const netns = b["netns"];
        if (netns !== undefined && typeof netns !== "string")
          throw new ApiError(400, `netns: must be a string, got ${brief(netns)}`, "netns");
        if (netns?.includes("\0"))
          throw new ApiError(400, `netns: must not contain a NUL byte, got ${JSON.stringify(netns)}`, "netns");
        const spec = podFromObject(b["pod"]);
        const view = await rt.runPod(spec, netns !== undefined ? { netns } : {});
        return send(res, 201, view);
      }
    }
    if (parts[1] === "pods" && parts.length === 4) {
      const [ns, name] = [parts[2]!, parts[3]!];
      if (m === "GET") return send(res, 200, await rt.podStatus(ns, name));
      if (m === "DELETE") return send(res, 200, await rt.stopPod(ns, name));
    }
    throw new ApiError(404, `no such endpoint: ${m} ${url.pathname}`);
  }
  return (req, res) => {
    route(req, res).catch((e: unknown) => {
      let status = 500;
      let field: string | undefined;
      if (e instanceof ApiError) {
        status = e.status;
        field = e.field;
      } else if (e instanceof PodManifestError) {
        status = 400;
        field = e.field;
      } else if (e instanceof PodError) {
        status = e.status;
      }
      const message = errorMessage(e);
      if (status >= 500) log.error("request failed", { method: req.method, url: req.url, err: e });
      else log.info("request rejected", { method: req.method, url: req.url, status, error: message });
      // After a 413 the connection closes once the answer is out (the body may not have been read).
      if (status === 413) res.setHeader("connection", "close");
      if (!res.headersSent) send(res, status, { error: message, ...(field !== undefined ? { field } : {}) });
      else res.end();
    });
  };
}
