// The daemon API on a cluster node: GET /v1/cluster, and POST /v1/node/pod-cidr refused (the block is the pod CIDR).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiHandler } from "./api-server.js";
import { type ApiError, createApiClient } from "./api-client.js";
import type { PodRuntime } from "../sandbox/runtime.js";

async function withApi(
  cluster: (() => Record<string, unknown>) | undefined,
  fn: (sock: string, set: string[]) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "podnet-t-api-"));
  const sock = join(dir, "api.sock");
  const set: string[] = [];
  const runtime = {
    setPodCIDR: (v: string) => {
      set.push(v);
      return v;
    },
  } as unknown as PodRuntime;
  const server = createServer(
    createApiHandler({
      runtime,
      nodeInfo: () => ({}),
      metrics: () => "",
      ready: () => null,
      ...(cluster ? { cluster } : {}),
    }),
  );
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    await fn(sock, set);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("daemon API: cluster networking", () => {
  it("a node outside a cluster: GET /v1/cluster is 404, the pod CIDR can be set", () =>
    withApi(undefined, async (sock, set) => {
      const c = createApiClient(sock);
      await assert.rejects(
        c.cluster(),
        (e: ApiError) => e.status === 404 && /not part of a cluster \(no --cluster-cidr\)/.test(e.message),
      );
      await c.setPodCIDR("10.200.3.0/24");
      assert.deepEqual(set, ["10.200.3.0/24"]);
    }));
  it("a cluster node: GET /v1/cluster answers; POST /v1/node/pod-cidr is refused with 409", () =>
    withApi(
      () => ({ node: "n1", peers: [] }),
      async (sock, set) => {
        const c = createApiClient(sock);
        assert.deepEqual(await c.cluster(), { node: "n1", peers: [] });
        await assert.rejects(
          c.setPodCIDR("10.200.3.0/24"),
          (e: ApiError) => e.status === 409 && /block of the cluster/.test(e.message),
        );
        assert.deepEqual(set, []);
      },
    ));
});
