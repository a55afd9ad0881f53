import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCheckpointStore, type CheckpointStore } from "./checkpoint.js";
import { PluginManager } from "./manager.js";
import { PodError, PodRuntime, hostPortsCollide, validatePodCIDR } from "./runtime.js";
import { createFakePlugin, type FakePlugin } from "./testing.js";
import { parsePodManifest } from "./pod-manifest.js";
import { BandwidthError } from "./bandwidth.js";
import { createApiHandler } from "./api-server.js";
import { serveApi } from "./api-socket.js";
import { createApiClient, ApiError } from "./api-client.js";

function fixture(plugin: FakePlugin = createFakePlugin("kubenet")) {
  const dir = mkdtempSync(join(tmpdir(), "podnet-t-rt-"));
  const store: CheckpointStore = createCheckpointStore(dir);
  const namespaces = new Set<string>();
  let n = 0;
  const mk = () =>
    new PodRuntime({
      manager: new PluginManager(plugin),
      store,
      netns: {
        add: async (name) => {
          namespaces.add(`/run/netns/${name}`);
          return `/run/netns/${name}`;
        },
        del: async (name) => void namespaces.delete(`/run/netns/${name}`),
        exists: (p) => namespaces.has(p),
      },
      newID: () => `${String(++n).padStart(2, "0")}${"ab".repeat(31)}`,
    });
  return { dir, store, plugin, namespaces, rt: mk(), restart: mk, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const pod = (name: string, extra = "") => parsePodManifest(`metadata: {name: ${name}}\nspec:\n  containers: [{name: c, ports: [{containerPort: 80${extra}}]}]\n`);

describe("pod runtime", () => {
  it("run: netns, checkpoint, setup, IPs; stop: teardown, netns and checkpoint gone", async () => {
    const f = fixture();
    try {
      const v = await f.rt.runPod(pod("web", ", hostPort: 8080"));
      assert.equal(v.netns, "/run/netns/podnet-01ababababab");
      assert.deepEqual(v.ips, ["10.200.0.2"]);
      assert.equal(v.phase, "ready");
      assert.deepEqual(v.hostPorts, [{ hostPort: 8080, containerPort: 80, protocol: "TCP", hostIP: "" }]);
      assert.equal(f.store.list().records.length, 1);
      assert.equal(await f.rt.getNetNS(v.sandboxID), v.netns);
      await assert.rejects(f.rt.runPod(pod("web")), (e: PodError) => e.status === 409 && /pod "default\/web" already exists/.test(e.message));
      await assert.rejects(f.rt.runPod(pod("other", ", hostPort: 8080")), (e: PodError) => e.status === 409 && e.message === 'hostPort 8080/TCP is already used by pod "default/web"');
      await f.rt.stopPod("default", "web");
      assert.equal(f.namespaces.size, 0);
      assert.equal(f.store.list().records.length, 0);
      await assert.rejects(f.rt.stopPod("default", "web"), (e: PodError) => e.status === 404);
    } finally {
      f.cleanup();
    }
  });

  it("a failed setup leaves nothing: teardown called, netns deleted, no checkpoint; bad input is a 400", async () => {
    const f = fixture();
    try {
      f.plugin.failSetUp = new BandwidthError("kubernetes.io/ingress-bandwidth", "10Q", "quantities must match …");
      await assert.rejects(f.rt.runPod(pod("web")), (e: PodError) => e.status === 400 && /failed to set up sandbox "01abababab.." network for pod "default\/web": networkPlugin kubenet failed to set up pod "web_default" network: metadata.annotations/.test(e.message.replace(/01abababab../, "01abababab..")));
      assert.deepEqual(f.plugin.calls.filter((c) => c.startsWith("teardown")).length, 1);
      assert.equal(f.namespaces.size, 0);
      assert.equal(f.store.list().records.length, 0);
      assert.deepEqual(f.rt.listPods(), []);
      f.plugin.failSetUp = new Error("bridge exploded");
      await assert.rejects(f.rt.runPod(pod("web")), (e: PodError) => e.status === 500);
    } finally {
      f.cleanup();
    }
  });

  it("not ready: non-host-network pods are refused (503); host-network pods skip the plugin", async () => {
    const f = fixture();
    try {
      f.plugin.ready = new Error("kubenet does not have netConfig");
      await assert.rejects(f.rt.runPod(pod("web")), (e: PodError) => e.status === 503 && /network is not ready: kubenet does not have netConfig/.test(e.message));
      const h = await f.rt.runPod(parsePodManifest("metadata: {name: h}\nspec: {hostNetwork: true, containers: [{name: c}]}\n"));
      assert.equal(h.hostNetwork, true);
      assert.equal(h.netns, "");
      assert.deepEqual(f.plugin.calls.filter((c) => c.startsWith("setup")), []);
      await f.rt.stopPod("default", "h");
    } finally {
      f.cleanup();
    }
  });

  it("restart: live pods re-attached, dead and half-set-up ones torn down, gc told who lives", async () => {
    const f = fixture();
    try {
      const a = await f.rt.runPod(pod("a"));
      const b = await f.rt.runPod(pod("b"));
      f.store.write({ ...f.store.read(b.sandboxID)!, id: "99" + "cd".repeat(31), name: "c", phase: "setting-up" });
      f.namespaces.delete(b.netns); // b's sandbox died while the daemon was down
      f.plugin.calls.length = 0;
      const rt2 = f.restart();
      const rep = await rt2.restore();
      assert.deepEqual(rep.reattached, ["default/a"]);
      assert.deepEqual(rep.tornDown.sort(), ["default/b", "default/c"]);
      assert.ok(f.plugin.calls.includes(`reattach default/a ${a.sandboxID}`));
      assert.ok(f.plugin.calls.includes(`teardown default/b ${b.sandboxID}`));
      assert.equal(f.plugin.calls.at(-1), `gc ${a.sandboxID}`);
      assert.deepEqual(rt2.listPods().map((p) => p.name), ["a"]);
      assert.deepEqual(f.store.list().records.map((r) => r.name), ["a"]);
    } finally {
      f.cleanup();
    }
  });

  it("pod CIDR: validated, forwarded as the event, first one kept", () => {
    const f = fixture();
    try {
      assert.throws(() => f.rt.setPodCIDR("10.0.0.0/33"), (e: PodError) => e.status === 400 && /podCIDR: "10.0.0.0\/33" is not a CIDR/.test(e.message));
      f.rt.setPodCIDR("10.200.0.0/24");
      assert.deepEqual(f.plugin.events, [["pod-cidr-change", { "pod-cidr": "10.200.0.0/24" }]]);
      assert.equal(validatePodCIDR("10.0.0.0/24 , fd00::/64"), "10.0.0.0/24,fd00::/64");
    } finally {
      f.cleanup();
    }
  });

  it("host port collisions", () => {
    const p = (hostPort: number, protocol: "TCP" | "UDP" = "TCP", hostIP = "") => ({ hostPort, containerPort: 1, protocol, hostIP });
    assert.equal(hostPortsCollide(p(80), p(80)), true);
    assert.equal(hostPortsCollide(p(80), p(80, "UDP")), false);
    assert.equal(hostPortsCollide(p(80, "TCP", "10.0.0.1"), p(80, "TCP", "10.0.0.2")), false);
    assert.equal(hostPortsCollide(p(80, "TCP", "10.0.0.1"), p(80)), true);
    assert.equal(hostPortsCollide(p(0), p(0)), false);
  });
});

describe("API over a unix socket", () => {
  it("add, list, status, delete, errors with fields, metrics, pod CIDR", async () => {
    const f = fixture();
    const sock = join(f.dir, "api.sock");
    const server = await serveApi(createApiHandler({ runtime: f.rt, nodeInfo: () => ({ plugin: "kubenet", ready: true }), metrics: () => "x_total 1\n" }), sock);
    try {
      const c = createApiClient(sock);
      assert.equal(await c.healthy(), true);
      const v = await c.addPod({ metadata: { name: "web" }, spec: { containers: [{ name: "c", ports: [{ containerPort: 80, hostPort: 8080 }] }] } });
      assert.deepEqual(v.ips, ["10.200.0.2"]);
      assert.deepEqual((await c.listPods()).map((p) => p.name), ["web"]);
      assert.deepEqual((await c.podStatus("default", "web")).status, { ip: "10.200.0.2", ips: ["10.200.0.2"] });
      await assert.rejects(c.addPod({ metadata: { name: "x" }, spec: { containers: [{ name: "c", ports: [{ containerPort: 80, hostPort: "http" }] }] } }),
        (e: ApiError) => e.status === 400 && e.field === "spec.containers[0].ports[0].hostPort" && /got "http"/.test(e.message));
      await assert.rejects(c.addPod({ metadata: { name: "y" }, spec: { containers: [{ name: "c", ports: [{ containerPort: 81, hostPort: 8080 }] }] } }), (e: ApiError) => e.status === 409);
      await assert.rejects(c.podStatus("default", "nope"), (e: ApiError) => e.status === 404);
      await assert.rejects(c.setPodCIDR("bogus"), (e: ApiError) => e.status === 400 && /"bogus" is not a CIDR/.test(e.message));
      assert.deepEqual(await c.setPodCIDR("10.200.0.0/24"), { podCIDR: "10.200.0.0/24" });
      assert.equal(await c.metrics(), "x_total 1\n");
      assert.deepEqual(await c.node(), { plugin: "kubenet", ready: true });
      await c.deletePod("default", "web");
      assert.deepEqual(await c.listPods(), []);
      await assert.rejects(serveApi(() => {}, sock), /is in use: another daemon \(pid \d+, uid 0\) is serving on it/);
    } finally {
      await server.close();
      f.cleanup();
    }
  });
});
