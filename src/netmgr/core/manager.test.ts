import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { initNetworkPlugin, PluginManager, type PluginSelectionError } from "./manager.js";
import { effectiveHairpinMode, type Host, NOOP_PLUGIN_NAME } from "./plugin.js";
import { createFakePlugin } from "../testing/fakes.js";
import { createNoopPlugin } from "../plugins/noop/noop.js";
import { createFakeKernel } from "../../kernel/fake.js";
import { createFakeExec } from "../../kernel/testing.js";

const host: Host = { getNetNS: async () => "/run/netns/x", getPodPortMappings: async () => [] };
const args = { host, hairpinMode: "hairpin-veth" as const, nonMasqueradeCIDR: "10.0.0.0/8", mtu: 0 };
const noop = () => createNoopPlugin({ sysctl: createFakeKernel().sysctl, exec: createFakeExec(), modprobe: false });

describe("initNetworkPlugin", () => {
  it('"" and "noop" select the noop plugin without looking at the probed list', async () => {
    for (const name of ["", "noop"]) {
      const p = await initNetworkPlugin([createFakePlugin("bad name!")], name, noop, args);
      assert.equal(p.name(), NOOP_PLUGIN_NAME);
    }
  });
  it("selects by name and calls init once", async () => {
    const a = createFakePlugin("cni");
    const b = createFakePlugin("kubenet");
    assert.equal(await initNetworkPlugin([a, b], "kubenet", noop, args), b);
    assert.deepEqual(b.calls, ["init"]);
    assert.deepEqual(a.calls, []);
  });
  it("an unknown name fails listing what was probed", async () => {
    await assert.rejects(
      initNetworkPlugin([createFakePlugin("cni"), createFakePlugin("kubenet")], "calico", noop, args),
      (e: PluginSelectionError) => e.message === 'network plugin "calico" not found (probed: noop, cni, kubenet)',
    );
  });
  it("bad and duplicate names are errors even when the wanted plugin is fine (the kubelet's rule)", async () => {
    await assert.rejects(
      initNetworkPlugin(
        [createFakePlugin("cni"), createFakePlugin("cni"), createFakePlugin("My Plugin")],
        "cni",
        noop,
        args,
      ),
      (e: PluginSelectionError) =>
        e.problems.length === 2 &&
        /registered more than once/.test(e.problems[0]!) &&
        /invalid name: "My Plugin"/.test(e.problems[1]!),
    );
  });
  it("a failing init is reported", async () => {
    const p = createFakePlugin("cni");
    p.init = async () => {
      throw new Error("no nsenter");
    };
    await assert.rejects(initNetworkPlugin([p], "cni", noop, args), /network plugin "cni" failed init: no nsenter/);
  });
});

describe("PluginManager", () => {
  it("wraps errors in the kubelet's words and counts every call", async () => {
    const p = createFakePlugin("kubenet");
    const m = new PluginManager(p);
    await m.setUpPod("default", "web", "abc");
    p.failSetUp = new Error("boom");
    await assert.rejects(
      m.setUpPod("default", "web", "abc"),
      /^NetworkPluginError: networkPlugin kubenet failed to set up pod "web_default" network: boom$/,
    );
    p.failTearDown = new Error("gone");
    await assert.rejects(
      m.tearDownPod("default", "web", "abc"),
      /networkPlugin kubenet failed to teardown pod "web_default" network: gone/,
    );
    p.getPodNetworkStatus = async () => {
      throw new Error("nsenter");
    };
    await assert.rejects(
      m.getPodNetworkStatus("default", "web", "abc"),
      /networkPlugin kubenet failed on the status hook for pod "web_default": nsenter/,
    );
    const l = (op: string) => ({ operation_type: op, plugin_name: "kubenet" });
    assert.equal(m.metrics.operations.get(l("set_up_pod")), 2);
    assert.equal(m.metrics.errors.get(l("set_up_pod")), 1);
    assert.equal(m.metrics.errors.get(l("tear_down_pod")), 1);
    assert.equal(m.metrics.duration.count(l("get_pod_network_status")), 1);
  });
  it("operations on one pod never overlap; other pods proceed", async () => {
    const p = createFakePlugin();
    p.delayMs = 15;
    const m = new PluginManager(p);
    await Promise.all([m.setUpPod("ns", "a", "1"), m.setUpPod("ns", "a", "2"), m.setUpPod("ns", "b", "3")]);
    assert.deepEqual(p.calls, [
      "setup ns/a 1",
      "setup ns/b 3",
      "setup-done ns/a",
      "setup ns/a 2",
      "setup-done ns/b",
      "setup-done ns/a",
    ]);
  });
});

describe("hairpin mode", () => {
  it("promiscuous-bridge is kept for kubenet only", () => {
    assert.deepEqual(effectiveHairpinMode("promiscuous-bridge", "kubenet"), { mode: "promiscuous-bridge" });
    assert.equal(effectiveHairpinMode("promiscuous-bridge", "cni").mode, "hairpin-veth");
    assert.deepEqual(effectiveHairpinMode("none", "cni"), { mode: "none" });
    assert.throws(() => effectiveHairpinMode("bogus", "kubenet"), /unknown value: "bogus"/);
  });
});
