import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createFakeKernel } from "../../../kernel/fake.js";
import { createNoopPlugin } from "./noop.js";
import { createFakeExec } from "../../../kernel/testing.js";
import type { Host } from "../../core/plugin.js";

const host: Host = { getNetNS: async () => "", getPodPortMappings: async () => [] };

describe("noop plugin", () => {
  it("sets bridge-nf-call-iptables and -ip6tables to 1 after modprobe, and does nothing else", async () => {
    const k = createFakeKernel();
    k.state(null).sysctls.set("net/bridge/bridge-nf-call-ip6tables", "0");
    const exec = createFakeExec();
    const p = createNoopPlugin({ sysctl: k.sysctl, exec });
    await p.init(host, "hairpin-veth", "10.0.0.0/8", 0);
    assert.deepEqual(exec.lines(), ["modprobe br-netfilter"]);
    assert.equal(k.state(null).sysctls.get("net/bridge/bridge-nf-call-iptables"), "1");
    assert.equal(k.state(null).sysctls.get("net/bridge/bridge-nf-call-ip6tables"), "1");
    assert.deepEqual(p.warnings?.(), []);
    assert.equal(p.name(), "kubernetes.io/no-op");
    assert.equal(p.status(), null);
    await p.setUpPod("ns", "n", "id", {}, {});
    assert.equal(await p.getPodNetworkStatus("ns", "n", "id"), null);
  });
  it("reports a missing br_netfilter (and still comes up ready)", async () => {
    const k = createFakeKernel();
    k.failOn("bridge-nf-call-iptables", "ENOENT");
    k.state(null).sysctls.delete("net/bridge/bridge-nf-call-ip6tables");
    const exec = createFakeExec([["modprobe", { code: 1, stderr: "modprobe: FATAL: Module br-netfilter not found" }]]);
    const p = createNoopPlugin({ sysctl: k.sysctl, exec });
    await p.init(host, "hairpin-veth", "10.0.0.0/8", 0);
    assert.equal(p.warnings?.().length, 1);
    assert.match(
      p.warnings!()[0]!,
      /can't set sysctl net\/bridge\/bridge-nf-call-iptables \(is the br_netfilter module loaded\?\)/,
    );
    assert.equal(p.status(), null);
  });
  it("modprobe can be skipped (sandboxed nodes must not load modules)", async () => {
    const exec = createFakeExec();
    await createNoopPlugin({ sysctl: createFakeKernel().sysctl, exec, modprobe: false }).init(host, "none", "", 0);
    assert.deepEqual(exec.lines(), []);
  });
});
