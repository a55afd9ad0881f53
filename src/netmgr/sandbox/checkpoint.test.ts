import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createCheckpointStore,
  decodeCheckpoint,
  encodeCheckpoint,
  fnv1a32,
  readNodeState,
  writeNodeState,
  type SandboxRecord,
  CorruptCheckpointError,
} from "./checkpoint.js";

const rec: SandboxRecord = {
  id: "abc123",
  namespace: "default",
  name: "nginx",
  uid: "u1",
  netns: "/run/netns/podnet-abc123",
  ownsNetns: true,
  hostNetwork: false,
  portMappings: [
    { protocol: "TCP", containerPort: 80, hostPort: 8080, hostIP: "" },
    { protocol: "UDP", containerPort: 53, hostPort: 0, hostIP: "" },
  ],
  annotations: { "kubernetes.io/ingress-bandwidth": "1M" },
  options: {},
  plugin: "kubenet",
  createdAt: "2026-01-01T00:00:00.000Z",
  phase: "ready",
  ips: ["10.200.0.2"],
};

describe("checkpoints", () => {
  it("FNV-1a 32", () => {
    assert.equal(fnv1a32(""), 0x811c9dc5);
    assert.equal(fnv1a32("a"), 0xe40c292c);
  });
  it("dockershim's shape, round trip", () => {
    const text = encodeCheckpoint(rec);
    const o = JSON.parse(text);
    assert.equal(o.version, "v1");
    assert.equal(o.name, "nginx");
    assert.deepEqual(o.data, {
      port_mappings: [
        { protocol: "tcp", container_port: 80, host_port: 8080 },
        { protocol: "udp", container_port: 53 },
      ],
    });
    assert.equal(typeof o.checksum, "number");
    assert.deepEqual(decodeCheckpoint(text), rec);
  });
  it("every phase and its reason round-trip; a phase this version does not know is finished as a teardown", () => {
    for (const phase of ["setting-up", "ready", "repairing", "failed", "tearing-down"] as const) {
      const r: SandboxRecord = {
        ...rec,
        phase,
        ...(phase === "failed" ? { reason: "eth0 is missing; repair failed: no more addresses" } : {}),
      };
      assert.deepEqual(decodeCheckpoint(encodeCheckpoint(r)), r);
    }
    const future = encodeCheckpoint({ ...rec, phase: "hibernating" as SandboxRecord["phase"] });
    assert.equal(decodeCheckpoint(future).phase, "tearing-down");
  });
  it("a tampered file is corrupt", () => {
    const o = JSON.parse(encodeCheckpoint(rec));
    o.data.port_mappings[0].host_port = 9090;
    assert.throws(
      () => decodeCheckpoint(JSON.stringify(o)),
      (e: Error) => e instanceof CorruptCheckpointError && /checksum mismatch/.test(e.message),
    );
    assert.throws(() => decodeCheckpoint("{"), CorruptCheckpointError);
  });
  it("store: atomic files, corrupt ones deleted and reported; node state", () => {
    const dir = mkdtempSync(join(tmpdir(), "podnet-t-ckpt-"));
    try {
      const s = createCheckpointStore(dir);
      s.write(rec);
      s.write({ ...rec, id: "def456", name: "web" });
      writeFileSync(join(dir, "sandboxes", "bad.json"), "{nope");
      const l = s.list();
      assert.deepEqual(
        l.records.map((r) => r.id),
        ["abc123", "def456"],
      );
      assert.deepEqual(
        l.corrupt.map((c) => c.id),
        ["bad"],
      );
      assert.equal(existsSync(join(dir, "sandboxes", "bad.json")), false);
      s.delete("abc123");
      assert.equal(s.read("abc123"), undefined);
      assert.throws(() => s.read("../x"), /invalid sandbox id/);
      assert.deepEqual(readNodeState(dir), {});
      writeNodeState(dir, { podCIDR: "10.200.0.0/24" });
      assert.deepEqual(readNodeState(dir), { podCIDR: "10.200.0.0/24" });
      assert.match(readFileSync(join(dir, "node.json"), "utf8"), /podCIDR/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
