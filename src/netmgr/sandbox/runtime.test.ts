import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCheckpointStore, type CheckpointStore } from "./checkpoint.js";
import { PluginManager } from "../core/manager.js";
import { type PodError, PodRuntime, hostPortsCollide, validatePodCIDR } from "./runtime.js";
import { createFakePlugin, deferred, type FakePlugin } from "../testing/fakes.js";
import { parsePodManifest } from "./pod-manifest.js";
import { BandwidthError } from "../core/bandwidth.js";
import { createApiHandler } from "../daemon/api-server.js";
import { serveApi } from "../daemon/api-socket.js";
import { createApiClient, type ApiError } from "../daemon/api-client.js";
import { type Logger, memoryLogger } from "../core/log.js";

/** The node's own netns in these fixtures. */
const NODE_NETNS = "/run/netns/node";

function fixture(
  plugin: FakePlugin = createFakePlugin("kubenet"),
  extra: { log?: Logger; monotonic?: () => number } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), "podnet-t-rt-"));
  const store: CheckpointStore = createCheckpointStore(dir);
  const namespaces = new Set<string>([NODE_NETNS]);
  /** Other names of a namespace (as /proc/PID/ns/net is of /run/netns/x): alias → path. */
  const aliases = new Map<string, string>();
  const resolve = (p: string) => aliases.get(p) ?? p;
  /** Awaited by netns.add before it creates anything (interleavings made to order). */
  const gates: { netnsAdd?: Promise<void> } = {};
  let n = 0;
  const mk = () =>
    new PodRuntime({
      manager: new PluginManager(plugin),
      store,
      netns: {
        add: async (name) => {
          await gates.netnsAdd;
          namespaces.add(`/run/netns/${name}`);
          return `/run/netns/${name}`;
        },
        del: async (name) => void namespaces.delete(`/run/netns/${name}`),
        exists: (p) => namespaces.has(resolve(p)),
        id: (p) => (namespaces.has(resolve(p)) ? `nsfs:${resolve(p)}` : undefined),
        isNodeNetns: (p) => resolve(p) === NODE_NETNS,
      },
      newID: () => `${String(++n).padStart(2, "0")}${"ab".repeat(31)}`,
      ...extra,
    });
  return {
    dir,
    store,
    plugin,
    namespaces,
    aliases,
    gates,
    rt: mk(),
    restart: mk,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Lets every pending callback and promise run. */
const settle = () => new Promise((r) => setImmediate(r));

const pod = (name: string, extra = "") =>
  parsePodManifest(
    `metadata: {name: ${name}}\nspec:\n  containers: [{name: c, ports: [{containerPort: 80${extra}}]}]\n`,
  );

describe("pod runtime", () => {
  it("one log line per set-up and teardown: the pod, the result, how long the plugin took, and why when not for the pod's own create or delete", async () => {
    const log = memoryLogger();
    let clock = 0;
    const f = fixture(createFakePlugin("kubenet"), { log, monotonic: () => (clock += 5) });
    try {
      const v = await f.rt.runPod(pod("web"));
      await f.rt.stopPod("default", "web");
      f.plugin.failSetUp = new Error("no IP addresses available in range set: 10.200.0.1-10.200.0.2");
      await assert.rejects(f.rt.runPod(pod("db")));
      const steps = log.lines.filter((l) => l.msg.startsWith("pod network "));
      assert.deepEqual(
        steps.map((l) => [l.level, l.msg, l.fields["pod"], l.fields["result"], l.fields["cause"], l.fields["error"]]),
        [
          ["info", "pod network set-up", "default/web", "ok", undefined, undefined],
          ["info", "pod network teardown", "default/web", "ok", undefined, undefined],
          [
            "error",
            "pod network set-up",
            "default/db",
            "error",
            undefined,
            'networkPlugin kubenet failed to set up pod "db_default" network: no IP addresses available in range set: 10.200.0.1-10.200.0.2',
          ],
          ["info", "pod network teardown", "default/db", "ok", "set-up failed", undefined],
        ],
      );
      assert.deepEqual(steps[0]!.fields, {
        pod: "default/web",
        sandbox: v.sandboxID,
        plugin: "kubenet",
        result: "ok",
        durationMs: 5,
        ips: ["10.200.0.2"],
      });
      assert.ok(steps.every((l) => typeof l.fields["durationMs"] === "number"));
      assert.deepEqual(
        log.lines.filter((l) => l.level === "warn"),
        [],
      );
    } finally {
      f.cleanup();
    }
  });

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
      await assert.rejects(
        f.rt.runPod(pod("web")),
        (e: PodError) => e.status === 409 && /pod "default\/web" already exists/.test(e.message),
      );
      await assert.rejects(
        f.rt.runPod(pod("other", ", hostPort: 8080")),
        (e: PodError) => e.status === 409 && e.message === 'hostPort 8080/TCP is already used by pod "default/web"',
      );
      await f.rt.stopPod("default", "web");
      assert.deepEqual([...f.namespaces], [NODE_NETNS]);
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
      await assert.rejects(
        f.rt.runPod(pod("web")),
        (e: PodError) =>
          e.status === 400 &&
          /failed to set up sandbox "01abababab.." network for pod "default\/web": networkPlugin kubenet failed to set up pod "web_default" network: metadata.annotations/.test(
            e.message.replace(/01abababab../, "01abababab.."),
          ),
      );
      assert.deepEqual(f.plugin.calls.filter((c) => c.startsWith("teardown")).length, 1);
      assert.deepEqual([...f.namespaces], [NODE_NETNS]);
      assert.equal(f.store.list().records.length, 0);
      assert.deepEqual(f.rt.listPods(), []);
      f.plugin.failSetUp = new Error("bridge exploded");
      await assert.rejects(f.rt.runPod(pod("web")), (e: PodError) => e.status === 500);
    } finally {
      f.cleanup();
    }
  });

  it("a checkpoint that cannot be written (a full disk) never leaves a pod behind", async () => {
    const f = fixture();
    try {
      const write = f.store.write.bind(f.store);
      f.store.write = (r) => {
        if (r.phase === "ready")
          throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        write(r);
      };
      await assert.rejects(
        f.rt.runPod(pod("web")),
        (e: PodError) =>
          e.status === 500 &&
          /failed to checkpoint sandbox "01ababababab" of pod "default\/web": ENOSPC/.test(e.message),
      );
      assert.deepEqual(
        f.plugin.calls.map((c) => c.split(" ")[0]),
        ["setup", "setup-done", "teardown"],
      );
      assert.deepEqual([f.rt.listPods(), f.store.list().records, [...f.namespaces]], [[], [], [NODE_NETNS]]);
      f.store.write = () => {
        throw new Error("ENOSPC");
      };
      await assert.rejects(f.rt.runPod(pod("web")), /ENOSPC/);
      assert.deepEqual([f.rt.listPods(), [...f.namespaces]], [[], [NODE_NETNS]], "refused before anything was made");
    } finally {
      f.cleanup();
    }
  });

  it("not ready: non-host-network pods are refused (503); host-network pods skip the plugin", async () => {
    const f = fixture();
    try {
      f.plugin.ready = new Error("kubenet does not have netConfig");
      await assert.rejects(
        f.rt.runPod(pod("web")),
        (e: PodError) => e.status === 503 && /network is not ready: kubenet does not have netConfig/.test(e.message),
      );
      const h = await f.rt.runPod(
        parsePodManifest("metadata: {name: h}\nspec: {hostNetwork: true, containers: [{name: c}]}\n"),
      );
      assert.equal(h.hostNetwork, true);
      assert.equal(h.netns, "");
      assert.deepEqual(
        f.plugin.calls.filter((c) => c.startsWith("setup")),
        [],
      );
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
      f.store.write({ ...f.store.read(b.sandboxID)!, id: `99${"cd".repeat(31)}`, name: "c", phase: "setting-up" });
      f.namespaces.delete(b.netns); // b's sandbox died while the daemon was down
      f.plugin.calls.length = 0;
      const rt2 = f.restart();
      const rep = await rt2.restore();
      assert.deepEqual(rep.reattached, ["default/a"]);
      assert.deepEqual(rep.tornDown.sort(), ["default/b", "default/c"]);
      assert.ok(f.plugin.calls.includes(`reattach default/a ${a.sandboxID}`));
      assert.ok(f.plugin.calls.includes(`teardown default/b ${b.sandboxID}`));
      assert.equal(f.plugin.calls.at(-1), `gc ${a.sandboxID}`);
      assert.deepEqual(
        rt2.listPods().map((p) => p.name),
        ["a"],
      );
      assert.deepEqual(
        f.store.list().records.map((r) => r.name),
        ["a"],
      );
    } finally {
      f.cleanup();
    }
  });

  for (const at of ["netns", "plugin"] as const) {
    it(`a DELETE while the ${at === "netns" ? "sandbox netns is created" : "plugin sets the pod up"} waits for the set-up, then tears the pod down: no zombie, the host port is free`, async () => {
      const f = fixture();
      try {
        const gate = deferred();
        if (at === "netns") f.gates.netnsAdd = gate.promise;
        else f.plugin.gate = (op) => (op === "setup" ? gate.promise : undefined);
        const add = f.rt.runPod(pod("web", ", hostPort: 8080"));
        await settle();
        const del = f.rt.stopPod("default", "web");
        await settle();
        assert.deepEqual(
          f.rt.listPods().map((p) => [p.name, p.phase]),
          [["web", "setting-up"]],
        );
        assert.deepEqual(
          f.plugin.calls.filter((c) => c.startsWith("teardown")),
          [],
          "the teardown waits for the set-up",
        );
        gate.resolve();
        const v = await add;
        assert.equal(v.phase, "ready");
        const gone = await del;
        assert.equal(gone.sandboxID, v.sandboxID);
        assert.deepEqual(
          f.plugin.calls.map((c) => c.split(" ")[0]),
          ["setup", "setup-done", "teardown"],
        );
        assert.deepEqual(f.rt.listPods(), []);
        assert.deepEqual(f.store.list().records, []);
        assert.deepEqual([...f.namespaces], [NODE_NETNS]);
        f.plugin.gate = undefined;
        const other = await f.rt.runPod(pod("other", ", hostPort: 8080"));
        assert.equal(other.phase, "ready", "the host port was released with the pod");
      } finally {
        f.cleanup();
      }
    });
  }

  it("POST while the pod is torn down waits for the teardown; a failed teardown keeps it tearing-down and a POST gets 409 naming the phase", async () => {
    const f = fixture();
    try {
      const first = await f.rt.runPod(pod("web"));
      const teardown = deferred();
      f.plugin.gate = (op) => (op === "teardown" ? teardown.promise : undefined);
      const del = f.rt.stopPod("default", "web");
      await settle();
      assert.deepEqual(
        f.rt.listPods().map((p) => p.phase),
        ["tearing-down"],
      );
      assert.equal(f.store.read(first.sandboxID)?.phase, "tearing-down", "checkpointed before the teardown runs");
      const add = f.rt.runPod(pod("web"));
      await settle();
      teardown.resolve();
      await del;
      const second = await add;
      assert.notEqual(second.sandboxID, first.sandboxID);
      assert.deepEqual(
        f.rt.listPods().map((p) => [p.sandboxID, p.phase]),
        [[second.sandboxID, "ready"]],
      );

      f.plugin.gate = undefined;
      f.plugin.failTearDown = new Error("bridge is stuck");
      await assert.rejects(
        f.rt.stopPod("default", "web"),
        (e: PodError) => e.status === 500 && /bridge is stuck/.test(e.message),
      );
      const stuck = f.rt.listPods()[0]!;
      assert.equal(stuck.phase, "tearing-down");
      assert.match(stuck.reason ?? "", /^teardown failed: .*bridge is stuck/);
      await assert.rejects(
        f.rt.runPod(pod("web")),
        (e: PodError) =>
          e.status === 409 &&
          /pod "default\/web" is being torn down \(sandbox 02ababababab: teardown failed: .*\); add it again once it is gone/.test(
            e.message,
          ),
      );
      f.plugin.failTearDown = undefined;
      await f.rt.stopPod("default", "web"); // the retry
      assert.deepEqual(f.rt.listPods(), []);
      assert.deepEqual(f.store.list().records, []);
    } finally {
      f.cleanup();
    }
  });

  it("a daemon killed during a teardown: the restarted one finishes it (never re-attaches the pod as ready)", async () => {
    const f = fixture();
    try {
      const a = await f.rt.runPod(pod("a", ", hostPort: 8080"));
      const never = deferred();
      f.plugin.gate = (op) => (op === "teardown" ? never.promise : undefined);
      void f.rt.stopPod("default", "a"); // the daemon dies with this teardown in flight
      await settle();
      f.plugin.gate = undefined;
      f.plugin.calls.length = 0;
      const rt2 = f.restart();
      const rep = await rt2.restore();
      assert.deepEqual(rep.tornDown, ["default/a"]);
      assert.deepEqual(rep.reattached, []);
      assert.deepEqual(f.plugin.calls, [`teardown default/a ${a.sandboxID}`, "gc "]);
      assert.deepEqual(rt2.listPods(), []);
      assert.deepEqual(f.store.list().records, []);
      assert.deepEqual([...f.namespaces], [NODE_NETNS]);
    } finally {
      f.cleanup();
    }
  });

  it("restart verifies each ready pod: intact → ready; something missing → set up again in the same sandbox; repair fails → failed with the reason", async () => {
    const f = fixture();
    try {
      await f.rt.runPod(pod("ok"));
      const broken = await f.rt.runPod(pod("broken"));
      const hopeless = await f.rt.runPod(pod("hopeless", ", hostPort: 8080"));
      f.plugin.broken.set(broken.sandboxID, ["eth0 is missing"]);
      f.plugin.broken.set(hopeless.sandboxID, ["the shaping filter of 10.200.0.4/32 is missing"]);
      f.plugin.calls.length = 0;
      const failing = f.plugin.setUpPod.bind(f.plugin);
      f.plugin.setUpPod = async (ns, nm, id, ann, opts) => {
        if (nm === "hopeless") throw new Error("no more addresses");
        return failing(ns, nm, id, ann, opts);
      };
      const rt2 = f.restart();
      const rep = await rt2.restore();
      assert.deepEqual(
        [rep.reattached, rep.repaired, rep.failed],
        [["default/ok"], ["default/broken"], ["default/hopeless"]],
      );
      assert.deepEqual(
        f.plugin.calls.filter((c) => c.includes(" default/broken")).map((c) => c.split(" ")[0]),
        ["reattach", "verify", "teardown", "setup", "setup-done"],
        "torn down and set up again",
      );
      assert.ok(f.plugin.calls.includes(`setup default/broken ${broken.sandboxID}`), "with the same sandbox");
      const byName = new Map(rt2.listPods().map((p) => [p.name, p]));
      assert.equal(byName.get("ok")?.phase, "ready");
      assert.equal(byName.get("broken")?.phase, "ready");
      assert.equal(byName.get("broken")?.reason, undefined);
      assert.equal(byName.get("broken")?.netns, broken.netns);
      assert.notDeepEqual(byName.get("broken")?.ips, broken.ips, "the new address is shown");
      const h = byName.get("hopeless")!;
      assert.equal(h.phase, "failed");
      assert.equal(
        h.reason,
        'the shaping filter of 10.200.0.4/32 is missing; repair failed: networkPlugin kubenet failed to set up pod "hopeless_default" network: no more addresses',
      );
      assert.deepEqual(h.ips, []);
      assert.equal(f.store.read(hopeless.sandboxID)?.phase, "failed");
      assert.equal((await rt2.podStatus("default", "hopeless")).status, null);
      // a failed pod keeps its name and host port until it is deleted; the next start keeps it failed
      await assert.rejects(
        rt2.runPod(pod("hopeless")),
        (e: PodError) => e.status === 409 && /phase failed: the shaping filter/.test(e.message),
      );
      await assert.rejects(rt2.runPod(pod("x", ", hostPort: 8080")), (e: PodError) => e.status === 409);
      const rep3 = await f.restart().restore();
      assert.deepEqual(rep3.failed, ["default/hopeless"]);
      await rt2.stopPod("default", "hopeless");
      assert.deepEqual(
        rt2.listPods().map((p) => p.name),
        ["broken", "ok"],
      );
    } finally {
      f.cleanup();
    }
  });

  it("a netns that is the node's own or another pod's (by identity, whatever the path) is refused before anything is made", async () => {
    const f = fixture();
    try {
      const a = await f.rt.runPod(pod("a"));
      f.aliases.set("/proc/4242/ns/net", a.netns);
      f.plugin.calls.length = 0;
      await assert.rejects(
        f.rt.runPod(pod("b"), { netns: "/proc/4242/ns/net" }),
        (e: PodError) =>
          e.status === 409 &&
          e.message === 'netns: "/proc/4242/ns/net" is the network namespace of pod "default/a" (sandbox 01ababababab)',
      );
      await assert.rejects(
        f.rt.runPod(pod("b"), { netns: a.netns }),
        (e: PodError) => e.status === 409 && /of pod "default\/a"/.test(e.message),
      );
      await assert.rejects(
        f.rt.runPod(pod("b"), { netns: NODE_NETNS }),
        (e: PodError) =>
          e.status === 409 && e.message === 'netns: "/run/netns/node" is the node\'s own network namespace',
      );
      await assert.rejects(
        f.rt.runPod(pod("b"), { netns: "/run/netns/nope" }),
        (e: PodError) => e.status === 400 && /is not a network namespace/.test(e.message),
      );
      assert.deepEqual(f.plugin.calls, [], "the plugin was never called");
      assert.deepEqual(
        f.store.list().records.map((r) => r.name),
        ["a"],
      );
      // a netns of the client's that is nobody's is fine, and then it is taken
      f.namespaces.add("/run/netns/mine");
      const b = await f.rt.runPod(pod("b"), { netns: "/run/netns/mine" });
      assert.equal(b.netns, "/run/netns/mine");
      await assert.rejects(
        f.rt.runPod(pod("c"), { netns: "/run/netns/mine" }),
        (e: PodError) => e.status === 409 && /of pod "default\/b"/.test(e.message),
      );
      await f.rt.stopPod("default", "b");
      assert.ok(f.namespaces.has("/run/netns/mine"), "not ours: not deleted");
    } finally {
      f.cleanup();
    }
  });

  it("pod CIDR: validated, forwarded as the event, first one kept", () => {
    const f = fixture();
    try {
      assert.throws(
        () => f.rt.setPodCIDR("10.0.0.0/33"),
        (e: PodError) => e.status === 400 && /podCIDR: "10.0.0.0\/33" is not a CIDR/.test(e.message),
      );
      f.rt.setPodCIDR("10.200.0.0/24");
      assert.deepEqual(f.plugin.events, [["pod-cidr-change", { "pod-cidr": "10.200.0.0/24" }]]);
      assert.equal(validatePodCIDR("10.0.0.0/24 , fd00::/64"), "10.0.0.0/24,fd00::/64");
    } finally {
      f.cleanup();
    }
  });

  it("host port collisions", () => {
    const p = (hostPort: number, protocol: "TCP" | "UDP" = "TCP", hostIP = "") => ({
      hostPort,
      containerPort: 1,
      protocol,
      hostIP,
    });
    assert.equal(hostPortsCollide(p(80), p(80)), true);
    assert.equal(hostPortsCollide(p(80), p(80, "UDP")), false);
    assert.equal(hostPortsCollide(p(80, "TCP", "10.0.0.1"), p(80, "TCP", "10.0.0.2")), false);
    assert.equal(hostPortsCollide(p(80, "TCP", "10.0.0.1"), p(80)), true);
    assert.equal(hostPortsCollide(p(0), p(0)), false);
  });
});

