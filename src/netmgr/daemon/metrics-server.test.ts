import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatBindAddress, parseBindAddress } from "./bind-address.js";
import { createMetricsHandler } from "./metrics-server.js";
import { memoryLogger } from "../core/log.js";

describe("--metrics-bind-address", () => {
  it("HOST:PORT with an IP address; IPv6 in brackets; port 0 for any", () => {
    assert.deepEqual(parseBindAddress("127.0.0.1:10256"), { host: "127.0.0.1", port: 10256 });
    assert.deepEqual(parseBindAddress("[::1]:9100"), { host: "::1", port: 9100 });
    assert.deepEqual(parseBindAddress("0.0.0.0:0"), { host: "0.0.0.0", port: 0 });
    assert.equal(formatBindAddress({ host: "fd00:200::1", port: 80 }), "[fd00:200::1]:80");
  });
  const bad: Array<[string, RegExp]> = [
    [
      ":9100",
      /has no host: name the address to listen on \(e\.g\. "127\.0\.0\.1:9100", or "0\.0\.0\.0:9100" for every IPv4 address\)/,
    ],
    ["localhost:9100", /"localhost" is not an IP address/],
    ["127.0.0.1", /is not HOST:PORT/],
    ["127.0.0.1:65536", /port 65536 is out of range/],
    ["::1:9100", /is not HOST:PORT/],
    ["[127.0.0.1]:9100", /an IPv6 address is written in brackets .* an IPv4 one without/],
    ["[::1]:http", /is not HOST:PORT/],
  ];
  for (const [v, re] of bad) it(`refuses ${JSON.stringify(v)}`, () => assert.throws(() => parseBindAddress(v), re));
});

describe("the metrics and probe endpoints", () => {
  it("/metrics, /healthz (liveness), /readyz (503 until ready), nothing else; GET and HEAD only", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-t-metrics-"));
    let why: string | null = "network plugin is not ready: kubenet does not have netConfig";
    let fail = false;
    const log = memoryLogger();
    const server = createServer(
      createMetricsHandler({
        render: async () => {
          if (fail) throw new Error("boom");
          return "# TYPE x gauge\nx 1\n";
        },
        contentType: "text/plain; version=0.0.4; charset=utf-8",
        ready: () => why,
        log,
      }),
    );
    const sock = join(dir, "m.sock");
    await new Promise<void>((r) => server.listen(sock, r));
    const get = (path: string, method = "GET", body?: string) =>
      new Promise<{ status: number; type: string; text: string; allow?: string }>((resolve, reject) => {
        const req = request({ socketPath: sock, path, method }, (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c));
          res.on("end", () =>
            resolve({
              status: res.statusCode!,
              type: String(res.headers["content-type"]),
              text,
              ...(res.headers.allow ? { allow: res.headers.allow } : {}),
            }),
          );
        });
        req.on("error", reject);
        req.end(body);
      });
    try {
      assert.deepEqual(await get("/metrics"), {
        status: 200,
        type: "text/plain; version=0.0.4; charset=utf-8",
        text: "# TYPE x gauge\nx 1\n",
      });
      assert.deepEqual(await get("/healthz"), { status: 200, type: "text/plain; charset=utf-8", text: "ok\n" });
      assert.deepEqual(await get("/readyz"), {
        status: 503,
        type: "text/plain; charset=utf-8",
        text: "not ready: network plugin is not ready: kubenet does not have netConfig\n",
      });
      why = null;
      assert.equal((await get("/readyz?verbose")).status, 200);
      assert.equal((await get("/readyz", "HEAD")).text, "", "HEAD: no body");
      assert.equal((await get("/v1/pods")).status, 404, "no pod API here");
      assert.match((await get("/v1/pods")).text, /serves \/metrics, \/healthz and \/readyz/);
      assert.deepEqual(await get("/v1/pods", "POST", '{"pod":{}}'), {
        status: 405,
        type: "text/plain; charset=utf-8",
        text: "only GET and HEAD\n",
        allow: "GET, HEAD",
      });
      fail = true;
      assert.equal((await get("/metrics")).status, 500);
      assert.deepEqual(
        log.lines.map((l) => [l.level, l.msg]),
        [["error", "rendering /metrics failed"]],
      );
    } finally {
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
