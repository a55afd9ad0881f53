// A client for the daemon's unix-socket API (used by `podnet pod` and `podnet demo`).
import { request } from "node:http";
import { MAX_JSON_BYTES, readJson } from "../../cni/index.js";
import { ApiError } from "./api-error.js";
import type { PodSpec } from "../sandbox/pod-manifest.js";
import type { PodStatusView, PodView } from "../sandbox/runtime.js";

export { ApiError };

export interface ApiClient {
  node(): Promise<Record<string, unknown>>;
  setPodCIDR(podCIDR: string): Promise<{ podCIDR: string }>;
  listPods(): Promise<PodView[]>;
  /** `pod` is a Pod object (or a PodSpec-shaped one: the daemon validates either). */
  addPod(pod: unknown, netns?: string): Promise<PodView>;
  podStatus(namespace: string, name: string): Promise<PodStatusView>;
  deletePod(namespace: string, name: string): Promise<PodView>;
  metrics(): Promise<string>;
  /** GET /v1/cluster (404 ApiError on a node outside a cluster). */
  cluster(): Promise<Record<string, unknown>>;
  healthy(): Promise<boolean>;
  /** /readyz: the status (200 ready, 503 not) and the text ("ok", or "not ready: …"). */
  readyz(): Promise<{ status: number; text: string }>;
}

export function createApiClient(socketPath: string, opts: { timeoutMs?: number } = {}): ApiClient {
  const guarded = new WeakSet<object>();
  function call(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          socketPath,
          path,
          method,
          headers: payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {},
          timeout: opts.timeoutMs ?? 300_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let n = 0;
          res.on("data", (c: Buffer) => {
            n += c.length;
            if (n > MAX_JSON_BYTES)
              req.destroy(new Error(`the answer from ${socketPath} is larger than ${MAX_JSON_BYTES} bytes`));
            else chunks.push(c);
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () =>
        req.destroy(new Error(`no answer from ${socketPath} within ${opts.timeoutMs ?? 300_000} ms`)),
      );
      // The daemon may answer (413) before the whole body is written and then close: the rest
      // of the write fails on a socket the finished request has let go of. The answer counts.
      req.on("socket", (s) => {
        if (guarded.has(s)) return; // a kept-alive socket serves many requests
        guarded.add(s);
        s.on("error", () => {});
      });
      req.on("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT" || e.code === "ECONNREFUSED")
          reject(
            new Error(`cannot reach podnet node at ${socketPath} (${e.code}); is \`podnet node\` running?`, {
              cause: e,
            }),
          );
        else reject(e);
      });
      req.end(payload);
    });
  }
  async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await call(method, path, body);
    let o: unknown;
    try {
      o = readJson(r.text, { nullPrototypes: false });
    } catch {
      o = undefined;
    }
    if (r.status >= 400) {
      const e = o as { error?: string; field?: string } | undefined;
      throw new ApiError(r.status, e?.error ?? (r.text.trim() || `HTTP ${r.status}`), e?.field);
    }
    return o as T;
  }
  const p = (ns: string, name: string) => `/v1/pods/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
  return {
    node: () => json("GET", "/v1/node"),
    setPodCIDR: (podCIDR) => json("POST", "/v1/node/pod-cidr", { podCIDR }),
    listPods: async () => (await json<{ pods: PodView[] }>("GET", "/v1/pods")).pods,
    addPod: (pod, netns) => json("POST", "/v1/pods", { pod, ...(netns !== undefined ? { netns } : {}) }),
    podStatus: (ns, name) => json("GET", p(ns, name)),
    deletePod: (ns, name) => json("DELETE", p(ns, name)),
    metrics: async () => (await call("GET", "/metrics")).text,
    cluster: () => json("GET", "/v1/cluster"),
    readyz: () => call("GET", "/readyz"),
    async healthy() {
      try {
        return (await call("GET", "/healthz")).status === 200;
      } catch {
        return false;
      }
    },
  };
}

/** A PodSpec back into the Pod object the API takes (for callers that built a PodSpec). */
export function podObject(s: PodSpec): Record<string, unknown> {
  const ports = s.portMappings.map((p) => ({
    containerPort: p.containerPort,
    ...(p.hostPort ? { hostPort: p.hostPort } : {}),
    protocol: p.protocol,
    ...(p.hostIP ? { hostIP: p.hostIP } : {}),
  }));
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: s.name,
      namespace: s.namespace,
      ...(s.uid ? { uid: s.uid } : {}),
      annotations: { ...s.annotations },
    },
    spec: { hostNetwork: s.hostNetwork, containers: [{ name: "main", ...(ports.length ? { ports } : {}) }] },
  };
}
