// The daemon API's request bodies: bounded (413 that reaches the client), read through the JSON
// reader (depth, position-only errors, plain data), and a netns with a NUL refused.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiHandler, MAX_BODY_BYTES } from "./api-server.js";
import { ApiError, createApiClient } from "./api-client.js";
import type { PodRuntime } from "../sandbox/runtime.js";
import type { PodSpec } from "../sandbox/pod-manifest.js";

async function withApi(
  fn: (sock: string, calls: Array<{ spec: PodSpec; netns?: string }>) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "podnet-t-api-"));
  const sock = join(dir, "api.sock");
  const calls: Array<{ spec: PodSpec; netns?: string }> = [];
  const runtime = {
    runPod: async (spec: PodSpec, o: { netns?: string }) => {
      calls.push({ spec, ...o });
      return { name: spec.name };
    },
    listPods: () => [],
  } as unknown as PodRuntime;
  const server = createServer(
    createApiHandler({ runtime, nodeInfo: () => ({}), metrics: () => "", ready: () => null }),
  );
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    await fn(sock, calls);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A raw POST (the client's own limits stay out of the way). */
function post(
  sock: string,
  path: string,
  body: Buffer | string,
  headers: Record<string, string | number> = {},
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: sock, path, method: "POST", headers: { "content-type": "application/json", ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on("error", reject);
    req.on("socket", (s) => s.on("error", () => {})); // as the API client: an answer may come before the end of the body
    req.end(body);
  });
}

const POD = { metadata: { name: "web" }, spec: { containers: [{ name: "c" }] } };

describe("API request bodies", () => {
  it(`a body over ${MAX_BODY_BYTES} bytes gets a 413 with a JSON message, which reaches the client`, () =>
    withApi(async (sock, calls) => {
      const c = createApiClient(sock);
      for (const mib of [1.5, 8, 40]) {
        await assert.rejects(c.addPod({ ...POD, pad: "x".repeat(mib * 1024 * 1024) }), (e: unknown) => {
          assert.ok(e instanceof ApiError, `${mib} MiB: ${String(e)}`);
          assert.equal(e.status, 413);
          assert.equal(e.message, "request body larger than 1 MiB");
          return true;
        });
      }
      const r = await post(sock, "/v1/pods", Buffer.alloc(MAX_BODY_BYTES + 1, " "));
      assert.equal(r.status, 413);
      assert.equal(r.headers["connection"], "close");
      assert.deepEqual(JSON.parse(r.text), { error: "request body larger than 1 MiB" });
      assert.equal(calls.length, 0);
      // A body of exactly the limit is read.
      const ok = JSON.stringify({ pod: POD, padding: "" });
      const exact = ok.replace('"padding":""', `"padding":"${"x".repeat(MAX_BODY_BYTES - ok.length)}"`);
      assert.equal(Buffer.byteLength(exact), MAX_BODY_BYTES);
      const r2 = await post(sock, "/v1/pods", exact);
      assert.equal(r2.status, 400, "read, then refused for its unknown field");
      assert.deepEqual(JSON.parse(r2.text), {
        error: 'padding: unknown field (the body is {"pod": …, "netns"?: …})',
        field: "padding",
      });
    }));

  it("a deeply nested body is a 400 naming the position, not a stack overflow", () =>
    withApi(async (sock, calls) => {
      const r = await post(sock, "/v1/pods", `{"pod": ${"[".repeat(500_000)}${"]".repeat(500_000)}}`);
      assert.equal(r.status, 400);
      assert.deepEqual(JSON.parse(r.text), {
        error: "request body is not a JSON object: nesting deeper than 1000 levels at line 1, column 1008 (byte 1007)",
      });
      const bad = await post(sock, "/v1/pods", '{"pod": {"metadata": SECRET}}');
      assert.equal(bad.status, 400);
      assert.doesNotMatch(bad.text, /SECRET/);
      assert.equal(calls.length, 0);
    }));

  it("a typo'd field of the body itself is refused too (a lost netns would give the pod a new one)", () =>
    withApi(async (sock, calls) => {
      const r = await post(sock, "/v1/pods", JSON.stringify({ pod: POD, netNS: "/run/netns/x" }));
      assert.equal(r.status, 400);
      assert.deepEqual(JSON.parse(r.text), { error: 'netNS: unknown field (did you mean "netns"?)', field: "netNS" });
      const c = await post(sock, "/v1/node/pod-cidr", JSON.stringify({ podCidr: "10.0.0.0/24" }));
      assert.deepEqual(JSON.parse(c.text), {
        error: 'podCidr: unknown field (did you mean "podCIDR"?)',
        field: "podCidr",
      });
      assert.equal(calls.length, 0);
    }));

  it("a netns with a NUL is refused before anything runs", () =>
    withApi(async (sock, calls) => {
      await assert.rejects(
        createApiClient(sock).addPod(POD, "/run/netns/a\0b"),
        (e: unknown) => e instanceof ApiError && e.status === 400 && e.field === "netns" && /NUL/.test(e.message),
      );
      assert.equal(calls.length, 0);
    }));

  it("a typo'd field in the Pod is a 400 naming its path (the hostPort is not silently lost)", () =>
    withApi(async (sock, calls) => {
      const typo = {
        metadata: { name: "web" },
        spec: { containers: [{ name: "c", ports: [{ containerPort: 80, hostport: 8080 }] }] },
      };
      await assert.rejects(createApiClient(sock).addPod(typo), (e: unknown) => {
        assert.ok(e instanceof ApiError);
        assert.equal(e.status, 400);
        assert.equal(e.field, "spec.containers[0].ports[0].hostport");
        assert.equal(e.message, 'spec.containers[0].ports[0].hostport: unknown field (did you mean "hostPort"?)');
        return true;
      });
      assert.equal(calls.length, 0);
    }));

  it("__proto__ in the body is data: an annotation, never the object's prototype", () =>
    withApi(async (sock, calls) => {
      const body =
        '{"pod": {"metadata": {"name": "web", "annotations": {"__proto__": "x", "kubernetes.io/ingress-bandwidth": "1M"}}, "spec": {"containers": [{"name": "c"}]}}}';
      assert.equal((await post(sock, "/v1/pods", body)).status, 201);
      const ann = calls[0]!.spec.annotations;
      assert.equal(Object.getPrototypeOf(ann), null);
      assert.deepEqual(Object.keys(ann), ["__proto__", "kubernetes.io/ingress-bandwidth"]);
      // biome-ignore lint/suspicious/noProto: reading "__proto__" as an own data key is what this test checks
      assert.equal(ann["__proto__"], "x");
    }));
});
