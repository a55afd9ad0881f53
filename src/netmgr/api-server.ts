// The daemon's local HTTP API on a unix socket (JSON), plus Prometheus /metrics:
//   GET    /healthz                  "ok"
//   GET    /v1/node                  plugin, readiness, pod CIDR, warnings
//   POST   /v1/node/pod-cidr         {"podCIDR": "10.200.0.0/24[,fd00:200::/64]"}
//   GET    /v1/pods                  {"pods": [...]}
//   POST   /v1/pods                  {"pod": <Pod object>, "netns"?: "/run/netns/x"}  → 201
//   GET    /v1/pods/NS/NAME          one pod, with a fresh status from the plugin
//   DELETE /v1/pods/NS/NAME          tear down
//   GET    /metrics                  text exposition format
// Errors: {"error": "...", "field"?: "..."} with 400/404/409/500/503.
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Logger, nullLogger } from "./log.js";
import { METRICS_CONTENT_TYPE } from "./metrics.js";
import { ManifestError, podFromObject } from "./pod-manifest.js";
import { PodError, type PodRuntime } from "./runtime.js";
import { ApiError } from "./api-error.js";

export const MAX_BODY_BYTES = 1 << 20;

export interface ApiDeps {
  readonly runtime: PodRuntime;
  readonly nodeInfo: () => Record<string, unknown>;
  readonly metrics: () => string;
  readonly log?: Logger;
}


function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on("data", (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY_BYTES) {
        reject(new ApiError(413, `request body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = await readBody(req);
  let o: unknown;
  try {
    o = JSON.parse(text || "{}");
  } catch (e) {
    throw new ApiError(400, `request body is not JSON: ${(e as Error).message}`);
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw new ApiError(400, "request body must be a JSON object");
  return o as Record<string, unknown>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === "string" ? body : JSON.stringify(body, null, 2) + "\n";
  res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json" });
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
    if (m === "GET" && url.pathname === "/healthz") return send(res, 200, "ok\n");
    if (m === "GET" && url.pathname === "/metrics") {
      res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE });
      res.end(deps.metrics());
      return;
    }
    if (parts[0] !== "v1") throw new ApiError(404, `no such endpoint: ${m} ${url.pathname}`);
    if (parts[1] === "node" && parts.length === 2 && m === "GET") return send(res, 200, deps.nodeInfo());
    if (parts[1] === "node" && parts[2] === "pod-cidr" && parts.length === 3 && m === "POST") {
      const b = await jsonBody(req);
      if (typeof b["podCIDR"] !== "string") throw new ApiError(400, `podCIDR: must be a string, got ${JSON.stringify(b["podCIDR"]) ?? "nothing"}`, "podCIDR");
      return send(res, 200, { podCIDR: rt.setPodCIDR(b["podCIDR"]) });
    }
    if (parts[1] === "pods" && parts.length === 2) {
      if (m === "GET") return send(res, 200, { pods: rt.listPods() });
      if (m === "POST") {
        const b = await jsonBody(req);
        const netns = b["netns"];
        if (netns !== undefined && typeof netns !== "string") throw new ApiError(400, `netns: must be a string, got ${JSON.stringify(netns)}`, "netns");
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
      } else if (e instanceof ManifestError) {
        status = 400;
        field = e.field;
      } else if (e instanceof PodError) {
        status = e.status;
      }
      const message = e instanceof Error ? e.message : String(e);
      if (status >= 500) log.error("request failed", { method: req.method, url: req.url, err: e });
      else log.info("request rejected", { method: req.method, url: req.url, status, error: message });
      if (!res.headersSent) send(res, status, { error: message, ...(field !== undefined ? { field } : {}) });
      else res.end();
    });
  };
}
