import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCidr } from "../ip/index.js";
import { parseClusterFlags, parseDuration } from "./options.js";
import { parseEtcdEndpoints, loadEtcdTls } from "./etcd-store.js";
import { decodeRecord, encodeRecord } from "./node-record.js";
import { fileLocalState } from "./local-state.js";
import { clusterNodes, nodesJson, nodesTable } from "./commands.js";
import { MemoryStore } from "./memory-store.js";
import { KeyLayout } from "./keys.js";

describe("cluster flags", () => {
  it("parse with defaults", () => {
    const s = parseClusterFlags({
      clusterCidr: "10.200.0.0/16",
      endpoints: "http://127.0.0.1:2379",
      nodeName: "node-1",
    });
    assert.equal(s.backend, "auto");
    assert.equal(s.nodeTtlMs, 24 * 3600_000);
    assert.equal(s.keys.prefix, "/podnet");
    assert.equal(s.ranges[0]!.maskSize, 24);
  });
  it("refuse bad values naming the flag", () => {
    const base = { clusterCidr: "10.200.0.0/16", endpoints: "http://127.0.0.1:2379", nodeName: "node-1" };
    assert.throws(
      () => parseClusterFlags({ ...base, backend: "ipip" }),
      /--backend: "ipip" is not one of auto, host-gw, vxlan/,
    );
    assert.throws(() => parseClusterFlags({ ...base, nodeTtl: "1d" }), /--node-ttl: "1d" is not a duration/);
    assert.throws(() => parseClusterFlags({ ...base, nodeTtl: "30s" }), /--node-ttl: 30s is shorter than 1m/);
    assert.throws(() => parseClusterFlags({ ...base, nodeName: "Node_1" }), /--node-name: "Node_1" is not a node name/);
    assert.throws(
      () => parseClusterFlags({ ...base, podCIDRs: [parseCidr("10.201.0.0/24")] }),
      /--pod-cidr: 10\.201\.0\.0\/24 is not inside the cluster CIDR 10\.200\.0\.0\/16/,
    );
    assert.throws(
      () => parseClusterFlags({ ...base, podCIDRs: [parseCidr("fd00::/64")] }),
      /--pod-cidr: fd00::\/64 is IPv6, but --cluster-cidr=10\.200\.0\.0\/16 has no IPv6 CIDR/,
    );
    assert.throws(
      () => parseClusterFlags({ ...base, endpoints: "127.0.0.1:2379" }),
      /--etcd-endpoints: "127\.0\.0\.1:2379" is not http:\/\/HOST:PORT/,
    );
    assert.throws(() => parseEtcdEndpoints("http://a:1,https://b:2"), /mixes http and https/);
    assert.equal(parseDuration("1h30m", "--x"), 5_400_000);
  });
  it("load TLS files, refusing a key without a certificate or a file that is not PEM", async () => {
    const files: Record<string, string> = { "/ca": "-----BEGIN CERTIFICATE-----\n", "/junk": "hello" };
    const read = async (p: string) => {
      if (!(p in files)) throw new Error("ENOENT: no such file");
      return Buffer.from(files[p]!);
    };
    assert.equal(await loadEtcdTls({}, read), undefined);
    assert.ok((await loadEtcdTls({ cafile: "/ca" }, read))!.ca.length > 0);
    await assert.rejects(
      loadEtcdTls({ cafile: "/ca", keyfile: "/ca" }, read),
      /--etcd-certfile: --etcd-certfile and --etcd-keyfile go together/,
    );
    await assert.rejects(loadEtcdTls({ cafile: "/junk" }, read), /--etcd-cafile: \/junk: not PEM/);
    await assert.rejects(loadEtcdTls({ cafile: "/nope" }, read), /--etcd-cafile: \/nope: ENOENT/);
  });
});

