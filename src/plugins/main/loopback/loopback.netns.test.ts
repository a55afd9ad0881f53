// loopback against the real kernel, in throwaway namespaces (podnet-t-*).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ALL_SPEC_VERSIONS } from "../../../cni/index.js";
import { createKernel } from "../../../kernel/kernel.js";
import { netnsSkip, withTempNetns } from "../../../kernel/testing.js";
import { invokeFuncs } from "../../../sdk/testing.js";
import { LOOPBACK_ABOUT, createLoopback } from "./loopback.js";

describe("loopback in a real netns", { skip: netnsSkip() }, () => {
  for (const ver of ["0.2.0", "0.4.0", "1.1.0"] as const) {
    it(`[${ver}] ADD brings lo up and reports 127.0.0.1/8 and ::1/128; CHECK; DEL sets it down`, () =>
      withTempNetns(async (ns) => {
        const kernel = createKernel();
        try {
          const plugin = createLoopback({ kernel });
          const conf = { cniVersion: ver, name: "cni-loopback", type: "loopback" };
          const add = await invokeFuncs(plugin, LOOPBACK_ABOUT, { command: "ADD", conf, netns: ns.path, ifName: "lo" });
          assert.equal(add.code, 0, add.stdout);
          const [lo] = await ns.ipJson("addr", "show", "lo");
          assert.ok((lo.flags as string[]).includes("UP"));
          // The 1.x shape under every label, as the reference's loopback prints it.
          const ips = (add.json!["ips"] as Array<Record<string, unknown>>).map((i) => i["address"]);
          assert.deepEqual(ips, ["127.0.0.1/8", "::1/128"]);
          if (ver !== "0.2.0")
            assert.equal(
              (await invokeFuncs(plugin, LOOPBACK_ABOUT, { command: "CHECK", conf, netns: ns.path })).code,
              0,
            );
          const del = await invokeFuncs(plugin, LOOPBACK_ABOUT, { command: "DEL", conf, netns: ns.path });
          assert.equal(del.code, 0, del.stdout);
          const [after] = await ns.ipJson("link", "show", "lo");
          assert.ok(!(after.flags as string[]).includes("UP"));
        } finally {
          kernel.close();
        }
      }));
  }

  it("DEL of a netns that was deleted succeeds", async () => {
    const kernel = createKernel();
    try {
      let path = "";
      await withTempNetns(async (ns) => {
        path = ns.path;
      });
      const out = await invokeFuncs(createLoopback({ kernel }), LOOPBACK_ABOUT, {
        command: "DEL",
        conf: { cniVersion: ALL_SPEC_VERSIONS[6], name: "lo" },
        netns: path,
      });
      assert.equal(out.code, 0, out.stdout);
    } finally {
      kernel.close();
    }
  });
});
