import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ALL_SPEC_VERSIONS, generationOf, specHas } from "../../../cni/index.js";
import { createFakeKernel } from "../../../kernel/fake.js";
import { invokeFuncs } from "../../../sdk/testing.js";
import { LOOPBACK_ABOUT, createLoopback, isLoopbackAddr } from "./loopback.js";

const NS = "/run/netns/podnet-t-lo";

function setup() {
  const kernel = createFakeKernel({ netns: [NS] });
  return { kernel, plugin: createLoopback({ kernel }) };
}

for (const ver of ALL_SPEC_VERSIONS) {
  describe(`[${ver}] loopback`, () => {
    const conf = { cniVersion: ver, name: "cni-loopback", type: "loopback" };

    it("ADD brings lo up and reports it with its addresses", async () => {
      const { kernel, plugin } = setup();
      await kernel.netns(NS).addrAdd("lo", "127.0.0.1/8");
      await kernel.netns(NS).addrAdd("lo", "::1/128");
      const out = await invokeFuncs(plugin, LOOPBACK_ABOUT, { command: "ADD", conf, netns: NS, ifName: "eth7" });
      assert.equal(out.code, 0, out.stdout);
      assert.match(kernel.dump(NS), /^link lo loopback up/m);
      // Go's loopback labels a 1.x result with the config's version and prints it as it is, at
      // every version: no ip4/ip6 at 0.2.0, no "version" in the IPs at 0.3.x/0.4.0.
      assert.deepEqual(out.json, {
        cniVersion: ver,
        interfaces: [{ name: "lo", mac: "00:00:00:00:00:00", sandbox: NS }],
        ips: [
          { interface: 0, address: "127.0.0.1/8" },
          { interface: 0, address: "::1/128" },
        ],
        dns: {},
      });
    });

    it("ADD passes a chained prevResult through unchanged", async () => {
      const { plugin } = setup();
      const prevResult =
        generationOf(ver) === "020"
          ? { cniVersion: ver, ip4: { ip: "10.200.0.5/24", gateway: "10.200.0.1" }, dns: {} }
          : {
              cniVersion: ver,
              interfaces: [{ name: "eth0", mac: "0a:58:0a:c8:00:05", sandbox: NS }],
              ips: [
                {
                  ...(generationOf(ver) === "040" ? { version: "4" } : {}),
                  address: "10.200.0.5/24",
                  gateway: "10.200.0.1",
                  interface: 0,
                },
              ],
              dns: {},
            };
      const out = await invokeFuncs(plugin, LOOPBACK_ABOUT, {
        command: "ADD",
        conf: { ...conf, prevResult },
        netns: NS,
      });
      assert.equal(out.code, 0, out.stdout);
      assert.deepEqual(out.json, prevResult);
    });

    it("ADD fails when lo carries a non-loopback address", async () => {
      const { kernel, plugin } = setup();
      await kernel.netns(NS).addrAdd("lo", "10.200.0.9/32");
      const out = await invokeFuncs(plugin, LOOPBACK_ABOUT, { command: "ADD", conf, netns: NS });
      assert.equal(out.code, 1);
      assert.equal(out.json?.["msg"], 'loopback interface found with non-loopback address "10.200.0.9"');
    });

    it("DEL sets lo down; DEL of a vanished netns or without netns succeeds", async () => {
      const { kernel, plugin } = setup();
      await kernel.netns(NS).linkSetUp("lo");
      assert.equal((await invokeFuncs(plugin, LOOPBACK_ABOUT, { command: "DEL", conf, netns: NS })).code, 0);
      assert.match(kernel.dump(NS), /^link lo loopback down/m);
      kernel.removeNetns(NS);
      const gone = await invokeFuncs(plugin, LOOPBACK_ABOUT, { command: "DEL", conf, netns: NS });
      assert.equal(gone.code, 0, gone.stdout);
      const none = await invokeFuncs(plugin, LOOPBACK_ABOUT, { command: "DEL", conf, netns: "" });
      assert.equal(none.code, 0, none.stdout);
    });

    if (specHas(ver, "CHECK")) {
      it("CHECK passes when lo is up, fails when it is down", async () => {
        const { kernel, plugin } = setup();
        const down = await invokeFuncs(plugin, LOOPBACK_ABOUT, { command: "CHECK", conf, netns: NS });
        assert.equal(down.code, 1);
        assert.equal(down.json?.["msg"], "loopback interface is down");
        await kernel.netns(NS).linkSetUp("lo");
        assert.equal((await invokeFuncs(plugin, LOOPBACK_ABOUT, { command: "CHECK", conf, netns: NS })).code, 0);
      });
    }
  });
}

describe("loopback", () => {
  it("ADD in a netns that does not exist is a CNI error naming it", async () => {
    const { plugin } = setup();
    const out = await invokeFuncs(plugin, LOOPBACK_ABOUT, {
      command: "ADD",
      conf: { cniVersion: "1.1.0", name: "lo" },
      netns: "/run/netns/podnet-t-none",
    });
    assert.equal(out.code, 1);
    assert.match(String(out.json?.["msg"]), /podnet-t-none/);
  });

  it("a malformed prevResult is an error (999, as the reference's plain errors)", async () => {
    const { plugin } = setup();
    const out = await invokeFuncs(plugin, LOOPBACK_ABOUT, {
      command: "ADD",
      conf: { cniVersion: "1.0.0", name: "lo", prevResult: { cniVersion: "1.0.0", ips: [{ address: "nope" }] } },
      netns: NS,
    });
    assert.equal(out.code, 1);
    assert.equal(out.json?.["code"], 999);
    assert.match(String(out.json?.["msg"]), /^failed to parse prevResult: could not parse prevResult: /);
  });

  it("isLoopbackAddr", () => {
    assert.equal(isLoopbackAddr({ family: 4, address: "127.0.0.1" }), true);
    assert.equal(isLoopbackAddr({ family: 4, address: "127.255.0.3" }), true);
    assert.equal(isLoopbackAddr({ family: 4, address: "10.0.0.1" }), false);
    assert.equal(isLoopbackAddr({ family: 6, address: "::1" }), true);
    assert.equal(isLoopbackAddr({ family: 6, address: "fd00:200::1" }), false);
  });
});