describe("node records", () => {
  it("round-trip, and a record from another machine is checked field by field", () => {
    const r = {
      name: "n1",
      nodeIPs: ["192.168.10.1"],
      podCIDRs: ["10.200.0.0/24"],
      backend: "vxlan" as const,
      vtep: { mac: "02:00:00:00:00:01", vni: 1, port: 4789 },
    };
    assert.deepEqual(decodeRecord(encodeRecord(r), "n1"), r);
    assert.throws(() => decodeRecord(encodeRecord(r), "n2"), /does not match its key/);
    assert.throws(
      () => decodeRecord(JSON.stringify({ ...r, nodeIPs: ["x"] }), "n1"),
      /nodeIPs: "x" is not an IP address/,
    );
    assert.throws(() => decodeRecord(JSON.stringify({ ...r, backend: "bgp" }), "n1"), /backend "bgp"/);
    assert.throws(() => decodeRecord(JSON.stringify({ ...r, vtep: { ...r.vtep, mac: "zz" } }), "n1"), /vtep\.mac/);
    assert.throws(() => decodeRecord("x".repeat(5000), "n1"), /more than 4096/);
    // canonical text out whatever came in; one address and one CIDR per family; unknown vtep fields dropped
    const odd = decodeRecord(
      JSON.stringify({
        ...r,
        nodeIPs: ["192.168.10.1", "FD00:0:0::0:1"],
        podCIDRs: ["10.200.3.0/24", "FD00:200:0::/64"],
        vtep: { ...r.vtep, extra: "x".repeat(100) },
      }),
      "n1",
    );
    assert.deepEqual(
      [odd.nodeIPs, odd.podCIDRs, odd.vtep],
      [["192.168.10.1", "fd00::1"], ["10.200.3.0/24", "fd00:200::/64"], r.vtep],
    );
    assert.throws(
      () => decodeRecord(JSON.stringify({ ...r, nodeIPs: ["192.168.10.1", "192.168.10.2"] }), "n1"),
      /nodeIPs has two addresses of one family/,
    );
    assert.throws(
      () => decodeRecord(JSON.stringify({ ...r, podCIDRs: ["fd00::/64", "fd01::/64"] }), "n1"),
      /podCIDRs has two CIDRs of one family/,
    );
    assert.deepEqual(decodeRecord(JSON.stringify({ ...r, podCIDRs: ["10.200.3.1/24"] }), "n1").podCIDRs, [
      "10.200.3.0/24",
    ]);
  });
});

describe("local state file", () => {
  it("writes atomically with mode 0600, reads back, and never follows a symlink", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-t-state-"));
    try {
      const st = fileLocalState(join(dir, "cluster.json"));
      assert.equal(await st.read(), undefined);
      await st.write({ name: "n1", podCIDRs: ["10.200.3.0/24"] });
      assert.deepEqual(await st.read(), { name: "n1", podCIDRs: ["10.200.3.0/24"] });
      assert.equal(statSync(join(dir, "cluster.json")).mode & 0o777, 0o600);
      writeFileSync(join(dir, "target"), readFileSync(join(dir, "cluster.json")));
      symlinkSync(join(dir, "target"), join(dir, "link.json"));
      await assert.rejects(fileLocalState(join(dir, "link.json")).read(), /ELOOP/);
      writeFileSync(join(dir, "bad.json"), '{"name":"n1","podCIDRs":["nope"]}');
      await assert.rejects(fileLocalState(join(dir, "bad.json")).read(), /"podCIDRs": "nope" is not a CIDR/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("podnet cluster nodes", () => {
  it("lists nodes with heartbeats as JSON and as table rows", async () => {
    const s = new MemoryStore();
    const keys = new KeyLayout("/podnet");
    await s.txn(
      [],
      [
        {
          kind: "put",
          key: keys.node("n1"),
          value: encodeRecord({ name: "n1", nodeIPs: ["192.168.10.1"], podCIDRs: ["10.200.0.0/24"], backend: "auto" }),
        },
        { kind: "put", key: keys.heartbeat("n1"), value: JSON.stringify({ time: Date.UTC(2026, 0, 1) }) },
        {
          kind: "put",
          key: keys.node("n2"),
          value: encodeRecord({
            name: "n2",
            nodeIPs: ["192.168.10.2"],
            podCIDRs: ["10.200.1.0/24"],
            backend: "host-gw",
          }),
        },
      ],
    );
    const rows = await clusterNodes(s, keys, { self: "n3", inPlace: new Map([["n1", true]]) });
    assert.deepEqual(JSON.parse(nodesJson(rows)), [
      {
        name: "n1",
        nodeIPs: ["192.168.10.1"],
        podCIDRs: ["10.200.0.0/24"],
        backend: "auto",
        lastHeartbeat: "2026-01-01T00:00:00.000Z",
        routesInPlace: true,
      },
      {
        name: "n2",
        nodeIPs: ["192.168.10.2"],
        podCIDRs: ["10.200.1.0/24"],
        backend: "host-gw",
        lastHeartbeat: null,
        routesInPlace: null,
      },
    ]);
    assert.deepEqual(nodesTable(rows, Date.UTC(2026, 0, 1, 0, 0, 30)).slice(1), [
      ["n1", "192.168.10.1", "10.200.0.0/24", "auto", "30s ago", "in place"],
      ["n2", "192.168.10.2", "10.200.1.0/24", "host-gw", "expired", "unknown"],
    ]);
    const mine = await clusterNodes(s, keys, { self: "n2", inPlace: new Map([["n1", false]]) });
    assert.deepEqual(
      nodesTable(mine, Date.UTC(2026, 0, 1, 0, 0, 30))
        .slice(1)
        .map((r) => r[5]),
      ["missing", "(this node)"],
    );
    assert.equal(JSON.parse(nodesJson(mine))[1].thisNode, true);
  });
});