describe("API over a unix socket", () => {
  it("add, list, status, delete, errors with fields, metrics, probes, pod CIDR", async () => {
    const f = fixture();
    const sock = join(f.dir, "api.sock");
    let notReady: string | null = "network plugin is not ready: no pod CIDR";
    const server = await serveApi(
      createApiHandler({
        runtime: f.rt,
        nodeInfo: () => ({ plugin: "kubenet", ready: true }),
        metrics: async () => "x_total 1\n",
        ready: () => notReady,
      }),
      sock,
    );
    try {
      const c = createApiClient(sock);
      assert.equal(await c.healthy(), true, "/healthz is liveness: ok while not ready");
      assert.deepEqual(await c.readyz(), {
        status: 503,
        text: "not ready: network plugin is not ready: no pod CIDR\n",
      });
      notReady = null;
      assert.deepEqual(await c.readyz(), { status: 200, text: "ok\n" });
      const v = await c.addPod({
        metadata: { name: "web" },
        spec: { containers: [{ name: "c", ports: [{ containerPort: 80, hostPort: 8080 }] }] },
      });
      assert.deepEqual(v.ips, ["10.200.0.2"]);
      assert.deepEqual(
        (await c.listPods()).map((p) => p.name),
        ["web"],
      );
      assert.deepEqual((await c.podStatus("default", "web")).status, { ip: "10.200.0.2", ips: ["10.200.0.2"] });
      await assert.rejects(
        c.addPod({
          metadata: { name: "x" },
          spec: { containers: [{ name: "c", ports: [{ containerPort: 80, hostPort: "http" }] }] },
        }),
        (e: ApiError) =>
          e.status === 400 && e.field === "spec.containers[0].ports[0].hostPort" && /got "http"/.test(e.message),
      );
      await assert.rejects(
        c.addPod({
          metadata: { name: "y" },
          spec: { containers: [{ name: "c", ports: [{ containerPort: 81, hostPort: 8080 }] }] },
        }),
        (e: ApiError) => e.status === 409,
      );
      await assert.rejects(c.podStatus("default", "nope"), (e: ApiError) => e.status === 404);
      await assert.rejects(
        c.setPodCIDR("bogus"),
        (e: ApiError) => e.status === 400 && /"bogus" is not a CIDR/.test(e.message),
      );
      assert.deepEqual(await c.setPodCIDR("10.200.0.0/24"), { podCIDR: "10.200.0.0/24" });
      assert.equal(await c.metrics(), "x_total 1\n");
      assert.deepEqual(await c.node(), { plugin: "kubenet", ready: true });
      await c.deletePod("default", "web");
      assert.deepEqual(await c.listPods(), []);
      await assert.rejects(
        serveApi(() => {}, sock),
        /is in use: another daemon \(pid \d+, uid 0\) is serving on it/,
      );
    } finally {
      await server.close();
      f.cleanup();
    }
  });
});
